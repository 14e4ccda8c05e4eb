"""Particle image models (point-spread functions) integrated over the pixel area.

Every model renders only a square window of ``2 * half_width_px + 1`` pixels around each
particle and is vectorized over particles: the per-particle windows are computed as one
``(N, w, w)`` array and accumulated into the frame with :func:`numpy.bincount`.

Positions follow trackpy's convention: ``x`` is the column, ``y`` the row and the centre of
pixel ``(row 0, col 0)`` is ``(0, 0)``, so pixel ``(r, c)`` covers ``[c - 0.5, c + 0.5] x
[r - 0.5, r + 0.5]``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from livetrack._errors import InputError

# First zero of J1: first dark ring of the Airy pattern, and first extremum of J0.
_J1_ZERO = 3.8317059702075125
# Third zero of J1: the Airy pattern is cut at its third dark ring, where it is continuous.
_J1_ZERO_3 = 10.173468135062722
# Elements of the supersampled (N, w*s, w*s) work array per chunk: 1 MB, so it stays in cache.
_MAX_WORK_ELEMENTS = 2**17


@runtime_checkable
class PSF(Protocol):
    """What a particle image model provides.

    ``render`` returns float64 expected photons (background not included) for particles at
    sub-pixel positions ``(x, y)`` with per-particle ``amplitude``. ``half_width_px`` is the
    half width of the square window rendered around each particle. ``peak_per_amplitude``
    is the signed value of the most strongly modulated pixel per unit amplitude for a
    particle centred on a pixel; it is positive (the brightest pixel) for every bright
    model and is used by :func:`livetrack.simulate.snr_of`.
    """

    @property
    def half_width_px(self) -> int:
        """Half width of the render window in pixels."""
        ...

    def render(
        self, shape: tuple[int, int], x: ArrayLike, y: ArrayLike, amplitude: ArrayLike
    ) -> np.ndarray:
        """Render expected photons of all particles into a ``shape`` frame."""
        ...

    def peak_per_amplitude(self) -> float:
        """Signed extreme pixel value per unit amplitude for a pixel-centred particle."""
        ...


def _check_positive(name: str, value: float, upper: float = math.inf) -> None:
    if not (isinstance(value, int | float | np.floating | np.integer) and 0 < value <= upper):
        raise InputError(f"{name} must be a number in (0, {upper}], got {value!r}")


def _check_supersample(value: int) -> None:
    if not isinstance(value, int | np.integer) or not 1 <= value <= 32:
        raise InputError(f"supersample must be an integer in [1, 32], got {value!r}")


def _particle_arrays(
    shape: tuple[int, int], x: ArrayLike, y: ArrayLike, amplitude: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the frame shape and broadcast positions and amplitudes to 1-D float arrays."""
    if (
        not isinstance(shape, tuple | list)
        or len(shape) != 2
        or not all(isinstance(n, int | np.integer) and n >= 1 for n in shape)
    ):
        raise InputError(f"shape must be (height, width) with positive integers, got {shape!r}")
    try:
        xa, ya, aa = np.broadcast_arrays(
            np.atleast_1d(np.asarray(x, dtype=np.float64)),
            np.atleast_1d(np.asarray(y, dtype=np.float64)),
            np.atleast_1d(np.asarray(amplitude, dtype=np.float64)),
        )
    except (ValueError, TypeError) as exc:
        raise InputError(f"x, y and amplitude must be numeric and broadcastable: {exc}") from None
    if xa.ndim != 1:
        raise InputError(f"x, y and amplitude must be scalars or 1-D arrays, got ndim={xa.ndim}")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all() and np.isfinite(aa).all()):
        raise InputError("x, y and amplitude must be finite")
    return xa, ya, aa


