"""Python Micro-Manager device adapters (pymmcore-plus unicore) for the simulated microscope."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from pymmcore_plus.experimental.unicore import SimpleCameraDevice, XYStageDevice

from livetrack.acquire._sample import SimulatedSample

__all__ = ["SimulatedCamera", "SimulatedXYStage"]


class SimulatedXYStage(XYStageDevice):
    """An XY stage that moves the field of view over the simulated sample.

    Moves are instantaneous; the position is in stage micrometres.
    """

    def __init__(self) -> None:
        super().__init__()
        self._xy = (0.0, 0.0)
        self._origin = (0.0, 0.0)

    def set_position_um(self, x: float, y: float) -> None:
        """Move to ``(x, y)`` µm (relative to the user origin)."""
        self._xy = (float(x) + self._origin[0], float(y) + self._origin[1])

    def get_position_um(self) -> tuple[float, float]:
        """Return the position in µm relative to the user origin."""
        return (self._xy[0] - self._origin[0], self._xy[1] - self._origin[1])

    def absolute_um(self) -> tuple[float, float]:
        """Return the absolute sample position at the centre of the camera."""
        return self._xy

    def set_origin_x(self) -> None:
        """Make the current x the new zero."""
        self._origin = (self._xy[0], self._origin[1])

    def set_origin_y(self) -> None:
        """Make the current y the new zero."""
        self._origin = (self._origin[0], self._xy[1])

    def home(self) -> None:
        """Go to the absolute origin of the sample."""
        self._xy = (0.0, 0.0)

    def stop(self) -> None:
        """Nothing to stop: moves are instantaneous."""


class SimulatedCamera(SimpleCameraDevice):
    """A camera that renders the simulated sample at the stage's current position.

    Photons scale with the exposure time. With ``realtime`` set in the
    microscope options, each frame takes the exposure time of wall-clock time,
    so sequence acquisitions run at ``1000 / exposure_ms`` frames per second.

    Parameters
    ----------
    sample
        The specimen and optics to image.
    stage
        The XY stage whose position selects the field of view.
    """

    def __init__(self, sample: SimulatedSample, stage: SimulatedXYStage) -> None:
        super().__init__()
        self.sample = sample
        self.stage = stage
        self._exposure_ms = float(sample.options.exposure_ms)
        self._next_ready = 0.0
        self._count = 0

    def sensor_shape(self) -> tuple[int, int]:
        """Return the full sensor shape (rows, columns)."""
        return tuple(self.sample.options.shape)  # type: ignore[return-value]

    def dtype(self) -> np.dtype:
        """Return the pixel dtype."""
        return self.sample.dtype

    def get_exposure(self) -> float:
        """Return the exposure time in ms."""
        return self._exposure_ms

    def set_exposure(self, exposure: float) -> None:
        """Set the exposure time in ms."""
        self._exposure_ms = float(exposure)

    def snap(self, buffer: np.ndarray) -> Mapping[str, Any]:
        """Expose one frame into ``buffer`` and return its metadata."""
        start = time.perf_counter()
        buffer[:] = self.sample.render(self.stage.absolute_um(), self._exposure_ms)
        if self.sample.options.realtime:
            # Frames are back to back in a sequence; a lone snap takes one exposure.
            ready = max(start, self._next_ready) + self._exposure_ms / 1e3
            delay = ready - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self._next_ready = max(ready, time.perf_counter())
        self._count += 1
        return {"SimulatedFrame": str(self._count - 1)}
