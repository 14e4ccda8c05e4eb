"""Cramér-Rao lower bound for localising a pixel-integrated Gaussian spot.

The image model is the one `livetrack.simulate.GaussianPSF` renders: on a square window of
pixels with centres at integer offsets, the expected photon count of pixel (k, l) is

    mu_kl = N * Ex_k * Ey_l + bg,    Ex_k = integral over pixel k of a 1D Gaussian(x0, sigma),

with N the total photons of the spot and bg the background photons per pixel (Smith et
al., Nat. Methods 7, 373 (2010)). For independent pixels with variance ``v_kl`` the Fisher
information is ``I_ij = sum_kl d_i mu_kl * d_j mu_kl / v_kl`` and the CRLB of parameter i is
``sqrt((I^-1)_ii)``.

Noise models (``v_kl``):

* Poisson shot noise: ``v = mu`` (exact for the Poisson likelihood).
* Gaussian read noise r (electrons rms): ``v = mu + r**2``, the shifted-Poisson
  approximation of Huang et al., Nat. Methods 10, 653 (2013) used for sCMOS cameras.
* EMCCD (``em_gain`` given): the excess noise factor F**2 = 2 of high-gain electron
  multiplication doubles the shot-noise variance, ``v = 2 * mu + (r / em_gain)**2``; with
  negligible referred read noise this halves the Fisher information (the excess noise
  factor of Mortensen et al., Nat. Methods 7, 377 (2010)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import erf, erfc, spence

from livetrack._errors import InputError

PARAMETERS = ("x", "y", "N", "bg", "sigma")
"""Names of the parameters the Fisher information can be computed for, in this order."""

_DEFAULT_ESTIMATE = ("x", "y", "N", "bg")
_CHUNK = 2048  # spots per vectorised block, bounds memory at ~chunk * 5 * W**2 floats
_SQRT2 = math.sqrt(2.0)
_VAR_FLOOR = 1e-12  # photons**2
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _pixel_integrals(
    centres: np.ndarray, pos: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1D pixel integrals of a unit Gaussian and their derivatives w.r.t. position and sigma.

    ``centres`` has shape (W,), ``pos`` and ``sigma`` shape (B, 1); results are (B, W).
    """
    u = centres[None, :] - pos
    lo = (u - 0.5) / (_SQRT2 * sigma)
    hi = (u + 0.5) / (_SQRT2 * sigma)
    # erfc on the far side avoids cancellation of erf(hi) - erf(lo) ~ 1 - 1 in the tails.
    e = np.where(
        lo > 0,
        0.5 * (erfc(lo) - erfc(hi)),
        np.where(hi < 0, 0.5 * (erfc(-hi) - erfc(-lo)), 0.5 * (erf(hi) - erf(lo))),
    )
    g_lo = np.exp(-(lo**2))
    g_hi = np.exp(-(hi**2))
    d_pos = (g_lo - g_hi) / (_SQRT2PI * sigma)
    d_sigma = ((u - 0.5) * g_lo - (u + 0.5) * g_hi) / (_SQRT2PI * sigma**2)
    return e, d_pos, d_sigma


def _check_estimate(estimate: Sequence[str]) -> list[int]:
    if isinstance(estimate, str):
        estimate = (estimate,)
    names = list(estimate)
    unknown = [n for n in names if n not in PARAMETERS]
    if unknown or not names or len(set(names)) != len(names):
        raise InputError(
            f"estimate must be distinct names from {PARAMETERS}, got {tuple(estimate)!r}"
        )
    return [PARAMETERS.index(n) for n in names]


def _broadcast(
    photons: ArrayLike,
    background_photons: ArrayLike,
    sigma_px: ArrayLike,
    read_noise_e: ArrayLike,
    x0: ArrayLike,
    y0: ArrayLike,
) -> tuple[tuple[int, ...], list[np.ndarray]]:
    arrays = [
        np.asarray(a, dtype=np.float64)
        for a in (photons, background_photons, sigma_px, read_noise_e, x0, y0)
    ]
    try:
        arrays = list(np.broadcast_arrays(*arrays))
    except ValueError as exc:
        raise InputError(f"CRLB inputs have incompatible shapes: {exc}") from None
    n, bg, sigma, read = arrays[:4]
    for name, a in zip(
        ("photons", "background_photons", "sigma_px", "read_noise_e", "x0", "y0"),
        arrays,
        strict=True,
    ):
        if not np.all(np.isfinite(a)):
            raise InputError(f"{name} must be finite")
    if np.any(n <= 0):
        raise InputError("photons must be > 0")
    if np.any(bg < 0) or np.any(read < 0):
        raise InputError("background_photons and read_noise_e must be >= 0")
    if np.any(sigma <= 0):
        raise InputError("sigma_px must be > 0")
    return n.shape, [a.ravel() for a in arrays]


