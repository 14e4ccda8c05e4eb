"""The simulated specimen and optics behind the simulated Micro-Manager devices.

Pure computation: particles diffusing on a periodic sample plane (micrometres)
and the optics that map the plane onto the camera for a given stage position.
The devices in :mod:`livetrack.acquire._devices` only call into this.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from livetrack._errors import InputError

__all__ = ["MicroscopeOptions", "SimulatedSample"]


def _default_camera() -> Any:
    from livetrack.simulate import Camera

    return Camera(offset_adu=100.0, read_noise_e=1.5)


@dataclass(frozen=True)
class MicroscopeOptions:
    """The simulated microscope: sample, optics and camera.

    The stage position is the sample point imaged at the centre of the camera.
    A sample point ``p`` (µm) appears at camera pixel
    ``c + R(-rotation_deg) (p - stage) / pixel_size_um`` where ``c`` is the
    image centre; ``pixel_size_um`` and ``rotation_deg`` are the *true* optics,
    hidden from the tracker (the core reports ``nominal_pixel_size_um`` and no
    rotation), so calibration and feedback are tested honestly.

    Attributes
    ----------
    shape
        Sensor shape (rows, columns).
    pixel_size_um
        True sample-plane size of a camera pixel.
    rotation_deg
        True rotation of the camera axes relative to the stage axes.
    flip_x
        True when the camera's x axis is mirrored against the stage (a flip in
        the light path): the camera-to-stage map is then
        ``pixel_size_um * R(rotation_deg) @ diag(-1, 1)``; hidden as the rotation.
    nominal_pixel_size_um
        Pixel size the core reports (the user's belief); None = the true one.
    n_particles
        Particles per periodic sample tile.
    tile_um
        Side of the periodic sample tile; None = twice the field of view's
        largest extent, so the particle density is ``n_particles / tile_um**2``.
    diffusion_um2_per_frame
        Diffusion coefficient; each acquired frame advances the sample by one
        Brownian step of std ``sqrt(2 D)`` per axis (frame-clocked, so runs
        are reproducible whatever the wall-clock rate).
    sigma_px
        Gaussian PSF width in camera pixels.
    photons_per_ms
        Photons per particle per millisecond of exposure.
    background_photons_per_ms
        Background photons per pixel per millisecond of exposure.
    exposure_ms
        Initial exposure time.
    camera
        ``livetrack.simulate.Camera`` turning photons into ADU; None = a
        16-bit camera with 100 ADU offset and 1.5 e- read noise.
    seed
        Seed of the sample's random generator (positions, motion, noise).
    realtime
        Pace the camera in wall-clock time: a frame takes ``max(exposure,
        interval)``. False renders frames as fast as possible.
    replay_frames
        If > 0, pre-render this many frames at the start position and replay
        them cyclically (the camera then costs almost nothing: for benchmarks of
        the tracking side; the stage then has no effect).
    """

    shape: tuple[int, int] = (512, 512)
    pixel_size_um: float = 0.1
    rotation_deg: float = 0.0
    flip_x: bool = False
    nominal_pixel_size_um: float | None = None
    n_particles: int = 200
    tile_um: float | None = None
    diffusion_um2_per_frame: float = 0.005
    sigma_px: float = 1.3
    photons_per_ms: float = 50.0
    background_photons_per_ms: float = 1.0
    exposure_ms: float = 10.0
    camera: Any = field(default_factory=_default_camera)
    seed: int | None = 0
    realtime: bool = True
    replay_frames: int = 0

    def __post_init__(self) -> None:
        if len(self.shape) != 2 or min(self.shape) < 8:
            raise InputError(f"shape must be (rows, columns) of at least 8, got {self.shape}")
        for name in ("pixel_size_um", "sigma_px", "exposure_ms"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("diffusion_um2_per_frame", "photons_per_ms", "background_photons_per_ms"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_particles < 0:
            raise InputError(f"n_particles must be >= 0, got {self.n_particles}")
        if self.nominal_pixel_size_um is not None and not self.nominal_pixel_size_um > 0:
            raise InputError(f"nominal_pixel_size_um must be > 0, got {self.nominal_pixel_size_um}")
        if self.tile_um is not None and not self.tile_um > 0:
            raise InputError(f"tile_um must be > 0, got {self.tile_um}")
        if self.replay_frames < 0:
            raise InputError(f"replay_frames must be >= 0, got {self.replay_frames}")

    @property
    def field_um(self) -> float:
        """Largest extent of the field of view in the sample plane."""
        return max(self.shape) * self.pixel_size_um

    @property
    def tile_side_um(self) -> float:
        """Side of the periodic sample tile actually used."""
        return self.tile_um if self.tile_um is not None else 2.0 * self.field_um

    @property
    def reported_pixel_size_um(self) -> float:
        """The pixel size the core reports."""
        return self.nominal_pixel_size_um or self.pixel_size_um

    def camera_to_stage_um(self) -> np.ndarray:
        """Return the true 2x2 matrix taking a camera displacement (px) to a sample one (µm)."""
        t = math.radians(self.rotation_deg)
        rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        if self.flip_x:
            rot = rot @ np.diag([-1.0, 1.0])
        return self.pixel_size_um * rot


class SimulatedSample:
    """Diffusing particles on a periodic plane and their image for a stage position.

    Thread safe: the camera renders on the acquisition thread while feedback
    moves the stage from the tracking worker.

    Parameters
    ----------
    options
        The microscope description.
    """

    def __init__(self, options: MicroscopeOptions) -> None:
        from livetrack.simulate import GaussianPSF

        self.options = options
        self.psf = GaussianPSF(sigma_px=options.sigma_px)
        self.camera = options.camera
        self._rng = np.random.default_rng(options.seed)
        self._lock = threading.Lock()
        tile = options.tile_side_um
        self.positions_um = self._rng.uniform(-tile / 2, tile / 2, size=(options.n_particles, 2))
        self.frame = 0
        self._px_to_um = options.camera_to_stage_um()
        self._um_to_px = np.linalg.inv(self._px_to_um)
        self._replay: np.ndarray | None = None

    @property
    def dtype(self) -> np.dtype:
        """The camera's pixel dtype."""
        return np.dtype(self.camera.dtype)

    def place(self, index: int, x_um: float, y_um: float) -> None:
        """Move particle ``index`` to a sample position (for tests and demos)."""
        with self._lock:
            self.positions_um[index] = (x_um, y_um)

    def camera_coordinates(self, stage_um: tuple[float, float]) -> np.ndarray:
        """Return every particle's (x, y) camera pixel position for a stage position.

        Uses the periodic image of each particle nearest to the field centre.
        """
        with self._lock:
            rel = self.positions_um - np.asarray(stage_um, dtype=float)
        tile = self.options.tile_side_um
        rel -= tile * np.round(rel / tile)
        rows, cols = self.options.shape
        centre = np.array([(cols - 1) / 2.0, (rows - 1) / 2.0])
        return rel @ self._um_to_px.T + centre

    def render(self, stage_um: tuple[float, float], exposure_ms: float) -> np.ndarray:
        """Expose one frame at the given stage position, then advance the sample one step.

        Returns
        -------
        numpy.ndarray
            The camera image (camera dtype), shape ``options.shape``.
        """
        opts = self.options
        if opts.replay_frames:
            return self._replayed(stage_um, exposure_ms)
        image = self._expose(stage_um, exposure_ms)
        self.advance()
        return image

    def advance(self) -> None:
        """Move every particle by one Brownian step (one frame)."""
        step = math.sqrt(2.0 * self.options.diffusion_um2_per_frame)
        with self._lock:
            if step > 0:
                self.positions_um += self._rng.normal(0.0, step, size=self.positions_um.shape)
            self.frame += 1

    def _expose(self, stage_um: tuple[float, float], exposure_ms: float) -> np.ndarray:
        opts = self.options
        xy = self.camera_coordinates(stage_um)
        hw = self.psf.half_width_px
        rows, cols = opts.shape
        inside = (
            (xy[:, 0] > -hw) & (xy[:, 0] < cols + hw) & (xy[:, 1] > -hw) & (xy[:, 1] < rows + hw)
        )
        xy = xy[inside]
        amplitude = np.full(len(xy), opts.photons_per_ms * exposure_ms)
        photons = self.psf.render(opts.shape, xy[:, 0], xy[:, 1], amplitude)
        photons += opts.background_photons_per_ms * exposure_ms
        with self._lock:
            return self.camera.expose(photons, self._rng)

    def _replayed(self, stage_um: tuple[float, float], exposure_ms: float) -> np.ndarray:
        if self._replay is None:
            frames = []
            for _ in range(self.options.replay_frames):
                frames.append(self._expose(stage_um, exposure_ms))
                self.advance()
            self._replay = np.stack(frames)
        with self._lock:
            image = self._replay[self.frame % len(self._replay)]
            self.frame += 1
        return image
