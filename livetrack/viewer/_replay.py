"""Replay a recorded movie with its tracks: a time slider and the live viewer's overlays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from livetrack._errors import InputError
from livetrack.viewer._app import save_widget_png
from livetrack.viewer._canvas import ImageCanvas
from livetrack.viewer._panel import AnalysisPanel
from livetrack.viewer._tails import TailBuffer

__all__ = ["ReplayViewer"]


class ReplayViewer(QWidget):
    """A recorded movie with its tracks: frame slider, play, markers, tails, MSD panel.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(frames, rows, columns)`` movie (``livetrack._stack.read_stack`` reads one).
    tracks : pandas.DataFrame
        Columns ``frame, x, y`` and ``particle`` for tails (``livetrack.read_tracks``);
        ``sigma_x, sigma_y`` for the uncertainty ellipses.
    tail_frames : int
        Frames a tail spans.
    pixel_size_um, frame_interval_s : float, optional
        Units of the MSD panel; default: the tracks header's ``pixel_size_um`` and the
        median step of the ``t`` column.
    play_fps : float
        Frames per second of the play button.
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(
        self,
        frames: np.ndarray,
        tracks: pd.DataFrame,
        *,
        tail_frames: int = 30,
        pixel_size_um: float | None = None,
        frame_interval_s: float | None = None,
        play_fps: float = 20.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        if frames.ndim != 3 or frames.shape[0] == 0:
            raise InputError(f"expected a (frames, rows, columns) movie, got shape {frames.shape}")
        for col in ("frame", "x", "y"):
            if col not in tracks.columns:
                raise InputError(f"the tracks have no {col!r} column")
        self.frames = frames
        self.tracks = tracks
        header = tracks.attrs.get("header", {}) if hasattr(tracks, "attrs") else {}
        if pixel_size_um is None:
            pixel_size_um = header.get("pixel_size_um")
        if frame_interval_s is None:
            frame_interval_s = _frame_interval(tracks)
        self._by_frame = _split_by_frame(tracks)
        self.tails = TailBuffer(tail_frames)
        self.frame: int = 0
        self.selected: int | None = None
        self._lengths = (
            tracks.dropna(subset=["particle"]).groupby("particle").size().to_numpy()
            if "particle" in tracks.columns
            else np.empty(0, dtype=np.int64)
        )
        self._build(pixel_size_um, frame_interval_s, play_fps, tail_frames)
        self.show_frame(0)

    def _build(
        self, pixel_size_um: float | None, interval_s: float | None, fps: float, tail: int
    ) -> None:
        self.canvas = ImageCanvas()
        self.panel = AnalysisPanel(pixel_size_um, interval_s)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self.frames.shape[0] - 1)
        self.slider.valueChanged.connect(self.show_frame)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play)
        self.auto_levels = QCheckBox("auto levels")
        self.auto_levels.setChecked(True)
        self.ellipses = QCheckBox("uncertainty (3 σ)")
        self.tail_spin = QSpinBox()
        self.tail_spin.setRange(1, 1000)
        self.tail_spin.setValue(tail)
        self.tail_spin.setPrefix("tails ")
        self.tail_spin.setSuffix(" frames")
        self.tail_spin.valueChanged.connect(self._set_tail)
        self.info = QLabel()
        bar = QHBoxLayout()
        for w in (self.play_button, self.slider, self.auto_levels, self.ellipses, self.tail_spin):
            bar.addWidget(w)
        bar.setStretchFactor(self.slider, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.canvas)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.info)
        self.canvas.clicked.connect(self._on_click)
        self.canvas.levelsEdited.connect(lambda: self.auto_levels.setChecked(False))
        self.ellipses.toggled.connect(lambda _: self.show_frame(self.frame))
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(1000 / fps)))
        self._timer.timeout.connect(self._advance)

    def show_frame(self, frame: int) -> None:
        """Show frame ``frame`` with its markers and the tails of the frames before it."""
        frame = int(np.clip(frame, 0, self.frames.shape[0] - 1))
        self.frame = frame
        if self.slider.value() != frame:
            self.slider.setValue(frame)  # calls back here
            return
        image = self.frames[frame]
        levels = None
        if self.auto_levels.isChecked():
            step = max(1, int(np.sqrt(image.size / 65536)))
            lo, hi = np.percentile(image[::step, ::step], [0.5, 99.8])
            levels = (float(lo), float(max(hi, lo + 1e-6)))
        self.canvas.set_image(image, levels=levels)
        self.tails.clear()
        for f in range(max(0, frame - self.tails.length_frames + 1), frame + 1):
            cols = self._by_frame.get(f)
            if cols is not None and "particle" in cols:
                linked = cols["particle"] >= 0
                self.tails.push(f, cols["particle"][linked], cols["x"][linked], cols["y"][linked])
        cur = self._by_frame.get(frame, {})
        x = cur.get("x", np.empty(0))
        y = cur.get("y", np.empty(0))
        self.canvas.set_positions(x, y)
        self.canvas.tracks.set_tails(self.tails.tails() if "particle" in cur else None)
        if self.ellipses.isChecked() and "sigma_x" in cur:
            self.canvas.tracks.set_ellipses(x, y, 3 * cur["sigma_x"], 3 * cur["sigma_y"])
        else:
            self.canvas.tracks.set_ellipses(x, y, None, None)
        self.canvas.set_target(None, self._position_of(self.selected))
        self.panel.update_from(self.tails, self._lengths)
        sel = "" if self.selected is None else f"  ·  particle {self.selected} selected"
        self.info.setText(f"frame {frame} / {self.frames.shape[0] - 1}  ·  {x.size} particles{sel}")

    def _position_of(self, particle: int | None) -> tuple[float, float] | None:
        cur = self._by_frame.get(self.frame, {})
        if particle is None or "particle" not in cur:
            return None
        hit = np.flatnonzero(cur["particle"] == particle)
        return None if hit.size == 0 else (float(cur["x"][hit[0]]), float(cur["y"][hit[0]]))

    def _on_click(self, x: float, y: float) -> None:
        cur = self._by_frame.get(self.frame, {})
        if "particle" not in cur or cur["x"].size == 0:
            return
        d = np.hypot(cur["x"] - x, cur["y"] - y)
        i = int(np.argmin(d))
        if d[i] <= max(12 * max(self.canvas.box.viewPixelSize()), 1.0):
            self.selected = int(cur["particle"][i])
            self.show_frame(self.frame)

    def save_png(self, path: str | Path) -> Path:
        """Save the whole widget, as it shows the current frame, as a PNG; returns the path."""
        return save_widget_png(self, path)

    def _set_tail(self, n: int) -> None:
        self.tails.set_length(n)
        self.show_frame(self.frame)

    def _play(self, on: bool) -> None:
        self.play_button.setText("Pause" if on else "Play")
        if on:
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        nxt = self.frame + 1
        if nxt >= self.frames.shape[0]:
            self.play_button.setChecked(False)
            return
        self.show_frame(nxt)


