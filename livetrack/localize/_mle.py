"""Poisson maximum-likelihood fit of a pixel-integrated Gaussian, vectorized over windows.

One fitter serves the classical localizer (:func:`fit_gaussian_mle`, started from the
windows' centroids) and the refinement of CNN detections (``livetrack.infer``, started from
the network's positions): :func:`fisher_scoring` iterates, :func:`crlb_xy` gives the
Cramér-Rao bound at the fit, and :class:`StepLimits` is how far one step may go.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.special import erf

_SQRT2 = np.sqrt(2.0)
_INV_SQRT2PI = 1.0 / np.sqrt(2.0 * np.pi)
_MIN_SIGMA_PX = 0.2


@dataclass(frozen=True)
class StepLimits:
    """How far one Fisher-scoring step may move the parameters, and its numerical guards.

    Attributes
    ----------
    position_px : float
        Largest change of x and y per step.
    sigma_factor : float
        Largest factor sigma may grow or shrink by per step.
    sigma_range_px : tuple of float
        Bounds of sigma.
    mu_floor : float or None
        Lower bound of the expected counts in the likelihood (None: none; the counts of a
        fit in photons with a positive background stay positive).
    ridge_floor : float
        Added to the ridge that keeps a window without signal solvable.

    Notes
    -----
    Photons and background may fall at most by half per step.
    """

    position_px: float = 1.0
    sigma_factor: float = 1.5
    sigma_range_px: tuple[float, float] = (_MIN_SIGMA_PX, np.inf)
    mu_floor: float | None = None
    ridge_floor: float = 1e-300


@dataclass(frozen=True)
class GaussianFit:
    """Result of :func:`fit_gaussian_mle`; arrays of length n (positions are window offsets)."""

    dx: np.ndarray
    dy: np.ndarray
    photons: np.ndarray
    background: np.ndarray
    sigma: np.ndarray
    crlb_x: np.ndarray
    crlb_y: np.ndarray
    converged: np.ndarray
    iterations: int


def _axis_terms(u: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pixel integral E of a 1-D unit Gaussian and its derivatives w.r.t. centre and sigma.

    `u` is (n, w) pixel coordinate minus centre, `s` is (n, 1). Smith et al. 2010, eqs. in the
    supplementary note, written with a = (u + 1/2)/s and b = (u - 1/2)/s.
    """
    a = (u + 0.5) / s
    b = (u - 0.5) / s
    pa = _INV_SQRT2PI * np.exp(-0.5 * a * a)
    pb = _INV_SQRT2PI * np.exp(-0.5 * b * b)
    e = 0.5 * (erf(a / _SQRT2) - erf(b / _SQRT2))
    de = (pb - pa) / s
    des = (b * pb - a * pa) / s
    return e, de, des


def pixel_gaussian_model(theta: np.ndarray, offs: np.ndarray, fit_sigma: bool):
    """Return expected counts (n, w, w) and their derivatives (n, p, w, w)."""
    x, y, n_ph, bg, s = (theta[:, i] for i in range(5))
    ex, dex, dexs = _axis_terms(offs[None, :] - x[:, None], s[:, None])
    ey, dey, deys = _axis_terms(offs[None, :] - y[:, None], s[:, None])
    nn = n_ph[:, None, None]
    psf = ey[:, :, None] * ex[:, None, :]
    mu = bg[:, None, None] + nn * psf
    d1 = [
        nn * ey[:, :, None] * dex[:, None, :],
        nn * dey[:, :, None] * ex[:, None, :],
        psf,
        np.ones_like(psf),
    ]
    if fit_sigma:
        d1.append(nn * (deys[:, :, None] * ex[:, None, :] + ey[:, :, None] * dexs[:, None, :]))
    return mu, np.stack(d1, axis=1)


def _initial(data: np.ndarray, valid: np.ndarray, offs: np.ndarray, sigma: float) -> np.ndarray:
    n = data.shape[0]
    smooth = ndimage.uniform_filter(data, size=(1, 3, 3), mode="nearest")
    bg = (
        np.where(valid, smooth, np.inf)
        .reshape(n, data.shape[1] * data.shape[2])
        .min(axis=1, initial=np.inf)
    )
    bg = np.maximum(bg, 1e-3)
    excess = np.clip(data - bg[:, None, None], 0.0, None) * valid
    tot = excess.sum(axis=(1, 2))
    safe = np.where(tot > 0, tot, 1.0)
    y0 = np.clip(np.einsum("nij,i->n", excess, offs) / safe, -1.0, 1.0)
    x0 = np.clip(np.einsum("nij,j->n", excess, offs) / safe, -1.0, 1.0)
    return np.column_stack([x0, y0, np.maximum(tot, 1.0), bg, np.full(n, sigma)])


