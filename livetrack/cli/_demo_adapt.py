"""How ``livetrack demo`` keeps up with its camera: inference paths timed at start, one chosen.

Before the acquisition the demo times its localizer on a few simulated frames of the
camera's size, and the faster inference paths after it where the first does not keep up
(:func:`path_options`). The simulated camera renders its frames on the same CPU, so the time
rendering takes is added to each path's. :func:`choose_plan` keeps the most accurate path
that sustains the camera rate with a margin; where none does, it lowers the camera rate
(longer exposure) to what the fastest sustains. The demo prints :meth:`DemoPlan.line` and shows
:meth:`DemoPlan.status` in its status line and the viewer's status bar.

A path's first frame carries one-time costs (the backend's session, ``AutoLocalizer``'s
measurement of size, polarity and noise): it is timed apart and not counted as throughput.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from livetrack import registry
from livetrack._errors import InputError
from livetrack._extras import require

__all__ = [
    "MARGIN",
    "VIEWER_SHARE",
    "DemoPlan",
    "PathOption",
    "PathTiming",
    "choose_plan",
    "format_rate",
    "path_options",
    "plan_demo",
    "render_frames",
    "time_path",
]

#: A path keeps up when this many times its measured work per frame fits in a frame
#: interval. The frames' time varies (a shared machine, linking, recording, Python's
#: threads), and a queue fed near its service rate waits long: on 2 shared cores the
#: accurate path (16.7 ms a frame + 6.8 ms of camera simulation) kept up at 25 ms frames
#: (latency median 21 ms) and not at 21 ms (136 ms). On a single core it is too small:
#: the acquisition's and the pipeline's Python work (~6 ms a frame there) runs serially
#: with inference, and int8 (15 + 6 ms measured) fell behind 30 ms frames.
MARGIN = 1.2
#: Share of each frame interval the viewer window's drawing is left (bench live: tracking
#: lost 5 % of its throughput to the window, more when it draws at full rate).
VIEWER_SHARE = 0.1
#: Distinct simulated frames the paths are timed on (cycled).
SAMPLE_FRAMES = 4
#: Frames timed per path after its first.
TIMED_FRAMES = 8
#: The network of the fast model paths offered after the accurate one.
_FAST_MODEL = "spots-fast"


@dataclass(frozen=True)
class PathOption:
    """One inference path the demo may run.

    Attributes
    ----------
    label : str
        What the demo calls it (``"accurate"``, ``"int8 fast"``).
    name : str
        The localizer's registry name (:mod:`livetrack.registry`), e.g. ``"auto:int8:fast"``.
    model : str or None
        The network, passed as the localizer's ``model`` option (None: the name's own).
    requires_model : str or None
        Offered only where the first path runs this network (``AutoLocalizer`` chooses its
        network on the first frame: ``spots-fast`` replaces ``spots``, not ``rings``).
    backend : str
        The CNN's backend where the name names none (the demo's ``--backend``).
    """

    label: str
    name: str
    model: str | None = None
    requires_model: str | None = None
    backend: str = "auto"

    def build(self) -> Any:
        """Build the localizer (a fresh one, with its own per-stream state)."""
        if registry.parse_localizer(self.name).kind in ("auto", "cnn"):
            # The CNN's CPU engine: a clear one-line error, as default_localizer gives.
            require("onnxruntime", "the CNN localizer")
        options = {} if self.model is None else {"model": self.model}
        return registry.make_localizer(self.name, backend=self.backend, live=True, **options)


def path_options(localizer: str, model: str, backend: str = "auto") -> list[PathOption]:
    """Return the paths the demo tries, the most accurate first.

    Parameters
    ----------
    localizer, model : str
        The demo's ``--localizer`` and ``--model``.
    backend : str
        The demo's ``--backend``: the CNN's backend where a path names none (the int8 paths
        name ONNX Runtime's int8 export).

    Returns
    -------
    list of PathOption
        With ``--localizer auto`` or ``cnn`` and ``--model auto``: the accurate path
        (``AutoLocalizer``, fp32, refined), then int8, the ``spots-fast`` network (refined:
        as accurate as ``spots``), int8 without refinement, and ``spots-fast`` int8 without
        refinement, the fastest. With a model named: that model, its int8 export, and
        int8 without refinement. A localizer named in full (``centroid``,
        ``cnn:spots:int8:fast``) is run as named: only the camera rate may change.
    """
    if localizer not in ("auto", "cnn"):
        return [PathOption(localizer, localizer, backend=backend)]
    return [replace(o, backend=backend) for o in _cnn_paths(model)]


def _cnn_paths(model: str) -> list[PathOption]:
    if model == "auto":
        return [
            PathOption("accurate", "auto"),
            PathOption("int8", "auto:int8"),
            PathOption(_FAST_MODEL, "auto", _FAST_MODEL, requires_model="spots"),
            PathOption("int8 fast", "auto:int8:fast"),
            PathOption(f"{_FAST_MODEL} int8 fast", "auto:int8:fast", _FAST_MODEL, "spots"),
        ]
    short = Path(model).name or model
    return [
        PathOption("accurate", "cnn", model),
        PathOption(f"{short} int8", "cnn:int8", model),
        PathOption(f"{short} int8 fast", "cnn:int8:fast", model),
    ]


@dataclass(frozen=True)
class PathTiming:
    """One path's measured time.

    Attributes
    ----------
    label : str
        The path (:attr:`PathOption.label`).
    ms_per_frame : float
        Median time to locate one frame, after the first.
    setup_ms : float
        One-time cost: building the localizer, its warm-up and its first frame.
    """

    label: str
    ms_per_frame: float
    setup_ms: float


@dataclass(frozen=True)
class DemoPlan:
    """What the demo runs: the path chosen on measured times, and the camera rate.

    Attributes
    ----------
    timings : tuple of PathTiming or None
        One per path offered, in order; None where it was not measured (a faster path was
        not needed, or it does not apply).
    chosen : int
        Index of the path chosen.
    requested_hz, rate_hz : float
        The camera rate asked for, and the one the demo runs (lower where no path keeps up).
    overhead_ms : float
        Work per frame added to each path's: the camera simulation, on the same CPU.
    margin : float
        A path keeps up when ``margin * (ms_per_frame + overhead_ms)`` fits in
        ``share`` of a frame interval.
    share : float
        Share of a frame interval tracking may take (less than 1 beside the window).
    """

    timings: tuple[PathTiming | None, ...]
    chosen: int
    requested_hz: float
    rate_hz: float
    overhead_ms: float = 0.0
    margin: float = MARGIN
    share: float = 1.0

    @property
    def label(self) -> str:
        """The chosen path's label."""
        timing = self.timings[self.chosen]
        assert timing is not None  # the chosen path was measured
        return timing.label

    @property
    def exposure_ms(self) -> float:
        """The camera's exposure for :attr:`rate_hz`."""
        return 1000.0 / self.rate_hz

    @property
    def rate_lowered(self) -> bool:
        """Whether no path kept up with the requested rate."""
        return self.rate_hz < self.requested_hz

    def keeps_up(self, timing: PathTiming, rate_hz: float | None = None) -> bool:
        """Whether ``timing``'s path sustains ``rate_hz`` (default: the requested rate)."""
        rate = self.requested_hz if rate_hz is None else rate_hz
        return _keeps_up(timing, rate, self.overhead_ms, self.margin, self.share)

    def line(self) -> str:
        """One line: what was measured, and what was chosen."""
        budget = self.share * 1000.0 / self.requested_hz
        head = (
            f"demo: {format_rate(self.requested_hz)} fps needs {self.margin:g} x (path + "
            f"{self.overhead_ms:.1f} ms camera simulation) <= {budget:.1f} ms a frame"
        )
        if self.share < 1.0:
            head += f" ({100 * (1 - self.share):.0f} % left to the window)"
        tried = [
            f"{t.label} {t.ms_per_frame:.1f} ms/frame (first frame {t.setup_ms:.0f} ms)"
            f": {'yes' if self.keeps_up(t) else 'no'}"
            for t in self.timings
            if t is not None
        ]
        if self.rate_lowered:
            tail = (
                f"none keeps up: camera lowered to {format_rate(self.rate_hz)} fps "
                f"(exposure {self.exposure_ms:.0f} ms) with {self.label}"
            )
        else:
            tail = f"{self.label} path at {format_rate(self.rate_hz)} fps"
        return f"{head}; {'; '.join(tried)} -> {tail}"

    def status(self) -> str:
        """Return a few words for the status line and the viewer's status bar."""
        if self.rate_lowered:
            return (
                f"{self.label} path, camera lowered to {format_rate(self.rate_hz)} fps (measured)"
            )
        if self.chosen == 0:
            return f"{self.label} path (measured: keeps up)"
        first = self.timings[0]
        assert first is not None  # the first path is always measured
        return f"{self.label} path (measured: {first.label} too slow)"


def format_rate(rate_hz: float) -> str:
    """Return a camera rate as the demo prints it: ``25``, ``47.6``."""
    return f"{rate_hz:.0f}" if abs(rate_hz - round(rate_hz)) < 0.05 else f"{rate_hz:.1f}"


def _keeps_up(
    timing: PathTiming, rate_hz: float, overhead_ms: float, margin: float, share: float
) -> bool:
    return margin * (timing.ms_per_frame + overhead_ms) <= share * 1000.0 / rate_hz


def choose_plan(
    n_paths: int,
    measure: Callable[[int], PathTiming | None],
    rate_hz: float,
    *,
    overhead_ms: float = 0.0,
    margin: float = MARGIN,
    share: float = 1.0,
) -> DemoPlan:
    """Choose the most accurate path that keeps up, or the camera rate the fastest sustains.

    Parameters
    ----------
    n_paths : int
        Paths offered, the most accurate first.
    measure : callable
        ``measure(i) -> PathTiming``, or None where path ``i`` does not apply. Called in
        order, and only until a path keeps up: the faster ones cost nothing to start.
    rate_hz : float
        The camera rate asked for.
    overhead_ms, margin, share
        As for :class:`DemoPlan`: a path keeps up when
        ``margin * (ms_per_frame + overhead_ms) <= share * 1000 / rate_hz``.

    Returns
    -------
    DemoPlan
        The first path that keeps up, at ``rate_hz``; where none does, the fastest at the
        highest rate it keeps up with, its exposure rounded up to a whole millisecond.
    """
    if n_paths < 1:
        raise InputError("no inference path to choose from")
    if not rate_hz > 0 or not margin > 0 or not 0 < share <= 1:
        raise InputError(f"rate, margin and share must be positive: {rate_hz}, {margin}, {share}")
    timings: list[PathTiming | None] = [None] * n_paths
    settings = {"overhead_ms": overhead_ms, "margin": margin, "share": share}
    for i in range(n_paths):
        timing = measure(i)
        timings[i] = timing
        if timing is not None and _keeps_up(timing, rate_hz, overhead_ms, margin, share):
            return DemoPlan(tuple(timings), i, rate_hz, rate_hz, **settings)
    measured = [(i, t) for i, t in enumerate(timings) if t is not None]
    if not measured:
        raise InputError("no inference path could be measured")
    fastest, timing = min(measured, key=lambda m: m[1].ms_per_frame)
    need_ms = margin * (timing.ms_per_frame + overhead_ms) / share
    # A whole millisecond, rounded up: a camera setting a user would type, still sustained.
    exposure_ms = float(math.ceil(need_ms - 1e-9))
    return DemoPlan(tuple(timings), fastest, rate_hz, 1000.0 / exposure_ms, **settings)


def render_frames(
    sample: Any,
    exposure_ms: float,
    stage_um: tuple[float, float] = (0.0, 0.0),
    n: int = SAMPLE_FRAMES,
    seed: int = 20_251,
) -> tuple[list[np.ndarray], float]:
    """Image the simulated sample as the camera would, without moving it.

    The particles where they are now, with noise of a generator of its own: the live
    sample's motion and noise stay as they would have been.

    Parameters
    ----------
    sample : SimulatedSample
        The demo's sample (``core.sample``).
    exposure_ms : float
        The camera's exposure.
    stage_um : tuple of float
        The stage position.
    n : int
        Frames to render.
    seed : int
        Seed of the noise.

    Returns
    -------
    frames : list of numpy.ndarray
        ``n`` camera frames.
    ms_per_frame : float
        Median time to render one: the camera simulation's work per frame on this CPU.
    """
    opts = sample.options
    rng = np.random.default_rng(seed)
    rows, cols = opts.shape
    hw = sample.psf.half_width_px
    frames, times = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        # As SimulatedSample renders a frame (its particles near the field, background,
        # the camera's noise), so that the time is the camera's.
        xy = sample.camera_coordinates(stage_um)
        inside = (
            (xy[:, 0] > -hw) & (xy[:, 0] < cols + hw) & (xy[:, 1] > -hw) & (xy[:, 1] < rows + hw)
        )
        xy = xy[inside]
        amplitude = np.full(len(xy), opts.photons_per_ms * exposure_ms)
        photons = sample.psf.render(opts.shape, xy[:, 0], xy[:, 1], amplitude)
        photons += opts.background_photons_per_ms * exposure_ms
        frames.append(sample.camera.expose(photons, rng))
        times.append(time.perf_counter() - t0)
    return frames, 1e3 * float(np.median(times))


def time_path(
    option: PathOption, frames: Sequence[np.ndarray], n_timed: int = TIMED_FRAMES
) -> tuple[PathTiming, Any]:
    """Time one path on ``frames``: its first frame apart, then ``n_timed`` more.

    Returns
    -------
    timing : PathTiming
    localizer
        The localizer timed (configured on ``frames``).
    """
    t0 = time.perf_counter()
    loc = option.build()
    prepare = getattr(loc, "prepare", None)
    if callable(prepare):
        prepare()  # the Tracker calls it when it is built: one-time too
    loc.locate(frames[0], frame=0)
    setup = time.perf_counter() - t0
    times = []
    for i in range(1, n_timed + 1):
        t = time.perf_counter()
        loc.locate(frames[i % len(frames)], frame=i)
        times.append(time.perf_counter() - t)
    return PathTiming(option.label, 1e3 * float(np.median(times)), 1e3 * setup), loc


def _network(localizer: Any) -> str | None:
    """Return the network a localizer runs (an ``AutoLocalizer``'s once it has chosen)."""
    choice = getattr(localizer, "choice", None)
    if choice is not None:
        return getattr(choice, "model", None)
    return getattr(getattr(localizer, "spec", None), "name", None)


def plan_demo(
    options: Sequence[PathOption],
    sample: Any,
    exposure_ms: float,
    *,
    stage_um: tuple[float, float] = (0.0, 0.0),
    window: bool = False,
    margin: float = MARGIN,
) -> DemoPlan:
    """Time the paths on frames of the demo's camera and choose one (:func:`choose_plan`).

    Parameters
    ----------
    options : sequence of PathOption
        The paths, the most accurate first (:func:`path_options`).
    sample : SimulatedSample
        The demo's sample; its frames are rendered (:func:`render_frames`), and the time
        that takes is the camera simulation's share of the CPU.
    exposure_ms : float
        The exposure asked for (sets the rate).
    stage_um : tuple of float
        The stage position.
    window : bool
        The viewer window runs beside tracking: :data:`VIEWER_SHARE` of each frame is left
        to it.
    margin : float
        As for :class:`DemoPlan`.

    Returns
    -------
    DemoPlan
    """
    frames, camera_ms = render_frames(sample, exposure_ms, stage_um)
    networks: list[str | None] = []

    def measure(i: int) -> PathTiming | None:
        option = options[i]
        if option.requires_model is not None and networks[:1] != [option.requires_model]:
            return None
        timing, loc = time_path(option, frames)
        networks.append(_network(loc))
        return timing

    return choose_plan(
        len(options),
        measure,
        1000.0 / exposure_ms,
        overhead_ms=camera_ms,
        margin=margin,
        share=1.0 - VIEWER_SHARE if window else 1.0,
    )
