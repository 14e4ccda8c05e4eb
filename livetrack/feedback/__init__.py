"""Feedback: callbacks that act on the microscope from each frame's tracking result.

:class:`Recenter` keeps a particle centred by moving the XY stage through a
:class:`StageTransform` (given, read from the core, or measured with
:func:`calibrate_stage`); :class:`RegionTrigger` calls an action when a
particle enters or leaves a region. Both are plain callables for
``Tracker(callbacks=[...])``; a failing one is reported by the tracker and
tracking goes on.
"""

from livetrack.feedback._actions import (
    EXPOSURE_STAGE_TAGS,
    Recenter,
    RegionEvent,
    RegionTrigger,
    exposure_stage_um,
    pycromanager_burst,
)
from livetrack.feedback._transform import StageTransform, calibrate_stage, image_shift

__all__ = [
    "EXPOSURE_STAGE_TAGS",
    "Recenter",
    "RegionEvent",
    "RegionTrigger",
    "StageTransform",
    "calibrate_stage",
    "exposure_stage_um",
    "image_shift",
    "pycromanager_burst",
]
