"""Per-frame input normalization shared by training and every inference backend.

A frame becomes ``(frame - background) / noise``: the background is the frame median and the
noise is a robust (MAD) scale of neighbouring-pixel differences, which smooth illumination
gradients barely touch. The result is the same for any camera offset, gain and illumination
level, so one network serves every camera; with a camera calibration the frame is converted
to photons first (which changes nothing for the net but gives ``mass`` in photons).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

#: 1 / Phi^-1(3/4): turns a median absolute deviation into a Gaussian standard deviation.
_MAD_TO_STD = 1.4826

#: Noise at the particles' scale above this many times the pixel noise marks a frame's noise
#: as spatially correlated; it is then normalized at that scale (``--model auto`` and the
#: training patches that look like real video follow the same rule).
CORRELATED_NOISE_RATIO = 1.25


@dataclass(frozen=True)
class NormalizationConfig:
    """How frames are normalized before the network.

    Attributes
    ----------
    method : str
        Only ``"median_mad_diff"``: subtract the frame median, divide by the MAD-based noise
        scale of horizontal neighbour differences.
    subsample : int
        Use every ``subsample``-th row (and column, for the median) for the statistics; the
        estimates barely change and the cost drops by that factor on large frames.
    pad_multiple : int
        Frames are zero-padded (after normalization, so the pad is background) to a
        multiple of this many pixels before the network.
    """

    method: str = "median_mad_diff"
    subsample: int = 4
    pad_multiple: int = 4

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-serializable dict."""
        return asdict(self)


def _median(values: np.ndarray) -> float:
    """Median via a partial sort (np.median copies and handles NaN; inputs here are finite).

    Integer inputs with a modest range (camera counts and their differences) take a counting
    path: ``np.partition`` slows down several-fold on the many ties of integer data.
    """
    n = values.size
    k = n // 2
    if values.dtype.kind in "iu" and n > 0:
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 1 << 20:
            cum = np.cumsum(np.bincount((values - lo).astype(np.intp, copy=False)))
            upper = int(np.searchsorted(cum, k, side="right")) + lo
            if n % 2:
                return float(upper)
            lower = int(np.searchsorted(cum, k - 1, side="right")) + lo
            return 0.5 * (lower + upper)
    part = np.partition(values, [k - 1, k] if n % 2 == 0 and n > 1 else k)
    return float(part[k]) if n % 2 else 0.5 * (float(part[k - 1]) + float(part[k]))


def frame_statistics(
    frame: np.ndarray, subsample: int = 4, scale_px: float | None = None
) -> tuple[float, float]:
    """Return the robust background level and noise scale of one frame.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D image (any real dtype).
    subsample : int
        Row/column step used for the statistics (1 uses every pixel).
    scale_px : float, optional
        The particles' scale, for frames whose noise is spatially correlated: the noise is
        then the larger of the pixel noise and :func:`scale_noise` at this scale.

    Returns
    -------
    background : float
        Median of the (subsampled) frame.
    noise : float
        Robust standard deviation of the pixel noise, always > 0.
    """
    h, w = frame.shape
    step = max(1, int(subsample))
    if h * w < 64 * 64:
        step = 1  # small frames need every pixel for stable statistics
    background = _median(frame[::step, ::step].ravel())
    rows = frame[::step]
    # Integer frames keep integer differences (exact, and the fast median path).
    work = np.int64 if frame.dtype.kind in "iub" else np.float32
    if w > 1:
        # Differences of disjoint horizontal pixel pairs: independent noise samples of
        # variance 2 sigma^2; subtracting their median removes a smooth gradient.
        half = w // 2
        a: np.ndarray = rows[:, 0 : 2 * half : 2].astype(work)
        b: np.ndarray = rows[:, 1 : 2 * half : 2].astype(work)
        diff = (b - a).ravel()
    else:
        diff = np.diff(frame[:, 0].astype(work))
    noise = 0.0
    if diff.size:
        if work is np.int64:
            # |d - median| with a half-integer median is exact in doubled integer units.
            twice = np.abs(2 * diff - round(2.0 * _median(diff)))
            mad = 0.5 * _median(twice)
            dev = 0.5 * twice
        else:
            dev = np.abs(diff - np.float32(_median(diff)))
            mad = _median(dev)
        noise = _MAD_TO_STD * mad / np.sqrt(2.0)
        if noise <= 0.0:
            # Nearly empty, quantized frames (photon counts ~0) have MAD 0; fall back on the
            # root-mean-square difference so the scale still reflects the noise present.
            noise = float(np.sqrt(np.mean(dev.astype(np.float64) ** 2) / 2.0))
    if scale_px is not None:
        noise = max(noise, scale_noise(frame, scale_px, step))
    if not np.isfinite(noise) or noise <= 0.0:
        noise = 1.0
    return background, noise


