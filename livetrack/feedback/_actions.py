"""Built-in feedback callbacks: keep a particle centred, react to particles in a region."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from livetrack._errors import InputError
from livetrack.feedback._transform import StageTransform
from livetrack.pipeline import FrameResult

__all__ = [
    "EXPOSURE_STAGE_TAGS",
    "Recenter",
    "RegionEvent",
    "RegionTrigger",
    "exposure_stage_um",
    "pycromanager_burst",
]

#: Frame metadata tags with the XY stage position (µm, as ``core.getXYPosition()``
#: reports it) during the frame's exposure; the simulated camera
#: (``livetrack.acquire.SimulatedCamera``) writes them, a camera adapter or a
#: frame source may too.
EXPOSURE_STAGE_TAGS = ("ExposureStageX-um", "ExposureStageY-um")


def exposure_stage_um(metadata: Mapping[str, Any]) -> tuple[float, float] | None:
    """Return the stage position a frame was exposed at, if its metadata says.

    Looks for :data:`EXPOSURE_STAGE_TAGS` where the frame sources put camera
    tags: at the top level (:func:`~livetrack.acquire.run_continuous`, or
    metadata given to ``Tracker.step``), in ``camera_metadata`` (a
    pymmcore-plus frame metadata) or in ``meta["camera_metadata"]``
    (:class:`~livetrack.acquire.MDATracker`).

    Parameters
    ----------
    metadata
        The metadata handed to the tracker with the frame.

    Returns
    -------
    tuple of float or None
        ``(x, y)`` µm, or None when no source gave both (or one is not a number).
    """
    candidates: list[Any] = [metadata]
    meta = metadata.get("meta")
    if isinstance(meta, Mapping):
        candidates.append(meta)
    for m in list(candidates):
        cam = m.get("camera_metadata")
        if isinstance(cam, Mapping):
            candidates.append(cam)
    for m in candidates:
        if all(tag in m for tag in EXPOSURE_STAGE_TAGS):
            try:
                x, y = (float(m[tag]) for tag in EXPOSURE_STAGE_TAGS)
            except (TypeError, ValueError):
                return None
            return x, y
    return None


class Recenter:
    """Keep one particle at the centre of the camera by moving the XY stage.

    A callback for :class:`~livetrack.pipeline.Tracker`: for each frame it
    finds the chosen particle, converts its offset from ``target_px`` into a
    stage move with the stage–camera ``transform`` and moves the stage by
    ``gain`` times that.

    Parameters
    ----------
    core
        The Micro-Manager core that owns the XY stage.
    particle
        Track id to follow; None follows the particle nearest ``target_px`` in
        the first frame (and again after the followed one is lost).
    transform
        Stage–camera transform; None reads the core's pixel-size affine
        (:meth:`StageTransform.from_core`); use
        :func:`~livetrack.feedback.calibrate_stage` when that is not trusted.
    gain
        Fraction of the measured offset corrected per frame (1 = all of it).
    target_px
        Where to keep the particle, (x, y) pixels; default: the image centre.
    lost_after_frames
        Frames without the particle before another one is chosen.
    settle_ms
        In a live acquisition the next frame is already exposing when the
        stage moves, so a frame may not show the latest moves yet; they must
        not be corrected twice. When the frame's metadata gives the stage
        position during its exposure (:data:`EXPOSURE_STAGE_TAGS`, written by
        the simulated camera), the correction is taken relative to that
        position and ``settle_ms`` is not used. Otherwise the moves made less
        than ``settle_ms`` before the frame was handed to the tracker are
        taken as not shown, and the offset is reduced by them (a Smith
        predictor): an estimate from wall-clock time, wrong for a move made
        close to that boundary when the delivery delay varies. None (default):
        the camera's exposure time plus 5 ms; 0 when each snap is taken after
        the callback returns (a snap-track loop).
    history_frames
        Length of :attr:`history` (offsets per frame; memory stays flat).
    """

    def __init__(
        self,
        core: Any,
        particle: int | None = None,
        *,
        transform: StageTransform | None = None,
        gain: float = 1.0,
        target_px: tuple[float, float] | None = None,
        lost_after_frames: int = 5,
        settle_ms: float | None = None,
        history_frames: int = 10_000,
    ) -> None:
        if not 0 < gain <= 2:
            raise InputError(f"gain must be in (0, 2], got {gain}")
        if lost_after_frames < 0:
            raise InputError(f"lost_after_frames must be >= 0, got {lost_after_frames}")
        self.core = core
        self.particle = particle
        self.transform = transform if transform is not None else StageTransform.from_core(core)
        self.gain = gain
        if target_px is None:
            target_px = ((core.getImageWidth() - 1) / 2.0, (core.getImageHeight() - 1) / 2.0)
        self.target_px = (float(target_px[0]), float(target_px[1]))
        self.lost_after_frames = lost_after_frames
        self.settle_ms = settle_ms
        #: (frame, dx_px, dy_px) offset of the followed particle from the target.
        self.history: deque[tuple[int, float, float]] = deque(maxlen=history_frames)
        self.moves = 0
        self._missing = 0
        # (time, dx_px, dy_px) of recent corrections, for frames exposed before them.
        self._pending: deque[tuple[float, float, float]] = deque()

    def __call__(self, result: FrameResult) -> None:
        """Correct the stage for one frame's result."""
        pos = self._find(result)
        if pos is None:
            return
        dx, dy = pos[0] - self.target_px[0], pos[1] - self.target_px[1]
        self.history.append((result.frame, dx, dy))
        exposed_at = exposure_stage_um(result.metadata)
        if exposed_at is not None:
            mx, my = self._move_from_exposure(dx, dy, exposed_at)
            # Kept in pixels for the wall-clock estimate, should a later frame lack the tags.
            cx, cy = self.transform.camera_offset_px(mx, my)
        else:
            cx, cy = self._offset_not_yet_corrected(dx, dy, result.received_s)
            cx, cy = self.gain * cx, self.gain * cy
            mx, my = self.transform.stage_move_um(cx, cy)
        self.core.setRelativeXYPosition(mx, my)
        self._pending.append((time.perf_counter(), cx, cy))
        self.moves += 1

    def _move_from_exposure(
        self, dx: float, dy: float, exposed_at: tuple[float, float]
    ) -> tuple[float, float]:
        """Return the stage move (µm) for an offset seen with the stage at ``exposed_at``.

        The particle sat at ``exposed_at`` + the offset's stage displacement;
        every move since the exposure (the stage is now elsewhere) has already
        brought it that much closer, whenever the frame reached the tracker.
        """
        ox, oy = self.transform.stage_move_um(dx, dy)
        now_x, now_y = (float(v) for v in self.core.getXYPosition())
        moved_x, moved_y = now_x - exposed_at[0], now_y - exposed_at[1]
        return self.gain * (ox - moved_x), self.gain * (oy - moved_y)

    def _offset_not_yet_corrected(
        self, dx: float, dy: float, received_s: float
    ) -> tuple[float, float]:
        """Return the offset (px) less the moves made after the frame was (probably) exposed."""
        settle_ms = self.settle_ms
        if settle_ms is None:
            settle_ms = float(self.core.getExposure()) + 5.0
        # Moves this frame cannot show yet already shift the particle by -move (px).
        since = received_s - settle_ms / 1e3
        while self._pending and self._pending[0][0] <= since - 1.0:
            self._pending.popleft()
        for t, px, py in self._pending:
            if t > since:
                dx, dy = dx - px, dy - py
        return dx, dy

    def _find(self, result: FrameResult) -> tuple[float, float] | None:
        df = result.positions
        if "particle" not in df.columns:
            raise InputError("Recenter needs linked positions: give the Tracker a linker")
        if self.particle is not None:
            pos = result.position_of(self.particle)
            if pos is not None:
                self._missing = 0
                return pos
            self._missing += 1
            if self._missing <= self.lost_after_frames:
                return None
        if df.empty:
            return None
        d2 = (df["x"] - self.target_px[0]) ** 2 + (df["y"] - self.target_px[1]) ** 2
        row = df.loc[d2.idxmin()]
        self.particle = int(row["particle"])
        self._missing = 0
        return float(row["x"]), float(row["y"])