def _window_centres(
    window_px: int | None, sigma: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    if window_px is None:
        # +-4 sigma holds all but ~0.1 % of the position information; +1 px for pixelation.
        reach = 4.0 * float(sigma.max()) + max(float(np.abs(x).max()), float(np.abs(y).max()))
        half = math.ceil(reach + 1.0)
        width = 2 * half + 1
    else:
        width = int(window_px)
        if width != window_px or width < 3:
            raise InputError(f"window_px must be an integer >= 3, got {window_px!r}")
    return np.arange(width, dtype=np.float64) - (width - 1) / 2.0


def fisher_information_gaussian(
    photons: ArrayLike,
    background_photons: ArrayLike,
    sigma_px: ArrayLike,
    read_noise_e: ArrayLike = 0.0,
    em_gain: float | None = None,
    window_px: int | None = None,
    x0: ArrayLike = 0.0,
    y0: ArrayLike = 0.0,
    estimate: Sequence[str] = _DEFAULT_ESTIMATE,
) -> np.ndarray:
    """Fisher information matrix of a pixel-integrated Gaussian spot on a pixel grid.

    See `crlb_gaussian` for the model, the noise approximations and the parameters.

    Returns
    -------
    numpy.ndarray, shape (..., P, P)
        Fisher information for the P parameters of ``estimate`` (in that order), for every
        element of the broadcast inputs. Units: 1/px**2 for x, y, sigma; 1/photon**2 for
        N, bg.
    """
    index = _check_estimate(estimate)
    shape, (n, bg, sigma, read, x, y) = _broadcast(
        photons, background_photons, sigma_px, read_noise_e, x0, y0
    )
    if em_gain is not None:
        if not (math.isfinite(em_gain) and em_gain >= 1):
            raise InputError(f"em_gain must be >= 1 or None, got {em_gain!r}")
        excess, read = 2.0, read / em_gain
    else:
        excess = 1.0
    centres = _window_centres(window_px, sigma, x, y)
    out = np.empty((n.size, len(index), len(index)))
    for start in range(0, n.size, _CHUNK):
        sl = slice(start, start + _CHUNK)
        ex, dex, dsx = _pixel_integrals(centres, x[sl, None], sigma[sl, None])
        ey, dey, dsy = _pixel_integrals(centres, y[sl, None], sigma[sl, None])
        nn = n[sl, None, None]
        psf = ex[:, None, :] * ey[:, :, None]  # (B, rows=y, cols=x)
        mu = nn * psf + bg[sl, None, None]
        var = excess * mu + read[sl, None, None] ** 2
        grads = np.stack(
            [
                nn * dex[:, None, :] * ey[:, :, None],
                nn * ex[:, None, :] * dey[:, :, None],
                psf,
                np.ones_like(mu),
                nn * (dsx[:, None, :] * ey[:, :, None] + ex[:, None, :] * dsy[:, :, None]),
            ],
            axis=1,
        )[:, index]
        # Without background a far pixel's mean underflows; the floor keeps the (huge,
        # decoupled) background information finite instead of overflowing.
        weighted = grads / np.maximum(var, _VAR_FLOOR)[:, None]
        out[sl] = np.einsum("bpij,bqij->bpq", weighted, grads)
    return out.reshape((*shape, len(index), len(index)))


def crlb_gaussian_params(
    photons: ArrayLike,
    background_photons: ArrayLike,
    sigma_px: ArrayLike,
    read_noise_e: ArrayLike = 0.0,
    em_gain: float | None = None,
    window_px: int | None = None,
    x0: ArrayLike = 0.0,
    y0: ArrayLike = 0.0,
    estimate: Sequence[str] = _DEFAULT_ESTIMATE,
) -> dict[str, np.ndarray]:
    """CRLB standard deviation of every estimated parameter of a Gaussian spot.

    Same model and parameters as `crlb_gaussian`.

    Returns
    -------
    dict of str to numpy.ndarray
        For each name in ``estimate``, ``sqrt`` of the diagonal of the inverse Fisher
        information, with the broadcast shape of the inputs: x, y, sigma in pixels; N, bg in
        photons. Infinite where the Fisher matrix is singular.
    """
    names = [estimate] if isinstance(estimate, str) else list(estimate)
    fisher = fisher_information_gaussian(
        photons,
        background_photons,
        sigma_px,
        read_noise_e=read_noise_e,
        em_gain=em_gain,
        window_px=window_px,
        x0=x0,
        y0=y0,
        estimate=names,
    )
    shape = fisher.shape[:-2]
    variances = _inverse_diagonal(fisher.reshape(-1, len(names), len(names)))
    return {name: np.sqrt(variances[:, i]).reshape(shape) for i, name in enumerate(names)}


def _inverse_diagonal(fisher: np.ndarray) -> np.ndarray:
    """Diagonal of the inverse of a batch of Fisher matrices; inf where singular."""
    # Parameters differ in units by orders of magnitude (px vs photons), so invert the
    # unit-diagonal (correlation) form, whose condition number reflects real degeneracy.
    d = np.sqrt(np.diagonal(fisher, axis1=1, axis2=2))
    out = np.full(d.shape, np.inf)
    ok = np.all(d > 0, axis=1)
    if not ok.any():
        return out
    scaled = fisher[ok] / (d[ok, :, None] * d[ok, None, :])
    good = np.linalg.cond(scaled) < 1e12
    inv_diag = np.diagonal(np.linalg.inv(scaled[good]), axis1=1, axis2=2)
    rows = np.flatnonzero(ok)[good]
    out[rows] = inv_diag / d[rows] ** 2
    return out


def crlb_gaussian(
    photons: ArrayLike,
    background_photons: ArrayLike,
    sigma_px: ArrayLike,
    read_noise_e: ArrayLike = 0.0,
    em_gain: float | None = None,
    window_px: int | None = None,
    x0: ArrayLike = 0.0,
    y0: ArrayLike = 0.0,
    estimate: Sequence[str] = _DEFAULT_ESTIMATE,
) -> float | np.ndarray:
    """Cramér-Rao lower bound on the x position of a pixel-integrated Gaussian spot.

    The bound is computed from the Fisher information on the actual pixel grid (Smith et
    al., Nat. Methods 7, 373 (2010); Ober, Ram & Ward, Biophys. J. 86, 1185 (2004)), so it
    includes pixelation and a finite window exactly, unlike the closed-form approximation
    `mortensen_precision`. By default x, y, N and bg are estimated jointly and the PSF
    width is known (calibrated), as for a fixed-sigma MLE fit; pass
    ``estimate=("x", "y", "N", "bg", "sigma")`` for a free-width fit. For a spot centred
    on a pixel (or a pixel corner) x decouples from the other parameters, so the choice
    barely matters there.

    Parameters
    ----------
    photons : array_like
        Expected total detected photons (photoelectrons) of the spot, N > 0.
    background_photons : array_like
        Expected background photons per pixel, >= 0.
    sigma_px : array_like
        Gaussian PSF standard deviation in pixels, > 0.
    read_noise_e : array_like, optional
        Gaussian read noise in electrons rms, added to the Poisson variance (shifted
        Poisson approximation of Huang et al., Nat. Methods 10, 653 (2013)).
    em_gain : float or None, optional
        EM gain of an EMCCD (>= 1). When given, the excess noise factor F**2 = 2 doubles
        the shot-noise variance (halving the Fisher information) and the read noise is
        referred to the input, ``read_noise_e / em_gain``.
    window_px : int or None, optional
        Side of the square pixel window used for the fit. Pixel centres sit at integer
        offsets from the window centre for odd sides (half-integer for even sides).
        Default: large enough (``+-(4 sigma + 1)`` px) to approximate an unbounded image.
    x0, y0 : array_like, optional
        Spot position relative to the window centre, in pixels.
    estimate : sequence of str, optional
        Jointly estimated parameters, a subset of ``("x", "y", "N", "bg", "sigma")``
        containing ``"x"``; the others are assumed known.

    Returns
    -------
    float or numpy.ndarray
        Standard deviation bound on x in pixels (equal to the one on y for a symmetric
        configuration), with the broadcast shape of the array inputs; a float when all are
        scalars.

    Raises
    ------
    InputError
        On non-positive photons or sigma, negative background or read noise, bad window or
        unknown parameter names.

    See Also
    --------
    crlb_gaussian_params : the bound on every estimated parameter.
    mortensen_precision : closed-form approximation for an unbounded image.

    Examples
    --------
    >>> round(float(crlb_gaussian(1000.0, 0.0, 1.0)), 4)
    0.0329
    """
    names = [estimate] if isinstance(estimate, str) else list(estimate)
    if "x" not in names:
        raise InputError("estimate must include 'x' to bound the x position")
    std = crlb_gaussian_params(
        photons,
        background_photons,
        sigma_px,
        read_noise_e=read_noise_e,
        em_gain=em_gain,
        window_px=window_px,
        x0=x0,
        y0=y0,
        estimate=names,
    )["x"]
    return float(std) if std.ndim == 0 else std


def mortensen_precision(
    photons: ArrayLike,
    background_photons: ArrayLike,
    sigma_px: ArrayLike,
    pixel_size: float = 1.0,
    em: bool = False,
    method: Literal["integral", "approx"] = "integral",
) -> float | np.ndarray:
    """Localisation precision of an MLE Gaussian fit per Mortensen et al. (2010).

    Mortensen, Churchman, Spudich & Flyvbjerg, Nat. Methods 7, 377 (2010), eq. (6):

        var = F * sa2 / N / (1 + integral_0^1 ln(t) / (1 + t / tau) dt),
        sa2 = s**2 + a**2 / 12,   tau = 2 pi sa2 b / (N a**2),

    with s the PSF standard deviation, a the pixel size, b the background photons per
    pixel and F = 2 for an EMCCD (1 otherwise). The integral equals
    ``tau * Li2(-1 / tau)`` and is evaluated in closed form. ``method="approx"`` uses
    instead the closed-form approximation of Rieger & Stallinga, ChemPhysChem 15, 664
    (2014): ``var = F * sa2 / N * (1 + 4 tau + sqrt(2 tau / (1 + 4 tau)))``.

    The formula treats pixelation by the heuristic ``sa2`` and an unbounded image; it
    agrees with `crlb_gaussian` to well under 1 % for ``sigma_px >= 0.5`` but is optimistic
    for undersampled spots (about 2x too small in std at ``sigma_px = 0.2``).

    Parameters
    ----------
    photons : array_like
        Total detected photons of the spot, N > 0.
    background_photons : array_like
        Background photons per pixel, b >= 0.
    sigma_px : array_like
        PSF standard deviation in pixels.
    pixel_size : float, optional
        Pixel size a; the result is in the same unit (pixels by default).
    em : bool, optional
        EMCCD camera: multiply the variance by the excess noise factor F**2 = 2.
    method : {"integral", "approx"}, optional
        Mortensen's exact expression, or the Rieger-Stallinga approximation.

    Returns
    -------
    float or numpy.ndarray
        Standard deviation of x (and of y), in units of ``pixel_size``.
    """
    n, b, s_px = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (photons, background_photons, sigma_px))
    )
    if np.any(n <= 0) or np.any(b < 0) or np.any(s_px <= 0) or not pixel_size > 0:
        raise InputError("need photons > 0, background_photons >= 0, sigma_px > 0, pixel_size > 0")
    if method not in ("integral", "approx"):
        raise InputError(f"method must be 'integral' or 'approx', got {method!r}")
    a = float(pixel_size)
    sa2 = (s_px * a) ** 2 + a**2 / 12.0
    tau = 2.0 * math.pi * sa2 * b / (n * a**2)
    if method == "integral":
        safe = np.where(tau > 0, tau, 1.0)
        # tau * Li2(-1/tau) -> 0 as tau -> 0 (no background); scipy's spence(z) = Li2(1 - z).
        correction = np.where(tau > 0, 1.0 + safe * spence(1.0 + 1.0 / safe), 1.0)
        var = sa2 / n / correction
    else:
        var = sa2 / n * (1.0 + 4.0 * tau + np.sqrt(2.0 * tau / (1.0 + 4.0 * tau)))
    std = np.sqrt((2.0 if em else 1.0) * var)
    return float(std) if std.ndim == 0 else std
