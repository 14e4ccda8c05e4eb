"""Fast Poisson sampling for images that are mostly a flat background.

:meth:`numpy.random.Generator.poisson` costs ~50 ns per pixel at the photon counts of
microscopy backgrounds, which alone would use most of a real-time frame budget. A frame is
mostly background, so we split ``lam = b + r`` with the floor ``b = min(lam)``: by the
additivity of independent Poisson variables, ``Poisson(b) + Poisson(r)`` has exactly the
distribution of ``Poisson(lam)``. The constant part is drawn by inverting the CDF with a
table indexed by the top 16 bits of a 32-bit uniform (the few table cells that straddle a
CDF step fall back to a binary search), and numpy's sampler runs only on the pixels where
``r > 0`` (the particle windows). The only approximation is the 2**-32 resolution of the
uniforms, far below any measurable effect.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

_GUIDE_BITS = 16
# Above this the CDF table grows large and numpy's PTRS sampler is no slower per pixel.
_MAX_TABLE_LAMBDA = 5000.0
# Use the split only when few pixels need numpy's sampler.
_MAX_RESIDUAL_FRACTION = 0.8


@functools.lru_cache(maxsize=16)
def _tables(lam: float) -> tuple[np.ndarray, np.ndarray]:
    """CDF thresholds on the 32-bit integer scale and the 16-bit guide table for ``lam``."""
    k = np.arange(int(lam + 12.0 * math.sqrt(lam) + 25.0))
    pmf = np.exp(k * math.log(lam) - lam - special.gammaln(k + 1.0))
    cdf = np.cumsum(pmf)
    cdf[-1] = 1.0  # the tail beyond 12 standard deviations is below 1e-30
    thresholds = np.minimum(np.floor(cdf * 2.0**32), 2.0**32).astype(np.uint64)
    shift = 32 - _GUIDE_BITS
    starts = np.arange(2**_GUIDE_BITS, dtype=np.uint64) << np.uint64(shift)
    first = np.searchsorted(thresholds, starts, side="right")
    last = np.searchsorted(thresholds, starts + np.uint64(2**shift - 1), side="right")
    guide = np.where(first == last, first, -1).astype(np.int32)
    return thresholds, guide


def poisson_constant(lam: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``size`` Poisson(lam) variates by table inversion.

    Parameters
    ----------
    lam : float
        The mean, >= 0.
    size : int
        Number of variates.
    rng : np.random.Generator
        Source of randomness.

    Returns
    -------
    np.ndarray
        Int64 counts, shape ``(size,)``.
    """
    if lam <= 0.0:
        return np.zeros(size, dtype=np.int64)
    if lam > _MAX_TABLE_LAMBDA:
        return rng.poisson(lam, size)
    thresholds, guide = _tables(float(lam))
    u = rng.integers(0, 2**32, size=size, dtype=np.uint32)
    counts = guide[u >> np.uint32(32 - _GUIDE_BITS)].astype(np.int64)
    straddling = np.flatnonzero(counts < 0)
    if straddling.size:
        counts[straddling] = np.searchsorted(
            thresholds, u[straddling].astype(np.uint64), side="right"
        )
    return counts


def poisson_image(lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts with per-pixel means ``lam`` (finite; negative counts as 0), fast when flat.

    Parameters
    ----------
    lam : np.ndarray
        Expected counts per pixel.
    rng : np.random.Generator
        Source of randomness.

    Returns
    -------
    np.ndarray
        Int64 counts, same shape as ``lam``.
    """
    if lam.size == 0:
        return np.zeros(lam.shape, dtype=np.int64)
    floor = float(lam.min())
    if floor < 0.0:
        lam = np.maximum(lam, 0.0)
        floor = 0.0
    residual = lam.ravel() - floor
    active = np.flatnonzero(residual > 0.0)
    if floor <= 0.0 or active.size > _MAX_RESIDUAL_FRACTION * lam.size:
        return rng.poisson(lam)
    counts = poisson_constant(floor, lam.size, rng)
    counts[active] += rng.poisson(residual[active])
    return counts.reshape(lam.shape)
