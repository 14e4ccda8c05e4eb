"""Rendering frames and simulating movies with ground-truth trajectories."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from livetrack._errors import InputError
from livetrack.simulate._camera import Camera
from livetrack.simulate._dynamics import Dynamics, ParticleState
from livetrack.simulate._illumination import Illumination
from livetrack.simulate._psf import PSF, GaussianPSF, _particle_arrays
from livetrack.simulate._snr import photons_for_snr, snr_of

#: Columns of :attr:`Movie.truth`, in order, with their dtypes.
TRUTH_COLUMNS: dict[str, str] = {
    "frame": "int64",
    "particle": "int64",
    "x": "float64",
    "y": "float64",
    "amplitude": "float64",
    "snr": "float64",
    "visible": "bool",
    "in_frame": "bool",
    "background": "float64",
}

_DEFAULT_SNR = 7.0


@dataclass(frozen=True, eq=False)
class Movie:
    """A simulated movie and its ground truth.

    Parameters
    ----------
    frames : np.ndarray
        ``(T, H, W)`` images in the camera dtype (float64 expected photons without a camera).
    truth : pd.DataFrame
        One row per particle and frame: ``frame, particle, x, y`` (trackpy convention),
        ``amplitude`` (photons rendered, illumination included), ``snr`` (ISBI SNR at the
        particle's local background), ``visible`` (emitting, hence rendered; blinked-off
        particles are False), ``in_frame`` (centre inside the image area ``[-0.5, W - 0.5] x
        [-0.5, H - 0.5]``) and ``background`` (expected background photons at the particle).
        Particles with ``visible & ~in_frame`` lie in the margin and are partly rendered.
    camera : Camera or None
        Camera that produced the frames.
    psf : PSF
        Particle image model.
    metadata : dict
        JSON-compatible description of every simulation parameter.
    """

    frames: np.ndarray
    truth: pd.DataFrame
    camera: Camera | None
    psf: PSF
    metadata: dict[str, Any]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Movie):
            return NotImplemented
        return (
            self.frames.dtype == other.frames.dtype
            and np.array_equal(self.frames, other.frames)
            and self.truth.equals(other.truth)
            and list(self.truth.columns) == list(other.truth.columns)
            and self.camera == other.camera
            and self.psf == other.psf
            and self.metadata == other.metadata
        )

    def __repr__(self) -> str:
        t, h, w = self.frames.shape
        return (
            f"Movie(frames=({t}, {h}, {w}) {self.frames.dtype}, "
            f"particles={self.truth['particle'].nunique()}, psf={self.psf!r}, "
            f"camera={self.camera!r})"
        )

    @property
    def shape(self) -> tuple[int, int]:
        """Frame ``(height, width)``."""
        return self.frames.shape[1], self.frames.shape[2]

    def visible_truth(self) -> pd.DataFrame:
        """Truth rows a localizer should find: emitting particles centred in the frame."""
        return self.truth[self.truth["visible"] & self.truth["in_frame"]]


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise InputError(f"seed must be None, a non-negative int or a numpy Generator, got {seed!r}")


def _local(image: np.ndarray | float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Values of a slowly varying image at the nearest pixel of each position."""
    if not isinstance(image, np.ndarray) or image.ndim == 0:
        return np.full(x.shape, float(image))
    h, w = image.shape
    rows = np.clip(np.rint(y).astype(np.intp), 0, h - 1)
    cols = np.clip(np.rint(x).astype(np.intp), 0, w - 1)
    return image[rows, cols]


def _as_map(name: str, value: ArrayLike | None, shape: tuple[int, int]) -> np.ndarray | float:
    if value is None:
        return 1.0
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or a numeric array, got {value!r}") from None
    if arr.ndim != 0 and arr.shape != tuple(shape):
        raise InputError(f"{name} must be a scalar or an array of shape {shape}, got {arr.shape}")
    if not (np.isfinite(arr).all() and (arr >= 0).all()):
        raise InputError(f"{name} must be finite and >= 0")
    return float(arr) if arr.ndim == 0 else arr


def _expected_photons(
    shape: tuple[int, int],
    x: np.ndarray,
    y: np.ndarray,
    amplitude: np.ndarray,
    psf: PSF,
    background: np.ndarray | float,
) -> np.ndarray:
    image = psf.render(shape, x, y, amplitude)
    image += background
    # A dark-centred ring may ask for fewer photons than the background holds.
    return np.maximum(image, 0.0, out=image)