def _window_origins(
    shape: tuple[int, int], x: np.ndarray, y: np.ndarray, hw: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-left pixel of each particle's window and a mask of windows touching the frame."""
    h, w_frame = shape
    w = 2 * hw + 1
    col0 = np.rint(x).astype(np.intp) - hw
    row0 = np.rint(y).astype(np.intp) - hw
    touches = (col0 > -w) & (col0 < w_frame) & (row0 > -w) & (row0 < h)
    return col0, row0, touches


def _accumulate(
    shape: tuple[int, int], col0: np.ndarray, row0: np.ndarray, windows: np.ndarray
) -> np.ndarray:
    """Sum ``(N, w, w)`` windows with top-left pixels ``(row0, col0)`` into a frame.

    Windows must touch the frame. The frame is padded by one window on every side so that no
    per-element bounds mask is needed; the padding is cropped away at the end.
    """
    h, w_frame = shape
    w = windows.shape[1]
    padded_w = w_frame + 2 * w
    rows = row0[:, None] + (np.arange(w) + w)
    cols = col0[:, None] + (np.arange(w) + w)
    flat = rows[:, :, None] * padded_w + cols[:, None, :]
    canvas = np.bincount(flat.ravel(), weights=windows.ravel(), minlength=(h + 2 * w) * padded_w)
    canvas = canvas.astype(np.float64, copy=False)  # bincount of no particles is int64
    return np.ascontiguousarray(canvas.reshape(h + 2 * w, padded_w)[w : w + h, w : w + w_frame])


class _RadialTable:
    """A radial profile tabulated against ``r**2`` for fast linear interpolation.

    Special functions cost ~40 ns per call; the supersampled windows need millions of
    samples, so the exact profile is tabulated once on a fine uniform grid in ``r**2`` (in
    which both profiles are analytic) and interpolated linearly, with an interpolation error
    below 1e-5 of the peak.
    """

    _POINTS = 2**13 + 1  # small enough to stay in cache: random lookups dominate the cost

    def __init__(self, profile: Callable[[np.ndarray], np.ndarray], r2_max: float) -> None:
        grid = np.linspace(0.0, r2_max, self._POINTS)
        self._values = profile(np.sqrt(grid))
        self._slopes = np.diff(self._values, append=self._values[-1])
        self._inv_step = (self._POINTS - 1) / r2_max

    def __call__(self, r2: np.ndarray) -> np.ndarray:
        t = np.minimum(r2 * self._inv_step, self._POINTS - 1.0)
        index = t.astype(np.intp)
        t -= index
        return self._values[index] + t * self._slopes[index]


def _supersampled_windows(
    col0: np.ndarray,
    row0: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    hw: int,
    supersample: int,
    profile: _RadialTable,
) -> np.ndarray:
    """Pixel-average a radial profile with ``supersample**2`` nodes per pixel.

    The nodes and weights are Gauss-Legendre's, whose error falls much faster with the
    number of nodes than the midpoint rule's for these smooth profiles.
    """
    w = 2 * hw + 1
    s = supersample
    nodes, weights = np.polynomial.legendre.leggauss(s)
    sub, weights = 0.5 * nodes, 0.5 * weights
    grid = (np.arange(w)[:, None] + sub[None, :]).ravel()  # (w*s,) offsets from window origin
    out = np.empty((x.size, w, w))
    chunk = max(1, _MAX_WORK_ELEMENTS // (w * s) ** 2)
    for start in range(0, x.size, chunk):
        sl = slice(start, start + chunk)
        dx2 = (col0[sl, None] + grid[None, :] - x[sl, None]) ** 2
        dy2 = (row0[sl, None] + grid[None, :] - y[sl, None]) ** 2
        values = profile(dy2[:, :, None] + dx2[:, None, :]).reshape(-1, s, w, s)
        out[sl] = (weights @ (values @ weights)).reshape(-1, w, w)
    return out


@functools.lru_cache(maxsize=32)
def _table(psf: AiryPSF | RingPSF | ProfilePSF) -> _RadialTable:
    """Build (once) the interpolation table of a PSF covering its whole render window."""
    return _RadialTable(psf.profile, 2.0 * (psf.half_width_px + 1.0) ** 2)


def _render_modulation(
    psf: RingPSF | ProfilePSF,
    shape: tuple[int, int],
    x: ArrayLike,
    y: ArrayLike,
    amplitude: ArrayLike,
) -> np.ndarray:
    """Render a radial profile as a signed modulation, ``amplitude`` times the profile."""
    xs, ys, amp = _particle_arrays(shape, x, y, amplitude)
    hw = psf.half_width_px
    col0, row0, keep = _window_origins(shape, xs, ys, hw)
    col0, row0, xs, ys, amp = col0[keep], row0[keep], xs[keep], ys[keep], amp[keep]
    windows = _supersampled_windows(col0, row0, xs, ys, hw, psf.supersample, _table(psf))
    windows *= amp[:, None, None]
    return _accumulate(shape, col0, row0, windows)


@functools.lru_cache(maxsize=64)
def _centred_extreme(psf: PSF) -> float:
    """Signed largest-magnitude pixel per unit amplitude of a particle centred on a pixel."""
    hw = psf.half_width_px
    image = psf.render((2 * hw + 1, 2 * hw + 1), float(hw), float(hw), 1.0)
    return float(image.flat[np.argmax(np.abs(image))])


@dataclass(frozen=True)
class GaussianPSF:
    """Gaussian spot integrated exactly over each pixel with the error function.

    The expected photons in pixel ``(r, c)`` of a particle at ``(x, y)`` with amplitude ``A``
    is ``A * Ex(c) * Ey(r)`` with ``Ex(c) = [erf((c + 1/2 - x) / (sqrt(2) s)) -
    erf((c - 1/2 - x) / (sqrt(2) s))] / 2`` (the integrated Gaussian model of Smith et al.,
    Nat Methods 7, 373 (2010)), so the amplitude is the total number of photons. The window
    is cut at ``ceil(4 sigma)`` pixels, which keeps more than 99.99 % of the photons.

    Parameters
    ----------
    sigma_px : float
        Standard deviation of the Gaussian in pixels (typically 0.7--3).
    """

    sigma_px: float = 1.0

    def __post_init__(self) -> None:
        _check_positive("sigma_px", self.sigma_px, upper=50.0)

    @property
    def half_width_px(self) -> int:
        """Half width of the render window, ``ceil(4 sigma)`` pixels."""
        return max(1, math.ceil(4.0 * self.sigma_px))

    def profiles(self, origin: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """Fraction of photons per pixel along one axis, shape ``(N, 2 * half_width_px + 1)``.

        Parameters
        ----------
        origin : np.ndarray
            Integer index of the first window pixel per particle, shape ``(N,)``.
        centre : np.ndarray
            Particle coordinate along the same axis, shape ``(N,)``.

        Returns
        -------
        np.ndarray
            Differences of the error function over the pixel edges.
        """
        w = 2 * self.half_width_px + 1
        edges = origin[:, None] + (np.arange(w + 1) - 0.5) - centre[:, None]
        cdf = special.erf(edges * (1.0 / (math.sqrt(2.0) * self.sigma_px)))
        return 0.5 * np.diff(cdf, axis=1)

    def render(
        self, shape: tuple[int, int], x: ArrayLike, y: ArrayLike, amplitude: ArrayLike
    ) -> np.ndarray:
        """Render pixel-integrated Gaussian spots.

        Parameters
        ----------
        shape : tuple of int
            Frame ``(height, width)``.
        x, y : array_like
            Particle positions in pixels (trackpy convention: x = column, y = row).
        amplitude : array_like
            Total photons per particle.

        Returns
        -------
        np.ndarray
            Float64 expected photons, shape ``shape``.
        """
        xs, ys, amp = _particle_arrays(shape, x, y, amplitude)
        col0, row0, keep = _window_origins(shape, xs, ys, self.half_width_px)
        col0, row0, xs, ys, amp = col0[keep], row0[keep], xs[keep], ys[keep], amp[keep]
        px = self.profiles(col0, xs)
        py = self.profiles(row0, ys) * amp[:, None]
        return _accumulate(shape, col0, row0, py[:, :, None] * px[:, None, :])

    def peak_per_amplitude(self) -> float:
        """Centre-pixel fraction of the photons, ``erf(1 / (2 sqrt(2) sigma))**2``."""
        return float(special.erf(0.5 / (math.sqrt(2.0) * self.sigma_px)) ** 2)


@dataclass(frozen=True)
class AiryPSF:
    """Airy pattern of a diffraction-limited spot, pixel-integrated by supersampling.

    The intensity is ``[2 J1(v) / v]**2`` with ``v = 3.8317 r / radius_px``, so the first dark
    ring lies at ``radius_px`` (``0.61 lambda / NA`` in object space divided by the pixel
    size). The Airy tails fall off slowly (6 % of the energy lies beyond the third dark
    ring), so the pattern is cut on a circle at its third dark ring, where the intensity is
    zero, keeping the rendered spot continuous and exactly symmetric about the particle (a
    cut at the square window would bias its centroid), and each spot is normalized so that
    the amplitude is the total number of photons rendered.

    Parameters
    ----------
    radius_px : float
        Radius of the first dark ring in pixels.
    supersample : int
        Gauss-Legendre nodes per pixel along each axis for the pixel integration (5 nodes
        keep the relative error below 1e-4 down to ``radius_px = 1``). Spots with
        ``radius_px`` below ~1.2 are undersampled (the optical cut-off frequency exceeds
        the pixel frequency), so their pixelated centroid is biased by a few 0.01 px.
    """

    radius_px: float = 2.0
    supersample: int = 5

    def __post_init__(self) -> None:
        _check_positive("radius_px", self.radius_px, upper=50.0)
        _check_supersample(self.supersample)

    @property
    def half_width_px(self) -> int:
        """Half width of the render window, covering the third dark ring."""
        return max(2, math.ceil(_J1_ZERO_3 / _J1_ZERO * self.radius_px))

    def profile(self, r: np.ndarray) -> np.ndarray:
        """Return the value per unit amplitude at distance ``r`` (px) before pixel integration."""
        v = r * (_J1_ZERO / self.radius_px)
        safe = np.where(v > 1e-8, v, 1.0)
        airy = np.where(v > 1e-8, (2.0 * special.j1(safe) / safe) ** 2, 1.0)
        return np.where(v <= _J1_ZERO_3, airy, 0.0)

    def render(
        self, shape: tuple[int, int], x: ArrayLike, y: ArrayLike, amplitude: ArrayLike
    ) -> np.ndarray:
        """Render pixel-integrated Airy spots; see :meth:`GaussianPSF.render`."""
        xs, ys, amp = _particle_arrays(shape, x, y, amplitude)
        hw = self.half_width_px
        col0, row0, keep = _window_origins(shape, xs, ys, hw)
        col0, row0, xs, ys, amp = col0[keep], row0[keep], xs[keep], ys[keep], amp[keep]
        windows = _supersampled_windows(col0, row0, xs, ys, hw, self.supersample, _table(self))
        windows *= (amp / windows.sum(axis=(1, 2)))[:, None, None]
        return _accumulate(shape, col0, row0, windows)

    def peak_per_amplitude(self) -> float:
        """Centre-pixel fraction of the photons of a pixel-centred spot."""
        return _centred_extreme(self)


@dataclass(frozen=True)
class RingPSF:
    """Ring image of a microsphere in brightfield or holographic illumination.

    Following the particle model of DeepTrack (Helgadottir et al., Optica 6, 506 (2019)), the
    image is a Bessel ``J0`` fringe pattern under a Gaussian envelope::

        I(r) = amplitude * contrast * J0(3.8317 r / radius_px) * exp(-r**2 / (2 envelope_px**2))

    so the first ring (the first extremum of ``J0``, of opposite sign to the centre) lies at
    ``radius_px``. ``contrast > 0`` gives a bright centre with a dark ring, ``contrast < 0`` a
    dark centre with a bright ring. The value is a signed modulation added to the background;
    it is cut on a circle of three envelope widths (where it is below 0.5 % of the centre),
    so that the spot stays symmetric about the particle. Pixel integration is by
    supersampling. For SNR, the reference pixel is the most strongly
    modulated one: the centre for both signs (see :func:`livetrack.simulate.snr_of`).

    Parameters
    ----------
    radius_px : float
        Radius of the first ring in pixels.
    contrast : float
        Signed modulation of the centre per unit amplitude, in ``[-1, 1]`` and non-zero.
    envelope_px : float or None
        Standard deviation of the Gaussian envelope; ``None`` means ``1.5 * radius_px``.
    supersample : int
        Gauss-Legendre nodes per pixel along each axis for the pixel integration.
    """

    radius_px: float = 4.0
    contrast: float = 1.0
    envelope_px: float | None = None
    supersample: int = 3

    def __post_init__(self) -> None:
        _check_positive("radius_px", self.radius_px, upper=100.0)
        if not (isinstance(self.contrast, int | float) and 0 < abs(self.contrast) <= 1):
            raise InputError(f"contrast must be non-zero and in [-1, 1], got {self.contrast!r}")
        if self.envelope_px is not None:
            _check_positive("envelope_px", self.envelope_px, upper=200.0)
        _check_supersample(self.supersample)

    @property
    def envelope_sigma_px(self) -> float:
        """The envelope standard deviation actually used."""
        return 1.5 * self.radius_px if self.envelope_px is None else float(self.envelope_px)

    @property
    def half_width_px(self) -> int:
        """Half width of the render window, three envelope widths."""
        return max(2, math.ceil(3.0 * self.envelope_sigma_px))

    def profile(self, r: np.ndarray) -> np.ndarray:
        """Return the value per unit amplitude at distance ``r`` (px) before pixel integration."""
        env = self.envelope_sigma_px
        ring = special.j0(r * (_J1_ZERO / self.radius_px)) * np.exp(r * r * (-0.5 / (env * env)))
        return np.where(r <= 3.0 * env, self.contrast * ring, 0.0)

    def render(
        self, shape: tuple[int, int], x: ArrayLike, y: ArrayLike, amplitude: ArrayLike
    ) -> np.ndarray:
        """Render signed ring modulations; see :meth:`GaussianPSF.render`."""
        return _render_modulation(self, shape, x, y, amplitude)

    def peak_per_amplitude(self) -> float:
        """Signed centre-pixel modulation per unit amplitude (negative for a dark centre)."""
        return _centred_extreme(self)


@dataclass(frozen=True)
class ProfilePSF:
    """A measured particle image: an empirical radial profile, pixel-integrated.

    For particles no analytic model fits (``livetrack calibrate psf`` reports them as
    ``"profile"``): the value at distance ``r`` is the linear interpolation of the measured
    ``(r_px, values)``, zero beyond the last radius. It is a signed modulation per unit
    amplitude, as :class:`RingPSF`'s: a dark-centred particle has a negative centre.

    Parameters
    ----------
    r_px : tuple of float
        Increasing radii (px), the first at 0.
    values : tuple of float
        The profile at those radii; the centre's magnitude is the reference (``|values[0]|``
        is the contrast per unit amplitude).
    scale : float
        Stretch of the radii (a particle a little larger or smaller than the one measured).
    supersample : int
        Gauss-Legendre nodes per pixel along each axis for the pixel integration.
    """

    r_px: tuple[float, ...]
    values: tuple[float, ...]
    scale: float = 1.0
    supersample: int = 2

    def __post_init__(self) -> None:
        r = np.asarray(self.r_px, dtype=np.float64)
        v = np.asarray(self.values, dtype=np.float64)
        if r.ndim != 1 or r.size < 2 or r.size != v.size:
            raise InputError("a profile needs at least 2 radii and as many values")
        if (
            not (np.isfinite(r).all() and np.isfinite(v).all())
            or r[0] != 0
            or np.any(np.diff(r) <= 0)
        ):
            raise InputError("profile radii must start at 0 and increase; values must be finite")
        if v[0] == 0:
            raise InputError("a profile's centre value must not be 0")
        _check_positive("scale", self.scale, upper=10.0)
        _check_positive("radius of the profile", float(r[-1]) * self.scale, upper=200.0)
        _check_supersample(self.supersample)

    @property
    def half_width_px(self) -> int:
        """Half width of the render window, covering the profile's last radius."""
        return max(2, math.ceil(self.r_px[-1] * self.scale))

    def profile(self, r: np.ndarray) -> np.ndarray:
        """Return the value per unit amplitude at distance ``r`` (px) before pixel integration."""
        radii = np.asarray(self.r_px, dtype=np.float64) * self.scale
        return np.interp(r, radii, np.asarray(self.values, dtype=np.float64), right=0.0)

    def render(
        self, shape: tuple[int, int], x: ArrayLike, y: ArrayLike, amplitude: ArrayLike
    ) -> np.ndarray:
        """Render signed profile modulations; see :meth:`GaussianPSF.render`."""
        return _render_modulation(self, shape, x, y, amplitude)

    def peak_per_amplitude(self) -> float:
        """Signed centre-pixel modulation per unit amplitude (negative for a dark centre)."""
        return _centred_extreme(self)
