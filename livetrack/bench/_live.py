"""Live tracking benchmark on the simulated Micro-Manager camera.

For each localizer (the shipped CNN on ONNX Runtime, the classical centroid):

- throughput: frames per second the pipeline (localize + link + record) sustains when the
  camera delivers frames as fast as it can;
- sustained rate: the highest camera rate at which a trial has zero dropped frames and a
  flat backlog (slope < 1 frame/s, final backlog < 0.25 s of frames), with the
  frame-to-positions latency (median, p99) at that rate;
- soak: N frames at a sustainable rate; resident memory and latency per block of 1,000
  frames (target: < 50 MB growth after the first 1,000).

The camera replays pre-rendered frames so that rendering does not compete with tracking for
the CPU; frames still go through UniMMCore's sequence acquisition and circular buffer, as a
real camera's would.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np

from livetrack._extras import require

#: Photons per particle per frame, whatever the frame rate (SNR stays fixed across rates).
PHOTONS = 500.0


def make_localizer(kind: str, backend: str = "onnxruntime") -> Any:
    """Build a live localizer from a registry name (``"centroid"``, ``"cnn:spots:int8:fast"``).

    See :mod:`livetrack.registry`; the CNN runs on ``backend`` (fp32 ONNX Runtime by default)
    unless the name names one, and a name asking for later frames (``:t<k>``) is an error.
    """
    from livetrack.registry import make_localizer as from_registry

    return from_registry(kind, backend=backend, live=True)


def _core(size: int, rate_hz: float | None, replay: int) -> Any:
    from livetrack.acquire import simulated_core

    exposure = 1000.0 / rate_hz if rate_hz else 10.0
    return simulated_core(
        circular_buffer_mb=128,
        shape=(size, size),
        exposure_ms=exposure,
        photons_per_ms=PHOTONS / exposure,
        background_photons_per_ms=10.0 / exposure,
        realtime=rate_hz is not None,
        replay_frames=replay,
        seed=1,
    )


def run_once(
    localizer: Any,
    size: int,
    rate_hz: float | None,
    *,
    seconds: float | None = None,
    n_frames: int | None = None,
    replay: int = 64,
    out: Path | None = None,
) -> dict:
    """Run one continuous acquisition through the live pipeline and return its statistics.

    ``rate_hz=None`` lets the camera run as fast as it can (throughput).
    """
    from livetrack.acquire import run_continuous
    from livetrack.link import Linker
    from livetrack.pipeline import Tracker, TrackerOptions, localizer_name
    from livetrack.record import TrackWriter

    core = _core(size, rate_hz, replay)
    core.snapImage()  # renders the replay pool before the clock starts
    recorder = None
    if out is not None:
        recorder = TrackWriter(out, {"model": localizer_name(localizer)}, overwrite=True)
    tracker = Tracker(localizer, Linker(5.0, memory=2), recorder, options=TrackerOptions())
    trace: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not done.wait(0.1):
            trace.append((time.perf_counter() - t0, tracker.stats().backlog))

    sampler = threading.Thread(target=sample, daemon=True)
    tracker.start()
    sampler.start()
    run = run_continuous(core, tracker, n_frames=n_frames, duration_s=seconds, stop_tracker=False)
    done.set()
    sampler.join()
    stats = tracker.stop()  # drains what is left: every frame's latency counts
    t = np.array([p[0] for p in trace]) if trace else np.zeros(0)
    b = np.array([p[1] for p in trace]) if trace else np.zeros(0)
    slope = float(np.polyfit(t, b, 1)[0]) if len(t) > 2 else 0.0
    return {
        "rate_hz": rate_hz,
        "frames": run.frames,
        "duration_s": run.duration_s,
        "camera_fps": run.frames / run.duration_s,
        "lost_in_buffer": run.lost_in_buffer,
        "backlog_slope_per_s": slope,
        "backlog_at_end_of_acquisition": int(b[-1]) if len(b) else 0,
        **asdict(stats),
    }


def sustained(result: dict) -> bool:
    """Whether a trial kept up: no drops, a flat backlog and the camera at its set rate."""
    rate = result["rate_hz"] or result["camera_fps"]
    return (
        result["dropped"] == 0
        and result["lost_in_buffer"] == 0
        and result["backlog_slope_per_s"] < 1.0
        and result["backlog_at_end_of_acquisition"] < max(2, 0.25 * rate)
        and result["camera_fps"] >= 0.95 * rate
    )


def soak(
    localizer: Any,
    size: int,
    rate_hz: float,
    n_frames: int,
    block: int = 1000,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Track ``n_frames`` at ``rate_hz``; resident memory and latency per ``block`` frames."""
    psutil = require("psutil", "the soak of bench live")

    from livetrack.acquire import run_continuous
    from livetrack.link import Linker
    from livetrack.pipeline import Tracker, TrackerOptions, localizer_name
    from livetrack.record import TrackWriter

    proc = psutil.Process(os.getpid())
    core = _core(size, rate_hz, 64)
    core.snapImage()
    with TemporaryDirectory() as tmp:
        recorder = TrackWriter(Path(tmp), {"model": localizer_name(localizer)})
        options = TrackerOptions(stats_window=block)
        tracker = Tracker(localizer, Linker(5.0, memory=2), recorder, options=options)
        blocks: list[dict] = []
        marks = {"next": block}

        def watch(result: Any) -> None:
            if result.frame + 1 >= marks["next"]:
                marks["next"] += block
                s = tracker.stats()
                blocks.append(
                    {
                        "frames": result.frame + 1,
                        "rss_mb": proc.memory_info().rss / 2**20,
                        "latency_median_ms": s.latency_median_ms,
                        "latency_p99_ms": s.latency_p99_ms,
                        "backlog": s.backlog,
                    }
                )
                if progress is not None:
                    progress(
                        f"soak {blocks[-1]['frames']} frames: rss {blocks[-1]['rss_mb']:.0f} MB, "
                        f"latency {s.latency_median_ms:.1f} / p99 {s.latency_p99_ms:.1f} ms"
                    )

        tracker.callbacks.append(watch)
        run = run_continuous(core, tracker, n_frames=n_frames)
    rss = [b["rss_mb"] for b in blocks]
    return {
        "rate_hz": rate_hz,
        "frames": run.frames,
        "dropped": run.stats.dropped,
        "rss_growth_after_first_block_mb": (max(rss) - rss[0]) if rss else float("nan"),
        "blocks": blocks,
    }


