"""Turn the network's per-cell maps into a table of localizations.

Cells whose detection logit is a local maximum of its 3x3 neighbourhood (non-maximum
suppression) are candidate particles. A candidate's detection score is its probability plus
that of the neighbouring cells whose predicted positions fall within 1 px of its own (they
point at the same particle), capped at 1: a particle whose probability is split between two
cells at a cell boundary is still one confident detection, while the scattered small
probabilities of a noisy background do not add up. Positions are the cell centre plus the
predicted offset, in trackpy's convention: x is the column, y the row, and the centre of
pixel (0, 0) is (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns of every localization table produced by the CNN.
COLUMNS = ("frame", "x", "y", "prob", "sigma_x", "sigma_y", "mass")

# Cells whose own probability is below this are never peaks; it only prunes work, the
# real decision is ``threshold`` on the detection score. ``decode_maps`` prunes at the
# larger of this and threshold / 9 (a score sums at most 9 cells, none above the peak's),
# which loses no detection the threshold would keep.
_MIN_PEAK_PROB = 0.001
# Neighbours whose predicted position is within this of the peak's are the same particle.
_SAME_PARTICLE_PX = 1.0
#: Soft floor of log sigma (px); the same value as the training loss uses.
LOG_SIGMA_FLOOR = -6.0


def empty_table() -> pd.DataFrame:
    """Return an empty localization table with the right columns and dtypes."""
    return pd.DataFrame(
        {c: pd.Series(dtype=np.int64 if c == "frame" else np.float64) for c in COLUMNS}
    )


def floor_log_sigma(raw: np.ndarray) -> np.ndarray:
    """Apply the net's soft floor on log sigma (see ``LocalizationNet``) to raw map values."""
    return np.logaddexp(0.0, raw - LOG_SIGMA_FLOOR) + LOG_SIGMA_FLOOR


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def find_peaks(
    logit: np.ndarray, min_prob: float = _MIN_PEAK_PROB
) -> tuple[np.ndarray, np.ndarray]:
    """Return the cells that are 3x3 local maxima of ``logit`` with probability >= min_prob.

    Parameters
    ----------
    logit : numpy.ndarray
        2-D detection logit map.
    min_prob : float
        Smallest probability of a peak cell.

    Returns
    -------
    rows, cols : numpy.ndarray
        Integer cell indices of the peaks, in raster order. On a plateau of equal values
        only the first cell in raster order is a peak.
    """
    floor = np.log(min_prob / (1.0 - min_prob))
    h, w = logit.shape
    rows, cols = np.nonzero(logit >= floor)
    if rows.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    centre = logit[rows, cols]
    keep = np.ones(rows.size, dtype=bool)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            r, c = rows + dr, cols + dc
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            nb = logit[np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)]
            earlier = dr < 0 or (dr == 0 and dc < 0)
            beats = centre > nb if earlier else centre >= nb
            keep &= beats | ~inside
    return rows[keep], cols[keep]


@dataclass(frozen=True)
class _Neighbourhood:
    """Per-candidate 3x3 cells: probability, predicted position and variance, validity."""

    p: np.ndarray
    x: np.ndarray
    y: np.ndarray
    var: np.ndarray
    same: np.ndarray


def _neighbourhood(
    maps: np.ndarray, rows: np.ndarray, cols: np.ndarray, stride: int
) -> _Neighbourhood:
    h, w = maps.shape[1:]
    centre = (stride - 1) / 2.0
    d = np.array([-1, 0, 1])
    r = rows[:, None, None] + d[None, :, None]
    c = cols[:, None, None] + d[None, None, :]
    r, c = np.broadcast_arrays(r, c)
    valid = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    r, c = np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)
    cell = maps[:, r, c].astype(np.float64)  # (5, N, 3, 3)
    x = c * stride + centre + cell[1]
    y = r * stride + centre + cell[2]
    var = np.exp(2.0 * floor_log_sigma(cell[3])) + np.exp(2.0 * floor_log_sigma(cell[4]))
    same = (
        valid
        & (np.abs(x - x[:, 1:2, 1:2]) < _SAME_PARTICLE_PX)
        & (np.abs(y - y[:, 1:2, 1:2]) < _SAME_PARTICLE_PX)
    )
    return _Neighbourhood(_sigmoid(cell[0]), x, y, var, same)