def _split_by_frame(tracks: pd.DataFrame) -> dict[int, dict[str, Any]]:
    cols = [c for c in ("x", "y", "particle", "sigma_x", "sigma_y") if c in tracks.columns]
    out: dict[int, dict[str, Any]] = {}
    if tracks.empty:
        return out
    data = tracks.sort_values("frame", kind="stable")
    frames = data["frame"].to_numpy(dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    ends = np.r_[starts[1:], frames.size]
    # Rows without a track (unlinked detections: nullable Int64) get particle -1.
    arrays = {
        c: data[c].to_numpy(dtype=np.int64, na_value=-1)
        if c == "particle"
        else data[c].to_numpy(dtype=float, na_value=np.nan)
        for c in cols
    }
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        out[int(frames[s])] = {c: a[s:e] for c, a in arrays.items()}
    return out


def _frame_interval(tracks: pd.DataFrame) -> float | None:
    if "t" not in tracks.columns or tracks.empty:
        return None
    per_frame = tracks.groupby("frame")["t"].first()
    df = np.diff(per_frame.index.to_numpy(dtype=float))
    dt = np.diff(per_frame.to_numpy(dtype=float))
    ok = (df > 0) & (dt > 0)
    return float(np.median(dt[ok] / df[ok])) if ok.any() else None
