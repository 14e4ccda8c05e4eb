"""Live tracking benchmark on the simulated Micro-Manager camera.

For each localizer (the shipped CNN on ONNX Runtime, the classical centroid):

- throughput: frames per second the pipeline (localize + link + record) sustains
  when the camera delivers frames as fast as it can;
- sustained rate: the highest camera rate (from --rates) at which a run of
  --seconds has zero dropped frames and a flat backlog (slope < 1 frame/s and
  final backlog < 0.25 s of frames), with the frame-to-positions latency
  (median, p99) at that rate;
- soak (--soak N): N frames at a sustainable rate; resident memory and latency
  per block of 1,000 frames (target: < 50 MB growth after the first 1,000).

The camera replays pre-rendered 512x512 frames so that rendering costs do not
compete with tracking for the CPU (it still goes through UniMMCore's sequence
acquisition and circular buffer, as a real camera would).

Usage::

    .venv/bin/python benchmarks/live.py --localizer centroid --localizer cnn
    .venv/bin/python benchmarks/live.py --localizer centroid --soak 20000 --rates 20
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

from livetrack.acquire import run_continuous, simulated_core
from livetrack.link import Linker
from livetrack.pipeline import Tracker, TrackerOptions, localizer_name
from livetrack.record import TrackWriter

PHOTONS = 500.0  # per particle per frame, whatever the frame rate


def make_localizer(kind: str):
    if kind == "centroid":
        from livetrack.localize import CentroidLocalizer

        return CentroidLocalizer()
    if kind.startswith("cnn"):
        from livetrack.infer import CNNLocalizer

        model = kind.partition(":")[2] or "spots"
        return CNNLocalizer(model, backend="onnxruntime")
    raise SystemExit(f"unknown localizer {kind!r} (centroid, cnn or cnn:<model>)")


def _core(size: int, rate_hz: float | None, replay: int):
    exposure = 1000.0 / rate_hz if rate_hz else 10.0
    return simulated_core(
        circular_buffer_mb=128,  # frames are popped at once; a small ring is touched early
        shape=(size, size),
        exposure_ms=exposure,
        photons_per_ms=PHOTONS / exposure,
        background_photons_per_ms=10.0 / exposure,
        realtime=rate_hz is not None,
        replay_frames=replay,
        seed=1,
    )


def run_once(localizer, size, rate_hz, *, seconds=None, n_frames=None, replay=64, out=None):
    """One continuous acquisition; returns stats and a backlog trace."""
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
    rate = result["rate_hz"] or result["camera_fps"]
    return (
        result["dropped"] == 0
        and result["lost_in_buffer"] == 0
        and result["backlog_slope_per_s"] < 1.0
        and result["backlog_at_end_of_acquisition"] < max(2, 0.25 * rate)
        and result["camera_fps"] >= 0.95 * rate
    )


def soak(localizer, size, rate_hz, n_frames, block=1000):
    import psutil

    proc = psutil.Process(os.getpid())
    core = _core(size, rate_hz, 64)
    core.snapImage()
    with TemporaryDirectory() as tmp:
        recorder = TrackWriter(Path(tmp), {"model": localizer_name(localizer)})
        options = TrackerOptions(stats_window=block)
        tracker = Tracker(localizer, Linker(5.0, memory=2), recorder, options=options)
        blocks = []
        marks = {"next": block}

        def watch(result) -> None:
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
                print(f"  soak {blocks[-1]}", file=sys.stderr, flush=True)

        tracker.callbacks.append(watch)
        run = run_continuous(core, tracker, n_frames=n_frames)
    rss = [b["rss_mb"] for b in blocks]
    return {
        "frames": run.frames,
        "dropped": run.stats.dropped,
        "rss_growth_after_first_block_mb": (max(rss) - rss[0]) if rss else float("nan"),
        "blocks": blocks,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--localizer", action="append", help="centroid, cnn or cnn:<model>")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rates", default="10,15,20,30,45,60,80,100", help="camera rates (Hz)")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each rate trial")
    ap.add_argument("--soak", type=int, default=0, help="frames of the soak run (0: none)")
    ap.add_argument("--soak-rate", type=float, default=None, help="default: best sustained")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    kinds = args.localizer or ["centroid", "cnn"]
    rates = sorted(float(r) for r in args.rates.split(","))
    report = {"size": args.size, "cpu_count": os.cpu_count(), "results": {}}
    for kind in kinds:
        try:
            loc = make_localizer(kind)
        except Exception as exc:  # a missing model must not hide the other results
            print(f"{kind}: unavailable ({exc})", file=sys.stderr)
            continue
        name = localizer_name(loc)
        print(f"== {name}", file=sys.stderr, flush=True)
        loc.locate(np.zeros((args.size, args.size), np.uint16) + 100)  # warm up
        entry: dict = {"localizer": name}
        with TemporaryDirectory() as tmp:
            entry["throughput"] = run_once(
                loc, args.size, None, n_frames=200, out=Path(tmp) / "t.csv"
            )
            print(f"  throughput {entry['throughput']['fps']:.1f} fps", file=sys.stderr)
            best = None
            entry["trials"] = []
            for rate in rates:
                res = run_once(loc, args.size, rate, seconds=args.seconds, out=Path(tmp) / "r.csv")
                ok = sustained(res)
                entry["trials"].append({**res, "sustained": ok})
                print(
                    f"  {rate:5.0f} Hz: camera {res['camera_fps']:6.1f} fps, dropped "
                    f"{res['dropped']}, backlog slope {res['backlog_slope_per_s']:+.1f}/s, "
                    f"latency {res['latency_median_ms']:.1f} / p99 {res['latency_p99_ms']:.1f} ms"
                    f" -> {'sustained' if ok else 'NOT sustained'}",
                    file=sys.stderr,
                    flush=True,
                )
                if not ok:
                    break
                best = res
                gc.collect()
        entry["sustained"] = best
        if args.soak:
            rate = args.soak_rate or (best["rate_hz"] if best else rates[0])
            entry["soak"] = soak(loc, args.size, rate, args.soak)
        report["results"][kind] = entry
    print(json.dumps(_summary(report), indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0


def _summary(report: dict) -> dict:
    out = {}
    for kind, e in report["results"].items():
        best = e.get("sustained")
        out[kind] = {
            "localizer": e["localizer"],
            "throughput_fps": round(e["throughput"]["fps"], 1),
            "sustained_fps_zero_drops": best and best["rate_hz"],
            "latency_median_ms": best and round(best["latency_median_ms"], 1),
            "latency_p99_ms": best and round(best["latency_p99_ms"], 1),
        }
        if "soak" in e:
            s = e["soak"]
            out[kind]["soak"] = {
                "frames": s["frames"],
                "dropped": s["dropped"],
                "rss_growth_after_first_1000_mb": round(s["rss_growth_after_first_block_mb"], 1),
                "latency_p99_first_last_ms": [
                    round(s["blocks"][0]["latency_p99_ms"], 1),
                    round(s["blocks"][-1]["latency_p99_ms"], 1),
                ]
                if s["blocks"]
                else None,
            }
    return out


if __name__ == "__main__":
    sys.exit(main())
