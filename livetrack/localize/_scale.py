"""Measure the size and contrast of the particles in a movie from the data (scale space).

The particles a user wants tracked are the strongest blob-like structures of the frames.
The scale-normalized Laplacian of Gaussian, ``-s^2 * LoG_s * frame``, peaks at the centre of a
blob at the scale ``s`` that matches the blob's size (Lindeberg, Int. J. Comput. Vis. 30, 79,
1998): ``s = sigma`` for a Gaussian spot, about ``r / sqrt(2)`` for a uniform disc of radius
``r``. Bright blobs give positive extrema, dark blobs negative ones. The strongest extrema,
with the rings and texture around them suppressed, vote for one polarity and one scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from livetrack._errors import InputError

__all__ = ["FeatureScale", "bin_frames", "measure_feature_scale"]

# Spread of a normal distribution in units of its median absolute deviation.
_MAD_TO_STD = 1.4826
# Scales per octave of the scale space; four resolve sizes to within 19 %.
_PER_OCTAVE = 4
# An extremum must stand this many robust standard deviations above its scale's background.
_Z_MIN = 6.0
# Only extrema at least this fraction of the strongest one vote (texture and noise do not).
_RELATIVE_MIN = 0.1
# A weaker extremum within this many scales of a stronger one is part of it: a ring or halo
# around a particle, or the particle's internal structure.
_OVERLAP_SCALES = 3.0
# Candidates kept per frame and scale before the overlap suppression (the strongest ones).
_CANDIDATES = 200
# A lobe this deep (relative to the centre) makes a ring: spots measure -0.05 to 0 above
# SNR 2 and down to -0.12 at SNR 2 (noise), rings -0.31 to -0.43 (livetrack's bench and
# look-alike scenes), microspheres in halos -0.19 to -0.30 (the DeepTrack videos).
_RING_CONTRAST = -0.2
# Frames are analysed until this many features have voted (or n_frames are done).
_ENOUGH_FEATURES = 100
# Features the ring test needs: fewer are not a profile but a noise sample.
_RING_MIN_FEATURES = 3
# Particles whose radial profiles are measured for the ring contrast.
_PROFILED = 20


@dataclass(frozen=True)
class FeatureScale:
    """The size and contrast of the particles a movie shows.

    Attributes
    ----------
    polarity : {"bright", "dark"}
        Whether the particles' centres are brighter or darker than their surroundings.
    sigma_px : float
        The characteristic scale (the sigma of a Gaussian spot of the same size), in pixels.
    n_features : int
        How many scale-space extrema voted for it (0: nothing stood out of the noise, and
        ``sigma_px`` and ``polarity`` are the defaults, 1 px and bright).
    ring_contrast : float
        Depth of the deepest opposite-contrast lobe of the particles' radial profile (1.5 to
        5 sigma out) over their centre's contrast, median over the strongest particles:
        about 0 for spots, -0.2 to -0.4 for a bright centre in a dark ring (or the
        reverse), NaN where no particle could be measured.
    """

    polarity: Literal["bright", "dark"]
    sigma_px: float
    n_features: int
    ring_contrast: float = float("nan")

    @property
    def is_ring(self) -> bool:
        """Whether the particles are rings (a centre inside a ring of opposite contrast).

        Only where the profile averages at least ``_RING_MIN_FEATURES`` particles: one
        noise peak's surroundings are as likely to dip as a ring (ISBI-like spots at SNR 1:
        the single feature found in 10 frames showed a lobe of -0.27).
        """
        return bool(self.n_features >= _RING_MIN_FEATURES and self.ring_contrast <= _RING_CONTRAST)

    @property
    def diameter_px(self) -> float:
        """The feature diameter a trackpy user would set, about ``4 * sigma_px``."""
        return 4.0 * self.sigma_px


def bin_frames(frames: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks of every frame.

    Rows and columns that do not fill a block at the far edges are dropped.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` or ``(H, W)`` frames.
    factor : int
        Block side, >= 1.

    Returns
    -------
    numpy.ndarray
        float32 frames of shape ``(..., H // factor, W // factor)``. Pixel ``(i, j)`` of the
        result covers original pixels centred on ``(i * factor + (factor - 1) / 2, ...)``.
    """
    if factor < 1:
        raise InputError(f"bin factor must be >= 1, got {factor}")
    arr = np.asarray(frames)
    if factor == 1:
        return arr.astype(np.float32, copy=False)
    h, w = arr.shape[-2] // factor, arr.shape[-1] // factor
    if h == 0 or w == 0:
        raise InputError(f"frames of shape {arr.shape[-2:]} are smaller than a {factor}-px block")
    cut = arr[..., : h * factor, : w * factor].astype(np.float32)
    return cut.reshape(*arr.shape[:-2], h, factor, w, factor).mean(axis=(-3, -1))


def _robust_std(values: np.ndarray) -> float:
    sample = values[::2, ::2] if values.size >= 16384 else values
    med = np.median(sample)
    return float(_MAD_TO_STD * np.median(np.abs(sample - med)))