@dataclass(frozen=True)
class RegionEvent:
    """A particle entered or left a region.

    Attributes
    ----------
    kind
        ``"enter"`` or ``"leave"``.
    particle
        Track id.
    frame, timestamp
        Frame index and acquisition time (s) of the frame where it happened.
    x, y
        Position (px) in that frame.
    """

    kind: Literal["enter", "leave"]
    particle: int
    frame: int
    timestamp: float
    x: float
    y: float


Region = tuple[float, float, float, float] | Callable[[np.ndarray, np.ndarray], np.ndarray]


class RegionTrigger:
    """Call an action when a particle enters or leaves a region of the image.

    Parameters
    ----------
    region
        ``(x_min, y_min, x_max, y_max)`` in pixels (inclusive), or a function
        ``inside(x, y) -> bool array`` for any shape.
    action
        Called with a :class:`RegionEvent` on the tracking worker; keep it short
        (e.g. put events on a queue, see :func:`pycromanager_burst`).
    on
        Which transitions fire: ``"enter"``, ``"leave"`` or both.
    particles
        Only these track ids; None = every particle.
    forget_frames
        A particle inside that is not detected for this many frames is
        forgotten without a ``"leave"`` (it vanished, it did not leave).
    """

    def __init__(
        self,
        region: Region,
        action: Callable[[RegionEvent], Any],
        *,
        on: Sequence[str] = ("enter", "leave"),
        particles: Sequence[int] | None = None,
        forget_frames: int = 10,
    ) -> None:
        if callable(region):
            self._inside = region
        else:
            try:
                x0, y0, x1, y1 = (float(v) for v in region)
            except (TypeError, ValueError):
                raise InputError(
                    f"region must be (x_min, y_min, x_max, y_max) or a function, got {region!r}"
                ) from None
            if not (x0 <= x1 and y0 <= y1):
                raise InputError(f"region must have x_min <= x_max and y_min <= y_max: {region}")

            def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)

            self._inside = inside
        bad = set(on) - {"enter", "leave"}
        if bad or not on:
            raise InputError(f"on must name 'enter' and/or 'leave', got {on!r}")
        if not callable(action):
            raise InputError(f"action must be callable, got {action!r}")
        self.action = action
        self.on = frozenset(on)
        self.particles = None if particles is None else frozenset(int(p) for p in particles)
        self.forget_frames = forget_frames
        self._last_seen_inside: dict[int, int] = {}
        self.events = 0

    def __call__(self, result: FrameResult) -> None:
        """Fire the action for every transition in this frame."""
        df = result.positions
        if "particle" not in df.columns:
            raise InputError("RegionTrigger needs linked positions: give the Tracker a linker")
        ids = df["particle"].to_numpy()
        x = df["x"].to_numpy(dtype=float)
        y = df["y"].to_numpy(dtype=float)
        inside = np.asarray(self._inside(x, y), dtype=bool)
        fired: list[tuple[Literal["enter", "leave"], int, float, float]] = []
        for pid, xi, yi, now_in in zip(ids, x, y, inside, strict=True):
            pid = int(pid)
            if self.particles is not None and pid not in self.particles:
                continue
            was_in = pid in self._last_seen_inside
            if now_in:
                self._last_seen_inside[pid] = result.frame
                if not was_in:
                    fired.append(("enter", pid, xi, yi))
            elif was_in:
                del self._last_seen_inside[pid]
                fired.append(("leave", pid, xi, yi))
        stale = [
            p for p, f in self._last_seen_inside.items() if result.frame - f > self.forget_frames
        ]
        for p in stale:
            del self._last_seen_inside[p]
        for kind, pid, xi, yi in fired:
            if kind in self.on:
                self.events += 1
                self.action(RegionEvent(kind, pid, result.frame, result.timestamp, xi, yi))


