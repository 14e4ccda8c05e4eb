"""Particle-image calibration: what one particle looks like in the user's movie.

Scale space (:func:`livetrack.localize.measure_feature_scale`) gives the polarity, a first
size and whether the particles are rings. Then the brightest isolated particles are cut
out and measured: a pixel-integrated Gaussian is fitted to each spot (its width is the
median), and the radially averaged profile of ring particles is fitted with the J0 fringe
under a Gaussian envelope that livetrack's simulator renders (``RingPSF``). Every kind of
particle also gets its empirical radial profile. The SNR distribution (ISBI, in photons
when the camera is known), the background level and the illumination's unevenness
complete the description a training recipe needs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import ndimage, optimize, special

from livetrack._errors import InputError
from livetrack.calibrate._camera import CameraCalibration
from livetrack.calibrate._store import (
    CalibrationHeader,
    input_hashes,
    read_calibration,
    write_calibration,
)
from livetrack.localize import measure_feature_scale, radial_symmetry_center

__all__ = ["ParticleImage", "calibrate_psf", "load_psf"]

# First zero of J1 = first extremum of J0: the ring radius of livetrack's RingPSF.
_J1_ZERO = 3.8317059702075125
# Spread of a normal distribution in units of its median absolute deviation.
_MAD_TO_STD = 1.4826
# A candidate particle stands this many noise standard deviations above the background
# in the scale-matched filter; neighbours down to _NEIGHBOUR_Z disqualify it.
_DETECT_Z = 8.0
_NEIGHBOUR_Z = 4.0
# At most this many particles are measured (the brightest isolated ones).
_MAX_PARTICLES = 300
# Frames of the movie searched for particles, evenly spread.
_FRAMES = 20
# Fraction of a movie's pixels at the digitizer's maximum that makes it saturated.
_SATURATED_FRACTION = 0.01
# An opposite-contrast lobe this deep (relative to the centre) around a spot is a halo.
_HALO_DEPTH = -0.1
# Radial profile bins, in pixels.
_BIN_PX = 0.5


@dataclass(frozen=True)
class ParticleImage:
    """The measured image of the particles of a movie.

    Attributes
    ----------
    model : {"gaussian", "ring", "profile"}
        The image model that fits: a Gaussian spot, a J0 ring under a Gaussian envelope,
        or only the empirical profile.
    polarity : {"bright", "dark"}
        Whether the particles' centres are brighter or darker than the background.
    sigma_px : float
        Gaussian width of spots (the median fit); for other models the scale-space size.
    ring_radius_px, ring_envelope_px, ring_contrast : float or None
        For rings: radius of the first ring (first extremum of J0), the envelope's
        standard deviation, and the opposite-lobe depth over the centre (negative). For a
        spot in a halo (an out-of-focus microsphere): the halo's radius and depth.
    profile_r_px, profile : tuple of float
        Empirical radially averaged profile, the centre's contrast normalized to 1.
    n_particles : int
        Particle images measured (a particle seen in several frames counts each time).
    n_frames : int
        Frames searched.
    units : {"photons", "adu"}
        Units of the intensities below (photons when a camera calibration was given).
    background : float
        Median background level.
    background_range : tuple of float
        5th and 95th percentile of the local backgrounds around the particles.
    illumination_ratio : float
        95th over 5th percentile of the background in tiles of the mean frame (1 = even
        illumination; in ADU it includes the camera offset); NaN when not positive.
    peak : tuple of float
        10th, 50th and 90th percentile of the particles' centre contrast above the
        background.
    snr : tuple of float
        10th, 50th and 90th percentile of the ISBI SNR (photons only, else NaN).
    fit_quality : float
        Fraction of the averaged profile's variance the chosen model explains.
    feature_sigma_px : float
        The particles' scale-space size (the sigma of a Gaussian spot of the same size,
        :func:`livetrack.localize.measure_feature_scale`): the size a user would see
        where no model fits.
    header : CalibrationHeader or None
        What the calibration says about itself.
    """

    model: Literal["gaussian", "ring", "profile"]
    polarity: Literal["bright", "dark"]
    sigma_px: float
    n_particles: int
    n_frames: int
    units: Literal["photons", "adu"]
    background: float
    background_range: tuple[float, float]
    illumination_ratio: float
    peak: tuple[float, float, float]
    snr: tuple[float, float, float]
    profile_r_px: tuple[float, ...]
    profile: tuple[float, ...]
    fit_quality: float
    ring_radius_px: float | None = None
    ring_envelope_px: float | None = None
    ring_contrast: float | None = None
    feature_sigma_px: float = float("nan")
    header: CalibrationHeader | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """Return the measured values as JSON fields."""
        return {
            "model": self.model,
            "polarity": self.polarity,
            "sigma_px": self.sigma_px,
            "ring_radius_px": self.ring_radius_px,
            "ring_envelope_px": self.ring_envelope_px,
            "ring_contrast": self.ring_contrast,
            "n_particles": self.n_particles,
            "n_frames": self.n_frames,
            "units": self.units,
            "background": self.background,
            "background_range": list(self.background_range),
            "illumination_ratio": self.illumination_ratio,
            "peak_p10_p50_p90": list(self.peak),
            "snr_p10_p50_p90": list(self.snr),
            "fit_quality": self.fit_quality,
            "feature_sigma_px": self.feature_sigma_px,
            "profile_r_px": list(self.profile_r_px),
            "profile": list(self.profile),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the calibration as JSON."""
        return write_calibration(path, self.header or CalibrationHeader("psf"), self.to_json())

    def describe(self) -> str:
        """One line: the model, polarity, size and how many particles it rests on."""
        if self.model != "ring" and self.ring_radius_px is not None:
            size = (
                f"sigma {self.sigma_px:.2f} px in an opposite-contrast halo at "
                f"{self.ring_radius_px:.1f} px (depth {self.ring_contrast:.2f})"
            )
        elif self.ring_radius_px is not None:
            size = f"ring radius {self.ring_radius_px:.2f} px"
            if self.ring_envelope_px is not None:
                size += f", envelope {self.ring_envelope_px:.2f} px"
        else:
            size = f"sigma {self.sigma_px:.2f} px"
        if self.model == "profile":
            size += f", scale-space size {self.feature_sigma_px:.2f} px"
        snr = "" if math.isnan(self.snr[1]) else f", median SNR {self.snr[1]:.1f}"
        return (
            f"{self.model} {self.polarity}, {size}{snr}, background {self.background:.4g} "
            f"{self.units}, illumination ratio {self.illumination_ratio:.2f}; "
            f"{self.n_particles} particle images in {self.n_frames} frames"
        )