def decode_maps(
    maps: np.ndarray,
    threshold: float,
    stride: int,
    shape: tuple[int, int],
    frame: int = 0,
    image: np.ndarray | None = None,
    mass_radius_px: int = 3,
    merge_neighbours: bool = False,
    corner_profile: tuple[float, ...] = (),
) -> pd.DataFrame:
    """Decode one frame's network output into localizations.

    Parameters
    ----------
    maps : numpy.ndarray
        ``(5, h, w)`` maps: logit, dx_px, dy_px and the raw log_sigma_x_px, log_sigma_y_px
        (before the soft floor, which is applied here).
    threshold : float
        Detection score threshold in (0, 1].
    stride : int
        Output stride of the maps in pixels.
    shape : tuple of int
        ``(H, W)`` of the original frame; detections outside it are dropped.
    frame : int
        Frame number written to the ``frame`` column.
    image : numpy.ndarray, optional
        Background-subtracted frame (input units) used to compute ``mass`` as the sum over a
        square window around each position; ``mass`` is NaN without it.
    mass_radius_px : int
        Half width of the mass window.
    merge_neighbours : bool
        Average the positions predicted by the peak cell and by the neighbours that point at
        the same particle, weighted by ``p / sigma^2``; this evens out the network's error at
        cell boundaries.
    corner_profile : tuple of float
        Mean detection score of bright particles against the distance of the particle from
        the nearest cell corner, in bins of 0.1 cell from 0 (see :data:`CORNER_BINS`); the
        score is divided by it (the network splits its probability over the four cells at a
        corner and underestimates the total there). Empty: no correction.

    Returns
    -------
    pandas.DataFrame
        Columns ``frame, x, y, prob, sigma_x, sigma_y, mass``.
    """
    rows, cols = find_peaks(maps[0], max(_MIN_PEAK_PROB, threshold / 9.0))
    if rows.size == 0:
        return empty_table()
    nb = _neighbourhood(maps, rows, cols, stride)
    score = np.minimum((nb.p * nb.same).sum(axis=(1, 2)), 1.0)
    keep = score >= threshold
    if merge_neighbours:
        wts = np.where(nb.same, nb.p / nb.var, 0.0)
        total = wts.sum(axis=(1, 2))
        x = (wts * nb.x).sum(axis=(1, 2)) / total
        y = (wts * nb.y).sum(axis=(1, 2)) / total
    else:
        x, y = nb.x[:, 1, 1], nb.y[:, 1, 1]
    if corner_profile:
        score = np.minimum(score / corner_factor(x, y, stride, corner_profile), 1.0)
        keep = score >= threshold
    h, w = shape
    keep &= (x >= -0.5) & (x < w - 0.5) & (y >= -0.5) & (y < h - 0.5)
    x, y, score, rows, cols = x[keep], y[keep], score[keep], rows[keep], cols[keep]
    sx = np.exp(floor_log_sigma(maps[3, rows, cols].astype(np.float64)))
    sy = np.exp(floor_log_sigma(maps[4, rows, cols].astype(np.float64)))
    mass = (
        window_sums(image, x, y, mass_radius_px) if image is not None else np.full(x.size, np.nan)
    )
    return pd.DataFrame(
        {
            "frame": np.full(x.size, frame, dtype=np.int64),
            "x": x,
            "y": y,
            "prob": score,
            "sigma_x": sx,
            "sigma_y": sy,
            "mass": mass,
        }
    )


