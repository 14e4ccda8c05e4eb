"""The live viewer: camera frames with positions, tails and feedback, drawn as they are tracked.

:class:`LiveViewer` is a ``QWidget`` (pyqtgraph on PyQt6) that shows a
:class:`~livetrack.pipeline.Tracker`'s frames with the tracked positions, trajectory
tails coloured by track, optional uncertainty ellipses, a status bar and a live MSD and
track-length panel; a click sets the ``Recenter`` target and a dragged rectangle arms a
``RegionTrigger``. :class:`ReplayViewer` shows a recorded movie with its tracks file.

The tracker's worker never touches the widgets: results reach the GUI thread through
:class:`ResultRelay`, a callback that raises a Qt signal.

Qt is imported when one of the widgets is first used (the ``viewer`` extra); the
numpy parts (:class:`TailBuffer`, :func:`msd`, :func:`fit_diffusion`) and
:func:`display_available` need no Qt.
"""

from __future__ import annotations

import importlib
from typing import Any

from livetrack.viewer._app import display_available, viewer_unavailable
from livetrack.viewer._tails import (
    PALETTE,
    DiffusionFit,
    TailBuffer,
    Tails,
    TrackLengths,
    fit_diffusion,
    msd,
)

__all__ = [
    "PALETTE",
    "AnalysisPanel",
    "DiffusionFit",
    "ImageCanvas",
    "LiveViewer",
    "ReplayViewer",
    "ResultRelay",
    "TailBuffer",
    "Tails",
    "TrackLengths",
    "TrackOverlay",
    "ViewerOptions",
    "describe_localizer",
    "display_available",
    "dispose",
    "ensure_app",
    "fit_diffusion",
    "msd",
    "save_widget_png",
    "viewer_unavailable",
]

#: Names that import Qt, and the private module each lives in.
_QT_NAMES = {
    "AnalysisPanel": "_panel",
    "ImageCanvas": "_canvas",
    "LiveViewer": "_viewer",
    "ReplayViewer": "_replay",
    "ResultRelay": "_relay",
    "TrackOverlay": "_canvas",
    "ViewerOptions": "_viewer",
    "describe_localizer": "_viewer",
    "dispose": "_app",
    "ensure_app": "_app",
    "save_widget_png": "_app",
}


def __getattr__(name: str) -> Any:
    module = _QT_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'livetrack.viewer' has no attribute {name!r}")
    from livetrack._extras import needs_extra

    with needs_extra("the live viewer (livetrack.viewer)"):
        value = getattr(importlib.import_module(f"livetrack.viewer.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
