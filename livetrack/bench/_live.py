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


def make_localizer(kind: str) -> Any:
    """Build a live localizer from a registry name (``"centroid"``, ``"cnn:spots:int8:fast"``).

    See :mod:`livetrack.registry`; the CNN runs on fp32 ONNX Runtime unless the name names
    a backend, and a name asking for later frames (``:t<k>``) is an error.
    """
    from livetrack.registry import make_localizer as from_registry

    return from_registry(kind, backend="onnxruntime", live=True)


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

    Returns
    -------
    dict
        ``{"size", "cpu_count", "results": {kind: {...}}}`` with the raw trials, and
        ``"tracker_build"`` (:func:`tracker_build_seconds`).
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
        loc = make_localizer(kind)
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
    return "\n".join(rows) + "\n"
