"""The live viewer widget: a tracker's frames, positions and tails as they are tracked."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QShowEvent
from PyQt6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from livetrack._errors import InputError
from livetrack.feedback import RegionEvent, RegionTrigger
from livetrack.pipeline import FrameResult
from livetrack.viewer._app import save_widget_png
from livetrack.viewer._canvas import ImageCanvas
from livetrack.viewer._panel import AnalysisPanel
from livetrack.viewer._relay import ResultRelay, positions_arrays
from livetrack.viewer._tails import TailBuffer, TrackLengths

__all__ = ["LiveViewer", "ViewerOptions", "describe_localizer"]

log = logging.getLogger("livetrack.viewer")


@dataclass(frozen=True)
class ViewerOptions:
    """How the viewer draws.

    Attributes
    ----------
    tail_frames
        Frames a trajectory tail spans.
    max_display_fps
        The display redraws at most this often; the frames in between are skipped
        (their positions still go into the tails). Drawing faster than the eye needs
        would only take CPU from tracking.
    min_display_fps
        The display rate while the tracker falls behind the camera: when the newest
        frame waited longer than ``behind_ms`` in the tracker's queue, the viewer draws
        only this often, so that it does not take the CPU tracking needs to catch up.
    behind_ms
        Queueing delay of a frame (its latency less its compute time) above which the
        tracker counts as behind the camera.
    ellipse_sigmas
        Uncertainty ellipses of this many predicted sigmas (``sigma_x``, ``sigma_y``
        columns of the CNN); drawn at true scale, so at high SNR they are small.
    show_ellipses
        Draw the ellipses from the start (a checkbox toggles them).
    auto_levels
        Set the display range on every frame from the frame's 0.5 and 99.8 percentiles
        (a checkbox toggles it; moving the histogram's levels turns it off).
    panel_every_s
        Seconds between updates of the MSD and track-length panel.
    status_every_s
        Seconds between updates of the status bar.
    pick_radius_screen_px
        A click picks the nearest particle within this many screen pixels.
    """

    tail_frames: int = 30
    max_display_fps: float = 30.0
    min_display_fps: float = 4.0
    behind_ms: float = 40.0
    ellipse_sigmas: float = 3.0
    show_ellipses: bool = False
    auto_levels: bool = True
    panel_every_s: float = 0.5
    status_every_s: float = 0.25
    pick_radius_screen_px: float = 12.0

    def __post_init__(self) -> None:
        if self.tail_frames < 1:
            raise InputError(f"tail_frames must be >= 1, got {self.tail_frames}")
        if not self.max_display_fps > 0:
            raise InputError(f"max_display_fps must be > 0, got {self.max_display_fps}")
        if not 0 < self.min_display_fps <= self.max_display_fps:
            raise InputError(
                f"min_display_fps must be in (0, max_display_fps], got {self.min_display_fps}"
            )
        if not self.ellipse_sigmas > 0:
            raise InputError(f"ellipse_sigmas must be > 0, got {self.ellipse_sigmas}")


def describe_localizer(localizer: Any) -> str:
    """Return ``"<localizer> on <engine> (<device>)"`` for the status bar.

    Reads what the localizers expose (a CNN's ``backend``, an ``AutoLocalizer``'s network
    once it has chosen) without importing them; classical localizers run numpy on the CPU.
    """
    from livetrack.pipeline import localizer_name

    name = localizer_name(localizer)
    cnn = getattr(localizer, "cnn", None) or localizer
    backend = getattr(cnn, "backend", None)
    if backend is None or isinstance(backend, str):
        engine = backend if isinstance(backend, str) else "numpy"
        return f"{name} on {engine} (CPU)"
    engine = getattr(backend, "name", type(backend).__name__)
    device = getattr(backend, "device", None)
    if device is None:
        device = "GPU" if any(k in engine.lower() for k in ("tensorrt", "cuda")) else "CPU"
    return f"{name} on {engine} ({str(device).upper() if device == 'cpu' else device})"


class _RegionSlot:
    """A tracker callback forwarding to the armed :class:`RegionTrigger` (swapped from the GUI)."""

    def __init__(self) -> None:
        self.trigger: RegionTrigger | None = None

    def __call__(self, result: FrameResult) -> None:
        trigger = self.trigger  # one read: the GUI may swap it between frames
        if trigger is not None:
            trigger(result)


class LiveViewer(QWidget):
    """Live display of a :class:`~livetrack.pipeline.Tracker`: frames, markers, tails, feedback.

    An ordinary ``QWidget``: show it as a window or dock it in your own Qt application
    (pymmcore-widgets, napari-micromanager). The tracker's worker only calls the
    viewer's :class:`ResultRelay`, which keeps references and raises a Qt signal; all
    drawing happens on the GUI thread, at most ``max_display_fps`` times a second (and
    ``min_display_fps`` while frames queue up in the tracker), so a slow display skips
    frames and does not hold tracking back.

    Parameters
    ----------
    tracker : Tracker, optional
        The tracker to show; :meth:`attach` adds the viewer's callbacks to it (best
        before it starts). None: call :meth:`attach` later, or feed :attr:`relay`.
    recenter : Recenter, optional
        Clicking a particle makes it this callback's target; the target point and the
        followed particle are drawn. Added to the tracker's callbacks if not there.
    region_action : callable, optional
        Called with each :class:`~livetrack.feedback.RegionEvent` of the region drawn on
        the image, on the tracker's worker (keep it short, as for ``RegionTrigger``).
    pixel_size_um, frame_interval_s : float, optional
        Units of the MSD panel; default: the tracker's ``pixel_size_um`` and the
        interval measured from the frames' timestamps.
    options : ViewerOptions, optional
        Drawing options.
    status_note : str, optional
        Shown at the right of the status bar, in :attr:`note_label` (``livetrack demo``:
        the inference path it chose); :attr:`status_note` may be changed later.
    parent : QWidget, optional
        Qt parent.

    Signals
    -------
    targetChanged(int)
        A particle was clicked (its track id).
    regionArmed(object)
        A region was drawn: the armed :class:`~livetrack.feedback.RegionTrigger`.
    closed()
        The widget was closed (its window, or by ``close()``).
    """

    targetChanged = pyqtSignal(int)
    regionArmed = pyqtSignal(object)
    closed = pyqtSignal()

    def __init__(
        self,
        tracker: Any = None,
        *,
        recenter: Any = None,
        region_action: Callable[[RegionEvent], Any] | None = None,
        pixel_size_um: float | None = None,
        frame_interval_s: float | None = None,
        options: ViewerOptions | None = None,
        status_note: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.options = options or ViewerOptions()
        self.status_note = status_note
        self.tracker: Any = None
        self.recenter = recenter
        self.region_action = region_action
        self.pixel_size_um = pixel_size_um
        self.frame_interval_s = frame_interval_s
        self.relay = ResultRelay(parent=self)
        self.tails = TailBuffer(self.options.tail_frames)
        self.lengths = TrackLengths()
        #: The particle clicked last (None before any click).
        self.target_particle: int | None = None
        self.region: tuple[float, float, float, float] | None = None
        self.region_events: deque[RegionEvent] = deque(maxlen=1000)
        self._region_slot = _RegionSlot()
        # The newest frame's columns, and those on screen (they differ while paused).
        self._current: dict[str, np.ndarray] = {}
        self._current_frame: int | None = None
        self._shown: dict[str, np.ndarray] = {}
        self._stamps: deque[tuple[int, float]] = deque(maxlen=50)
        self._last_render = 0.0
        self._last_panel = 0.0
        self._render_times: deque[float] = deque(maxlen=60)
        self._submitted: deque[tuple[float, int]] = deque(maxlen=20)
        self._last_event_count = 0
        self._fired_until = 0.0
        #: Frames drawn since the start (each a new frame's image and overlays).
        self.displayed_frames = 0
        #: Display decisions taken at ``min_display_fps`` because the tracker was behind.
        self.backed_off = 0
        self._build()
        self.relay.updated.connect(self._on_updated)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh)
        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self.update_status)
        self._status_timer.start(int(self.options.status_every_s * 1000))
        if tracker is not None:
            self.attach(tracker)

    # -- layout -------------------------------------------------------------------

    def _build(self) -> None:
        o = self.options
        self.canvas = ImageCanvas()
        self.panel = AnalysisPanel(self.pixel_size_um, self.frame_interval_s)
        self.pause_button = QPushButton("Pause display")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the display; tracking and recording go on.")
        self.pause_button.toggled.connect(self.set_paused)
        self.auto_levels = QCheckBox("auto levels")
        self.auto_levels.setChecked(o.auto_levels)
        self.tail_spin = QSpinBox()
        self.tail_spin.setRange(1, 1000)
        self.tail_spin.setValue(o.tail_frames)
        self.tail_spin.setPrefix("tails ")
        self.tail_spin.setSuffix(" frames")
        self.tail_spin.valueChanged.connect(self._set_tail_frames)
        self.ellipses = QCheckBox(f"uncertainty ({o.ellipse_sigmas:g} σ)")
        self.ellipses.setChecked(o.show_ellipses)
        clear_region = QPushButton("Clear region")
        clear_region.clicked.connect(self.clear_region)
        help_label = QLabel("click: Recenter target · drag: region trigger · Ctrl/middle drag: pan")
        help_label.setStyleSheet("color: gray")
        bar = QHBoxLayout()
        for w in (self.pause_button, self.auto_levels, self.tail_spin, self.ellipses, clear_region):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(help_label)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.canvas)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        self.status_bar = QStatusBar()
        self.status_bar.setSizeGripEnabled(False)
        self.status_label = QLabel("waiting for frames")
        # A long status wraps onto a second line rather than widening the window beyond
        # the size its host gave it; the note (status_note) stays whole on the right.
        self.status_label.setWordWrap(True)
        self.note_label = QLabel("")
        self.note_label.setVisible(False)
        self.status_bar.addWidget(self.status_label, 1)
        self.status_bar.addWidget(self.note_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.status_bar)
        self.canvas.clicked.connect(self._on_click)
        self.canvas.regionDrawn.connect(self.arm_region)
        self.canvas.levelsEdited.connect(lambda: self.auto_levels.setChecked(False))

    # -- wiring ---------------------------------------------------------------------

    def attach(self, tracker: Any) -> None:
        """Add the viewer's callbacks (relay, region slot, the recenter) to ``tracker``."""
        self.tracker = tracker
        callbacks = tracker.callbacks
        if self.recenter is not None and self.recenter not in callbacks:
            callbacks.append(self.recenter)
        for cb in (self._region_slot, self.relay):
            if cb not in callbacks:
                callbacks.append(cb)
        if self.pixel_size_um is None:
            self.pixel_size_um = getattr(tracker.options, "pixel_size_um", None)
            self.panel.set_units(self.pixel_size_um, self.frame_interval_s)

    def detach(self) -> None:
        """Remove the viewer's callbacks from its tracker (the recenter stays)."""
        if self.tracker is None:
            return
        for cb in (self._region_slot, self.relay):
            if cb in self.tracker.callbacks:
                self.tracker.callbacks.remove(cb)

    # -- feedback -----------------------------------------------------------------------

    def select_particle(self, particle: int) -> None:
        """Make ``particle`` the target (and the recenter's, if there is one)."""
        self.target_particle = int(particle)
        if self.recenter is not None:
            self.recenter.particle = int(particle)
        self.targetChanged.emit(int(particle))
        self._draw_target()

    def _on_click(self, x: float, y: float) -> None:
        cur = self._shown  # pick what the user sees
        if "particle" not in cur or cur["x"].size == 0:
            return
        d = np.hypot(cur["x"] - x, cur["y"] - y)
        i = int(np.argmin(d))
        per_screen_px = max(self.canvas.box.viewPixelSize())
        if d[i] <= max(self.options.pick_radius_screen_px * per_screen_px, 1.0):
            self.select_particle(int(cur["particle"][i]))

    def arm_region(self, x0: float, y0: float, x1: float, y1: float) -> RegionTrigger | None:
        """Arm a :class:`~livetrack.feedback.RegionTrigger` on ``(x0, y0, x1, y1)`` px.

        Replaces the previous region. A rectangle smaller than a pixel (a click that
        moved) arms nothing. Returns the trigger.
        """
        if x1 - x0 < 1.0 or y1 - y0 < 1.0:
            return None
        trigger = RegionTrigger((x0, y0, x1, y1), self._on_region_event)
        self.region = (x0, y0, x1, y1)
        self._region_slot.trigger = trigger
        self.regionArmed.emit(trigger)
        self._draw_region()
        return trigger

    @property
    def region_trigger(self) -> RegionTrigger | None:
        """The armed trigger (None when no region is drawn)."""
        return self._region_slot.trigger

    def clear_region(self) -> None:
        """Disarm and hide the region."""
        self._region_slot.trigger = None
        self.region = None
        self.canvas.set_region(None)

    def _on_region_event(self, event: RegionEvent) -> None:
        # On the tracker's worker: a deque append is atomic; the GUI reads it when drawing.
        self.region_events.append(event)
        if self.region_action is not None:
            self.region_action(event)

    # -- display ------------------------------------------------------------------------

    @property
    def shown(self) -> dict[str, np.ndarray]:
        """The columns (``x``, ``y``, ``particle``, sigmas) of the frame on screen."""
        return dict(self._shown)

    @property
    def paused(self) -> bool:
        """Whether the display is frozen (tracking goes on)."""
        return self.pause_button.isChecked()

    def set_paused(self, paused: bool) -> None:
        """Freeze or resume the display; tracking, tails and statistics go on."""
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)  # calls back here through toggled
            return
        self.pause_button.setText("Resume display" if paused else "Pause display")
        if not paused:
            self.refresh()

    def _set_tail_frames(self, n: int) -> None:
        self.tails.set_length(n)

    def _on_updated(self) -> None:
        if self.paused:
            self._drain()
            return
        wait_s = self._last_render + 1.0 / self._display_fps_now() - time.perf_counter()
        if wait_s <= 0:
            self.refresh()
        elif not self._timer.isActive():
            self._timer.start(max(1, int(wait_s * 1000)))

    def _tracker_behind(self) -> bool:
        """Whether the newest frame waited in the tracker's queue (the camera is ahead)."""
        latest = self.relay.peek()
        return (
            latest is not None
            and latest.latency_s - latest.compute_s > self.options.behind_ms / 1e3
        )

    def _display_fps_now(self) -> float:
        """Draw at full rate, or slowly while the tracker is behind the camera."""
        if self._tracker_behind():
            self.backed_off += 1
            return self.options.min_display_fps
        return self.options.max_display_fps

    def _drain(self) -> FrameResult | None:
        latest, frames = self.relay.take()
        for frame, stamp, df in frames:
            cols = positions_arrays(df)
            if "particle" in cols:
                self.tails.push(frame, cols["particle"], cols["x"], cols["y"])
                self.lengths.push(cols["particle"])
            self._stamps.append((frame, stamp))
            self._current, self._current_frame = cols, frame
        return latest

    def refresh(self, *, force: bool = False) -> None:
        """Draw the newest frame now with everything received so far (GUI thread).

        Parameters
        ----------
        force : bool
            Draw even while paused or hidden (a hidden viewer, e.g. a docked tab not in
            front, otherwise only keeps its tails and statistics current).
        """
        latest = self._drain()
        if latest is None or ((self.paused or not self.isVisible()) and not force):
            return
        self._last_render = time.perf_counter()
        self._render_times.append(self._last_render)
        image = latest.image
        if image is not None:
            self.canvas.set_image(image, levels=self._levels(image))
        cur = self._shown = self._current
        if cur:
            self.canvas.set_positions(cur["x"], cur["y"])
            self.canvas.tracks.set_tails(self.tails.tails() if "particle" in cur else None)
            k = self.options.ellipse_sigmas
            if self.ellipses.isChecked() and "sigma_x" in cur:
                self.canvas.tracks.set_ellipses(
                    cur["x"], cur["y"], k * cur["sigma_x"], k * cur["sigma_y"]
                )
            else:
                self.canvas.tracks.set_ellipses(cur["x"], cur["y"], None, None)
        self._draw_target()
        self._draw_region()
        if self._last_render - self._last_panel >= self.options.panel_every_s:
            self.update_panel()
        self.displayed_frames += 1

    def _levels(self, image: np.ndarray) -> tuple[float, float] | None:
        if not self.auto_levels.isChecked():
            return None
        step = max(1, int(np.sqrt(image.size / 16384)))  # ~16k pixels: percentiles < 1 ms
        lo, hi = np.percentile(image[::step, ::step], [0.5, 99.8])
        return float(lo), float(max(hi, lo + 1e-6))

    def _position_of(self, particle: int | None) -> tuple[float, float] | None:
        cur = self._shown
        if particle is None or "particle" not in cur:
            return None
        hit = np.flatnonzero(cur["particle"] == particle)
        if hit.size == 0:
            return None
        return float(cur["x"][hit[0]]), float(cur["y"][hit[0]])

    def _draw_target(self) -> None:
        rc = self.recenter
        if rc is not None:
            followed = getattr(rc, "particle", None)
            self.canvas.set_target(tuple(rc.target_px), self._position_of(followed))
        else:
            self.canvas.set_target(None, self._position_of(self.target_particle))

    def _draw_region(self) -> None:
        if self.region is None:
            return
        trigger = self._region_slot.trigger
        n = trigger.events if trigger is not None else 0
        now = time.perf_counter()
        if n != self._last_event_count:
            self._last_event_count = n
            self._fired_until = now + 0.5
        self.canvas.set_region(
            self.region, f"region trigger armed: {n} events", fired=now < self._fired_until
        )

    def update_panel(self) -> None:
        """Recompute the MSD and track-length panel now."""
        self._last_panel = time.perf_counter()
        if self.frame_interval_s is None:
            self.panel.set_units(self.pixel_size_um, self._measured_interval_s())
        self.panel.update_from(self.tails, self.lengths.lengths())

    def _measured_interval_s(self) -> float | None:
        if len(self._stamps) < 3:
            return None
        f = np.array([s[0] for s in self._stamps], dtype=float)
        t = np.array([s[1] for s in self._stamps], dtype=float)
        df, dt = np.diff(f), np.diff(t)
        ok = (df > 0) & (dt > 0)
        return float(np.median(dt[ok] / df[ok])) if ok.any() else None

    @property
    def display_fps(self) -> float:
        """Frames drawn per second, over the last 60 drawn."""
        t = self._render_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def update_status(self) -> None:
        """Refresh the status bar from the tracker's statistics."""
        parts = []
        n = self._current["x"].size if self._current else 0
        if self.tracker is not None:
            s = self.tracker.stats()
            now = time.perf_counter()
            self._submitted.append((now, s.submitted))
            t0, n0 = self._submitted[0]
            cam = (s.submitted - n0) / (now - t0) if now > t0 else 0.0
            parts += [
                f"camera {cam:5.1f} fps",
                f"tracked {s.fps:5.1f} fps",
                f"backlog {s.backlog}",
                f"dropped {s.dropped}",
                f"latency {s.latency_median_ms:.1f} ms (p99 {s.latency_p99_ms:.1f})",
            ]
        note = (
            " (paused)"
            if self.paused
            else " (slowed: tracking behind)"
            if self._tracker_behind()
            else ""
        )
        parts.append(f"display {self.display_fps:4.1f} fps{note}")
        parts.append(f"{n} particles")
        if self._current_frame is not None:
            parts.append(f"frame {self._current_frame}")
        if self.tracker is not None:
            parts.append(describe_localizer(self.tracker.localizer))
        self.status_label.setText("  ·  ".join(parts))
        self.note_label.setText(f"·  {self.status_note}" if self.status_note else "")
        self.note_label.setVisible(bool(self.status_note))

    def showEvent(self, event: QShowEvent | None) -> None:
        """Restart the status bar's timer (stopped while closed)."""
        super().showEvent(event)
        if not self._status_timer.isActive():
            self._status_timer.start(int(self.options.status_every_s * 1000))

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Stop the timers and tell whoever runs the window."""
        self._status_timer.stop()
        self._timer.stop()
        super().closeEvent(event)
        self.closed.emit()

    def save_png(self, path: str | Path) -> Path:
        """Draw what has arrived, then save the whole widget as a PNG; returns the path."""
        self.refresh(force=True)
        self.update_panel()
        self.update_status()
        return save_widget_png(self, path)
