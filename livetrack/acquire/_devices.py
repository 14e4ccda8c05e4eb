"""Python Micro-Manager device adapters (pymmcore-plus unicore) for the simulated microscope."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from pymmcore_plus.experimental.unicore import SimpleCameraDevice, XYStageDevice

from livetrack.acquire._sample import SimulatedSample

__all__ = ["EXPOSURE_STAGE_TAGS", "SimulatedCamera", "SimulatedXYStage"]

#: Camera metadata tags with the XY stage position (µm, as ``core.getXYPosition()``
#: reports it) the frame was exposed at. Feedback that moves the stage while the
#: next frame is already exposing needs them: the frame shows the sample at that
#: position, not at the one the stage has when the frame is tracked.
#: :class:`livetrack.feedback.Recenter` reads the same names.
EXPOSURE_STAGE_TAGS = ("ExposureStageX-um", "ExposureStageY-um")


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

    def absolute_and_user_um(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Return the absolute position and the one relative to the user origin, read together.

        One read of the position: a move from another thread cannot land
        between the two values.
        """
        xy, origin = self._xy, self._origin
        return xy, (xy[0] - origin[0], xy[1] - origin[1])

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

    The frame is rendered when its exposure starts, at the stage position of
    that moment; it is delivered an exposure (or more) later, so a stage move
    made in between is not in it. Each frame's metadata carries that position
    (:data:`EXPOSURE_STAGE_TAGS`).

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
        rows, cols = self.sample.options.shape
        return (int(rows), int(cols))

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
        # One read: the position rendered and the one reported are the same.
        absolute, user = self.stage.absolute_and_user_um()
        buffer[:] = self.sample.render(absolute, self._exposure_ms)
        if self.sample.options.realtime:
            # Frames are back to back in a sequence; a lone snap takes one exposure.
            ready = max(start, self._next_ready) + self._exposure_ms / 1e3
            delay = ready - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self._next_ready = max(ready, time.perf_counter())
        self._count += 1
        # repr: the shortest string that reads back as the same float.
        return {
            "SimulatedFrame": str(self._count - 1),
            EXPOSURE_STAGE_TAGS[0]: repr(user[0]),
            EXPOSURE_STAGE_TAGS[1]: repr(user[1]),
        }
