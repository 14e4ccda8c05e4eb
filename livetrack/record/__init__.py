"""Recording tracks beside the acquisition's data, safe against crashes.

:class:`TrackWriter` appends and flushes every frame to a CSV file with a
commented header; :func:`read_tracks` reads it back as a DataFrame, also after
the writer was killed mid-frame.
"""

from livetrack.record._doubles import MemoryRecorder
from livetrack.record._reader import find_tracks, read_tracks
from livetrack.record._writer import COLUMNS, TRACKS_FILENAME, TrackWriter, data_stem, tracks_path

__all__ = [
    "COLUMNS",
    "TRACKS_FILENAME",
    "MemoryRecorder",
    "TrackWriter",
    "data_stem",
    "find_tracks",
    "read_tracks",
    "tracks_path",
]
