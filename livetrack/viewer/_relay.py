"""From the tracker's worker thread to the GUI thread: a callback that raises a Qt signal.

The worker must never wait for the GUI, and the GUI must not queue up one event per
camera frame when it draws slower than the camera. :class:`ResultRelay` therefore only
keeps references (the latest result, the positions of the frames the GUI has not taken
yet) under a lock and emits ``updated`` once until the GUI takes them; the GUI then
draws the newest frame and skips the ones in between, while every frame's positions
still reach the tails and statistics.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import pandas as pd
from PyQt6.QtCore import QObject, pyqtSignal

from livetrack.pipeline import FrameResult

__all__ = ["ResultRelay"]


class ResultRelay(QObject):
    """A :class:`~livetrack.pipeline.Tracker` callback that hands results to the GUI thread.

    Create it on the GUI thread and add it to the tracker's callbacks; connect
    ``updated`` to a slot that calls :meth:`take`.

    Parameters
    ----------
    max_pending_frames : int
        Positions kept for frames the GUI has not taken yet; older ones are dropped
        from the display (never from tracking) when the GUI stalls for longer.
    parent : QObject, optional
        Qt parent.
    """

    #: Emitted (queued to the GUI thread) when results arrive and the GUI has taken the
    #: previous ones; never more than once per :meth:`take`.
    updated = pyqtSignal()

    def __init__(self, max_pending_frames: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: deque[tuple[int, float, pd.DataFrame]] = deque(maxlen=max_pending_frames)
        self._latest: FrameResult | None = None
        self._notified = False
        self.received = 0

    def __call__(self, result: FrameResult) -> None:
        """Take one frame's result (runs on the tracker's worker; no copy, no Qt call but emit)."""
        with self._lock:
            self._pending.append((result.frame, result.timestamp, result.positions))
            self._latest = result
            self.received += 1
            notify = not self._notified
            self._notified = True
        if notify:
            self.updated.emit()

    def take(self) -> tuple[FrameResult | None, list[tuple[int, float, pd.DataFrame]]]:
        """Return the newest result and every frame's positions since the last call (GUI thread).

        Returns
        -------
        latest : FrameResult or None
            The newest result (its ``image`` is the frame to show).
        frames : list of (frame, timestamp, positions)
            Every frame received since the previous call, oldest first.
        """
        with self._lock:
            frames = list(self._pending)
            self._pending.clear()
            latest = self._latest
            self._notified = False
        return latest, frames

    def peek(self) -> FrameResult | None:
        """Return the newest result without taking anything."""
        return self._latest

    def __repr__(self) -> str:
        return f"ResultRelay(received={self.received})"


def positions_arrays(df: pd.DataFrame) -> dict[str, Any]:
    """Return the columns the viewer draws as numpy arrays (x, y; particle, sigmas if present)."""
    out: dict[str, Any] = {
        "x": df["x"].to_numpy(dtype=float),
        "y": df["y"].to_numpy(dtype=float),
    }
    for col in ("particle", "sigma_x", "sigma_y"):
        if col in df.columns:
            out[col] = df[col].to_numpy(dtype=float if col != "particle" else "int64")
    return out