def pycromanager_burst(
    target: Any, n_frames: int, exposure_ms: float | None = None, axis: str = "burst"
) -> Callable[[RegionEvent], None]:
    """Return a :class:`RegionTrigger` action that queues a fast burst in pycromanager.

    Parameters
    ----------
    target
        The running ``pycromanager.Acquisition`` (its ``acquire`` is called), or
        its event queue (the third argument pycromanager passes to an
        ``image_process_fn`` that takes three; its ``put`` is called).
    n_frames
        Frames in each burst.
    exposure_ms
        Exposure of the burst frames; None keeps the current one.
    axis
        Name of the axis numbering bursts (a new index per trigger).
    """
    if n_frames < 1:
        raise InputError(f"n_frames must be >= 1, got {n_frames}")
    submit = getattr(target, "acquire", None) or getattr(target, "put", None)
    if not callable(submit):
        raise InputError("target must be a pycromanager Acquisition or its event queue")
    counter = iter(range(1 << 62))
    lock = threading.Lock()

    def action(event: RegionEvent) -> None:
        with lock:
            k = next(counter)
        events = []
        for i in range(n_frames):
            ev: dict[str, Any] = {"axes": {axis: k, "time": i}}
            if exposure_ms is not None:
                ev["exposure"] = exposure_ms
            events.append(ev)
        submit(events)

    return action