_BUILD_SCRIPT = """
import sys, time
from livetrack.infer import CNNLocalizer
from livetrack.pipeline import default_tracker
model, threshold = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if threshold == "default":
    default_tracker()
else:
    default_tracker(CNNLocalizer(model, threshold=threshold))
print(time.perf_counter() - t0)
"""


def tracker_build_seconds(model: str = "spots") -> dict[str, Any]:
    """Time to build a live ``Tracker`` with the default model, each in a fresh process.

    What a user waits for between asking for a tracker and its being ready for the first
    frame: loading the model, starting the backend's session and the backend's warm-up
    run, and for ``threshold="adaptive"`` reading the threshold's rates (stored with the
    model; measuring them took seconds). Importing livetrack is not counted.

    Parameters
    ----------
    model : str
        The model of the adaptive case; the other is :func:`~livetrack.pipeline.default_tracker`
        as it is.

    Returns
    -------
    dict
        ``{"model", "default_s", "adaptive_s"}``.
    """
    import subprocess
    import sys

    def once(threshold: str) -> float:
        run = subprocess.run(
            [sys.executable, "-c", _BUILD_SCRIPT, model, threshold],
            capture_output=True,
            text=True,
            check=True,
        )
        return float(run.stdout.strip().splitlines()[-1])

    return {"model": model, "default_s": once("default"), "adaptive_s": once("adaptive")}