@lru_cache(maxsize=16)
def _log_kernel_norm(sigma_px: float) -> float:
    """L2 norm of the impulse response of ``gaussian_laplace(., sigma_px)`` (white-noise gain)."""
    from scipy import ndimage

    n = 2 * int(4 * sigma_px + 2) + 1
    delta = np.zeros((n, n))
    delta[n // 2, n // 2] = 1.0
    return float(np.sqrt((ndimage.gaussian_laplace(delta, sigma_px, mode="constant") ** 2).sum()))


def scale_noise(frame: np.ndarray, sigma_px: float, subsample: int = 1) -> float:
    """Return the white-noise equivalent noise of a frame at the scale of its particles.

    The frame's Laplacian of Gaussian at ``sigma_px`` is what a particle of that size stands
    out of. Its robust (MAD) spread, divided by the filter's gain for white noise, is the
    per-pixel noise a white-noise frame would need to scatter as much at that scale. For
    white noise it equals the pixel noise; spatially correlated noise (compression blocks,
    demosaicing, binning, denoising) and background texture make it larger, while they
    shrink the neighbouring-pixel differences :func:`frame_statistics` measures.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D image.
    sigma_px : float
        Scale of the particles (Gaussian sigma), in pixels.
    subsample : int
        Row/column step of the pixels the spread is taken over.

    Returns
    -------
    float
        Noise scale in the frame's units (>= 0).
    """
    from scipy import ndimage

    response = ndimage.gaussian_laplace(np.asarray(frame, dtype=np.float32), sigma_px)
    sample = response[:: max(1, subsample), :: max(1, subsample)]
    mad = _median(np.abs(sample - np.float32(_median(sample.ravel()))).ravel())
    return float(_MAD_TO_STD * mad / _log_kernel_norm(float(sigma_px)))


def normalize_frame(
    frame: np.ndarray, config: NormalizationConfig | None = None
) -> tuple[np.ndarray, float, float]:
    """Normalize one frame for the network.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D image, already in photons if a camera calibration is known.
    config : NormalizationConfig, optional
        Normalization settings (defaults if omitted).

    Returns
    -------
    normalized : numpy.ndarray
        float32 image of the same shape, background ~0 and noise ~1.
    background : float
        The background level that was subtracted (input units).
    noise : float
        The noise scale that was divided out (input units).
    """
    cfg = config or NormalizationConfig()
    background, noise = frame_statistics(frame, cfg.subsample)
    out = frame.astype(np.float32, copy=True)
    out -= np.float32(background)
    out *= np.float32(1.0 / noise)
    return out, background, noise


def soft_clip(x: np.ndarray, scale: float, out: np.ndarray | None = None) -> np.ndarray:
    """Compress normalized intensities beyond ``scale`` noise units: ``scale * asinh(x / scale)``.

    Bright spots reach 10^4 noise units; the compression keeps the low-SNR range linear and
    squeezes the rest, so the network's statistics are not ruled by a few pixels. It is
    applied to the network input outside the graph (numpy's asinh is ~20x faster than the
    same function as ONNX Runtime ops). ``scale <= 0`` leaves ``x`` as it is.
    """
    if scale <= 0:
        if out is not None and out is not x:
            out[...] = x
            return out
        return x
    inv = np.float32(1.0 / scale)
    res = np.multiply(x, inv, out=out)
    np.arcsinh(res, out=res)
    res *= np.float32(scale)
    return res


def pad_batch(frames: list[np.ndarray], multiple: int) -> np.ndarray:
    """Stack equally shaped 2-D frames into a zero-padded ``(B, 1, H', W')`` float32 batch.

    Parameters
    ----------
    frames : list of numpy.ndarray
        Normalized frames, all of the same shape.
    multiple : int
        H' and W' are the smallest multiples of this at least H and W.

    Returns
    -------
    numpy.ndarray
        Contiguous float32 batch.
    """
    h, w = frames[0].shape
    hp, wp = h + (-h) % multiple, w + (-w) % multiple
    batch = np.zeros((len(frames), 1, hp, wp), dtype=np.float32)
    for i, f in enumerate(frames):
        batch[i, 0, :h, :w] = f
    return batch