def load_psf(path: str | os.PathLike[str]) -> ParticleImage:
    """Read a particle-image calibration written by :meth:`ParticleImage.save`.

    Raises
    ------
    InputError
        A missing, foreign or malformed file.
    """
    header, body, _ = read_calibration(path, "psf")

    def opt(key: str) -> float | None:
        value = body.get(key)
        return None if value is None else float(value)

    try:
        return ParticleImage(
            model=body["model"],
            polarity=body["polarity"],
            sigma_px=float(body["sigma_px"]),
            n_particles=int(body["n_particles"]),
            n_frames=int(body["n_frames"]),
            units=body["units"],
            background=float(body["background"]),
            background_range=tuple(float(v) for v in body["background_range"]),  # type: ignore[arg-type]
            illumination_ratio=float(body["illumination_ratio"]),
            peak=tuple(float(v) for v in body["peak_p10_p50_p90"]),  # type: ignore[arg-type]
            snr=tuple(float(v) for v in body["snr_p10_p50_p90"]),  # type: ignore[arg-type]
            profile_r_px=tuple(float(v) for v in body["profile_r_px"]),
            profile=tuple(float(v) for v in body["profile"]),
            fit_quality=float(body["fit_quality"]),
            ring_radius_px=opt("ring_radius_px"),
            ring_envelope_px=opt("ring_envelope_px"),
            ring_contrast=opt("ring_contrast"),
            feature_sigma_px=float(body.get("feature_sigma_px", float("nan"))),
            header=header,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed particle-image calibration ({exc})") from None


def _robust_std(values: np.ndarray) -> float:
    med = np.median(values)
    return float(_MAD_TO_STD * np.median(np.abs(values - med)))


def _candidates(
    image: np.ndarray, sigma: float, half: int, isolation_px: float, ring: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Isolated bright maxima of the scale-matched filter away from the border.

    ``image`` is signed so that particles are positive. Returns rows, columns and filter
    responses, strongest first. A ring's own outer fringes are weaker maxima around it:
    for rings only neighbours at least half as strong disqualify a particle.
    """
    response = -ndimage.gaussian_laplace(image, sigma, mode="nearest")
    noise = max(_robust_std(response[::2, ::2]), 1e-12)
    size = max(3, int(2 * round((2.0 if ring else 1.0) * sigma) + 1))
    rival = 0.5 if ring else 0.2
    peak = response == ndimage.maximum_filter(response, size=size, mode="nearest")
    rows, cols = np.nonzero(peak & (response > _NEIGHBOUR_Z * noise))
    values = response[rows, cols]
    h, w = image.shape
    strong = values > _DETECT_Z * noise
    inside = (rows >= half) & (cols >= half) & (rows < h - half) & (cols < w - half)
    keep = []
    for i in np.nonzero(strong & inside)[0]:
        d2 = (rows - rows[i]) ** 2 + (cols - cols[i]) ** 2
        # A neighbour within reach would bias the fit.
        near = (d2 > 0) & (d2 < isolation_px**2) & (values > rival * values[i])
        if not near.any():
            keep.append(i)
    idx = np.array(keep, dtype=int)
    order = np.argsort(values[idx])[::-1]
    idx = idx[order]
    return rows[idx], cols[idx], values[idx]


def _gaussian_window(params: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """Pixel-integrated Gaussian spot on a flat background over a square window."""
    x, y, s, amp, bg = params
    edges = offs[:, None] + np.array([-0.5, 0.5])[None, :]
    k = 1.0 / (math.sqrt(2.0) * abs(s))
    ex = 0.5 * np.diff(special.erf((edges - x) * k), axis=1)[:, 0]
    ey = 0.5 * np.diff(special.erf((edges - y) * k), axis=1)[:, 0]
    return amp * ey[:, None] * ex[None, :] + bg


def _fit_spot(window: np.ndarray, sigma0: float) -> float:
    """Least-squares Gaussian width of one spot (NaN when the fit fails)."""
    half = window.shape[0] // 2
    offs = np.arange(-half, half + 1, dtype=float)
    bg0 = float(np.median(np.concatenate([window[0], window[-1], window[:, 0], window[:, -1]])))
    amp0 = max(float((window - bg0).sum()), 1e-6)
    start = np.array([0.0, 0.0, sigma0, amp0, bg0])

    def residual(p: np.ndarray) -> np.ndarray:
        return (_gaussian_window(p, offs) - window).ravel()

    try:
        fit = optimize.least_squares(
            residual,
            start,
            bounds=([-2, -2, 0.3, 0, -np.inf], [2, 2, 3 * half, np.inf, np.inf]),
            x_scale=[1.0, 1.0, sigma0, amp0, max(abs(bg0), 1.0)],
            max_nfev=200,
        )
    except ValueError:
        return float("nan")
    s = float(abs(fit.x[2]))
    return s if fit.success and s < 0.9 * half else float("nan")


def _ring_model(params: np.ndarray, r: np.ndarray) -> np.ndarray:
    radius, envelope, contrast, offset = params
    return (
        contrast * special.j0(r * (_J1_ZERO / radius)) * np.exp(-0.5 * (r / envelope) ** 2) + offset
    )


def _pixel_average(fn: Any, r: np.ndarray) -> np.ndarray:
    """Average a radial function over a pixel whose centre lies at distance ``r``.

    The pixel's orientation relative to the radius matters little; the mean over a pixel
    on the axis and one on the diagonal is used (4 x 4 points each).
    """
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    dx, dy = np.meshgrid(sub, sub)
    total = np.zeros_like(r)
    for angle in (0.0, math.pi / 4):
        cx, cy = r * math.cos(angle), r * math.sin(angle)
        rr = np.hypot(cx[:, None] + dx.ravel(), cy[:, None] + dy.ravel())
        total += fn(rr).mean(axis=1)
    return total / 2


def _fit_ring(r: np.ndarray, profile: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, float]:
    """Fit the J0 ring under a Gaussian envelope to a radial profile (centre contrast 1)."""
    inner = r > 0.5
    lobe = int(np.argmin(np.where(inner, profile, np.inf)))
    radius0 = max(float(r[lobe]), 1.0)
    start = np.array([radius0, 1.5 * radius0, 1.0, 0.0])
    sw = np.sqrt(weight)

    def residual(p: np.ndarray) -> np.ndarray:
        model = _pixel_average(lambda rr: _ring_model(p, rr), r)
        return sw * (model - profile)

    fit = optimize.least_squares(
        residual,
        start,
        bounds=([0.5, 0.3, 0.05, -1.0], [4 * radius0 + 2, 20 * radius0 + 10, 5.0, 1.0]),
        max_nfev=400,
    )
    res = residual(fit.x)
    total = float((weight * (profile - np.average(profile, weights=weight)) ** 2).sum())
    return fit.x, 1.0 - float((res**2).sum()) / max(total, 1e-12)


def _check_saturation(stack: np.ndarray) -> np.ndarray | None:
    """Refuse a saturated movie; return the mask of saturated pixels' value (or None)."""
    if stack.dtype.kind not in "ui":
        return None
    top = np.iinfo(stack.dtype).max
    sample = stack[:: max(1, len(stack) // 8)]
    at_top = float(np.mean(sample >= top))
    if at_top > _SATURATED_FRACTION:
        raise InputError(
            f"the movie is saturated ({100 * at_top:.1f} % of pixels at {top}); "
            "lower the light or the exposure"
        )
    return np.asarray(top)


def calibrate_psf(
    frames: np.ndarray | str | os.PathLike[str],
    *,
    camera: CameraCalibration | None = None,
    min_particles: int = 10,
    n_frames: int = _FRAMES,
) -> ParticleImage:
    """Measure the image of the particles of a movie.

    Parameters
    ----------
    frames : numpy.ndarray or path
        ``(T, H, W)`` stack, one frame, or a file :func:`livetrack.read_stack` reads.
    camera : CameraCalibration, optional
        The camera's calibration: intensities and SNR are then in photons.
    min_particles : int
        Fewest particle images to measure; fewer are refused.
    n_frames : int
        Frames searched, evenly spread over the movie.

    Returns
    -------
    ParticleImage

    Raises
    ------
    InputError
        Too few isolated particles, a saturated movie, or a camera calibration that does
        not fit the frames.
    """
    from livetrack._stack import as_stack, read_stack

    source = frames
    stack = read_stack(frames) if not isinstance(frames, np.ndarray) else as_stack(frames)
    top = _check_saturation(stack)
    if camera is not None:
        camera.check(stack)
    index = np.unique(np.linspace(0, len(stack) - 1, max(1, min(n_frames, len(stack)))).astype(int))
    scale = measure_feature_scale(stack, n_frames=5)
    if scale.n_features == 0:
        raise InputError("no particles stand out of the noise in this movie")
    sign = 1.0 if scale.polarity == "bright" else -1.0
    sigma = float(scale.sigma_px)
    ring = scale.is_ring
    # Rings reach several times their scale-space size; spots are covered by 4 sigma.
    half = math.ceil((6.0 if ring else 4.0) * sigma)
    half = max(half, 3)
    isolation = 1.5 * half

    windows, backgrounds, peaks, centres = [], [], [], []
    mean_frame = np.zeros(stack.shape[1:])
    for i in index:
        raw = stack[i]
        image = camera.to_photons(raw) if camera is not None else raw.astype(np.float32)
        image = np.asarray(image, dtype=np.float64)
        mean_frame += image / len(index)
        level = float(np.median(image))
        rows, cols, _ = _candidates(sign * (image - level), sigma, half, isolation, ring)
        for r, c in zip(rows[:_MAX_PARTICLES], cols[:_MAX_PARTICLES], strict=True):
            win_raw = raw[r - half : r + half + 1, c - half : c + half + 1]
            if top is not None and np.any(win_raw >= top):
                continue  # a clipped particle's profile is flat-topped
            windows.append(image[r - half : r + half + 1, c - half : c + half + 1])
        if len(windows) >= _MAX_PARTICLES:
            break
    n = len(windows)
    if n < min_particles:
        raise InputError(
            f"too few particles: {n} bright isolated particle images in {len(index)} frames "
            f"(need {min_particles}); give a longer or less crowded movie"
        )
    win = np.stack(windows)
    dy, dx = radial_symmetry_center(win)
    ok = np.isfinite(dx) & np.isfinite(dy) & (np.abs(dx) < 2) & (np.abs(dy) < 2)
    win, dx, dy = win[ok], dx[ok], dy[ok]
    if len(win) < min_particles:
        raise InputError(f"too few particles: only {len(win)} could be centred")
    offs = np.arange(-half, half + 1, dtype=float)
    yy, xx = np.meshgrid(offs, offs, indexing="ij")
    rr = np.hypot(yy[None] - dy[:, None, None], xx[None] - dx[:, None, None])
    outer = rr > 0.85 * half
    for k in range(len(win)):
        backgrounds.append(float(np.median(win[k][outer[k]])))
        centres.append(float(win[k][rr[k] <= max(1.0, 0.5 * sigma)].mean()) - backgrounds[-1])
        # ISBI's peak is the particle's brightest pixel: the one nearest its centre.
        peaks.append(float(sign * (win[k].flat[int(np.argmin(rr[k]))] - backgrounds[-1])))
    bg = np.array(backgrounds)
    contrast = sign * np.array(centres)
    good = contrast > 0
    # Each particle's profile is normalized by its centre's contrast, then averaged.
    norm = (win - bg[:, None, None]) * sign / np.where(good, contrast, 1.0)[:, None, None]
    bins = np.floor(rr / _BIN_PX).astype(int)
    nbins = int(half / _BIN_PX)
    sel = good[:, None, None] & (bins < nbins)
    counts = np.bincount(bins[sel], minlength=nbins).astype(float)
    sums = np.bincount(bins[sel], weights=norm[sel], minlength=nbins)
    filled = counts > 0
    r_prof = ((np.arange(nbins) + 0.5) * _BIN_PX)[filled]
    prof = sums[filled] / counts[filled]
    weight = counts[filled]

    ring_radius = ring_envelope = ring_contrast = None
    if ring:
        params, quality = _fit_ring(r_prof, prof, weight)
        lobe = r_prof > 0.5
        ring_contrast = float(prof[lobe].min()) if lobe.any() else None
        if quality > 0.8:
            model: Literal["gaussian", "ring", "profile"] = "ring"
            ring_radius, ring_envelope = float(params[0]), float(params[1])
        else:
            model = "profile"
            ring_radius = float(r_prof[lobe][np.argmin(prof[lobe])]) if lobe.any() else None
        width = sigma
    else:
        fits = np.array([_fit_spot(sign * (w - b), sigma) for w, b in zip(win, bg, strict=True)])
        fits = fits[np.isfinite(fits)]
        if len(fits) < min_particles:
            raise InputError(f"too few particles: only {len(fits)} spot fits converged")
        width = float(np.median(fits))
        gauss = _pixel_average(lambda r: np.exp(-0.5 * (r / width) ** 2), r_prof) / _pixel_average(
            lambda r: np.exp(-0.5 * (r / width) ** 2), np.array([0.0])
        )
        res = float((weight * (prof - gauss) ** 2).sum())
        total = float((weight * (prof - np.average(prof, weights=weight)) ** 2).sum())
        quality = 1.0 - res / max(total, 1e-12)
        model = "gaussian" if quality > 0.8 else "profile"
        lobe = r_prof > 2.0 * width
        if lobe.any() and prof[lobe].min() < _HALO_DEPTH:
            # A spot in a halo (a microsphere out of focus): its halo's radius is its size.
            ring_contrast = float(prof[lobe].min())
            ring_radius = float(r_prof[lobe][np.argmin(prof[lobe])])

    peak_arr = np.array(peaks)
    if camera is not None:
        # ISBI SNR: contrast over the shot noise of the particle's own peak.
        snr_arr = peak_arr / np.sqrt(np.maximum(bg + sign * peak_arr, 1e-6))
        snr = tuple(float(v) for v in np.percentile(snr_arr, [10, 50, 90]))
    else:
        snr = (float("nan"),) * 3
    blocks = _block_backgrounds(mean_frame)
    lo, hi = np.percentile(blocks, [5, 95])
    ratio = float(hi / lo) if lo > 0 else float("nan")
    shape = stack.shape[1:]
    header = CalibrationHeader(
        "psf",
        inputs=input_hashes([source if not isinstance(source, np.ndarray) else stack]),
        frame_shape=(int(shape[0]), int(shape[1])),
        pixel_type=stack.dtype.name,
    )
    return ParticleImage(
        model=model,
        polarity=scale.polarity,
        sigma_px=width,
        n_particles=len(win),
        n_frames=len(index),
        units="photons" if camera is not None else "adu",
        background=float(np.median(bg)),
        background_range=(float(np.percentile(bg, 5)), float(np.percentile(bg, 95))),
        illumination_ratio=ratio,
        peak=tuple(float(v) for v in np.percentile(peak_arr, [10, 50, 90])),  # type: ignore[arg-type]
        snr=snr,  # type: ignore[arg-type]
        profile_r_px=tuple(float(v) for v in r_prof),
        profile=tuple(float(v) for v in prof),
        fit_quality=float(quality),
        ring_radius_px=ring_radius,
        ring_envelope_px=ring_envelope,
        ring_contrast=ring_contrast,
        feature_sigma_px=float(scale.sigma_px),
        header=header,
    )


def _block_backgrounds(image: np.ndarray) -> np.ndarray:
    """Background of tiles of at least 32 px (up to 8 x 8): their 30th percentile.

    A low percentile of a tile large beside the particles is its background even where
    particles cover a third of it.
    """
    h, w = image.shape
    n = max(1, min(8, h // 32, w // 32))
    rows = np.array_split(np.arange(h), n)
    cols = np.array_split(np.arange(w), n)
    return np.array([np.percentile(image[np.ix_(r, c)], 30) for r in rows for c in cols])