def run_live(
    kinds: Sequence[str] = ("cnn", "centroid"),
    size: int = 512,
    rates: Sequence[float] = (10, 15, 20, 30, 45, 60, 80, 100),
    seconds: float = 6.0,
    soak_frames: int = 0,
    soak_rate: float | None = None,
    progress: Callable[[str], None] | None = None,
    build_model: str | None = "spots",
    viewer: bool = True,
    backend: str = "onnxruntime",
) -> dict:
    """Throughput, the highest sustained rate, and optionally a soak, per localizer.

    Parameters
    ----------
    kinds : sequence of str
        ``"centroid"``, ``"cnn"`` or ``"cnn:<model>"``.
    size : int
        Square frame size in pixels.
    rates : sequence of float
        Camera rates (Hz) tried in increasing order until one is not sustained.
    seconds : float
        Length of each rate trial.
    soak_frames : int
        Frames of the soak run (0: none).
    soak_rate : float, optional
        Camera rate of the soak; defaults to the best sustained rate.
    progress : callable, optional
        Receives one line per step.
    build_model : str, optional
        Model of :func:`tracker_build_seconds`, measured first; None skips it.
    viewer : bool
        Measure last what the live viewer costs the first localizer, and its display rate
        with 1,000 tracks (:func:`run_viewer_bench`; offscreen Qt without a display);
        skipped with a note where the viewer extra is missing.
    backend : str
        The CNN's backend where a name names none (``"auto"``, ``"cuda"``, ...).

    Returns
    -------
    dict
        ``{"size", "cpu_count", "results": {kind: {...}}}`` with the raw trials,
        ``"tracker_build"`` (:func:`tracker_build_seconds`) and ``"viewer"``.
    """
    say = progress or (lambda _msg: None)
    from livetrack.pipeline import localizer_name

    report: dict = {"size": size, "cpu_count": len(os.sched_getaffinity(0)), "results": {}}
    if build_model is not None:
        build = tracker_build_seconds(build_model)
        report["tracker_build"] = build
        default, adaptive = build["default_s"], build["adaptive_s"]
        say(f"live Tracker built in {default:.2f} s ({adaptive:.2f} s adaptive)")
    for kind in kinds:
        loc = make_localizer(kind, backend)
        name = localizer_name(loc)
        say(f"== {kind}: {name}")
        loc.locate(np.zeros((size, size), np.uint16) + 100)  # warm up
        entry: dict = {"localizer": kind, "pipeline": name, "trials": []}
        with TemporaryDirectory() as tmp:
            entry["throughput"] = run_once(loc, size, None, n_frames=200, out=Path(tmp) / "t.csv")
            say(f"throughput {entry['throughput']['fps']:.1f} fps")
            best = None
            for rate in sorted(rates):
                res = run_once(loc, size, rate, seconds=seconds, out=Path(tmp) / "r.csv")
                ok = sustained(res)
                entry["trials"].append({**res, "sustained": ok})
                say(
                    f"{rate:5.0f} Hz: camera {res['camera_fps']:6.1f} fps, dropped "
                    f"{res['dropped']}, backlog slope {res['backlog_slope_per_s']:+.1f}/s, "
                    f"latency {res['latency_median_ms']:.1f} / p99 {res['latency_p99_ms']:.1f} ms"
                    f" -> {'sustained' if ok else 'NOT sustained'}"
                )
                if not ok:
                    break
                best = res
                gc.collect()
        entry["sustained"] = best
        if soak_frames:
            rate = soak_rate or (best["rate_hz"] if best else min(rates))
            entry["soak"] = soak(loc, size, rate, soak_frames, progress=say)
        report["results"][kind] = entry
    if viewer and kinds:
        # Last: the Qt application it starts stays for the rest of the process.
        found = run_viewer_bench(kinds[0], size, seconds=seconds, progress=say, backend=backend)
        if found is not None:
            report["viewer"] = found
    return report


def live_markdown(report: dict) -> str:
    """Render a :func:`run_live` report as a markdown table, with ratios to the centroid."""
    rows = []
    base = report["results"].get("centroid", {}).get("throughput", {}).get("fps")
    head = (
        "| localizer | throughput fps | × centroid | sustained fps (0 dropped) "
        "| latency median ms | p99 ms | soak frames | soak RSS growth MB | soak p99 first→last ms |"
    )
    rows.append(head)
    rows.append("|" + "---|" * 9)
    for e in report["results"].values():
        fps = e["throughput"]["fps"]
        best = e.get("sustained")
        ratio = f"{fps / base:.2f}" if base else "–"
        cells = [
            e["localizer"],
            f"{fps:.1f}",
            ratio,
            f"{best['rate_hz']:.0f}" if best else "none",
            f"{best['latency_median_ms']:.1f}" if best else "–",
            f"{best['latency_p99_ms']:.1f}" if best else "–",
        ]
        s = e.get("soak")
        if s and s["blocks"]:
            cells += [
                str(s["frames"]),
                f"{s['rss_growth_after_first_block_mb']:.1f}",
                f"{s['blocks'][0]['latency_p99_ms']:.1f} → {s['blocks'][-1]['latency_p99_ms']:.1f}",
            ]
        else:
            cells += ["–", "–", "–"]
        rows.append("| " + " | ".join(cells) + " |")
    build = report.get("tracker_build")
    if build:
        rows.append("")
        rows.append(
            f"Building a live `Tracker` (fresh process, imports not counted): "
            f"{build['default_s']:.2f} s with the default localizer, "
            f'{build["adaptive_s"]:.2f} s with `{build["model"]}` and `threshold="adaptive"`.'
        )
    if report.get("viewer"):
        rows += ["", viewer_markdown(report["viewer"]).rstrip("\n")]
    return "\n".join(rows) + "\n"


