"""Acquisition hooks: hand each frame to a :class:`~livetrack.pipeline.Tracker` and return.

Three ways frames reach the tracker, one pipeline behind them:

- :class:`MDATracker`: a pymmcore-plus MDA handler (``frameReady`` fires on the
  runner thread, so it only enqueues);
- :class:`PycromanagerTracker`: an ``image_process_fn`` for
  ``pycromanager.Acquisition`` (Java or Python backend);
- :func:`run_continuous`: a direct continuous sequence acquisition draining the
  core's circular buffer, for the highest camera rates.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livetrack._errors import InputError
from livetrack.pipeline import Tracker, TrackerStats, localizer_name
from livetrack.record import data_stem

__all__ = [
    "ContinuousRun",
    "MDATracker",
    "PycromanagerTracker",
    "run_continuous",
    "tracks_path_beside",
]

log = logging.getLogger("livetrack.acquire")


def tracks_path_beside(data_path: str | Path) -> Path:
    """Return where the tracks of an acquisition saved at ``data_path`` are recorded.

    ``/data/run1.ome.zarr`` -> ``/data/run1.tracks.csv`` (same for OME-TIFF), so
    ``livetrack.record.read_tracks(data_path)`` finds them.
    """
    p = Path(data_path)
    return p.with_name(f"{data_stem(p.name)}.tracks.csv")


def _open_writer(path: Path, tracker: Tracker, header: Mapping[str, Any] | None) -> Any:
    from livetrack.record import TrackWriter

    full: dict[str, Any] = {"model": localizer_name(tracker.localizer)}
    if tracker.options.pixel_size_um is not None:
        full["pixel_size_um"] = tracker.options.pixel_size_um
    full.update(header or {})
    return TrackWriter(path, full)


def _elapsed_s(metadata: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = metadata.get(key)
        if value is None:
            continue
        try:
            return float(value) / 1e3
        except (TypeError, ValueError):
            continue
    return None


class MDATracker:
    """Track every frame of a pymmcore-plus MDA while it runs.

    Pass it with the writer's path as the MDA output (or :meth:`connect` it)::

        hook = MDATracker(default_tracker(), tracks_path=tracks_path_beside("run.ome.zarr"))
        core.mda.run(sequence, output=["run.ome.zarr", hook])
        print(hook.final_stats.line())

    The tracks file is created at construction; ``sequenceStarted`` starts the
    tracker's worker; ``frameReady`` only enqueues; ``sequenceFinished`` drains
    the queue and closes the file (set ``stop_on_finish=False`` to keep the
    tracker running across sequences and call :meth:`stop` yourself).

    Parameters
    ----------
    tracker
        The pipeline; a recorder is added when ``tracks_path`` is given.
    tracks_path
        Where to record tracks (see :func:`tracks_path_beside`); None records nothing.
    header
        Extra header entries for the tracks file.
    stop_on_finish
        Stop the tracker when the sequence finishes.
    """

    def __init__(
        self,
        tracker: Tracker,
        *,
        tracks_path: str | Path | None = None,
        header: Mapping[str, Any] | None = None,
        stop_on_finish: bool = True,
    ) -> None:
        self.tracker = tracker
        self.tracks_path = Path(tracks_path) if tracks_path is not None else None
        self.stop_on_finish = stop_on_finish
        self.final_stats: TrackerStats | None = None
        # Opened here, on the caller's thread: a bad path fails where the user
        # sees it, not inside a signal handler on pymmcore-plus's relay thread.
        if self.tracks_path is not None and tracker.recorder is None:
            tracker.recorder = _open_writer(self.tracks_path, tracker, header)

    def connect(self, core: Any) -> MDATracker:
        """Connect to ``core.mda.events`` (alternative to passing it as MDA output)."""
        ev = core.mda.events
        ev.sequenceStarted.connect(self.sequenceStarted)
        ev.frameReady.connect(self.frameReady)
        ev.sequenceFinished.connect(self.sequenceFinished)
        return self

    def disconnect(self, core: Any) -> None:
        """Undo :meth:`connect`."""
        ev = core.mda.events
        ev.sequenceStarted.disconnect(self.sequenceStarted)
        ev.frameReady.disconnect(self.frameReady)
        ev.sequenceFinished.disconnect(self.sequenceFinished)

    def sequenceStarted(self, sequence: Any, meta: Any = None) -> None:
        """Start the tracking worker (MDA signal handler)."""
        if not self.tracker.running:
            self.tracker.start()

    def frameReady(self, image: np.ndarray, event: Any, meta: Any = None) -> None:
        """Enqueue one frame and return at once (MDA signal handler)."""
        meta = meta or {}
        ts = _elapsed_s(meta, "runner_time_ms")
        if ts is None:
            ts = _elapsed_s(meta.get("camera_metadata") or {}, "ElapsedTime-ms")
        index = getattr(event, "index", {})
        self.tracker.submit(image, ts, {"event_index": dict(index), "meta": meta})

    def sequenceFinished(self, sequence: Any = None) -> None:
        """Drain the queue and close the tracks file (MDA signal handler)."""
        if self.stop_on_finish:
            self.stop()

    def stop(self) -> TrackerStats:
        """Stop the tracker (drains the queue) and return its statistics."""
        self.final_stats = _finish(self.tracker)
        return self.final_stats


def _finish(tracker: Tracker) -> TrackerStats:
    """Drain and stop a running tracker, or just close an idle one; return its statistics."""
    if tracker.running:
        return tracker.stop()
    tracker.close()
    return tracker.stats()


_DATASET_DIR = re.compile(r"^(?P<name>.+)_(?P<n>\d+)$")


class PycromanagerTracker:
    """An ``image_process_fn`` for ``pycromanager.Acquisition`` that tracks live.

    Each image is handed to the tracker's queue and passed through unchanged
    (so pycromanager still saves it); tracks are recorded as ``tracks.csv``
    inside the acquisition's dataset folder. Works with the Java backend
    (a running Micro-Manager) and the Python backend.

    Parameters
    ----------
    tracker
        The pipeline; a recorder is added when the dataset folder is known.
    directory, name
        The ``directory`` and ``name`` given to ``Acquisition``: the dataset
        folder is the newest ``<directory>/<name>_<n>``. None records nothing
        (unless :meth:`attach` finds the folder).
    header
        Extra header entries for the tracks file.

    Examples
    --------
    >>> from pycromanager import Acquisition, multi_d_acquisition_events  # doctest: +SKIP
    >>> from livetrack.acquire import PycromanagerTracker  # doctest: +SKIP
    >>> from livetrack.pipeline import default_tracker  # doctest: +SKIP
    >>> hook = PycromanagerTracker(default_tracker(), directory=d, name="run")  # doctest: +SKIP
    >>> with hook, Acquisition(d, "run", image_process_fn=hook) as acq:  # doctest: +SKIP
    ...     acq.acquire(multi_d_acquisition_events(num_time_points=100))
    """

    def __init__(
        self,
        tracker: Tracker,
        *,
        directory: str | Path | None = None,
        name: str | None = None,
        header: Mapping[str, Any] | None = None,
    ) -> None:
        self.tracker = tracker
        self.directory = Path(directory) if directory is not None else None
        self.name = name
        self.header = dict(header or {})
        self.dataset_path: Path | None = None
        self.final_stats: TrackerStats | None = None
        self._first = True
        self._lock = threading.Lock()

    def attach(self, acquisition: Any) -> PycromanagerTracker:
        """Take the dataset folder from a created ``Acquisition`` (optional)."""
        dataset = acquisition.get_dataset()
        path = getattr(dataset, "path", None)
        if path:
            self.dataset_path = Path(path)
        return self

    def __call__(self, image: np.ndarray, metadata: dict) -> tuple[np.ndarray, dict]:
        """Enqueue the image for tracking and pass it through unchanged."""
        with self._lock:
            if self._first:
                self._first = False
                self._begin()
        ts = _elapsed_s(metadata, "ElapsedTime-ms", "ElapsedTime_ms")
        self.tracker.submit(image, ts, {"axes": metadata.get("Axes", {})})
        return image, metadata

    def _begin(self) -> None:
        if self.dataset_path is None and self.directory is not None and self.name:
            self.dataset_path = _newest_dataset(self.directory, self.name)
        if self.dataset_path is not None and self.tracker.recorder is None:
            self.tracker.recorder = _open_writer(self.dataset_path, self.tracker, self.header)
        if not self.tracker.running:
            self.tracker.start()

    def finish(self) -> TrackerStats:
        """Drain the queue, close the tracks file and return the statistics."""
        self.final_stats = _finish(self.tracker)
        return self.final_stats

    def __enter__(self) -> PycromanagerTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


def _newest_dataset(directory: Path, name: str) -> Path | None:
    best: tuple[int, Path] | None = None
    if not directory.is_dir():
        return None
    for sub in directory.iterdir():
        m = _DATASET_DIR.match(sub.name)
        if sub.is_dir() and m and m["name"] == name:
            n = int(m["n"])
            if best is None or n > best[0]:
                best = (n, sub)
    return best[1] if best else None


@dataclass(frozen=True)
class ContinuousRun:
    """Outcome of :func:`run_continuous`.

    Attributes
    ----------
    stats
        The tracker's final statistics.
    frames
        Frames taken from the camera.
    lost_in_buffer
        Frames the camera produced but the core's circular buffer overwrote
        before they were read (gaps in the image numbers).
    duration_s
        Wall-clock time of the acquisition.
    """

    stats: TrackerStats
    frames: int
    lost_in_buffer: int
    duration_s: float


def run_continuous(
    core: Any,
    tracker: Tracker,
    *,
    n_frames: int | None = None,
    duration_s: float | None = None,
    interval_ms: float = 0.0,
    stop_event: threading.Event | None = None,
    poll_s: float = 0.0005,
    stop_tracker: bool = True,
) -> ContinuousRun:
    """Acquire continuously, feeding every frame to the tracker, until a limit is reached.

    Runs ``startContinuousSequenceAcquisition`` and drains the circular buffer
    with ``popNextImageMD`` on the calling thread; the tracker works on its own
    worker, so draining never waits for tracking.

    Parameters
    ----------
    core
        A started Micro-Manager core (``CMMCorePlus`` / ``UniMMCore``).
    tracker
        The pipeline; started here if not already running.
    n_frames, duration_s
        Stop after this many frames / seconds (at least one must be given,
        or ``stop_event``).
    interval_ms
        Interval passed to the core.
    stop_event
        Set it from another thread to stop.
    poll_s
        Sleep between polls of an empty buffer.
    stop_tracker
        Stop the tracker (drain, close recorder) at the end.
    """
    import pymmcore

    if n_frames is None and duration_s is None and stop_event is None:
        raise InputError("run_continuous needs n_frames, duration_s or stop_event")
    if n_frames is not None and n_frames < 1:
        raise InputError(f"n_frames must be >= 1, got {n_frames}")
    if not tracker.running:
        tracker.start()
    frames = lost = 0
    last_number: int | None = None
    core.startContinuousSequenceAcquisition(interval_ms)
    t0 = time.perf_counter()
    try:
        while True:
            if n_frames is not None and frames >= n_frames:
                break
            if duration_s is not None and time.perf_counter() - t0 >= duration_s:
                break
            if stop_event is not None and stop_event.is_set():
                break
            if core.getRemainingImageCount() == 0:
                time.sleep(poll_s)
                continue
            md = pymmcore.Metadata()
            image = core.popNextImageMD(md)
            tags = {k: md.GetSingleTag(k).GetValue() for k in md.GetKeys()}
            number = _int_or_none(tags.get("ImageNumber"))
            if number is not None and last_number is not None and number > last_number + 1:
                lost += number - last_number - 1
            last_number = number if number is not None else last_number
            tracker.submit(image, _elapsed_s(tags, "ElapsedTime-ms"), tags)
            frames += 1
    finally:
        core.stopSequenceAcquisition()
    duration = time.perf_counter() - t0
    stats = tracker.stop() if stop_tracker else tracker.stats()
    if lost:
        log.warning("%d frames were overwritten in the circular buffer before being read", lost)
    return ContinuousRun(stats=stats, frames=frames, lost_in_buffer=lost, duration_s=duration)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