def fit_gaussian_mle(
    windows: np.ndarray,
    valid: np.ndarray | None = None,
    sigma_px: float = 1.0,
    fit_sigma: bool = True,
    iterations: int = 30,
    tolerance_px: float = 1e-4,
) -> GaussianFit:
    """Fit a pixel-integrated 2-D Gaussian plus background to each window by Poisson MLE.

    The model of pixel k is ``bg + N * Ex_k * Ey_k`` with Ex, Ey the integrals of a unit
    Gaussian of width sigma over the pixel, and the Poisson log-likelihood, its gradient and
    the pixel-integrated derivatives are those of Smith et al. Smith et al. update every
    parameter separately (Newton-Raphson on the diagonal); with sigma free that converges
    slowly because N, bg and sigma are strongly coupled (hundreds of iterations at 1000
    photons). Here each iteration is the full Newton step with the Hessian replaced by minus
    the Fisher matrix (Fisher scoring), which is always invertible and converges in a handful
    of iterations. Steps are clipped (position 1 px, photons and background at most a factor
    2 down, sigma a factor 1.5). The loop runs at most `iterations` times and stops early
    once no position changes by more than `tolerance_px` and no other parameter by more than
    1e-4 relative. The Cramér-Rao bound of x and y comes from the inverse of the Fisher
    matrix at the fit.

    Parameters
    ----------
    windows : numpy.ndarray
        ``(n, w, w)`` stack of Poisson counts (photons), w odd.
    valid : numpy.ndarray, optional
        Boolean mask of pixels to use (False for padding beyond the frame border).
    sigma_px : float
        Starting (or, with ``fit_sigma=False``, fixed) Gaussian standard deviation.
    fit_sigma : bool
        Fit sigma as a fifth parameter.
    iterations : int
        Maximum number of iterations.
    tolerance_px : float
        Convergence threshold on the position step.

    Returns
    -------
    GaussianFit
        Offsets from the window centre (dx: column, dy: row), photons N, background per
        pixel, sigma, CRLB standard deviations of x and y, and a converged flag.

    References
    ----------
    C. S. Smith, N. Joseph, B. Rieger and K. A. Lidke, "Fast, single-molecule localization
    that achieves theoretically minimum uncertainty", Nat. Methods 7, 373-375 (2010).
    """
    data = np.asarray(windows, dtype=np.float64)
    n, _, ww = data.shape
    if valid is None:
        valid = np.ones(data.shape, dtype=bool)
    mask = valid.astype(np.float64)
    offs = np.arange(ww, dtype=np.float64) - (ww - 1) / 2
    theta = _initial(data, valid, offs, sigma_px)
    limits = StepLimits(sigma_range_px=(_MIN_SIGMA_PX, 2.0 * ww))
    k = ww * ww
    theta, converged, it = fisher_scoring(
        theta,
        data.reshape(n, k),
        mask.reshape(n, k),
        offs,
        fit_sigma=fit_sigma,
        iterations=iterations,
        tolerance_px=tolerance_px,
        limits=limits,
    )
    crlb = crlb_xy(theta, mask.reshape(n, k), offs, fit_sigma)
    return GaussianFit(
        dx=theta[:, 0],
        dy=theta[:, 1],
        photons=theta[:, 2],
        background=theta[:, 3],
        sigma=theta[:, 4],
        crlb_x=crlb[:, 0],
        crlb_y=crlb[:, 1],
        converged=converged,
        iterations=it,
    )


