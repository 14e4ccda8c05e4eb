"""Decoding the CNN's maps in torch, on their device: only the detections leave it.

The same steps as :func:`livetrack.model.decode_maps`, batched over frames: 3x3 non-maximum
suppression of the logit (ties go to the first cell in raster order), the detection score
summed over the neighbours that point at the same particle, the optional merging of their
positions and the corner correction of the score, the in-frame cut, the sigmas' soft floor
and the ``mass`` window sums on the normalized frame. The per-candidate arithmetic runs in
float64 as numpy's does; what comes back to the host is one ``(N, 7)`` table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from livetrack.model import COLUMNS, CORNER_BINS, ModelSpec, empty_table

if TYPE_CHECKING:
    import torch

# As livetrack.model's decoding: the pruning floor of peak cells, the distance within which
# neighbours point at the same particle, the soft floor of log sigma, the logit clip.
_MIN_PEAK_PROB = 0.001
_SAME_PARTICLE_PX = 1.0
_LOG_SIGMA_FLOOR = -6.0
_LOGIT_CLIP = 60.0


def _floor_log_sigma(raw: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.logaddexp(torch.zeros_like(raw), raw - _LOG_SIGMA_FLOOR) + _LOG_SIGMA_FLOOR


def find_peaks_torch(logit: torch.Tensor, min_prob: float) -> torch.Tensor:
    """Return the ``(N, 3)`` indices ``(frame, row, col)`` of each frame's 3x3 logit maxima.

    Parameters
    ----------
    logit : torch.Tensor
        ``(T, h, w)`` detection logits.
    min_prob : float
        Smallest probability of a peak cell.

    Returns
    -------
    torch.Tensor
        int64 indices in frame then raster order; on a plateau only the first cell in raster
        order is a peak (as :func:`livetrack.model.find_peaks`).
    """
    import torch

    _t, h, w = logit.shape
    floor = math.log(min_prob / (1.0 - min_prob))
    padded = torch.nn.functional.pad(logit, (1, 1, 1, 1), value=-math.inf)
    keep = logit >= floor
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            nb = padded[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
            earlier = dr < 0 or (dr == 0 and dc < 0)
            keep &= (logit > nb) if earlier else (logit >= nb)
    return keep.nonzero()


class DeviceDecoder:
    """Decode a batch of maps into one detection table, on the maps' device.

    Parameters
    ----------
    spec : ModelSpec
        The model (stride, mass radius, neighbour merging, corner profile).
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.stride = int(spec.stride)
        self.mass_radius = int(spec.mass_radius_px)
        self.merge = bool(spec.merge_neighbours)
        self.corner_profile = tuple(float(v) for v in spec.corner_profile)

    def decode(
        self,
        maps: torch.Tensor,
        normalized: torch.Tensor,
        noise: torch.Tensor,
        shape: tuple[int, int],
        threshold: float,
    ) -> torch.Tensor:
        """Decode ``(T, 5, h, w)`` maps into an ``(N, 7)`` float64 table on their device.

        Parameters
        ----------
        maps : torch.Tensor
            Raw maps (any float dtype), cropped to the frame's cells.
        normalized : torch.Tensor
            ``(T, 1, H', W')`` normalized batch the maps came from (for ``mass``).
        noise : torch.Tensor
            ``(T,)`` noise divided out of each frame; ``mass`` is multiplied back by it.
        shape : tuple of int
            ``(H, W)`` of the frames before padding.
        threshold : float
            Detection score threshold.

        Returns
        -------
        torch.Tensor
            Columns: frame index in the batch, x, y, prob, sigma_x, sigma_y, mass.
        """
        import torch

        device = maps.device
        f64 = torch.float64
        maps = maps.float()
        peaks = find_peaks_torch(maps[:, 0], max(_MIN_PEAK_PROB, threshold / 9.0))
        if peaks.shape[0] == 0:
            return torch.empty((0, 7), dtype=f64, device=device)
        t_idx, rows, cols = peaks[:, 0], peaks[:, 1], peaks[:, 2]
        hc, wc = maps.shape[2:]
        s = self.stride
        centre = (s - 1) / 2.0
        d = torch.arange(-1, 2, device=device)
        r = (rows[:, None, None] + d[None, :, None]).expand(-1, 3, 3)
        c = (cols[:, None, None] + d[None, None, :]).expand(-1, 3, 3)
        valid = (r >= 0) & (r < hc) & (c >= 0) & (c < wc)
        r, c = r.clamp(0, hc - 1), c.clamp(0, wc - 1)
        tt = t_idx[:, None, None].expand(-1, 3, 3)
        cell = maps.permute(1, 0, 2, 3)[:, tt, r, c].to(f64)  # (5, N, 3, 3)
        x = c.to(f64) * s + centre + cell[1]
        y = r.to(f64) * s + centre + cell[2]
        var = torch.exp(2.0 * _floor_log_sigma(cell[3])) + torch.exp(
            2.0 * _floor_log_sigma(cell[4])
        )
        same = (
            valid
            & ((x - x[:, 1:2, 1:2]).abs() < _SAME_PARTICLE_PX)
            & ((y - y[:, 1:2, 1:2]).abs() < _SAME_PARTICLE_PX)
        )
        p = torch.sigmoid(cell[0].clamp(-_LOGIT_CLIP, _LOGIT_CLIP))
        score = torch.clamp((p * same).sum(dim=(1, 2)), max=1.0)
        if self.merge:
            wts = torch.where(same, p / var, torch.zeros_like(p))
            total = wts.sum(dim=(1, 2))
            px = (wts * x).sum(dim=(1, 2)) / total
            py = (wts * y).sum(dim=(1, 2)) / total
        else:
            px, py = x[:, 1, 1], y[:, 1, 1]
        if self.corner_profile:
            score = torch.clamp(score / self._corner_factor(px, py), max=1.0)
        h, w = shape
        keep = (score >= threshold) & (px >= -0.5) & (px < w - 0.5) & (py >= -0.5)
        keep &= py < h - 0.5
        px, py, score = px[keep], py[keep], score[keep]
        t_idx, rows, cols = t_idx[keep], rows[keep], cols[keep]
        sx = torch.exp(_floor_log_sigma(maps[t_idx, 3, rows, cols].to(f64)))
        sy = torch.exp(_floor_log_sigma(maps[t_idx, 4, rows, cols].to(f64)))
        mass = self._window_sums(normalized, t_idx, px, py, shape) * noise.to(f64)[t_idx]
        return torch.stack([t_idx.to(f64), px, py, score, sx, sy, mass], dim=1)

    def _corner_factor(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return the expected score of a bright particle at (x, y), as ``corner_factor``."""
        import torch

        s = self.stride
        u = torch.remainder(x + 0.5, s) / s
        v = torch.remainder(y + 0.5, s) / s
        dist = torch.hypot(torch.minimum(u, 1 - u), torch.minimum(v, 1 - v))
        bins = torch.tensor(CORNER_BINS, dtype=dist.dtype, device=dist.device)
        profile = torch.tensor(self.corner_profile, dtype=dist.dtype, device=dist.device)
        idx = torch.searchsorted(bins, dist, right=True).clamp(max=len(profile) - 1)
        return profile[idx].clamp(min=0.05)

    def _window_sums(
        self,
        normalized: torch.Tensor,
        t_idx: torch.Tensor,
        x: torch.Tensor,
        y: torch.Tensor,
        shape: tuple[int, int],
    ) -> torch.Tensor:
        """Sum each detection's window of the normalized frame, clipped at the border."""
        import torch

        h, w = shape
        radius = self.mass_radius
        offs = torch.arange(-radius, radius + 1, device=x.device)
        r = torch.round(y).long()[:, None, None] + offs[None, :, None]
        c = torch.round(x).long()[:, None, None] + offs[None, None, :]
        r, c = torch.broadcast_tensors(r, c)
        valid = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        tt = t_idx[:, None, None].expand_as(r)
        vals = normalized[:, 0][tt, r.clamp(0, h - 1), c.clamp(0, w - 1)].to(torch.float64)
        return torch.where(valid, vals, torch.zeros_like(vals)).sum(dim=(1, 2))


def table_from_rows(rows: np.ndarray, frame_numbers: list[int]) -> pd.DataFrame:
    """Turn the host copy of :meth:`DeviceDecoder.decode`'s table into a localization table.

    Parameters
    ----------
    rows : numpy.ndarray
        ``(N, 7)`` float64 rows (frame index in the batch first).
    frame_numbers : list of int
        Frame number of each index of the batch.
    """
    if rows.shape[0] == 0:
        return empty_table()
    numbers = np.asarray(frame_numbers, dtype=np.int64)[rows[:, 0].astype(np.int64)]
    table = {name: rows[:, i] for i, name in enumerate(COLUMNS)}
    table["frame"] = numbers
    return pd.DataFrame(table, columns=list(COLUMNS))
