"""Optional refinement of CNN detections by a Gaussian fit on the pixels around them.

A small network's sub-pixel regression has a floor (a few hundredths of a pixel) that
dominates at high SNR, where the Cramér-Rao bound keeps falling. A maximum-likelihood fit of
a pixel-integrated Gaussian (Smith et al., Nat Methods 7, 373 (2010)) started at the CNN
detection reaches the bound there. The fit runs on the normalized frame ``u`` (background ~0,
noise ~1) as Poisson counts ``u * k + k^2``: with the right photon scale ``k`` this is the
exact shot-noise model (read noise folded into the pseudo-background). ``k`` comes from the
camera calibration when one is given, otherwise from the excess variance of a first
least-squares fit's residuals pooled over all spots of the frame. The fit itself is the
classical localizer's (:func:`livetrack.localize.fisher_scoring`), with tighter steps: it
starts at the network's position, which is already close.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from livetrack.localize import StepLimits, crlb_xy, fisher_scoring, pixel_gaussian_model

#: Photon scale of the first pass: a pseudo-background this high makes the fit least squares.
_LSQ_SCALE = 100.0
_SIGMA_RANGE_PX = (0.4, 4.0)
# Steps of the refinement: half a pixel, sigma 1.3x, within the range above; the expected
# counts of the normalized frame's pseudo-counts are kept positive.
_LIMITS = StepLimits(
    position_px=0.5,
    sigma_factor=1.3,
    sigma_range_px=_SIGMA_RANGE_PX,
    mu_floor=1e-6,
    ridge_floor=1e-12,
)
#: Detections closer than this to the frame edge keep the network's position.
BORDER_PX = 2.0
#: Detections with another detection closer than this are not refined by the Gaussian fit.
CROWDED_PX = 4.0
#: Isolated well-fitted detections a frame needs before its PSF width is trusted.
_MIN_ISOLATED = 5
#: Particles a frame needs before its radial profile is measured on them.
_MIN_PROFILE_PARTICLES = 3
_PROFILE_BIN_PX = 0.25
_PROFILE_SMOOTHING_GRID = tuple(10.0 ** np.arange(-4.0, 2.01, 0.5))
#: Neighbouring background pixels correlated less than this count as white noise.
WHITE_NOISE_CORRELATION = 0.15
#: Where a frame's isolated particles are located to worse than this fraction of the PSF
#: width (per axis), its isolated detections are fitted again with the frame's width.
FAINT_WIDTH = 0.25


@dataclass(frozen=True)
class Refined:
    """Refined positions, their Cramér-Rao standard deviations and a validity mask.

    The Gaussian fit also keeps what the crowded-field fit (:func:`refine_crowded`) starts
    from: each fit's signal and width in pseudo-counts of photon scale ``scale``.
    """

    x: np.ndarray
    y: np.ndarray
    sigma_x: np.ndarray
    sigma_y: np.ndarray
    ok: np.ndarray
    photons: np.ndarray | None = None
    psf_sigma: np.ndarray | None = None
    scale: float = float("nan")


def photon_scale_from_camera(camera: object, noise: float) -> float:
    """Photon scale ``k`` of a normalized frame, known from the camera calibration.

    A normalized pixel is ``(photons - bg) / noise``; one detected photon has variance ``F``
    photons^2 (``F = 1 / qe``, doubled by EM multiplication), so the normalized frame behaves
    as Poisson counts ``u * k + k^2`` with ``k = noise / F``.
    """
    qe = float(getattr(camera, "quantum_efficiency", 1.0))
    excess = 2.0 if getattr(camera, "em_gain", None) not in (None, 1.0) else 1.0
    return float(noise) * qe / excess


def _model(theta: np.ndarray, offs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return expected counts (n, w*w) and the Jacobian (n, 5, w*w) for (x, y, N, b, s)."""
    # The same pixel-integrated Gaussian as the classical MLE localizer, flattened per window.
    mu, jac = pixel_gaussian_model(theta, offs, fit_sigma=True)
    n = theta.shape[0]
    return mu.reshape(n, -1), jac.reshape(n, 5, -1)


def _fit(
    theta: np.ndarray, counts: np.ndarray, valid: np.ndarray, offs: np.ndarray, steps: int
) -> np.ndarray:
    """Run ``steps`` Fisher-scoring steps of the Poisson likelihood, every window alike."""
    return fisher_scoring(
        theta, counts, valid, offs, iterations=steps, tolerance_px=None, limits=_LIMITS
    )[0]


