"""The live tracking pipeline: localize, link, record and call back, one frame at a time.

:meth:`Tracker.step` is the synchronous core. :meth:`Tracker.start` /
:meth:`Tracker.submit` / :meth:`Tracker.stop` wrap it in one worker thread fed by
a bounded queue, so an acquisition hook only enqueues a frame and returns: the
camera is never blocked by tracking.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from livetrack._errors import InputError
from livetrack.pipeline._result import FrameResult, TrackerStats
from livetrack.protocols import Linker, Localizer, Recorder

__all__ = ["Callback", "DropPolicy", "Tracker", "TrackerOptions"]

log = logging.getLogger("livetrack.pipeline")

DropPolicy = Literal["never", "oldest", "newest"]
_DROP_POLICIES = ("never", "oldest", "newest")


Callback = Callable[[FrameResult], Any]


@dataclass(frozen=True)
class TrackerOptions:
    """How the live tracker queues frames and reports.

    Attributes
    ----------
    drop_policy
        ``"never"`` (default): every frame is tracked; the queue grows as the
        backlog grows, up to ``max_backlog_frames``. ``"oldest"``: when the
        queue is full the oldest waiting frame is discarded (live view: always
        track the newest). ``"newest"``: when full, the incoming frame is
        discarded.
    max_backlog_frames
        Queue capacity in frames. Under ``"never"`` this is only a memory
        safeguard: reaching it drops the incoming frame, counts it and logs an
        error rather than blocking the camera or exhausting memory.
    pixel_size_um
        If set, ``x_um`` and ``y_um`` columns are added (camera axes, scaled).
    min_mass
        If set, detections whose ``mass`` (integrated brightness, in the
        localizer's units) is below it are discarded before linking, as
        trackpy's ``minmass``: faint false detections in the noise otherwise
        start one-frame tracks. None keeps every detection.
    slow_callback_ms
        A callback call longer than this is counted and logged as slow.
    stats_window
        Number of recent frames the fps and latency statistics cover (memory
        stays flat however long the run).
    copy_frames
        Copy frames on :meth:`Tracker.submit` (needed when the source reuses
        its buffer after the hook returns).
    """

    drop_policy: DropPolicy = "never"
    max_backlog_frames: int = 4096
    pixel_size_um: float | None = None
    min_mass: float | None = None
    slow_callback_ms: float = 50.0
    stats_window: int = 2000
    copy_frames: bool = False

    def __post_init__(self) -> None:
        if self.drop_policy not in _DROP_POLICIES:
            raise InputError(
                f"drop_policy must be one of {', '.join(_DROP_POLICIES)}, got {self.drop_policy!r}"
            )
        if self.max_backlog_frames < 1:
            raise InputError(f"max_backlog_frames must be >= 1, got {self.max_backlog_frames}")
        if self.pixel_size_um is not None and not self.pixel_size_um > 0:
            raise InputError(f"pixel_size_um must be > 0, got {self.pixel_size_um}")
        m = self.min_mass
        if m is not None and not (isinstance(m, int | float | np.number) and np.isfinite(m)):
            raise InputError(f"min_mass must be a finite number or None, got {self.min_mass}")
        if self.stats_window < 2:
            raise InputError(f"stats_window must be >= 2, got {self.stats_window}")


@dataclass
class _Item:
    image: np.ndarray
    index: int
    timestamp: float
    metadata: Mapping[str, Any]
    received: float  # perf_counter() when handed over


_STOP = object()


class _Counters:
    """Mutable counters and rolling windows, guarded by the tracker's lock."""

    def __init__(self, window: int) -> None:
        self.submitted = 0
        self.processed = 0
        self.dropped = 0
        self.failed = 0
        self.max_backlog = 0
        self.callback_errors = 0
        self.slow_callbacks = 0
        self.recorder_errors = 0
        self.latencies = np.full(window, np.nan)
        self.done_times: deque[float] = deque(maxlen=window)


class Tracker:
    """Track particles frame by frame: localize, link, record, call back.

    Parameters
    ----------
    localizer
        Any object with ``locate(image, frame=0) -> DataFrame`` (the
        ``Localizer`` protocol of :mod:`livetrack.localize`), e.g. the CNN
        ``livetrack.infer.CNNLocalizer`` or ``CentroidLocalizer``. If it has a
        ``prepare()`` method, it is called here, before any frame arrives.
    linker
        Online linker with ``step(frame, positions) -> positions + particle``
        (``livetrack.link.Linker``); None leaves positions unlinked.
    recorder
        Storage with ``write(df)`` and ``close()`` (``livetrack.record.TrackWriter``);
        the tracker closes it in :meth:`stop` / :meth:`close`.
    callbacks
        Called with each :class:`FrameResult` on the worker, in order. One that
        raises or runs slow is counted and logged; tracking goes on.
    options
        Queueing and reporting options, see :class:`TrackerOptions`.

    Examples
    --------
    >>> tracker = Tracker(CentroidLocalizer(), Linker(search_range_px=5))  # doctest: +SKIP
    >>> tracker.start()  # doctest: +SKIP
    >>> tracker.submit(image, timestamp=0.0)  # from the camera hook  # doctest: +SKIP
    >>> stats = tracker.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        localizer: Localizer,
        linker: Linker | None = None,
        recorder: Recorder | None = None,
        callbacks: Sequence[Callback] = (),
        options: TrackerOptions | None = None,
    ) -> None:
        if not callable(getattr(localizer, "locate", None)):
            raise InputError(
                f"localizer must have a locate(image, frame) method, got {localizer!r}"
            )
        if getattr(localizer, "frames_ahead", 0) > 0:
            # Fusing the next frames' evidence would hold every result back half a window.
            raise InputError(
                f"{localizer!r} fuses the frames on both sides of each one, so it locates "
                "recorded movies only; live tracking needs a single-frame model such as "
                "'spots' or a causal one such as 'spots-c5'"
            )
        for cb in callbacks:
            if not callable(cb):
                raise InputError(f"callbacks must be callable, got {cb!r}")
        prepare = getattr(localizer, "prepare", None)
        if callable(prepare):
            # One-time calibration and warm-up now, not while the first frames queue up.
            prepare()
        self.localizer = localizer
        self.linker = linker
        self.recorder = recorder
        self.callbacks: list[Callback] = list(callbacks)
        self.options = options or TrackerOptions()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._queue: deque[Any] = deque()
        self._counters = _Counters(self.options.stats_window)
        self._next_index = 0
        self._t0: float | None = None
        self._worker: threading.Thread | None = None
        self._closed = False
        self._last_result: FrameResult | None = None

    # -- synchronous core -------------------------------------------------

    def step(
        self,
        frame: np.ndarray,
        timestamp: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        index: int | None = None,
    ) -> FrameResult:
        """Track one frame now, on the calling thread.

        Parameters
        ----------
        frame
            A 2-D image (rows, columns).
        timestamp
            Acquisition time in seconds; defaults to the time since the first frame.
        metadata
            Anything the source knows about the frame; passed through.
        index
            Frame index; defaults to one more than the previous frame's.

        Returns
        -------
        FrameResult
            Positions (with ``particle`` ids when a linker is set), timing, metadata.
        """
        if self._worker is not None:
            raise RuntimeError("the tracker is running on its worker; use submit() instead")
        item = self._make_item(frame, timestamp, metadata, index, copy=False)
        with self._lock:
            self._counters.submitted += 1
        result = self._process(item)
        if result is None:
            raise RuntimeError(f"frame {item.index} could not be tracked (see the log)")
        return result

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[FrameResult]:
        """Track an iterable of frames synchronously, yielding one result per frame."""
        for image in frames:
            yield self.step(image)

    # -- threaded live mode -----------------------------------------------

    def start(self) -> Tracker:
        """Start the worker thread; then feed frames with :meth:`submit`."""
        if self._closed:
            raise RuntimeError("this tracker was stopped; create a new one")
        if self._worker is not None:
            raise RuntimeError("the tracker is already running")
        self._worker = threading.Thread(target=self._work, name="livetrack-worker", daemon=True)
        self._worker.start()
        return self

    def submit(
        self,
        frame: np.ndarray,
        timestamp: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        index: int | None = None,
    ) -> bool:
        """Hand one frame to the worker and return at once (never blocks on tracking).

        Parameters
        ----------
        frame, timestamp, metadata, index
            As for :meth:`step`.

        Returns
        -------
        bool
            False if this frame was discarded (drop policy, or the queue was full).
        """
        if self._worker is None:
            raise RuntimeError("call start() before submit()")
        item = self._make_item(frame, timestamp, metadata, index, copy=self.options.copy_frames)
        opts = self.options
        overflow = False
        with self._lock:
            c = self._counters
            c.submitted += 1
            accepted = True
            if len(self._queue) >= opts.max_backlog_frames:
                if opts.drop_policy == "oldest":
                    self._queue.popleft()
                else:
                    accepted = False
                    overflow = opts.drop_policy == "never"
                c.dropped += 1
            if accepted:
                self._queue.append(item)
                self._not_empty.notify()
            c.max_backlog = max(c.max_backlog, len(self._queue))
        if overflow:
            log.error(
                "tracking backlog reached %d frames: frame %d dropped (raise "
                "max_backlog_frames or choose a drop_policy)",
                opts.max_backlog_frames,
                item.index,
            )
        return accepted

    @property
    def running(self) -> bool:
        """Whether the worker thread is running."""
        return self._worker is not None and self._worker.is_alive()

    def stop(self, *, drain: bool = True, timeout: float | None = None) -> TrackerStats:
        """Stop the worker, close the recorder and return the final statistics.

        Parameters
        ----------
        drain
            Track every frame still queued before stopping (default). If False,
            queued frames are discarded and counted as dropped.
        timeout
            Seconds to wait for the worker; None waits as long as it takes.
        """
        worker = self._worker
        if worker is not None:
            with self._lock:
                if not drain:
                    self._counters.dropped += len(self._queue)
                    self._queue.clear()
                self._queue.append(_STOP)
                self._not_empty.notify()
            worker.join(timeout)
            if worker.is_alive():
                log.error("tracking worker did not finish within %s s", timeout)
            else:
                self._worker = None
        self.close()
        return self.stats()

    def close(self) -> None:
        """Close the recorder (idempotent); the tracker can no longer be started."""
        if self._closed:
            return
        self._closed = True
        if self.recorder is not None:
            try:
                self.recorder.close()
            except Exception:
                log.exception("closing the track recorder failed")

    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- statistics ---------------------------------------------------------

    @property
    def last_result(self) -> FrameResult | None:
        """The most recent frame's result (None before the first)."""
        return self._last_result

    def stats(self) -> TrackerStats:
        """Return a snapshot of the counters, backlog, fps and latency."""
        with self._lock:
            c = self._counters
            lat = c.latencies[np.isfinite(c.latencies)]
            done = list(c.done_times)
            backlog = sum(1 for it in self._queue if it is not _STOP)
            snapshot = (c.submitted, c.processed, c.dropped, c.failed, c.max_backlog)
            cb = (c.callback_errors, c.slow_callbacks, c.recorder_errors)
        fps = (
            (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else 0.0
        )
        med, p99 = (np.percentile(lat, [50, 99]) * 1e3) if lat.size else (np.nan, np.nan)
        return TrackerStats(
            submitted=snapshot[0],
            processed=snapshot[1],
            dropped=snapshot[2],
            failed=snapshot[3],
            backlog=backlog,
            max_backlog=snapshot[4],
            fps=float(fps),
            latency_median_ms=float(med),
            latency_p99_ms=float(p99),
            callback_errors=cb[0],
            slow_callbacks=cb[1],
            recorder_errors=cb[2],
        )

    # -- internals ------------------------------------------------------------

    def _make_item(
        self,
        frame: np.ndarray,
        timestamp: float | None,
        metadata: Mapping[str, Any] | None,
        index: int | None,
        *,
        copy: bool,
    ) -> _Item:
        received = time.perf_counter()
        image = np.asarray(frame)
        if image.ndim != 2:
            raise InputError(f"expected a 2-D frame (rows, columns), got shape {image.shape}")
        with self._lock:
            if self._t0 is None:
                self._t0 = received
            if index is None:
                index = self._next_index
            self._next_index = index + 1
        if timestamp is None:
            timestamp = received - self._t0
        return _Item(
            image=image.copy() if copy else image,
            index=int(index),
            timestamp=float(timestamp),
            metadata=metadata if metadata is not None else {},
            received=received,
        )

    def _work(self) -> None:
        while True:
            with self._not_empty:
                while not self._queue:
                    self._not_empty.wait()
                item = self._queue.popleft()
            if item is _STOP:
                return
            try:
                self._process(item)
            except Exception:  # the worker must outlive any one bad frame
                log.exception("tracking frame %d failed", item.index)
                with self._lock:
                    self._counters.failed += 1

    def _process(self, item: _Item) -> FrameResult | None:
        t_start = time.perf_counter()
        try:
            df = self.localizer.locate(item.image, frame=item.index)
            df = df.assign(frame=item.index)
            if self.options.min_mass is not None and "mass" in df.columns:
                df = df[df["mass"] >= self.options.min_mass].reset_index(drop=True)
            if self.linker is not None:
                df = self.linker.step(item.index, df)
        except Exception:
            log.exception("tracking frame %d failed", item.index)
            with self._lock:
                self._counters.failed += 1
            return None
        t_ready = time.perf_counter()
        df["t"] = item.timestamp
        if self.options.pixel_size_um is not None:
            df["x_um"] = df["x"] * self.options.pixel_size_um
            df["y_um"] = df["y"] * self.options.pixel_size_um
        result = FrameResult(
            frame=item.index,
            timestamp=item.timestamp,
            positions=df,
            latency_s=t_ready - item.received,
            compute_s=t_ready - t_start,
            metadata=item.metadata,
            received_s=item.received,
            image=item.image,
        )
        self._record(result)
        self._call_back(result)
        self._last_result = result
        with self._lock:
            c = self._counters
            c.latencies[c.processed % c.latencies.size] = result.latency_s
            c.processed += 1
            c.done_times.append(time.perf_counter())
        return result

    def _record(self, result: FrameResult) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.write(result.positions)
        except Exception:
            with self._lock:
                self._counters.recorder_errors += 1
                first = self._counters.recorder_errors <= 3
            if first:
                log.exception("recording frame %d failed", result.frame)

    def _call_back(self, result: FrameResult) -> None:
        slow_s = self.options.slow_callback_ms / 1e3
        for cb in self.callbacks:
            t0 = time.perf_counter()
            try:
                cb(result)
            except Exception:
                with self._lock:
                    self._counters.callback_errors += 1
                    n = self._counters.callback_errors
                # A callback failing every frame must not flood the log.
                if n <= 3 or n % 1000 == 0:
                    log.exception("callback %r failed on frame %d (%d errors)", cb, result.frame, n)
            dt = time.perf_counter() - t0
            if dt > slow_s:
                with self._lock:
                    self._counters.slow_callbacks += 1
                    n = self._counters.slow_callbacks
                if n <= 3 or n % 1000 == 0:
                    log.warning(
                        "callback %r took %.1f ms on frame %d (%d slow calls)",
                        cb,
                        dt * 1e3,
                        result.frame,
                        n,
                    )
