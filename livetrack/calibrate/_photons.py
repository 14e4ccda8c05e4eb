"""Any localizer, fed in photons through a camera calibration (offline or live)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack.calibrate._camera import CameraCalibration

__all__ = ["PhotonLocalizer"]


class PhotonLocalizer:
    """Wrap a localizer so that it sees every frame in photons.

    For the localizers that take no ``camera`` of their own (``auto``, a live
    :class:`~livetrack.pipeline.Tracker`'s default) and for the live hooks
    (``Tracker(PhotonLocalizer(loc, camera), ...)`` in :class:`livetrack.acquire.MDATracker`
    and the others). The first frame is checked against the calibration (frame size,
    pixel type, offset), so a calibration of another camera is refused in one line.

    Parameters
    ----------
    localizer : object
        Anything with ``locate(image, frame)``; ``locate_stack``, ``prepare`` and
        ``frames_ahead`` are passed through where it has them.
    camera : CameraCalibration
        The camera's calibration.
    check : bool
        Check the first frame against the calibration (False where the caller checked the
        camera already and may hand smaller test images first, as the demo does).
    """

    def __init__(self, localizer: Any, camera: CameraCalibration, check: bool = True) -> None:
        if not isinstance(camera, CameraCalibration):
            raise InputError(f"camera must be a CameraCalibration, got {type(camera).__name__}")
        self.localizer = localizer
        self.camera = camera
        self._checked = not check
        self.frames_ahead = int(getattr(localizer, "frames_ahead", 0))
        # The wrapped localizer's own model name, for headers and reports.
        self.spec = getattr(localizer, "spec", None)
        self.model = getattr(localizer, "model", None)

    def __repr__(self) -> str:
        return f"PhotonLocalizer({self.localizer!r})"

    def _photons(self, frames: np.ndarray) -> np.ndarray:
        if not self._checked:
            self.camera.check(frames)
            self._checked = True
        return self.camera.to_photons(frames)

    def prepare(self) -> None:
        """Prepare the wrapped localizer (where it has a ``prepare``)."""
        prepare = getattr(self.localizer, "prepare", None)
        if prepare is not None:
            prepare()

    def locate(self, image: np.ndarray, frame: int = 0) -> pd.DataFrame:
        """Locate one frame given in ADU; ``mass`` comes out in photons."""
        return self.localizer.locate(self._photons(np.asarray(image)), frame)

    def locate_stack(
        self, frames: np.ndarray, first_frame: int = 0, temporal_window: int = 1
    ) -> pd.DataFrame:
        """Locate a ``(T, H, W)`` stack given in ADU."""
        photons = self._photons(np.asarray(frames))
        stack = getattr(self.localizer, "locate_stack", None)
        if stack is not None:
            return stack(photons, first_frame=first_frame, temporal_window=temporal_window)
        parts = [self.localizer.locate(f, first_frame + i) for i, f in enumerate(photons)]
        return pd.concat(parts, ignore_index=True)