def render_frame(
    shape: tuple[int, int],
    x: ArrayLike,
    y: ArrayLike,
    amplitude: ArrayLike,
    psf: PSF,
    background_photons: ArrayLike = 10.0,
    multiplier: ArrayLike | None = None,
    camera: Camera | None = None,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Render one frame, for fast on-the-fly training data.

    The expected image is ``M * background + psf.render(x, y, amplitude * M(x, y))``: the
    illumination multiplier scales the background everywhere and each particle by its
    value at the particle (the field is smooth on the scale of a spot).

    Parameters
    ----------
    shape : tuple of int
        Frame ``(height, width)``.
    x, y : array_like
        Positions in pixels (trackpy convention: x = column, y = row).
    amplitude : array_like
        Nominal amplitudes (see the PSF for their meaning; total photons for Gaussian/Airy).
    psf : PSF
        Particle image model.
    background_photons : array_like
        Background photons per pixel, a scalar or an ``(H, W)`` map.
    multiplier : array_like or None
        Illumination multiplier, a scalar or an ``(H, W)`` map; ``None`` for 1.
    camera : Camera or None
        Camera for noise and digitization; ``None`` returns float64 expected photons.
    rng : int or np.random.Generator or None
        Randomness for the camera noise.

    Returns
    -------
    np.ndarray
        ``shape`` image in ADU (camera dtype) or expected photons (float64).
    """
    x_arr, y_arr, amp = _particle_arrays(shape, x, y, amplitude)
    shape = (int(shape[0]), int(shape[1]))
    background = _as_map("background_photons", background_photons, shape)
    mult = _as_map("multiplier", multiplier, shape)
    amp = amp * _local(mult, x_arr, y_arr)
    expected = _expected_photons(shape, x_arr, y_arr, amp, psf, background * mult)
    if camera is None:
        return expected
    return camera.expose(expected, _rng(rng))


def _range(name: str, value: float | tuple[float, float]) -> tuple[float, float]:
    message = f"{name} must be a number >= 0 or a range (low, high), got {value!r}"
    try:
        pair = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(message) from None
    if pair.shape not in ((), (2,)):
        raise InputError(message)
    low, high = (float(pair), float(pair)) if pair.ndim == 0 else (float(pair[0]), float(pair[1]))
    if not (np.isfinite([low, high]).all() and 0 <= low <= high):
        raise InputError(message)
    return low, high


def _place(
    n: int, bounds: tuple[float, float, float, float], min_sep: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform positions in ``bounds``; dart throwing when a minimum separation is asked."""
    x_min, x_max, y_min, y_max = bounds
    if min_sep <= 0 or n <= 1:
        return rng.uniform(x_min, x_max, n), rng.uniform(y_min, y_max, n)
    accepted = np.empty((n, 2))
    count, tries = 0, 0
    while count < n:
        if tries > 100 * n:
            raise InputError(
                f"cannot place {n} particles {min_sep} px apart; lower n_particles or "
                "min_separation_px"
            )
        batch = np.column_stack([rng.uniform(x_min, x_max, n), rng.uniform(y_min, y_max, n)])
        for point in batch:  # sequential acceptance is what guarantees the separation
            tries += 1
            d2 = ((accepted[:count] - point) ** 2).sum(axis=1)
            if count == 0 or d2.min() >= min_sep**2:
                accepted[count] = point
                count += 1
                if count == n:
                    break
    return accepted[:, 0].copy(), accepted[:, 1].copy()


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in movie metadata")


def _place_in_band(
    n: int,
    bounds: tuple[float, float, float, float],
    shape: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform positions in ``bounds`` but outside the frame (the margin band)."""
    x_min, x_max, y_min, y_max = bounds
    h, w = shape
    band_fraction = 1.0 - (w * h) / ((x_max - x_min) * (y_max - y_min))
    xs, ys = [np.empty(0)], [np.empty(0)]
    found = 0
    while found < n:
        m = int(1.2 * (n - found) / band_fraction) + 8
        x, y = rng.uniform(x_min, x_max, m), rng.uniform(y_min, y_max, m)
        outside = (x < -0.5) | (x >= w - 0.5) | (y < -0.5) | (y >= h - 0.5)
        xs.append(x[outside])
        ys.append(y[outside])
        found += int(outside.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _describe(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"type": type(obj).__name__, **dataclasses.asdict(obj)}


def _truth_frame(
    t: int,
    state: ParticleState,
    amplitude: np.ndarray,
    snr: np.ndarray | float,
    background: np.ndarray,
    shape: tuple[int, int],
) -> dict[str, np.ndarray]:
    h, w = shape
    in_frame = (state.x >= -0.5) & (state.x < w - 0.5) & (state.y >= -0.5) & (state.y < h - 0.5)
    return {
        "frame": np.full(state.x.size, t, dtype=np.int64),
        "particle": state.particle,
        "x": state.x,
        "y": state.y,
        "amplitude": amplitude,
        "snr": np.atleast_1d(snr),
        "visible": state.on,
        "in_frame": in_frame,
        "background": background,
    }


def empty_truth() -> pd.DataFrame:
    """Return a ground-truth table with no rows and the right columns and dtypes."""
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in TRUTH_COLUMNS.items()})


def _check_nonnegative(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not (np.isfinite(value) and value >= 0)
    ):
        raise InputError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_movie_args(
    n_frames: object,
    shape: object,
    n_particles: object,
    psf: object,
    camera: object,
    illumination: object,
    dynamics: object,
) -> tuple[int, int]:
    """Validate the structural arguments of :func:`simulate_movie`; return the shape."""
    if not (isinstance(n_frames, int | np.integer) and n_frames >= 1):
        raise InputError(f"n_frames must be a positive integer, got {n_frames!r}")
    if not (isinstance(n_particles, int | np.integer) and n_particles >= 0):
        raise InputError(f"n_particles must be a non-negative integer, got {n_particles!r}")
    if (
        not isinstance(shape, tuple | list)
        or len(shape) != 2
        or not all(isinstance(n, int | np.integer) and n >= 1 for n in shape)
    ):
        raise InputError(f"shape must be (height, width) with positive integers, got {shape!r}")
    for name, value, kind, label in (
        ("psf", psf, PSF, "PSF model such as GaussianPSF"),
        ("camera", camera, Camera | None, "Camera or None"),
        ("illumination", illumination, Illumination, "Illumination"),
        ("dynamics", dynamics, Dynamics, "Dynamics"),
    ):
        if not isinstance(value, kind):
            raise InputError(f"{name} must be a {label}, got {value!r}")
    return int(shape[0]), int(shape[1])


def _margin(margin_px: float | None, psf: PSF, shape: tuple[int, int]) -> float:
    if margin_px is None:
        return float(psf.half_width_px)
    if isinstance(margin_px, bool) or not isinstance(margin_px, int | float | np.number):
        raise InputError(f"margin_px must be a number or None, got {margin_px!r}")
    if not (np.isfinite(margin_px) and min(shape) + 2 * margin_px > 0):
        raise InputError(f"margin_px={margin_px!r} leaves no area for particles in a {shape} frame")
    return float(margin_px)


def _brightness_sampler(
    snr: float | tuple[float, float] | None,
    amplitude: float | tuple[float, float] | None,
    background_photons: float,
    psf: PSF,
) -> tuple[Callable[[int, np.random.Generator], np.ndarray], dict[str, Any]]:
    """Per-particle nominal amplitude sampler and its description for the metadata."""
    if snr is not None and amplitude is not None:
        raise InputError("give either snr or amplitude, not both")
    if amplitude is not None:
        a_low, a_high = _range("amplitude", amplitude)

        def draw_amplitude(n: int, rng: np.random.Generator) -> np.ndarray:
            return rng.uniform(a_low, a_high, n)

        return draw_amplitude, {"snr": None, "amplitude": [a_low, a_high]}

    low, high = _range("snr", _DEFAULT_SNR if snr is None else snr)
    photons_for_snr(high, background_photons, psf)  # fail now, not mid-movie, if impossible

    def draw_snr(n: int, rng: np.random.Generator) -> np.ndarray:
        return np.atleast_1d(photons_for_snr(rng.uniform(low, high, n), background_photons, psf))

    return draw_snr, {"snr": [low, high], "amplitude": None}


def simulate_movie(
    n_frames: int = 1,
    shape: tuple[int, int] = (512, 512),
    n_particles: int = 100,
    psf: PSF = GaussianPSF(1.0),  # noqa: B008 - frozen dataclass, safe as a default
    snr: float | tuple[float, float] | None = None,
    amplitude: float | tuple[float, float] | None = None,
    background_photons: float = 10.0,
    camera: Camera | None = Camera(),  # noqa: B008
    illumination: Illumination = Illumination(),  # noqa: B008
    dynamics: Dynamics = Dynamics(),  # noqa: B008
    margin_px: float | None = None,
    min_separation_px: float = 0.0,
    seed: int | np.random.Generator | None = None,
) -> Movie:
    """Simulate a microscopy movie of moving particles with ground-truth trajectories.

    Particles are placed uniformly in the frame extended by ``margin_px`` on every side (so
    border particles exist), move according to ``dynamics``, are rendered with ``psf`` on a
    background under ``illumination`` and digitized by ``camera``. Brightness is set per
    particle either from an ISBI SNR (Chenouard et al., Nat Methods 11, 281 (2014)) at the
    nominal background, or directly as an amplitude; a ``(low, high)`` range draws each
    particle's value uniformly. Particle brightness is constant over its life; the
    illumination then scales it frame by frame.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    shape : tuple of int
        Frame ``(height, width)``.
    n_particles : int
        Particles in the simulated area (frame plus margin); kept constant with
        ``dynamics.keep_density``.
    psf : PSF
        Particle image model.
    snr : float or (float, float) or None
        ISBI SNR of each particle at the nominal background. Default 7 if ``amplitude`` is
        also None.
    amplitude : float or (float, float) or None
        Nominal amplitude per particle instead of ``snr``.
    background_photons : float
        Nominal background in photons per pixel.
    camera : Camera or None
        Camera; ``None`` stores noiseless float64 expected photons.
    illumination : Illumination
        Illumination field, flicker, drift and structured background.
    dynamics : Dynamics
        Motion, blinking and particle turnover.
    margin_px : float or None
        Width of the band outside the frame where particles also live; ``None`` uses the
        PSF's ``half_width_px``. A negative margin insets the area instead, keeping every
        particle at least ``-margin_px`` pixels from the frame border.
    min_separation_px : float
        Minimum distance between particles at placement (first frame only).
    seed : int or np.random.Generator or None
        Seed for reproducibility.

    Returns
    -------
    Movie
        Frames, ground truth and metadata.
    """
    rng = _rng(seed)
    shape = _check_movie_args(n_frames, shape, n_particles, psf, camera, illumination, dynamics)
    _check_nonnegative("background_photons", background_photons)
    _check_nonnegative("min_separation_px", min_separation_px)
    margin = _margin(margin_px, psf, shape)
    draw, brightness = _brightness_sampler(snr, amplitude, background_photons, psf)

    h, w = shape
    bounds = (-0.5 - margin, w - 0.5 + margin, -0.5 - margin, h - 0.5 + margin)

    if dynamics.spawn_at_edge and margin <= 0:
        raise InputError("Dynamics(spawn_at_edge=True) needs margin_px > 0")

    def spawn(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if dynamics.spawn_at_edge:
            x, y = _place_in_band(n, bounds, shape, rng)
        else:
            x, y = _place(n, bounds, 0.0, rng)
        return x, y, draw(n, rng)

    ill_state = illumination.start(shape, rng)
    uniform = illumination.ratio == 1.0 and ill_state.texture is None
    x0, y0 = _place(int(n_particles), bounds, float(min_separation_px), rng)
    state = dynamics.start(x0, y0, draw(int(n_particles), rng), rng)

    frames: np.ndarray | None = None
    mult: np.ndarray | float
    background: np.ndarray | float
    rows = []
    for t in range(int(n_frames)):
        if t > 0:
            state = dynamics.step(state, rng, bounds, spawn)
        if uniform:  # scalars: no need to fill two frames with constants
            mult = ill_state.global_factor(t)
            background = mult * background_photons
        else:
            mult = ill_state.multiplier(t)
            background = ill_state.background(t, background_photons)
        amp = state.amplitude * _local(mult, state.x, state.y)
        bg_local = _local(background, state.x, state.y)
        on = state.on
        expected = _expected_photons(shape, state.x[on], state.y[on], amp[on], psf, background)
        image = expected if camera is None else camera.expose(expected, rng)
        if frames is None:
            frames = np.empty((int(n_frames), h, w), dtype=image.dtype)
        frames[t] = image
        snr_local = snr_of(amp, bg_local, psf)
        rows.append(_truth_frame(t, state, amp, snr_local, bg_local, shape))

    truth = pd.concat([pd.DataFrame(r) for r in rows], ignore_index=True)
    truth = truth.astype(TRUTH_COLUMNS) if len(truth) else empty_truth()
    metadata = {
        "generator": "livetrack.simulate.simulate_movie",
        "n_frames": int(n_frames),
        "shape": list(shape),
        "n_particles": int(n_particles),
        **brightness,
        "background_photons": float(background_photons),
        "margin_px": margin,
        "min_separation_px": float(min_separation_px),
        "seed": int(seed) if isinstance(seed, int | np.integer) else None,
        "psf": _describe(psf),
        "camera": _describe(camera),
        "illumination": _describe(illumination),
        "dynamics": _describe(dynamics),
    }
    # Normalize through JSON so a movie read back from disk compares equal.
    metadata = json.loads(json.dumps(metadata, default=_json_default))
    assert frames is not None  # n_frames >= 1 was checked
    return Movie(frames=frames, truth=truth, camera=camera, psf=psf, metadata=metadata)
