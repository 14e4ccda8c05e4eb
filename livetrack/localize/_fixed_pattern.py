"""Fixed-pattern stripes (per-column and per-row offsets) measured and removed from a movie.

sCMOS and CCD cameras read columns (or rows) through their own amplifiers, whose offsets
differ; some video pipelines add banding. The stripes are the same in every frame and, at
the pixel scale, as strong as the noise or stronger: they make every particle's
neighbourhood look noisier than it is, and their edges look like particles to a detector.
Each column's offset is the median over the movie's rows and frames (particles are a
minority of any column); only its part that changes from one column to the next is a stripe,
so smooth illumination profiles are left alone.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["remove_stripes", "stripe_profiles"]

# Spread of a normal distribution in units of its median absolute deviation.
_MAD_TO_STD = 1.4826
# Width (px) of the running median that separates a smooth profile from its stripes.
_SMOOTH_PX = 61
# Stripes are removed when their spread exceeds this fraction of the pixel noise ...
_RELEVANT = 0.1
# ... and this many times the uncertainty of the profile itself.
_SIGNIFICANT = 4.0
# ... and the stripes of the two halves of the frame correlate at least this well.
_AGREEMENT = 0.7
# Frames the profiles are measured on, spread over the movie: at most this many, and no
# more than hold this many pixels (but at least two).
_SAMPLE_FRAMES = 8
_SAMPLE_PIXELS = 1_000_000


def _pixel_noise(sample: np.ndarray, axis: int) -> float:
    """Noise of single pixels from differences of neighbours along ``axis``.

    Neighbours along a column share its offset, so column stripes cancel in vertical
    differences (and row stripes in horizontal ones).
    """
    diff = np.diff(sample, axis=axis).ravel()
    return float(_MAD_TO_STD * np.median(np.abs(diff - np.median(diff))) / np.sqrt(2.0))


def stripe_profiles(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the stripes of a movie: an offset per row and one per column.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` movie or one ``(H, W)`` frame.

    Returns
    -------
    rows, columns : numpy.ndarray
        float32 offsets of shape ``(H,)`` and ``(W,)``; all zero along an axis whose stripes
        are not both significant (``_SIGNIFICANT`` times the profile's own uncertainty)
        and relevant (``_RELEVANT`` times the pixel noise).
    """
    stack = np.asarray(frames, dtype=np.float32)
    if stack.ndim == 2:
        stack = stack[np.newaxis]
    # Large frames hold enough rows for a precise median in fewer of them.
    n = max(2, min(_SAMPLE_FRAMES, _SAMPLE_PIXELS // (stack.shape[1] * stack.shape[2])))
    index = np.unique(np.linspace(0, len(stack) - 1, min(n, len(stack))).astype(int))
    sample = stack[index]
    centred = sample - np.median(sample, axis=(1, 2), keepdims=True)
    # Pixels of one column share its offset: vertical differences cancel column stripes.
    columns = _stripes(centred, 1, _pixel_noise(sample, 1))
    rows = _stripes(centred, 2, _pixel_noise(sample, 2))
    return rows, columns


def _high_pass(profile: np.ndarray) -> np.ndarray:
    """Return the part of a profile that changes line to line (illumination taken out)."""
    profile = profile.astype(np.float64)
    # A smooth illumination profile: a parabola (which a running median bends at the
    # ends), then what a running median keeps of the rest.
    x = np.linspace(-1.0, 1.0, len(profile))
    if len(profile) > 3:
        profile = profile - np.polyval(np.polyfit(x, profile, 2), x)
    size = max(1, min(_SMOOTH_PX, len(profile) if len(profile) % 2 else len(profile) - 1))
    return profile - ndimage.median_filter(profile, size=size, mode="nearest")


def _stripes(centred: np.ndarray, along: int, noise: float) -> np.ndarray:
    """Return the stripes across axis ``along`` of ``(T, H, W)`` frames, if they matter.

    A stripe runs the whole length of the frame: the profiles of its two halves agree.
    Compression blocks, texture and particles make profiles that do not.
    """
    n = centred.shape[along]
    halves = np.split(
        centred[:, : n - n % 2] if along == 1 else centred[:, :, : n - n % 2], 2, axis=along
    )
    axes = (0, along)
    first, second = (_high_pass(np.median(half, axis=axes)) for half in halves)
    stripes = _high_pass(np.median(centred, axis=axes)).astype(np.float32)
    spread = _MAD_TO_STD * float(np.median(np.abs(stripes - np.median(stripes))))
    # The median of n normal values scatters by about 1.25 sigma / sqrt(n).
    uncertainty = 1.2533 * noise / np.sqrt(centred.shape[0] * n)
    agree = float(np.corrcoef(first, second)[0, 1]) if first.std() and second.std() else 0.0
    if agree >= _AGREEMENT and spread > max(_RELEVANT * noise, _SIGNIFICANT * uncertainty):
        return stripes
    return np.zeros_like(stripes)


def remove_stripes(frames: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return the movie with its fixed-pattern stripes subtracted.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` movie.

    Returns
    -------
    cleaned : numpy.ndarray
        ``frames`` itself where no stripes were found, else a float32 copy without them.
    found : bool
        Whether stripes were removed.
    """
    rows, columns = stripe_profiles(frames)
    if not (rows.any() or columns.any()):
        return frames, False
    cleaned = np.asarray(frames, dtype=np.float32) - rows[:, None] - columns[None, :]
    return cleaned, True
