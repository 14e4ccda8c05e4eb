"""The CNN's input normalization in torch, on the device the frames are on (GPU or CPU).

The same arithmetic as :func:`livetrack.model.frame_statistics` and
:class:`~livetrack.infer._normalize.InputNormalizer`, batched over frames: the median of the
subsampled frame, the MAD of disjoint horizontal pixel pairs' differences, the fallback on
their root mean square, the float32 subtraction and scaling, zero padding, soft clip. Medians
are taken from a sort (the mean of the two middle values for an even count, as numpy's), in
float32, which holds camera counts and their differences exactly; the statistics come out in
float64. On a GPU this keeps a 2048 x 2048 frame on the device from upload to positions; on
the CPU it is what the tests compare with the numpy reference.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from livetrack.model import ModelSpec

if TYPE_CHECKING:
    import torch

# 1 / Phi^-1(3/4), as in livetrack.model's normalization.
_MAD_TO_STD = 1.4826
# Frames smaller than this many pixels use every pixel for their statistics (as numpy's).
_SMALL_FRAME_PX = 64 * 64


def _median_rows(values: torch.Tensor) -> torch.Tensor:
    """Median of each row of a ``(T, N)`` tensor as float64 (mean of the middle two, N even)."""
    n = values.shape[1]
    ordered = values.sort(dim=1).values
    upper = ordered[:, n // 2].double()
    if n % 2:
        return upper
    return 0.5 * (ordered[:, n // 2 - 1].double() + upper)


def as_float_frames(frames: torch.Tensor, unsigned16: bool = False) -> torch.Tensor:
    """Return ``(T, H, W)`` frames as float32 (exact for camera counts).

    Parameters
    ----------
    frames : torch.Tensor
        Frames of any real dtype.
    unsigned16 : bool
        ``frames`` holds uint16 counts viewed as int16 (torch before 2.3 has no uint16).
    """
    import torch

    if unsigned16:
        return (frames.to(torch.int32) & 0xFFFF).to(torch.float32)
    return frames.to(torch.float32)


def frame_statistics_torch(
    frames: torch.Tensor, subsample: int = 4, integer: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return each frame's robust background and noise, as :func:`frame_statistics` does.

    Parameters
    ----------
    frames : torch.Tensor
        ``(T, H, W)`` float32 frames (see :func:`as_float_frames`).
    subsample : int
        Row/column step of the statistics.
    integer : bool
        The frames hold integers (camera counts): the MAD is taken in doubled integer
        units, as the numpy reference does for integer frames.

    Returns
    -------
    background, noise : torch.Tensor
        ``(T,)`` float64 on the frames' device; every noise is finite and > 0.
    """
    import torch

    t, h, w = frames.shape
    step = max(1, int(subsample))
    if h * w < _SMALL_FRAME_PX:
        step = 1
    background = _median_rows(frames[:, ::step, ::step].reshape(t, -1))
    rows = frames[:, ::step]
    if w > 1:
        half = w // 2
        diff = (rows[:, :, 1 : 2 * half : 2] - rows[:, :, 0 : 2 * half : 2]).reshape(t, -1)
    else:
        diff = (frames[:, 1:, 0] - frames[:, :-1, 0]).reshape(t, -1)
    if diff.shape[1] == 0:
        noise = torch.zeros(t, dtype=torch.float64, device=frames.device)
    else:
        centre = _median_rows(diff)
        if integer:
            # |d - median| with a half-integer median is exact in doubled integer units.
            twice = (2 * diff - torch.round(2.0 * centre).to(diff.dtype)[:, None]).abs()
            mad = 0.5 * _median_rows(twice)
            dev = 0.5 * twice
        else:
            dev = (diff - centre.to(diff.dtype)[:, None]).abs()
            mad = _median_rows(dev)
        noise = _MAD_TO_STD * mad / math.sqrt(2.0)
        # Nearly empty, quantized frames have MAD 0: the root-mean-square difference instead.
        rms = torch.sqrt((dev.double() ** 2).mean(dim=1) / 2.0)
        noise = torch.where(noise <= 0.0, rms, noise)
    noise = torch.where(torch.isfinite(noise) & (noise > 0.0), noise, torch.ones_like(noise))
    return background, noise


class DeviceNormalizer:
    """Turn frames on a device into the network's normalized, padded batch, on that device.

    Parameters
    ----------
    spec : ModelSpec
        The model (its normalization settings and soft-clip scale).
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.config = spec.normalization
        self.softclip = float(spec.net.input_softclip)

    def padded_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Return ``(H', W')``: the frame shape padded to the network's multiple."""
        m = self.config.pad_multiple
        h, w = shape
        return h + (-h) % m, w + (-w) % m

    def normalize(
        self, frames: torch.Tensor, integer: bool = True, out: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalize ``(T, H, W)`` float32 frames.

        Parameters
        ----------
        frames : torch.Tensor
            Frames as :func:`as_float_frames` returns them.
        integer : bool
            The frames hold camera counts (see :func:`frame_statistics_torch`).
        out : torch.Tensor, optional
            ``(T, 1, H', W')`` float32 buffer to write into (its padding is zeroed).

        Returns
        -------
        batch : torch.Tensor
            ``(T, 1, H', W')`` float32, zero-padded.
        noise : torch.Tensor
            ``(T,)`` float64 noise divided out of each frame.
        """
        import torch

        t, h, w = frames.shape
        hp, wp = self.padded_shape((h, w))
        background, noise = frame_statistics_torch(frames, self.config.subsample, integer)
        if out is None:
            out = torch.zeros((t, 1, hp, wp), dtype=torch.float32, device=frames.device)
        elif hp != h or wp != w:
            out.zero_()
        # float32 subtraction and scaling, as the numpy reference does.
        bg = background.to(torch.float32)[:, None, None]
        inv = (1.0 / noise).to(torch.float32)[:, None, None]
        torch.mul(frames - bg, inv, out=out[:, 0, :h, :w])
        return out, noise

    def network_input(self, batch: torch.Tensor, out: torch.Tensor | None = None) -> Any:
        """Return ``batch`` soft-clipped (``scale * asinh(x / scale)``), in ``out`` if given."""
        import torch

        if self.softclip <= 0:
            if out is None:
                return batch
            return out.copy_(batch)
        res = torch.mul(batch, 1.0 / self.softclip, out=out)
        torch.asinh(res, out=res)
        res.mul_(self.softclip)
        return res