def adaptive_threshold(
    scores: np.ndarray,
    null_thresholds: np.ndarray,
    null_rate_per_px: np.ndarray,
    area_px: float,
    default: float,
    lowest: float = 0.1,
    confident: float = 0.8,
    spread: float = 0.2,
    clutter_per_confident: np.ndarray | None = None,
) -> float:
    """Choose a detection threshold for one frame (or batch) from its own score distribution.

    The network's scores are not comparable across SNR: at high SNR real particles score
    near 1 and the calibrated ``default`` threshold is right; at low SNR their scores
    spread over the whole range and a lower threshold finds many more of them. Knowing how
    many background peaks per pixel exceed each threshold (``null_rate_per_px``, measured
    on particle-free frames), the detections in a score band split into an expected
    ``FP = rate * area`` false and ``N - FP`` true ones. Bright particles also raise faint
    false peaks around them (the network sees them 6--20 px away); with
    ``clutter_per_confident`` those add ``clutter(t) * C``, ``C`` the number of confident
    detections.

    1. If the excess of detections scoring between ``default`` and ``confident`` is less
       than ``spread`` times the excess above ``confident``, the particles are bright: the
       search runs over ``[default, confident]`` (the clutter around bright particles can
       call for a higher threshold), or ``default`` is returned when no clutter rate is
       given.
    2. Otherwise the search runs over ``[lowest, default]``.

    The search returns the threshold that maximizes the expected Jaccard index
    ``TP(t) / (P + FP(t))``, with ``P = max_t TP(t)`` the estimated number of particles --
    the false-discovery-rate reasoning of Benjamini-Hochberg applied to the Jaccard index.
    If the excess of detections over the false ones expected is within three Poisson
    standard deviations of the count, there is no evidence of particles there and
    ``default`` is returned.

    Parameters
    ----------
    scores : numpy.ndarray
        Detection scores of all candidates (at least those above ``lowest``).
    null_thresholds, null_rate_per_px : numpy.ndarray
        Increasing thresholds and the background peaks per pixel scoring at least each.
    area_px : float
        Image area the scores come from.
    default : float
        The model's calibrated threshold.
    lowest, confident, spread : float
        Search floor, the score above which a detection is confident, and the band ratio
        of rule 1.
    clutter_per_confident : numpy.ndarray, optional
        False detections scoring at least each of ``null_thresholds`` per confident
        detection, beyond the background's (measured on frames of bright particles).

    Returns
    -------
    float
        The threshold.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_confident = np.count_nonzero(scores >= confident)

    def expected_false(t: np.ndarray) -> np.ndarray:
        false = np.interp(t, null_thresholds, null_rate_per_px) * float(area_px)
        if clutter_per_confident is not None:
            false = false + np.interp(t, null_thresholds, clutter_per_confident) * n_confident
        return false

    def excess(lo: float, hi: float) -> float:
        n = np.count_nonzero((scores >= lo) & (scores < hi))
        false = expected_false(np.array([lo, min(hi, 1.0)]))
        return n - (false[0] - false[1])

    high = excess(confident, np.inf)
    if default >= confident:
        return float(default)
    lo, hi = lowest, default
    if high > 0 and excess(default, confident) < spread * high:
        # Bright particles: the candidates below ``confident`` are mostly their clutter,
        # which may call for a threshold above the calibrated one.
        if clutter_per_confident is None:
            return float(default)
        lo, hi = default, confident
    grid = np.linspace(lo, hi, 24)
    n_above = (scores[None, :] >= grid[:, None]).sum(axis=1)
    false = expected_false(grid)
    true = np.maximum(n_above - false, 0.0)
    particles = true.max()
    # An excess within Poisson fluctuations of the count is no evidence of particles.
    if particles <= 3.0 * np.sqrt(n_above[int(np.argmax(true))] + 1.0):
        return float(default)
    jaccard = true / (particles + false)
    # Ties go to the higher threshold: the same expected Jaccard with fewer false positives.
    best = len(grid) - 1 - int(np.argmax(jaccard[::-1]))
    return float(grid[best])


#: Upper edges of the corner-distance bins (cell units) of ``corner_profile``.
CORNER_BINS = (0.1, 0.2, 0.3, 0.4, 0.8)


def corner_distance(x: np.ndarray, y: np.ndarray, stride: int) -> np.ndarray:
    """Distance of positions from the nearest output-cell corner, in cell units."""
    u = np.mod(np.asarray(x) + 0.5, stride) / stride
    v = np.mod(np.asarray(y) + 0.5, stride) / stride
    return np.hypot(np.minimum(u, 1 - u), np.minimum(v, 1 - v))


def corner_factor(
    x: np.ndarray, y: np.ndarray, stride: int, profile: tuple[float, ...]
) -> np.ndarray:
    """Return the expected score of a bright particle at (x, y) per ``profile`` (>= 0.05)."""
    d = corner_distance(x, y, stride)
    idx = np.minimum(np.searchsorted(np.asarray(CORNER_BINS), d, side="right"), len(profile) - 1)
    return np.maximum(np.asarray(profile, dtype=np.float64)[idx], 0.05)


def window_sums(image: np.ndarray, x: np.ndarray, y: np.ndarray, radius: int) -> np.ndarray:
    """Sum ``image`` over ``(2 radius + 1)^2`` windows centred on the nearest pixels to (x, y).

    Windows are clipped at the frame border.
    """
    h, w = image.shape
    offs = np.arange(-radius, radius + 1)
    r = np.rint(y).astype(np.int64)[:, None, None] + offs[None, :, None]
    c = np.rint(x).astype(np.int64)[:, None, None] + offs[None, None, :]
    valid = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    vals = image[np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)]
    return np.where(valid, vals, 0.0).sum(axis=(1, 2), dtype=np.float64)
