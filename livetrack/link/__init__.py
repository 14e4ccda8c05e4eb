"""Online linking of per-frame detections into trajectories.

Three layers, as in trackpy: the stateful :class:`Linker` (one ``step`` per
frame, used live), the generator :func:`link_iter`, and the DataFrame
convenience :func:`link`. Motion models plug in as :class:`Predictor` objects.
"""

from livetrack.link._confirm import TrackConfirmer, confirm_along_tracks, fill_gaps
from livetrack.link._doubles import FreshIdLinker
from livetrack.link._linker import Linker, LinkOptions, link, link_iter
from livetrack.link._predict import (
    ConstantVelocityPredictor,
    NearestVelocityPredictor,
    Predictor,
)

__all__ = [
    "ConstantVelocityPredictor",
    "FreshIdLinker",
    "LinkOptions",
    "Linker",
    "NearestVelocityPredictor",
    "Predictor",
    "TrackConfirmer",
    "confirm_along_tracks",
    "fill_gaps",
    "link",
    "link_iter",
]