def _frame_extrema(frame: np.ndarray) -> np.ndarray:
    """Scale-space extrema of one frame as rows ``(sign, sigma, row, col, response)``.

    One octave at a time: each octave works on the frame binned by ``2**octave``, so every
    scale costs about the same as the smallest one, and the largest scale is an eighth of
    the frame's shorter side.
    """
    found = []
    image = frame.astype(np.float32)
    image = image - np.float32(np.median(image))
    octave = 0
    while min(image.shape) >= 16:
        step = 2**octave
        for k in range(_PER_OCTAVE):
            s_local = 2.0 ** (k / _PER_OCTAVE)
            response = -(s_local**2) * ndimage.gaussian_laplace(image, s_local, mode="nearest")
            for sign in (1.0, -1.0):
                r = sign * response
                noise = _robust_std(r)
                floor = max(_Z_MIN * noise, 1e-12)
                peak = (r > floor) & (r == ndimage.maximum_filter(r, size=3, mode="nearest"))
                rows, cols = np.nonzero(peak)
                if rows.size == 0:
                    continue
                values = r[rows, cols]
                top = np.argsort(values)[::-1][:_CANDIDATES]
                # Back to the frame's pixels: binned pixel i covers step pixels centred there.
                centre = (step - 1) / 2.0
                found.append(
                    np.column_stack(
                        [
                            np.full(top.size, sign),
                            np.full(top.size, s_local * step),
                            rows[top] * step + centre,
                            cols[top] * step + centre,
                            values[top],
                        ]
                    )
                )
        if min(image.shape) < 32:
            break
        image = bin_frames(image, 2)
        octave += 1
    return np.concatenate(found) if found else np.empty((0, 5))


def _suppress_overlaps(extrema: np.ndarray) -> np.ndarray:
    """Keep each extremum only if no stronger one lies within ``_OVERLAP_SCALES`` scales."""
    order = np.argsort(extrema[:, 4])[::-1]
    kept: list[int] = []
    for i in order:
        if kept:
            k = extrema[kept]
            reach = _OVERLAP_SCALES * np.maximum(k[:, 1], extrema[i, 1])
            d2 = (k[:, 2] - extrema[i, 2]) ** 2 + (k[:, 3] - extrema[i, 3]) ** 2
            if np.any(d2 < reach**2):
                continue
        kept.append(int(i))
    return extrema[kept]


def measure_feature_scale(frames: np.ndarray, n_frames: int = 10) -> FeatureScale:
    """Measure the polarity and size of the particles in a frame or a movie.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` stack or one ``(H, W)`` frame, any real dtype.
    n_frames : int
        How many frames, evenly spread over the movie, are analysed at most; the analysis
        stops early once ``_ENOUGH_FEATURES`` extrema have voted. A movie of few particles
        needs several frames for a stable vote (DeepTrack Example 4, about 5 spheres per
        frame among texture: sigma 2.79 px from frames 0, 24, 49 and 2.22 px from frames 0,
        23, 49; 2.73-2.80 px from any 8 frames or more).

    Returns
    -------
    FeatureScale
        Polarity and characteristic scale. The extrema vote with their squared response, so
        a few strong particles outweigh much faint texture; a class is a polarity and a
        scale within a quarter octave.

    Notes
    -----
    A bright-centred microsphere in a dark halo is one bright feature: the halo's extrema
    lie within a few scales of the stronger centre and are suppressed, and so are the
    small-scale extrema of a large particle's internal structure (compression blocks,
    fringes).
    """
    stack = np.asarray(frames)
    if stack.ndim == 2:
        stack = stack[np.newaxis]
    index = np.unique(np.linspace(0, len(stack) - 1, max(1, min(n_frames, len(stack)))).astype(int))
    per_frame, firsts = [], []
    for i in index:
        extrema = _frame_extrema(stack[i])
        if len(extrema):
            per_frame.append(_suppress_overlaps(extrema))
            firsts.append(i)
        if sum(len(f) for f in per_frame) >= _ENOUGH_FEATURES:
            break  # a crowded frame votes clearly on its own; the others would cost time
    if not per_frame:
        return FeatureScale("bright", 1.0, 0)
    feats = np.concatenate(per_frame)
    feats = feats[feats[:, 4] >= _RELATIVE_MIN * feats[:, 4].max()]
    log_scale = np.log2(feats[:, 1])
    best = (-1.0, 1.0, 0.0)
    for sign in (1.0, -1.0):
        for centre in np.unique(log_scale):
            near = (feats[:, 0] == sign) & (np.abs(log_scale - centre) <= 0.26)
            vote = float((feats[near, 4] ** 2).sum())
            if vote > best[0]:
                best = (vote, sign, centre)
    _, sign, centre = best
    members = (feats[:, 0] == sign) & (np.abs(log_scale - centre) <= 0.51)
    sigma = float(2.0 ** np.average(log_scale[members], weights=feats[members, 4]))
    first = per_frame[0]
    chosen = first[(first[:, 0] == sign) & (np.abs(np.log2(first[:, 1]) - centre) <= 0.51)]
    contrast = _ring_contrast(stack[firsts[0]], chosen, sign, sigma)
    return FeatureScale("bright" if sign > 0 else "dark", sigma, int(members.sum()), contrast)


def _ring_contrast(frame: np.ndarray, feats: np.ndarray, sign: float, sigma: float) -> float:
    """Median depth of the opposite-contrast lobe around the strongest particles."""
    image = sign * np.asarray(frame, dtype=np.float64)
    h, w = image.shape
    reach = int(np.ceil(6 * sigma))
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    r = np.hypot(yy, xx)
    shells = [(r >= q - 0.5) & (r < q + 0.5) for q in np.arange(1.5 * sigma, 5 * sigma, 0.5)]
    centre_px, outside = r <= max(1.0, 0.5 * sigma), r > 5 * sigma
    ratios = []
    for row, col in feats[np.argsort(feats[:, 4])[::-1][:_PROFILED], 2:4]:
        y, x = round(row), round(col)
        if y < reach or x < reach or y + reach >= h or x + reach >= w:
            continue
        window = image[y - reach : y + reach + 1, x - reach : x + reach + 1]
        window = window - np.median(window[outside])
        centre = window[centre_px].mean()
        if centre > 0 and shells:
            ratios.append(min(window[s].mean() for s in shells if s.any()) / centre)
    return float(np.median(ratios)) if ratios else float("nan")