# -- the live viewer's cost and display rate (offscreen Qt) -----------------------------

#: The viewer configurations whose tracker throughput is compared.
VIEWER_CONFIGS = ("none", "relay", "window")
#: Camera rates tried without the viewer, as fractions of the free-running throughput,
#: until one is sustained.
LADDER = (0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4)


def _viewer_trial(
    localizer: Any,
    size: int,
    config: str,
    n_frames: int,
    rate_hz: float | None = None,
) -> dict:
    """Track ``n_frames`` with the viewer as ``config`` says; the camera at ``rate_hz``.

    ``"none"``: no viewer. ``"relay"``: the viewer's callbacks and its tails and
    statistics, the widget never shown. ``"window"``: the viewer shown (offscreen where
    there is no display) and drawing. The acquisition runs on its own thread, the Qt
    event loop on this one, as in ``livetrack demo``. ``rate_hz=None``: the camera runs
    as fast as it can (throughput).
    """
    from livetrack.acquire import run_continuous
    from livetrack.link import Linker
    from livetrack.pipeline import Tracker, TrackerOptions

    core = _core(size, rate_hz, 64)
    core.snapImage()  # renders the replay pool before the clock starts
    tracker = Tracker(localizer, Linker(5.0, memory=2), options=TrackerOptions())
    outcome: dict[str, Any] = {}
    trace: list[tuple[float, int]] = []

    def acquire() -> None:
        t0 = time.perf_counter()
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                trace.append((time.perf_counter() - t0, tracker.stats().backlog))

        sampler = threading.Thread(target=sample, daemon=True)
        tracker.start()
        sampler.start()
        outcome["run"] = run_continuous(core, tracker, n_frames=n_frames, stop_tracker=False)
        done.set()
        sampler.join()
        outcome["stats"] = tracker.stop()

    thread = threading.Thread(target=acquire, name="bench-acquisition", daemon=True)
    viewer = None
    if config != "none":
        from PyQt6.QtCore import QEventLoop, QTimer

        from livetrack.viewer import LiveViewer, ensure_app

        ensure_app()
        viewer = LiveViewer(tracker)
        if config == "window":
            viewer.resize(1400, 820)
            viewer.show()
        loop = QEventLoop()
        poll = QTimer()
        poll.timeout.connect(lambda: None if thread.is_alive() else loop.quit())
        poll.start(20)
        thread.start()
        t_start = time.perf_counter()
        loop.exec()
        poll.stop()
    else:
        t_start = time.perf_counter()
        thread.start()
    thread.join()
    elapsed = time.perf_counter() - t_start
    run, stats = outcome["run"], outcome["stats"]
    t = np.array([p[0] for p in trace]) if trace else np.zeros(0)
    b = np.array([p[1] for p in trace]) if trace else np.zeros(0)
    out = {
        "config": config,
        "rate_hz": rate_hz,
        "frames": run.frames,
        "camera_fps": run.frames / run.duration_s,
        "lost_in_buffer": run.lost_in_buffer,
        "backlog_slope_per_s": float(np.polyfit(t, b, 1)[0]) if len(t) > 2 else 0.0,
        "backlog_at_end_of_acquisition": int(b[-1]) if len(b) else 0,
        **asdict(stats),
    }
    if viewer is not None:
        out["displayed_frames"] = viewer.displayed_frames
        out["display_fps"] = viewer.displayed_frames / elapsed
        out["painted"] = viewer.canvas.painted
        out["backed_off"] = viewer.backed_off
        viewer.detach()
        from livetrack.viewer import dispose

        dispose(viewer)
    return out


