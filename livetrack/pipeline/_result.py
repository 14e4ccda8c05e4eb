"""What the pipeline hands to callbacks and callers: one frame's result and running statistics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FrameResult:
    """The tracked positions of one frame.

    Attributes
    ----------
    frame
        Frame index (acquisition order, starting at 0).
    timestamp
        Acquisition time of the frame in seconds, as given by the source
        (camera metadata, or the time the frame was handed over).
    positions
        One row per particle: trackpy columns ``frame, x, y, mass`` (+ the
        localizer's extra columns), ``particle`` when a linker is set, and
        ``t`` (= ``timestamp``).
    latency_s
        Seconds from the moment the frame was handed to the tracker to the
        moment its linked positions were ready (queueing included).
    compute_s
        Seconds spent localizing and linking this frame (queueing excluded).
    metadata
        The metadata the source handed over with the frame.
    received_s
        ``time.perf_counter()`` when the frame was handed to the tracker (lets
        feedback ignore frames taken before its last action).
    image
        The frame itself, the array the source handed over (not a copy; a copy
        only where ``TrackerOptions.copy_frames`` made one): a live display
        shows it without copying each frame again. Treat it as read-only.
        None where a result was made without one.
    """

    frame: int
    timestamp: float
    positions: pd.DataFrame
    latency_s: float
    compute_s: float
    metadata: Mapping[str, Any] = field(default_factory=dict)
    received_s: float = 0.0
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    def position_of(self, particle: int) -> tuple[float, float] | None:
        """Return ``(x, y)`` of one particle in this frame, or None if absent."""
        if "particle" not in self.positions.columns:
            return None
        rows = self.positions[self.positions["particle"] == particle]
        if rows.empty:
            return None
        return float(rows["x"].iloc[0]), float(rows["y"].iloc[0])


@dataclass(frozen=True)
class TrackerStats:
    """A snapshot of a tracker's counters.

    Attributes
    ----------
    submitted
        Frames handed to the tracker (accepted or dropped).
    processed
        Frames fully tracked.
    dropped
        Frames discarded by the drop policy or because the queue overflowed.
    failed
        Frames whose localization or linking raised (logged; tracking went on).
    backlog
        Frames waiting in the queue right now.
    max_backlog
        The largest backlog seen.
    fps
        Processed frames per second over the recent window.
    latency_median_ms, latency_p99_ms
        Median and 99th percentile of the recent per-frame latencies.
    callback_errors
        Exceptions raised by callbacks (each logged; tracking went on).
    slow_callbacks
        Callback calls that took longer than the tracker's ``slow_callback_ms``.
    recorder_errors
        Exceptions raised while recording (logged; tracking went on).
    """

    submitted: int
    processed: int
    dropped: int
    failed: int
    backlog: int
    max_backlog: int
    fps: float
    latency_median_ms: float
    latency_p99_ms: float
    callback_errors: int
    slow_callbacks: int
    recorder_errors: int

    def line(self) -> str:
        """Return a one-line human summary (for status lines and logs)."""
        return (
            f"frames {self.processed}/{self.submitted}  fps {self.fps:6.1f}  "
            f"backlog {self.backlog:4d} (max {self.max_backlog})  dropped {self.dropped}  "
            f"latency {self.latency_median_ms:6.1f} ms (p99 {self.latency_p99_ms:6.1f})"
        )
