"""Signal-to-noise ratio as defined for the ISBI 2012 particle tracking challenge.

Chenouard et al., "Objective comparison of particle tracking methods", Nat Methods 11, 281
(2014) define ``SNR = (I_peak - I_bg) / sqrt(I_peak)`` with intensities in photons: the
peak signal above background over the Poisson noise at the peak. Here ``I_peak`` is the
expected photons of the brightest pixel of a particle centred on a pixel, background
included: ``I_peak = I_bg + amplitude * psf.peak_per_amplitude()``.

For a dark-centred ring (``RingPSF`` with negative contrast) the reference pixel is the
most strongly modulated one, the dark centre, so the definition generalizes to
``SNR = |I_c - I_bg| / sqrt(I_c)`` with ``I_c = I_bg + amplitude * peak_per_amplitude()``
(``peak_per_amplitude < 0``): the contrast of the centre over the shot noise there. For
bright particles this is exactly the ISBI definition.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from livetrack._errors import InputError
from livetrack.simulate._psf import PSF


def _as_nonnegative(name: str, value: ArrayLike) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric, got {value!r}") from None
    if not (np.isfinite(arr).all() and (arr >= 0).all()):
        raise InputError(f"{name} must be finite and >= 0")
    return arr


def _scalar_or_array(value: np.ndarray) -> float | np.ndarray:
    return float(value) if value.ndim == 0 else value


def photons_for_snr(snr: ArrayLike, background_photons: ArrayLike, psf: PSF) -> float | np.ndarray:
    """Particle amplitude (the PSF's photon scale) that gives the requested ISBI SNR.

    Solves ``snr = |d| / sqrt(b + d)`` for the peak modulation ``d = amplitude * p`` with
    ``p = psf.peak_per_amplitude()`` and background ``b``: ``d = (s**2 + sqrt(s**4 +
    4 s**2 b)) / 2`` for bright particles and ``d = -(-s**2 + sqrt(s**4 + 4 s**2 b)) / 2``
    (always above ``-b``) for dark-centred ones.

    Parameters
    ----------
    snr : array_like
        Requested SNR (>= 0), as in Chenouard et al., Nat Methods 11, 281 (2014).
    background_photons : array_like
        Background in photons per pixel at the particle.
    psf : PSF
        The particle image model.

    Returns
    -------
    float or np.ndarray
        Non-negative amplitude(s) to pass to ``psf.render``.

    Raises
    ------
    InputError
        Negative or non-finite input, or SNR > 0 asked of a dark-centred particle on a zero
        background (its centre cannot go below zero photons).
    """
    s = _as_nonnegative("snr", snr)
    b = _as_nonnegative("background_photons", background_photons)
    p = psf.peak_per_amplitude()
    root = np.sqrt(s**2 + 4.0 * b)  # sqrt(s**4 + 4 s**2 b) / s, free of over/underflow
    if p > 0:
        d = 0.5 * s * (s + root)
    else:
        if np.any((s > 0) & (b <= 0)):
            raise InputError("a dark-centred particle needs background_photons > 0 to have SNR > 0")
        # -(s * root - s**2) / 2 rewritten without cancellation; 0 where s = b = 0.
        d = -2.0 * s * b / np.where(root + s > 0, root + s, 1.0)
    return _scalar_or_array(d / p)


def snr_of(amplitude: ArrayLike, background_photons: ArrayLike, psf: PSF) -> float | np.ndarray:
    """ISBI SNR of a particle of given amplitude on a given background.

    Parameters
    ----------
    amplitude : array_like
        Particle amplitude(s) (>= 0) in the PSF's photon scale.
    background_photons : array_like
        Background in photons per pixel at the particle.
    psf : PSF
        The particle image model.

    Returns
    -------
    float or np.ndarray
        ``|I_peak - I_bg| / sqrt(I_peak)``; 0 where the peak pixel holds no photons.
    """
    a = _as_nonnegative("amplitude", amplitude)
    b = _as_nonnegative("background_photons", background_photons)
    d = a * psf.peak_per_amplitude()
    peak = b + d
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(peak > 0, np.abs(d) / np.sqrt(np.maximum(peak, 1e-300)), 0.0)
    return _scalar_or_array(snr)