def viewer_cost(
    localizer: Any,
    size: int = 512,
    n_frames: int = 200,
    repeats: int = 2,
    seconds: float = 6.0,
    rate_fraction: float = 0.9,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Measure what the viewer costs the tracker: throughput, and a camera rate it sustains.

    Throughput: the camera runs free, the tracker works flat out, without the viewer, with
    its callbacks only and with its window drawing; the configurations alternate
    ``repeats`` times and the median of each is kept, so a slow spell of a shared machine
    falls on all of them. The free-running camera keeps the tracker behind, so the window
    draws at its ``min_display_fps`` there.

    Then the rate the tracker sustains (:func:`sustained`: no dropped frames, a flat
    backlog) without the viewer: camera rates of :data:`LADDER` times the throughput, for
    ``seconds`` each, from the top until one is sustained. At that rate, and if the window
    does not keep up there, at ``rate_fraction`` of it, runs without and with the window
    drawing (at full rate while the tracker keeps up) alternate ``repeats`` times; each is
    judged by :func:`kept_up`. Kept up with the window at 0.9 of the rate means the viewer
    costs at most 10 % of the rate tracked.

    Returns
    -------
    dict
        ``{"size", "frames", "trials": [...], "fps": {config: median}, "cost": {config:
        fraction of the no-viewer fps lost}, "ladder": [...], "sustained_without": trial
        or None, "at_rate": {"<rate Hz>": [alternating trials without / with the window]}}``.
    """
    say = progress or (lambda _msg: None)
    trials = []
    for _ in range(repeats):
        for config in VIEWER_CONFIGS:
            trial = _viewer_trial(localizer, size, config, n_frames)
            trials.append(trial)
            shown = f", display {trial['display_fps']:.1f} fps" if "display_fps" in trial else ""
            say(f"viewer {config}: tracker {trial['fps']:.1f} fps{shown}")
            gc.collect()
    fps = {
        c: float(np.median([t["fps"] for t in trials if t["config"] == c])) for c in VIEWER_CONFIGS
    }
    cost = {c: 1.0 - fps[c] / fps["none"] if fps["none"] > 0 else float("nan") for c in fps}
    ladder = []
    best = None
    for fraction in LADDER:
        rate = round(fraction * fps["none"], 1)
        trial = _viewer_trial(localizer, size, "none", max(1, int(rate * seconds)), rate)
        trial["sustained"] = sustained(trial)
        ladder.append(trial)
        say(_rate_line("no viewer", trial))
        if trial["sustained"]:
            best = trial
            break
    at_rate: dict[str, list[dict]] = {}
    if best is not None:
        # At the rate sustained without it, then at rate_fraction of that: the viewer and
        # no viewer alternate, so the machine's slow spells fall on both.
        for fraction in (1.0, rate_fraction):
            rate = round(fraction * best["rate_hz"], 1)
            key = f"{rate:.1f}"
            at_rate[key] = []
            for _ in range(repeats):
                for config in ("none", "window"):
                    frames = max(1, int(rate * seconds))
                    trial = _viewer_trial(localizer, size, config, frames, rate)
                    trial["kept_up"] = kept_up(trial)
                    at_rate[key].append(trial)
                    say(_rate_line("viewer window" if config == "window" else "no viewer", trial))
            if all(t["kept_up"] for t in at_rate[key] if t["config"] == "window"):
                break
    return {
        "size": size,
        "frames": n_frames,
        "trials": trials,
        "fps": fps,
        "cost": cost,
        "ladder": ladder,
        "sustained_without": best,
        "at_rate": at_rate,
    }


def kept_up(result: dict) -> bool:
    """Whether the tracker kept up with the frames the camera delivered (no drops, flat backlog).

    :func:`sustained` also asks the camera to deliver its set rate; beside the viewer the
    simulated camera, a Python device in the same process, can fall short of it (the
    GUI thread takes the interpreter from it), which says nothing of tracking.
    """
    rate = result["rate_hz"] or result["camera_fps"]
    return (
        result["dropped"] == 0
        and result["lost_in_buffer"] == 0
        and result["backlog_slope_per_s"] < 1.0
        and result["backlog_at_end_of_acquisition"] < max(2, 0.25 * rate)
    )


def _verdict(trial: dict) -> str:
    if "kept_up" in trial:
        return "kept up" if trial["kept_up"] else "did NOT keep up"
    return "sustained" if trial["sustained"] else "NOT sustained"


def _rate_line(what: str, trial: dict) -> str:
    shown = f", display {trial['display_fps']:.1f} fps" if "display_fps" in trial else ""
    return (
        f"{what}, camera at {trial['rate_hz']:.1f} Hz: dropped {trial['dropped']}, backlog "
        f"slope {trial['backlog_slope_per_s']:+.1f}/s, latency {trial['latency_median_ms']:.1f}"
        f" / p99 {trial['latency_p99_ms']:.1f} ms, camera delivered {trial['camera_fps']:.1f} "
        f"fps{shown} -> {_verdict(trial)}"
    )


def _random_walk_results(n_tracks: int, size: int, seed: int = 0) -> Callable[[int], Any]:
    """Return ``make(frame) -> FrameResult``: ``n_tracks`` particles diffusing on a frame."""
    import pandas as pd

    from livetrack.pipeline import FrameResult

    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, size - 1, (n_tracks, 2))
    frames = [rng.poisson(100, (size, size)).astype(np.uint16) for _ in range(4)]
    ids = np.arange(n_tracks)

    def make(frame: int) -> Any:
        pos[:] = np.clip(pos + rng.normal(0, 1.0, pos.shape), 0, size - 1)
        df = pd.DataFrame({"frame": frame, "x": pos[:, 0], "y": pos[:, 1], "particle": ids})
        return FrameResult(frame, frame / 100.0, df, 0.0, 0.0, image=frames[frame % 4])

    return make


def display_rate(
    n_tracks: int = 1000,
    tail_frames: int = 100,
    size: int = 512,
    camera_hz: float = 100.0,
    seconds: float = 4.0,
) -> dict:
    """Frames per second the viewer draws with ``n_tracks`` live tracks and long tails.

    A feeder thread hands the relay one result per camera frame (``n_tracks`` particles
    diffusing on a ``size``² frame), as the tracker's worker would; the viewer, shown
    (offscreen where there is no display) with no cap on its display rate, draws as
    often as it can. Timing starts once the tails are full.

    Returns
    -------
    dict
        ``{"n_tracks", "tail_frames", "size", "camera_hz", "display_fps", "painted_fps",
        "frames_fed", "ms_per_display"}``.
    """
    from PyQt6.QtCore import QEventLoop, QTimer

    from livetrack.viewer import LiveViewer, ViewerOptions, dispose, ensure_app

    app = ensure_app()
    options = ViewerOptions(tail_frames=tail_frames, max_display_fps=1000.0)
    viewer = LiveViewer(options=options)
    viewer.resize(1400, 820)
    viewer.show()
    make = _random_walk_results(n_tracks, size)
    for frame in range(tail_frames):  # tails full before the clock starts
        viewer.relay(make(frame))
    viewer.refresh()
    app.processEvents()
    stop = threading.Event()
    fed = {"n": tail_frames}

    def feed() -> None:
        period = 1.0 / camera_hz
        next_t = time.perf_counter()
        while not stop.is_set():
            viewer.relay(make(fed["n"]))
            fed["n"] += 1
            next_t += period
            time.sleep(max(0.0, next_t - time.perf_counter()))

    feeder = threading.Thread(target=feed, name="bench-feeder", daemon=True)
    shown0, painted0, fed0 = viewer.displayed_frames, viewer.canvas.painted, fed["n"]
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    t0 = time.perf_counter()
    feeder.start()
    loop.exec()
    elapsed = time.perf_counter() - t0
    stop.set()
    feeder.join()
    shown = viewer.displayed_frames - shown0
    painted = viewer.canvas.painted - painted0
    dispose(viewer)
    return {
        "n_tracks": n_tracks,
        "tail_frames": tail_frames,
        "size": size,
        "camera_hz": camera_hz,
        "display_fps": shown / elapsed,
        "painted_fps": painted / elapsed,
        "frames_fed": fed["n"] - fed0,
        "ms_per_display": 1e3 * elapsed / shown if shown else float("nan"),
    }


def run_viewer_bench(
    kind: str,
    size: int = 512,
    n_frames: int = 200,
    repeats: int = 2,
    seconds: float = 4.0,
    progress: Callable[[str], None] | None = None,
    backend: str = "onnxruntime",
) -> dict | None:
    """Measure the viewer's cost to the tracker (``kind``'s localizer) and its display rate.

    None, with a progress line saying why, where the viewer extra is not installed.
    """
    say = progress or (lambda _msg: None)
    from livetrack.viewer import viewer_unavailable

    reason = viewer_unavailable()
    if reason is not None:
        say(f"viewer benchmark skipped: {reason}")
        return None
    from livetrack.pipeline import localizer_name

    loc = make_localizer(kind, backend)
    loc.locate(np.zeros((size, size), np.uint16) + 100)  # warm up
    say(f"== viewer: tracker {localizer_name(loc)} on {size}x{size}, camera free-running")
    cost = viewer_cost(loc, size, n_frames, repeats, seconds, progress=say)
    display = display_rate(seconds=seconds)
    say(
        f"viewer display: {display['display_fps']:.1f} fps with {display['n_tracks']} tracks, "
        f"{display['tail_frames']}-frame tails, {display['size']}x{display['size']}"
    )
    return {"localizer": kind, "pipeline": localizer_name(loc), "cost": cost, "display": display}


def viewer_markdown(entry: dict) -> str:
    """Render :func:`run_viewer_bench`'s result as a markdown table and two lines."""
    cost, display = entry["cost"], entry["display"]
    names = {
        "none": "no viewer",
        "relay": "viewer callbacks, tails, statistics (widget hidden)",
        "window": "viewer window drawing (offscreen Qt)",
    }
    runs = len(cost["trials"]) // len(VIEWER_CONFIGS)
    rows = [
        f"Live viewer: `{entry['localizer']}` on {cost['size']}x{cost['size']}, camera "
        f"free-running, median of {runs} runs of {cost['frames']} frames each",
        "",
        "| tracker with | throughput fps | cost | display fps |",
        "|---|---|---|---|",
    ]
    for config in VIEWER_CONFIGS:
        lost = "–" if config == "none" else f"{100 * cost['cost'][config]:.1f} %"
        shown = [
            t["display_fps"] for t in cost["trials"] if t["config"] == config and "display_fps" in t
        ]
        disp = f"{np.median(shown):.1f}" if config == "window" and shown else "–"
        rows.append(f"| {names[config]} | {cost['fps'][config]:.1f} | {lost} | {disp} |")
    best = cost["sustained_without"]
    if best is None:
        sustained_line = "No camera rate tried was sustained without the viewer."
    else:
        parts, ok = [], False
        for rate, tried in cost["at_rate"].items():
            window = [t for t in tried if t["config"] == "window"]
            alone = [t for t in tried if t["config"] == "none"]
            n_ok = sum(t["kept_up"] for t in window)
            ok |= n_ok == len(window) and float(rate) >= 0.9 * best["rate_hz"] - 0.05
            parts.append(
                f"At {rate} Hz tracking kept up {n_ok}/{len(window)} times with the window "
                f"(without it {sum(t['kept_up'] for t in alone)}/{len(alone)}; camera "
                f"delivered {np.median([t['camera_fps'] for t in window]):.1f} / "
                f"{np.median([t['camera_fps'] for t in alone]):.1f} fps), display "
                f"{np.median([t['display_fps'] for t in window]):.1f} fps, latency median "
                f"{np.median([t['latency_median_ms'] for t in window]):.1f} ms (without "
                f"{np.median([t['latency_median_ms'] for t in alone]):.1f} ms)"
            )
        sustained_line = (
            f"Sustained camera rate without the viewer: {best['rate_hz']:.1f} Hz. "
            + "; ".join(parts)
            + f". Target ≤ 10 % cost (kept up at 0.9 of that rate): {'met' if ok else 'NOT met'}."
        )
    rows += [
        "",
        sustained_line,
        "",
        f"Display: {display['display_fps']:.1f} fps ({display['ms_per_display']:.1f} ms per "
        f"drawn frame) with {display['n_tracks']} live tracks and {display['tail_frames']}-frame "
        f"tails on a {display['size']}x{display['size']} stream at "
        f"{display['camera_hz']:.0f} Hz, no display cap; target ≥ 20 fps: "
        f"{'met' if display['display_fps'] >= 20 else 'NOT met'}.",
    ]
    return "\n".join(rows) + "\n"
