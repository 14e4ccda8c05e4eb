"""Live tracking: a frame goes in, positions with particle ids come out.

:class:`Tracker` composes a localizer, an online linker, a recorder and
callbacks. ``Tracker.step`` is the synchronous core; ``start`` / ``submit`` /
``stop`` run it on a worker thread behind a bounded queue so acquisition hooks
never wait for tracking.
"""

from livetrack.pipeline._default import default_localizer, default_tracker, localizer_name
from livetrack.pipeline._result import FrameResult, TrackerStats
from livetrack.pipeline._source import ReplaySource
from livetrack.pipeline._tracker import Callback, DropPolicy, Tracker, TrackerOptions

__all__ = [
    "Callback",
    "DropPolicy",
    "FrameResult",
    "ReplaySource",
    "Tracker",
    "TrackerOptions",
    "TrackerStats",
    "default_localizer",
    "default_tracker",
    "localizer_name",
]