def _flat_model(
    theta: np.ndarray, offs: np.ndarray, fit_sigma: bool, mu_floor: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return expected counts ``(n, w*w)`` and derivatives ``(n, p, w*w)`` per window."""
    mu, jac = pixel_gaussian_model(theta, offs, fit_sigma)
    n, k = theta.shape[0], offs.size * offs.size
    mu, jac = mu.reshape(n, k), jac.reshape(n, jac.shape[1], k)
    return (mu if mu_floor is None else np.maximum(mu, mu_floor)), jac


def _fisher(jac: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fisher matrices ``(n, p, p)`` from derivatives ``(n, p, k)`` and ``valid / mu``."""
    return np.matmul(jac * weight[:, None, :], jac.transpose(0, 2, 1))


def fisher_scoring(
    theta: np.ndarray,
    counts: np.ndarray,
    valid: np.ndarray,
    offs: np.ndarray,
    *,
    fit_sigma: bool = True,
    iterations: int = 30,
    tolerance_px: float | None = 1e-4,
    limits: StepLimits | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Maximize the Poisson likelihood of a pixel-integrated Gaussian per window.

    Each iteration is the full Newton step with the Hessian replaced by minus the Fisher
    matrix (Fisher scoring), which is always invertible and converges in a handful of
    iterations, clipped by ``limits``.

    Parameters
    ----------
    theta : numpy.ndarray
        ``(n, 5)`` starting parameters per window: x and y (offsets from the window
        centre: column, row), photons, background per pixel, sigma.
    counts : numpy.ndarray
        ``(n, w*w)`` Poisson counts of the flattened windows.
    valid : numpy.ndarray
        ``(n, w*w)`` float mask of the pixels to use (0 beyond the frame border).
    offs : numpy.ndarray
        ``(w,)`` pixel offsets from the window centre.
    fit_sigma : bool
        Fit sigma as a fifth parameter (else it stays at its start).
    iterations : int
        Most iterations.
    tolerance_px : float or None
        A window stops iterating once no position moves by more than this and no other
        parameter by more than 1e-4 relative; None runs every window ``iterations`` times.
    limits : StepLimits, optional
        Step clipping and numerical guards (the defaults of :class:`StepLimits`).

    Returns
    -------
    theta : numpy.ndarray
        ``(n, 5)`` fitted parameters.
    converged : numpy.ndarray
        ``(n,)`` True where the tolerance was met (all False without one).
    iterations : int
        Iterations run.
    """
    limits = StepLimits() if limits is None else limits
    theta = np.array(theta, dtype=np.float64)
    n = theta.shape[0]
    npar = 5 if fit_sigma else 4
    converged = np.zeros(n, dtype=bool)
    active = np.arange(n)
    it = 0
    for it in range(1, iterations + 1):  # noqa: B007 -- the count is reported
        if tolerance_px is None:  # every window, every time: no copies of the active ones
            theta = _clipped_step(theta, counts, valid, offs, fit_sigma, npar, limits)
            continue
        # Only unconverged windows are iterated further.
        th = theta[active]
        new = _clipped_step(th, counts[active], valid[active], offs, fit_sigma, npar, limits)
        theta[active] = new
        moved = np.abs(new[:, :2] - th[:, :2]).max(axis=1)
        rel = np.abs(new[:, 2:] / th[:, 2:] - 1.0).max(axis=1)
        done = (moved < tolerance_px) & (rel < 1e-4)
        converged[active[done]] = True
        active = active[~done]
        if active.size == 0:
            break
    return theta, converged, it


def _clipped_step(
    theta: np.ndarray,
    counts: np.ndarray,
    valid: np.ndarray,
    offs: np.ndarray,
    fit_sigma: bool,
    npar: int,
    limits: StepLimits,
) -> np.ndarray:
    """Return ``theta`` after one scoring step, each parameter's change clipped."""
    new = theta.copy()
    new[:, :npar] += _scoring_step(theta, counts, valid, offs, fit_sigma, limits)
    new[:, 2] = np.maximum(new[:, 2], 0.5 * theta[:, 2])
    new[:, 3] = np.maximum(new[:, 3], 0.5 * theta[:, 3])
    if fit_sigma:
        f = limits.sigma_factor
        new[:, 4] = np.clip(new[:, 4], theta[:, 4] / f, theta[:, 4] * f)
        new[:, 4] = np.clip(new[:, 4], *limits.sigma_range_px)
    return new


def _scoring_step(
    theta: np.ndarray,
    counts: np.ndarray,
    valid: np.ndarray,
    offs: np.ndarray,
    fit_sigma: bool,
    limits: StepLimits,
) -> np.ndarray:
    """Return the Fisher-scoring step F^-1 grad log L per window, positions clipped."""
    mu, jac = _flat_model(theta, offs, fit_sigma, limits.mu_floor)
    grad = np.matmul(jac, ((counts / mu - 1.0) * valid)[:, :, None])[:, :, 0]
    fisher = _fisher(jac, valid / mu)
    npar = fisher.shape[1]
    # A tiny ridge keeps windows without signal (near-singular Fisher matrix) solvable.
    diag_max = np.einsum("naa->na", fisher).max(axis=1, initial=0.0)
    fisher = fisher + (1e-9 * diag_max + limits.ridge_floor)[:, None, None] * np.eye(npar)
    try:
        step = np.linalg.solve(fisher, grad[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        step = np.einsum("nab,nb->na", np.linalg.pinv(fisher), grad)
    step = np.nan_to_num(step)
    step[:, :2] = np.clip(step[:, :2], -limits.position_px, limits.position_px)
    return step


def crlb_xy(
    theta: np.ndarray,
    valid: np.ndarray,
    offs: np.ndarray,
    fit_sigma: bool = True,
    mu_floor: float | None = None,
) -> np.ndarray:
    """Return the Cramér-Rao standard deviations of x and y at ``theta``, ``(n, 2)``.

    From the inverse of the Fisher matrix of the pixel-integrated Gaussian over the valid
    pixels (see :func:`fisher_scoring` for the arguments); NaN where it is not finite.
    """
    mu, jac = _flat_model(theta, offs, fit_sigma, mu_floor)
    return _crlb_xy(_fisher(jac, valid / mu))


def _crlb_xy(fisher: np.ndarray) -> np.ndarray:
    n = fisher.shape[0]
    out = np.full((n, 2), np.nan)
    if n == 0:
        return out
    ok = np.isfinite(fisher).all(axis=(1, 2))
    if ok.any():
        try:
            inv = np.linalg.inv(fisher[ok])
        except np.linalg.LinAlgError:
            # A singular matrix (no signal) must give a huge bound, not fail.
            inv = np.linalg.pinv(fisher[ok])
        diag = np.diagonal(inv, axis1=1, axis2=2)[:, :2]
        out[ok] = np.sqrt(np.clip(diag, 0.0, None))
    return out
