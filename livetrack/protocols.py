"""The extension points of livetrack, as ``typing.Protocol`` classes.

Each is defined here once and re-exported where it is used (``livetrack.localize.Localizer``,
``livetrack.infer.Backend``, ...). Anything with the methods below fits; no base class to
inherit. Each has a test double shipped in the library, so tests of the code around it need
neither a network nor a camera:

- :class:`Localizer`: ``CNNLocalizer``, ``AutoLocalizer``, ``CentroidLocalizer``, ...;
  double ``livetrack.localize.TruthLocalizer`` (replays simulated ground truth).
- :class:`Linker`: ``livetrack.link.Linker``; double ``livetrack.link.FreshIdLinker``.
- :class:`Recorder`: ``livetrack.record.TrackWriter``; double
  ``livetrack.record.MemoryRecorder``.
- :class:`InferenceBackend`: ``OnnxRuntimeBackend``, ``TorchBackend``; double
  ``livetrack.infer.NullBackend`` (maps without particles, no network).
- :class:`FrameSource`: a ``(T, H, W)`` array, what ``read_stack`` reads, an acquisition's
  frames; double ``livetrack.pipeline.ReplaySource``.

This module imports only the standard library at run time: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["FrameSource", "InferenceBackend", "Linker", "Localizer", "Recorder"]


@runtime_checkable
class Localizer(Protocol):
    """Anything that turns one frame into a table of particle positions.

    ``locate`` returns a DataFrame with at least the columns ``frame, x, y, mass`` (x is
    the column and y the row in pixels; the centre of pixel (0, 0) is (0, 0)).

    Optional hooks, used where present:

    - ``prepare()``: one-time work (loading, warm-up, calibration); the live
      :class:`~livetrack.pipeline.Tracker` calls it when it is built, before any frame.
    - ``locate_stack(frames, first_frame=0, temporal_window=1)``: a whole ``(T, H, W)``
      movie at once (what a localizer that uses neighbouring frames needs).
    - ``frames_ahead``: later frames each detection waits for; above 0 the localizer
      cannot track live.
    """

    def locate(self, image: np.ndarray, frame: int = 0) -> pd.DataFrame:
        """Locate the particles in one 2-D frame."""
        ...


@runtime_checkable
class Linker(Protocol):
    """An online linker: gives each frame's detections their track ids, frame by frame."""

    def step(self, frame: int, positions: pd.DataFrame) -> pd.DataFrame:
        """Return ``positions`` (same rows and order) with an int ``particle`` column.

        ``frame`` increases from call to call; gaps are allowed.
        """
        ...


@runtime_checkable
class Recorder(Protocol):
    """Storage that each frame's tracks are appended to."""

    def write(self, df: pd.DataFrame) -> None:
        """Append (and flush) one frame's rows."""
        ...

    def close(self) -> None:
        """Flush and release the storage; no write follows."""
        ...


@runtime_checkable
class InferenceBackend(Protocol):
    """An inference engine for one loaded model.

    ``run`` maps a normalized, soft-clipped, zero-padded float32 batch ``(B, 1, H, W)`` to
    the network's raw float32 maps ``(B, 5, ceil(H / stride), ceil(W / stride))`` as numpy.
    Normalization and decoding happen outside, in numpy, so every backend sees and returns
    the same arrays. ``run`` may be called from several threads at once.
    """

    name: str

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Map a float32 ``(B, 1, H, W)`` batch to float32 ``(B, 5, h, w)`` maps."""
        ...


@runtime_checkable
class FrameSource(Protocol):
    """Where frames come from: iterating yields 2-D frames in acquisition order.

    A ``(T, H, W)`` numpy array is one (iterating it yields its frames); so is a list of
    frames or a generator reading them from a camera. :meth:`Tracker.run
    <livetrack.pipeline.Tracker.run>` tracks one.
    """

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield the frames, each a 2-D array (rows, columns)."""
        ...
