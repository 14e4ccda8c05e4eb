"""The detection step shared by every classical localizer: bandpass, local maxima, thresholds.

Follows Crocker & Grier, J. Colloid Interface Sci. 179, 298 (1996), section 3: a Gaussian
low-pass of width ``noise_size`` minus a boxcar background of side ``diameter``, then local
maxima by grey dilation, then a threshold on the integrated brightness ("mass").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from livetrack.localize._options import DetectionOptions

# Spread of a normal distribution in units of its median absolute deviation.
_MAD_TO_STD = 1.4826


def _truncate(noise_size_px: float, diameter_px: int) -> float:
    # Keep the Gaussian no wider than the boxcar: a wider tail leaves tiny positive ripples
    # around every spot in noiseless images, which would count as local maxima.
    return min(4.0, (diameter_px // 2) / noise_size_px)


@lru_cache(maxsize=16)
def _inverse_edge_norm(shape: tuple[int, int], kind: str, size: float, truncate: float):
    """Reciprocal of the in-frame fraction of a separable filter's weight, per pixel.

    Returned as (row, column) factors: it is 1 except within the filter radius of the border.
    """
    if kind == "gauss":

        def filt(v):
            return ndimage.gaussian_filter1d(v, size, mode="constant", truncate=truncate)
    else:

        def filt(v):
            return ndimage.uniform_filter1d(v, int(size), mode="constant")

    rows = 1.0 / filt(np.ones(shape[0]))
    cols = 1.0 / filt(np.ones(shape[1]))
    return rows, cols


def _normalize_edges(out: np.ndarray, factors: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    rows, cols = factors
    # Only the border strips differ from 1; touching just those keeps this cheap.
    k_r = int(np.count_nonzero(rows[: rows.size // 2] != 1.0))
    k_c = int(np.count_nonzero(cols[: cols.size // 2] != 1.0))
    if k_r:
        out[:k_r] *= rows[:k_r, None]
        out[-k_r:] *= rows[-k_r:, None]
    if k_c:
        out[:, :k_c] *= cols[None, :k_c]
        out[:, -k_c:] *= cols[None, -k_c:]
    return out


def lowpass(image: np.ndarray, noise_size_px: float, diameter_px: int) -> np.ndarray:
    """Gaussian low-pass of the bandpass filter (float64), normalized at the frame border.

    Only pixels inside the frame contribute, reweighted to unit sum, so a spot on the border is
    neither mirrored nor smeared by replicated edge pixels.
    """
    img = np.asarray(image, dtype=np.float64)
    trunc = _truncate(noise_size_px, diameter_px)
    out = ndimage.gaussian_filter(img, noise_size_px, mode="constant", truncate=trunc)
    return _normalize_edges(
        out, _inverse_edge_norm(img.shape, "gauss", float(noise_size_px), trunc)
    )


def boxcar(image: np.ndarray, diameter_px: int) -> np.ndarray:
    """Return the running mean over a ``diameter_px`` square of in-frame pixels only."""
    img = np.asarray(image, dtype=np.float64)
    out = ndimage.uniform_filter(img, diameter_px, mode="constant")
    return _normalize_edges(out, _inverse_edge_norm(img.shape, "box", float(diameter_px), 0.0))


def bandpass(image: np.ndarray, noise_size_px: float = 1.0, diameter_px: int = 7) -> np.ndarray:
    """Crocker-Grier bandpass: Gaussian low-pass minus boxcar background.

    Parameters
    ----------
    image : numpy.ndarray
        2-D image.
    noise_size_px : float
        Standard deviation of the Gaussian low-pass in pixels.
    diameter_px : int
        Side of the square boxcar (running average) that estimates the background.

    Returns
    -------
    numpy.ndarray
        float64 image, not clipped: background pixels scatter around zero. Near the frame
        border both filters average over in-frame pixels only.

    References
    ----------
    J. C. Crocker and D. G. Grier, "Methods of digital video microscopy for colloidal
    studies", J. Colloid Interface Sci. 179, 298-310 (1996).
    """
    img = np.asarray(image, dtype=np.float64)
    out = lowpass(img, noise_size_px, diameter_px)
    out -= boxcar(img, diameter_px)
    return out


def disc_mask(half_px: int) -> np.ndarray:
    """Boolean disc of radius `half_px` in a ``2 * half_px + 1`` square."""
    r = np.arange(-half_px, half_px + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= half_px**2


@lru_cache(maxsize=32)
def _mass_noise_ratio(noise_size_px: float, diameter_px: int) -> float:
    """Ratio of the std of the disc sum of the bandpassed image to its per-pixel std.

    Both are linear filters of the frame, so for white pixel noise the ratio is the ratio of
    the L2 norms of their impulse responses.
    """
    half = diameter_px // 2
    n = 6 * half + 9
    delta = np.zeros((n, n))
    delta[n // 2, n // 2] = 1.0
    img = delta
    k = ndimage.gaussian_filter(
        img, noise_size_px, mode="constant", truncate=_truncate(noise_size_px, diameter_px)
    ) - ndimage.uniform_filter(img, diameter_px, mode="constant")
    mass_k = ndimage.correlate(k, disc_mask(half).astype(float), mode="constant")
    return float(np.sqrt((mass_k**2).sum() / (k**2).sum()))


def _empirical_minmass(bp: np.ndarray, half: int, n_sigma: float) -> float:
    """Mass threshold from the disc sums of `bp` on a coarse grid: median + n_sigma * MAD.

    The disc sum of ``|bandpass|`` is not linear in the noise, so its background level and
    spread are measured instead of predicted; particles are a minority of grid points, which
    the median and MAD ignore.
    """
    h, w = bp.shape
    step = max(2, half)
    rr, cc = np.meshgrid(np.arange(0, h, step), np.arange(0, w, step), indexing="ij")
    stack, valid = window_stack(bp, rr.ravel(), cc.ravel(), half)
    sums = (stack * (valid & disc_mask(half))).sum(axis=(1, 2))
    med = float(np.median(sums))
    return med + n_sigma * _MAD_TO_STD * float(np.median(np.abs(sums - med)))


def robust_noise(bp: np.ndarray) -> float:
    """Estimate the background standard deviation of a bandpassed image from its MAD.

    A 2x2 subsample is enough for the median and halves the cost.
    """
    sample = bp[::2, ::2] if bp.size >= 4096 else bp
    med = np.median(sample)
    return float(_MAD_TO_STD * np.median(np.abs(sample - med)))


@dataclass(frozen=True)
class Detections:
    """Integer detections of one frame (internal)."""

    rows: np.ndarray  # int64
    cols: np.ndarray  # int64
    peak: np.ndarray  # signed bandpassed value at the maximum
    mass: np.ndarray  # disc sum of the (polarity-corrected) bandpassed image
    bp: np.ndarray  # polarity-corrected bandpassed image (bright features positive)
    bp_signed: np.ndarray  # bandpassed image before polarity correction
    noise: float


def drop_close(rows: np.ndarray, cols: np.ndarray, score: np.ndarray, sep: float) -> np.ndarray:
    """Return indices to keep so that no two are closer than `sep` (the dimmer one goes)."""
    n = rows.size
    if n < 2:
        return np.arange(n)
    tree = cKDTree(np.column_stack([rows, cols]).astype(float))
    pairs = tree.query_pairs(sep - 1e-9, output_type="ndarray")
    if pairs.size == 0:
        return np.arange(n)
    i, j = pairs[:, 0], pairs[:, 1]
    # Ties (plateaus of identical values) keep the lower index.
    drop_i = (score[i] < score[j]) | ((score[i] == score[j]) & (i > j))
    dropped = np.zeros(n, dtype=bool)
    dropped[np.where(drop_i, i, j)] = True
    return np.flatnonzero(~dropped)


def window_stack(
    image: np.ndarray, rows: np.ndarray, cols: np.ndarray, half: int, fill: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Square windows of side ``2 * half + 1`` around (rows, cols) and their in-image masks.

    Windows reaching past the border are padded with `fill`; the mask says which pixels are
    real, so every refinement can ignore the padding instead of dropping edge detections.
    """
    h, w = image.shape
    padded = np.pad(image, half, mode="constant", constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(padded, (2 * half + 1, 2 * half + 1))
    stack = view[rows, cols]  # window centred on (r, c) starts at padded (r, c)
    offs = np.arange(-half, half + 1)
    rr = rows[:, None] + offs[None, :]
    cc = cols[:, None] + offs[None, :]
    valid = ((rr >= 0) & (rr < h))[:, :, None] & ((cc >= 0) & (cc < w))[:, None, :]
    return stack.astype(np.float64, copy=False), valid


def _local_maxima(bp: np.ndarray, thresh: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels above `thresh` equal to the maximum of their ``size`` square (grey dilation).

    Dilating only the few pixels above the threshold is the same test as dilating the whole
    image and several times faster.
    """
    rows, cols = np.nonzero(bp > thresh)
    if rows.size == 0:
        return rows, cols
    if rows.size * size * size > 2 * bp.size:
        # A threshold so low that most pixels pass: dilating the image is cheaper in memory.
        dil = ndimage.maximum_filter(bp, size=size, mode="nearest")
        is_max = bp[rows, cols] >= dil[rows, cols]
        return rows[is_max], cols[is_max]
    stack, _ = window_stack(bp, rows, cols, size // 2, fill=-np.inf)
    is_max = bp[rows, cols] >= stack.reshape(rows.size, -1).max(axis=1)
    return rows[is_max], cols[is_max]


def detect(photons: np.ndarray, opts: DetectionOptions) -> Detections:
    """Bandpass, find local maxima, apply the peak and mass thresholds.

    Parameters
    ----------
    photons : numpy.ndarray
        2-D float image (already converted to photons if a camera is set).
    opts : DetectionOptions
        Detection options.

    Returns
    -------
    Detections
        Integer positions sorted by row then column.
    """
    bp_signed = bandpass(photons, opts.noise_size_px, opts.diameter_px)
    if opts.polarity == "bright":
        bp = bp_signed
    elif opts.polarity == "dark":
        bp = -bp_signed
    else:
        bp = np.abs(bp_signed)
    noise = robust_noise(bp_signed)
    big = float(np.abs(bp).max())
    if opts.threshold is not None:
        thresh = float(opts.threshold)
    else:
        # The relative floor only matters for noiseless images, where MAD is 0 and round-off
        # would otherwise create maxima.
        thresh = max(opts.threshold_sigma * noise, 1e-6 * big)
    sep = opts.separation
    size = max(3, 2 * int(sep / np.sqrt(2)) + 1)
    rows, cols = _local_maxima(bp, thresh, size)
    half = opts.half_px
    stack, valid = window_stack(bp, rows, cols, half)
    disc = disc_mask(half)
    mass = (stack * (valid & disc)).sum(axis=(1, 2))
    if opts.minmass is not None:
        minmass = float(opts.minmass)
    elif opts.polarity == "abs":
        minmass = _empirical_minmass(bp, half, opts.minmass_sigma)
    else:
        minmass = (
            opts.minmass_sigma * noise * _mass_noise_ratio(opts.noise_size_px, opts.diameter_px)
        )
    keep = mass > minmass
    rows, cols, mass = rows[keep], cols[keep], mass[keep]
    peak = bp[rows, cols]
    keep = drop_close(rows, cols, peak, sep)
    rows, cols = rows[keep].astype(np.int64), cols[keep].astype(np.int64)
    return Detections(
        rows=rows,
        cols=cols,
        peak=bp_signed[rows, cols],
        mass=mass[keep],
        bp=bp,
        bp_signed=bp_signed,
        noise=noise,
    )