def _windows(
    image: np.ndarray, rows: np.ndarray, cols: np.ndarray, half: int
) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape
    offs = np.arange(-half, half + 1)
    rr = rows[:, None, None] + offs[None, :, None]
    cc = cols[:, None, None] + offs[None, None, :]
    valid = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    stack = image[np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1)].astype(np.float64)
    n = rows.size
    return np.where(valid, stack, 0.0).reshape(n, -1), valid.reshape(n, -1).astype(np.float64)


def _initial(
    u: np.ndarray, valid: np.ndarray, dx: np.ndarray, dy: np.ndarray, k: float, sigma_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the starting parameters ``(n, 5)`` and the windows' pseudo-counts."""
    counts = u * k + k * k
    signal = np.clip((u * valid).sum(axis=1), 1.0, None) * k
    return np.column_stack(
        [dx, dy, signal, np.full(u.shape[0], k * k), np.full(u.shape[0], sigma_px)]
    ), np.clip(counts, 0.0, None)


def _estimate_scale(theta: np.ndarray, u: np.ndarray, valid: np.ndarray, k: float) -> float:
    """Pooled photon scale from the excess variance of least-squares residuals.

    A normalized pixel carrying signal ``m`` (noise units) has variance ``1 + m / k``; summed
    over the fitted windows, ``k = sum(m) / (sum(r^2) - dof)``. Returns inf when no excess
    variance is measurable (then least squares is already the right model).
    """
    if theta.shape[0] < 3:
        return np.inf
    mu, _ = _model(theta, np.arange(int(np.sqrt(u.shape[1]))) - (np.sqrt(u.shape[1]) - 1) / 2)
    model_u = (mu - k * k) / k
    signal_u = np.clip((mu - theta[:, 3:4]) / k, 0.0, None)
    resid2 = float((((u - model_u) ** 2) * valid).sum())
    signal = float((signal_u * valid).sum())
    dof = float(valid.sum()) - 5.0 * theta.shape[0]
    excess = resid2 - dof
    if signal <= 0 or excess <= 2.0 * np.sqrt(2.0 * dof):
        return np.inf
    return float(np.clip(signal / excess, 0.3, 1e3))


def refine_gaussian(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    scale: float | None = None,
    half_px: int = 4,
    sigma_px: float = 1.3,
    iterations: int = 5,
) -> Refined:
    """Fit a pixel-integrated Gaussian around each detection of a normalized frame.

    Parameters
    ----------
    image : numpy.ndarray
        Normalized frame (background ~0, noise ~1).
    x, y : numpy.ndarray
        Detections (trackpy convention), the starting positions.
    scale : float, optional
        Photon scale ``k`` (:func:`photon_scale_from_camera`); estimated from the frame when
        omitted (least-squares pass, then a Poisson pass with the estimated scale).
    half_px : int
        Half width of the fitted window.
    sigma_px : float
        Starting PSF width (fitted).
    iterations : int
        Fisher-scoring iterations per pass.

    Returns
    -------
    Refined
        ``ok`` is False where the fit diverged, moved 1 px or more from the detection, or
        the detection lies within :data:`BORDER_PX` of the frame edge (a cut spot makes
        position, width and photons nearly degenerate; the network, trained on cut spots,
        is better there).
    """
    n = x.size
    if n == 0:
        e = np.empty(0)
        return Refined(e, e, e, e, np.empty(0, bool))
    rows = np.rint(y).astype(np.int64)
    cols = np.rint(x).astype(np.int64)
    u, valid = _windows(image, rows, cols, half_px)
    offs = np.arange(-half_px, half_px + 1, dtype=np.float64)
    dx, dy = x - cols, y - rows
    k = _LSQ_SCALE if scale is None else float(scale)
    theta, counts = _initial(u, valid, dx, dy, k, sigma_px)
    theta = _fit(theta, counts, valid, offs, iterations)
    if scale is None:
        good = _good(theta, dx, dy, half_px)
        k_est = _estimate_scale(theta[good], u[good], valid[good], k)
        if np.isfinite(k_est):
            theta[:, 2] *= k_est / k
            theta[:, 3] = k_est * k_est
            k = k_est
            counts = np.clip(u * k + k * k, 0.0, None)
            theta = _fit(theta, counts, valid, offs, max(2, iterations // 2))
    crlb = crlb_xy(theta, valid, offs, mu_floor=_LIMITS.mu_floor)
    ok = _good(theta, dx, dy, half_px) & np.isfinite(crlb).all(axis=1) & (crlb > 0).all(axis=1)
    h, w = image.shape
    b = BORDER_PX - 0.5
    ok &= (x >= b) & (x <= w - 1 - b) & (y >= b) & (y <= h - 1 - b)
    return Refined(
        cols + theta[:, 0],
        rows + theta[:, 1],
        crlb[:, 0],
        crlb[:, 1],
        ok,
        photons=theta[:, 2],
        psf_sigma=theta[:, 4],
        scale=k,
    )


def _good(theta: np.ndarray, dx: np.ndarray, dy: np.ndarray, half_px: int) -> np.ndarray:
    return (
        np.isfinite(theta).all(axis=1)
        & (np.abs(theta[:, 0] - dx) < 1.0)
        & (np.abs(theta[:, 1] - dy) < 1.0)
        & (theta[:, 2] > 0)
        & (theta[:, 4] > _SIGMA_RANGE_PX[0])
        & (theta[:, 4] < min(_SIGMA_RANGE_PX[1], half_px))
    )


def refine_radial(image: np.ndarray, x: np.ndarray, y: np.ndarray, half_px: int = 6) -> Refined:
    """Refine detections of ring-like particles to their centre of radial symmetry.

    The radial-symmetry centre (Parthasarathy, Nat Methods 9, 724 (2012)) of a window around
    each CNN detection, recentred once so the window is symmetric about the particle. Works for
    bright- and dark-centred rings alike. No uncertainty is estimated (``sigma_x/y`` NaN).

    Parameters
    ----------
    image : numpy.ndarray
        Normalized frame.
    x, y : numpy.ndarray
        Detections (trackpy convention).
    half_px : int
        Half width of the window.

    Returns
    -------
    Refined
        ``ok`` is False where no centre was found, it moved 1 px or more from the detection,
        or the window would be cut by the frame edge.
    """
    from livetrack.localize import radial_symmetry_center

    n = x.size
    if n == 0:
        e = np.empty(0)
        return Refined(e, e, e, e, np.empty(0, bool))
    w = 2 * half_px + 1
    rx, ry = x.copy(), y.copy()
    for _ in range(2):  # second pass: window recentred on the first estimate
        rows = np.rint(ry).astype(np.int64)
        cols = np.rint(rx).astype(np.int64)
        u, valid = _windows(image, rows, cols, half_px)
        dy, dx = radial_symmetry_center(u.reshape(n, w, w), valid.reshape(n, w, w) > 0)
        good = np.isfinite(dx) & np.isfinite(dy)
        rx = np.where(good, cols + np.nan_to_num(dx), rx)
        ry = np.where(good, rows + np.nan_to_num(dy), ry)
    h, wd = image.shape
    inside = (x >= half_px) & (x <= wd - 1 - half_px) & (y >= half_px) & (y <= h - 1 - half_px)
    ok = good & inside & (np.abs(rx - x) < 1.0) & (np.abs(ry - y) < 1.0)
    nan = np.full(n, np.nan)
    return Refined(rx, ry, nan, nan, ok)


def refine_crowded(
    image: np.ndarray, refined: Refined, white: bool | None = None
) -> tuple[Refined, np.ndarray]:
    """Fit crowded detections jointly and split those that are two particles.

    Starts from :func:`refine_gaussian`'s fits: the frame's PSF width is the median width of
    the well-fitted isolated detections (at least :data:`_MIN_ISOLATED` of them; otherwise
    nothing changes, and crowded detections keep the network's positions as before). In a
    faint frame (isolated particles located to worse than :data:`FAINT_WIDTH` of that width)
    the isolated detections are fitted again with it. See
    :func:`livetrack.localize.resolve_crowded`.

    Parameters
    ----------
    image : numpy.ndarray
        The normalized frame the fits ran on.
    refined : Refined
        The single fits, with their photons, widths and scale.
    white : bool, optional
        Whether the frame's noise is white (:func:`noise_correlation`), where the caller
        knows it from earlier frames of the same camera; measured when omitted.

    Returns
    -------
    refined : Refined
        One row per input detection followed by one per second emitter of a split pair;
        ``ok`` marks rows whose position is a fit (single or joint).
    parent : numpy.ndarray
        The input detection each row came from.
    """
    n = refined.x.size
    parent = np.arange(n)
    if refined.photons is None or refined.psf_sigma is None or n == 0:
        return drop_crowded(refined, refined.x, refined.y, CROWDED_PX), parent
    from livetrack.localize import resolve_crowded

    k = refined.scale
    width = refined.psf_sigma
    lonely = _isolated(refined)
    if lonely.sum() < _MIN_ISOLATED:
        return drop_crowded(refined, refined.x, refined.y, CROWDED_PX), parent
    sigma = float(np.median(width[lonely]))
    counts = np.clip(image * k + k * k, 0.0, None)
    # A pair is told from one particle by the likelihood of shot noise, which smoothed or
    # compressed camera noise is not: there only the groups are fitted.
    if white is None:
        white = noise_is_white(image, refined)
    # Detections whose single fit failed take part with the network's position.
    em = resolve_crowded(
        counts,
        refined.x,
        refined.y,
        np.where(refined.ok, refined.photons, np.median(refined.photons[lonely])),
        k * k,
        sigma,
        fitted_sigma=np.where(refined.ok, width, np.nan) if white else None,
        refit_width=_is_faint(refined, lonely, sigma),
    )
    grouped = em.grouped if em.grouped is not None else np.zeros(em.x.size, bool)
    base_ok = np.concatenate([refined.ok, np.zeros(em.x.size - n, bool)])
    # A crowded single fit was pulled by its neighbour: only the joint fit counts there.
    ok = np.where(grouped, em.refitted, base_ok | em.refitted)
    crlb_x = np.where(em.refitted, em.crlb_x, np.concatenate([refined.sigma_x, em.crlb_x[n:]]))
    crlb_y = np.where(em.refitted, em.crlb_y, np.concatenate([refined.sigma_y, em.crlb_y[n:]]))
    # The joint fit's bound is in pseudo-counts of the same scale: px either way.
    return Refined(em.x, em.y, crlb_x, crlb_y, ok, em.photons, None, k), em.parent


def _is_faint(refined: Refined, lonely: np.ndarray, sigma: float) -> bool:
    """Whether the frame's isolated particles are located to worse than :data:`FAINT_WIDTH`.

    Their median single-fit bound (per axis) against the frame's PSF width ``sigma``.
    """
    bound = np.sqrt(0.5 * (refined.sigma_x[lonely] ** 2 + refined.sigma_y[lonely] ** 2))
    return bool(np.median(bound) > FAINT_WIDTH * sigma)


def _isolated(refined: Refined) -> np.ndarray:
    """Well-fitted detections with no other detection within :data:`CROWDED_PX`."""
    lonely = refined.ok.copy()
    if refined.x.size > 1:
        from scipy.spatial import cKDTree

        pts = np.column_stack([refined.x, refined.y])
        d, _ = cKDTree(pts).query(pts, k=2)
        lonely &= d[:, 1] >= CROWDED_PX
    return lonely


def noise_is_white(image: np.ndarray, refined: Refined) -> bool | None:
    """Whether a normalized frame's noise is white, from :func:`refine_gaussian`'s fits.

    The particles' width (the median of the isolated fits) says which pixels to leave out
    of :func:`noise_correlation`. None where too few particles are isolated to tell.
    """
    lonely = _isolated(refined)
    if refined.psf_sigma is None or lonely.sum() < _MIN_ISOLATED:
        return None
    sigma = float(np.median(refined.psf_sigma[lonely]))
    return noise_correlation(image, refined.x, refined.y, sigma) < WHITE_NOISE_CORRELATION


def noise_correlation(image: np.ndarray, x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    """Correlation of neighbouring background pixels of a normalized frame.

    Pixels within ``3 sigma + 1`` px of a detection are left out. White (shot and read)
    noise gives about 0; noise smoothed by the camera or by compression, 0.3 and more.
    """
    from scipy import ndimage

    # A central crop of at most 256 x 256 px measures it well enough, and cheaply.
    h, w = image.shape
    r0, c0 = max(0, (h - 256) // 2), max(0, (w - 256) // 2)
    image = image[r0 : r0 + 256, c0 : c0 + 256]
    x, y = x - c0, y - r0
    h, w = image.shape
    near = np.zeros((h, w), bool)
    inside = (x > -0.5) & (x < w - 0.5) & (y > -0.5) & (y < h - 0.5)
    near[np.rint(y[inside]).astype(np.int64), np.rint(x[inside]).astype(np.int64)] = True
    near = ndimage.maximum_filter(near, size=2 * int(np.ceil(3.0 * sigma)) + 3)
    u = np.where(near | (np.abs(image) > 4.0), np.nan, image)
    if not np.isfinite(u).any():
        return 1.0
    # Row and column offsets (fixed-pattern stripes) are no pixel-noise correlation.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        u = u - np.nan_to_num(np.nanmedian(u, axis=1, keepdims=True))
        u = u - np.nan_to_num(np.nanmedian(u, axis=0, keepdims=True))
    pairs = [(u[:, :-1], u[:, 1:]), (u[:-1, :], u[1:, :])]
    num = sum(np.nansum(a * b) for a, b in pairs)
    den = sum(np.nansum(0.5 * (a * a + b * b) * np.isfinite(a * b)) for a, b in pairs)
    return float(num / den) if den > 0 else 1.0


def refine_profile(
    image: np.ndarray,
    refined: Refined,
    half_px: int = 13,
    rounds: int = 2,
    iterations: int = 4,
    smoothing: float | None = None,
) -> tuple[Refined, float | None]:
    """Refine ring centres by fitting the frame's own radial profile to every particle.

    The radial-symmetry centre uses only the gradients of a small window. Where the
    particles of a frame share one radial profile (rings of the same size and focus), a
    least-squares fit of that profile, measured on the frame itself (the mean of all
    particles' pixels against their distance from the centre, smoothed), extracts the
    information of every fringe -- what the Cramér-Rao bound counts -- whatever the profile
    is: a Bessel fringe, a defocused sphere or a Mie pattern. Each pixel belongs to its
    nearest particle only, so neighbours do not pull. The profile is measured again at the
    new centres and the fit repeated (``rounds``).

    Parameters
    ----------
    image : numpy.ndarray
        Normalized frame (noise ~1).
    refined : Refined
        The radial-symmetry centres (:func:`refine_radial`); only ``ok`` ones take part.
    half_px : int
        Half width of the fitted window.
    rounds, iterations : int
        Profile measurements, and Gauss-Newton iterations per measurement.
    smoothing : float, optional
        The profile spline's smoothing; chosen by cross-validation when omitted (a movie's
        particles keep their profile: the caller passes back the value returned).

    Returns
    -------
    refined : Refined
        ``ok`` is False where fewer than :data:`_MIN_PROFILE_PARTICLES` particles give the
        profile, the fit moved a centre by 1 px or more, or the window leaves the frame.
    smoothing : float or None
        The smoothing used (None where no profile was measured).
    """
    ok = refined.ok.copy()
    n = refined.x.size
    none = Refined(refined.x, refined.y, refined.sigma_x, refined.sigma_y, np.zeros(n, bool))
    if ok.sum() < _MIN_PROFILE_PARTICLES:
        return none, smoothing
    h, w = image.shape
    x, y = refined.x.copy(), refined.y.copy()
    x0, y0 = x.copy(), y.copy()
    offs = np.arange(-half_px, half_px + 1, dtype=np.float64)
    inside = (x >= half_px) & (x <= w - 1 - half_px) & (y >= half_px) & (y <= h - 1 - half_px)
    ok &= inside
    idx = np.flatnonzero(ok)
    if idx.size < _MIN_PROFILE_PARTICLES:
        return none, smoothing
    rows, cols = np.rint(y[idx]).astype(np.int64), np.rint(x[idx]).astype(np.int64)
    u, _ = _windows(image, rows, cols, half_px)
    u = u.reshape(idx.size, offs.size, offs.size)
    gx, gy = (
        np.array(a)
        for a in np.broadcast_arrays(
            cols[:, None, None] + offs[None, None, :], rows[:, None, None] + offs[None, :, None]
        )
    )
    # Each pixel belongs to the nearest particle (of all detections, not only these).
    own = _nearest_owner(gx, gy, refined.x, refined.y, idx)
    # A disc, within which the profile is measured also after a shift of a pixel.
    own *= np.hypot(gx - x[idx, None, None], gy - y[idx, None, None]) <= half_px - 1
    fit = _RingFit(u, gx, gy, own, x[idx].copy(), y[idx].copy())
    weights = own
    for _ in range(rounds):
        spline, smoothing = fit.profile(half_px, smoothing)
        if spline is None:
            return none, smoothing
        fit.amplitudes(spline)
        fit.fit(weights, spline, iterations)
        weights = own / fit.shot_variance(spline)
    px, py = fit.px, fit.py
    good = np.isfinite(px) & np.isfinite(py) & (np.hypot(px - x0[idx], py - y0[idx]) < 1.0)
    x[idx[good]], y[idx[good]] = px[good], py[good]
    ok_out = np.zeros(n, bool)
    ok_out[idx[good]] = True
    return Refined(x, y, refined.sigma_x, refined.sigma_y, ok_out), smoothing


def _nearest_owner(
    gx: np.ndarray, gy: np.ndarray, x: np.ndarray, y: np.ndarray, idx: np.ndarray
) -> np.ndarray:
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([x, y]))
    _, nearest = tree.query(np.column_stack([gx.ravel(), gy.ravel()]))
    nearest = nearest.reshape(gx.shape)
    return (nearest == idx[:, None, None]).astype(np.float64)


class _RingFit:
    """The windows of the particles a frame's profile is fitted to, and their fits.

    ``u`` the normalized windows, ``gx``/``gy`` their pixel coordinates, ``own`` the
    pixels each particle owns (``(n, S, S)`` each); ``px``, ``py``, ``amp``, ``bg`` the
    particles' centres, amplitudes and backgrounds.
    """

    def __init__(
        self,
        u: np.ndarray,
        gx: np.ndarray,
        gy: np.ndarray,
        own: np.ndarray,
        px: np.ndarray,
        py: np.ndarray,
    ) -> None:
        self.u, self.gx, self.gy, self.own = u, gx, gy, own
        self.px, self.py = px, py
        self.amp, self.bg = np.ones(px.size), np.zeros(px.size)

    def _r(self) -> np.ndarray:
        return np.hypot(self.gx - self.px[:, None, None], self.gy - self.py[:, None, None])

    def profile(self, half_px: int, smoothing: float | None) -> tuple[Any, float | None]:
        """Return the mean of the particles' pixels against distance, a smoothing spline."""
        r = self._r()
        keep = (self.own > 0) & (r <= half_px)
        # Each particle's pixels enter with its own sign and scale: the profile's shape.
        scale = np.sqrt(np.maximum((self.u * self.u * keep).sum(axis=(1, 2)), 1e-12))
        values = (self.u / scale[:, None, None])[keep]
        bins = np.arange(0.0, half_px + _PROFILE_BIN_PX, _PROFILE_BIN_PX)
        which = np.digitize(r[keep], bins) - 1
        count = np.bincount(which, minlength=bins.size)
        total = np.bincount(which, weights=values, minlength=bins.size)
        rsum = np.bincount(which, weights=r[keep], minlength=bins.size)
        has = count > 0
        if has.sum() < 8:
            return None, smoothing
        centres, means = rsum[has] / count[has], total[has] / count[has]
        weights = count[has].astype(np.float64)
        if smoothing is None:
            smoothing = _choose_smoothing(centres, means, weights)
        spline = _mirrored_spline(centres, means, weights, smoothing)
        return (None if spline is None else _Tabulated(spline, half_px + 2.0)), smoothing

    def amplitudes(self, spline: Any) -> None:
        """Least-squares amplitude and background of each particle at its current centre."""
        own, u = self.own, self.u
        t = spline(self._r())
        sw, st, stt = (
            own.sum(axis=(1, 2)),
            (own * t).sum(axis=(1, 2)),
            (own * t * t).sum(axis=(1, 2)),
        )
        su, stu = (own * u).sum(axis=(1, 2)), (own * t * u).sum(axis=(1, 2))
        det = np.where(np.abs(sw * stt - st * st) > 1e-12, sw * stt - st * st, np.nan)
        self.amp = (sw * stu - st * su) / det
        self.bg = (su - self.amp * st) / sw

    def shot_variance(self, spline: Any) -> np.ndarray:
        """Each pixel's variance ``1 + c * signal``, ``c`` from the residuals of all particles.

        Shot noise makes a bright pixel noisier than the background (by the photon scale of
        the normalized frame, unknown here): weighting by it is what makes the fit the
        maximum-likelihood one.
        """
        own = self.own
        signal = self.amp[:, None, None] * spline(self._r())
        resid = self.u - self.bg[:, None, None] - signal
        denom = float((own * signal * signal).sum())
        c = float((own * signal * (resid * resid - 1.0)).sum()) / denom if denom > 0 else 0.0
        return np.maximum(1.0 + np.clip(c, 0.0, 1.0) * signal, 0.2)

    def fit(self, weights: np.ndarray, spline: Any, iterations: int) -> None:
        """Gauss-Newton fit of ``bg + amp * profile(|p - c|)`` per particle, ``c`` free."""
        n = self.px.size
        theta = np.column_stack([self.px, self.py, self.amp, self.bg])
        for _ in range(iterations):
            dx = self.gx - theta[:, 0, None, None]
            dy = self.gy - theta[:, 1, None, None]
            r = np.maximum(np.hypot(dx, dy), 1e-6)
            t, dt = spline(r), spline.derivative_at(r)
            resid = (self.u - theta[:, 3, None, None] - theta[:, 2, None, None] * t) * weights
            jac = np.stack(
                [
                    -theta[:, 2, None, None] * dt * dx / r,
                    -theta[:, 2, None, None] * dt * dy / r,
                    t,
                    np.ones_like(t),
                ],
                axis=1,
            ).reshape(n, 4, -1)
            wj = jac * weights.reshape(n, 1, -1)
            normal = np.matmul(wj, jac.transpose(0, 2, 1)) + 1e-9 * np.eye(4)
            grad = np.matmul(wj, resid.reshape(n, -1, 1))[..., 0]
            step = np.linalg.solve(normal, grad[..., None])[..., 0]
            step[:, :2] = np.clip(step[:, :2], -0.5, 0.5)
            theta += step
        self.px, self.py, self.amp, self.bg = theta.T


class _Tabulated:
    """A profile spline tabulated every 0.01 px, evaluated by linear interpolation.

    The fit evaluates it on every pixel of every particle in every iteration.
    """

    step = 0.01

    def __init__(self, spline: Any, r_max: float) -> None:
        grid = np.arange(0.0, r_max + 2 * self.step, self.step)
        self.values = spline(grid)
        self.slopes = spline.derivative()(grid)
        self.last = grid.size - 2

    def _lookup(self, table: np.ndarray, r: np.ndarray) -> np.ndarray:
        pos = np.clip(r / self.step, 0.0, self.last)
        i = pos.astype(np.int64)
        f = pos - i
        return table[i] * (1.0 - f) + table[i + 1] * f

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return self._lookup(self.values, r)

    def derivative_at(self, r: np.ndarray) -> np.ndarray:
        return self._lookup(self.slopes, r)


def _mirrored_spline(r: np.ndarray, v: np.ndarray, w: np.ndarray, lam: float) -> Any:
    """Return a smoothing spline of ``v(r)`` mirrored about ``r = 0``.

    Mirrored, it is flat at the centre, as a radial profile is.
    """
    from scipy.interpolate import make_smoothing_spline

    try:
        return make_smoothing_spline(
            np.r_[-r[::-1], r], np.r_[v[::-1], v], w=np.r_[w[::-1], w], lam=lam
        )
    except ValueError:
        return None


def _choose_smoothing(r: np.ndarray, v: np.ndarray, w: np.ndarray) -> float:
    """Return the smoothing that predicts held-out bins best (interleaved 4-fold CV).

    Fringes differ in width by more than a factor 10 between particles (a wide defocused
    sphere, tight Fresnel rings): no one smoothing fits all.
    """
    best, best_err = _PROFILE_SMOOTHING_GRID[len(_PROFILE_SMOOTHING_GRID) // 2], np.inf
    folds = [np.arange(r.size) % 4 == k for k in range(4)]
    for lam in _PROFILE_SMOOTHING_GRID:
        err = 0.0
        for test in folds:
            train = ~test
            spline = _mirrored_spline(r[train], v[train], w[train], lam)
            if spline is None:
                err = np.inf
                break
            err += float((w[test] * (spline(r[test]) - v[test]) ** 2).sum())
        if err < best_err:
            best, best_err = float(lam), err
    return best


def drop_crowded(refined: Refined, x: np.ndarray, y: np.ndarray, distance_px: float) -> Refined:
    """Mark refinements of detections with a neighbour closer than ``distance_px`` as not ok."""
    if x.size < 2:
        return refined
    from scipy.spatial import cKDTree

    pts = np.column_stack([x, y])
    d, _ = cKDTree(pts).query(pts, k=2)
    ok = refined.ok & (d[:, 1] >= distance_px)
    return Refined(refined.x, refined.y, refined.sigma_x, refined.sigma_y, ok)
