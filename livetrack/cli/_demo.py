"""``livetrack demo``: track a simulated microscope live and record the tracks."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from livetrack._errors import InputError

__all__ = ["register"]

_LOCALIZERS = ("auto", "cnn", "centroid")


def _localizer(kind: str, model: str) -> Any:
    from livetrack.pipeline import default_localizer

    if kind == "auto":
        return default_localizer(model)
    if kind == "cnn":
        from livetrack.infer import CNNLocalizer

        return CNNLocalizer(model)
    from livetrack.localize import CentroidLocalizer

    return CentroidLocalizer()


def _status(tracker, total: int, done: threading.Event, period_s: float = 0.5) -> None:
    while not done.wait(period_s):
        s = tracker.stats()
        sys.stdout.write(
            f"\r  frame {s.processed:6d}/{total}  {s.fps:6.1f} fps  backlog {s.backlog:4d}  "
            f"dropped {s.dropped}  latency {s.latency_median_ms:6.1f} ms "
            f"(p99 {s.latency_p99_ms:6.1f})"
        )
        sys.stdout.flush()


def demo(
    frames: Annotated[
        int, typer.Option("--frames", "-n", help="Frames to acquire and track.")
    ] = 300,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the recorded tracks (tracks.csv).")
    ] = Path("livetrack-demo"),
    headless: Annotated[
        bool, typer.Option("--headless", help="No window: status line on the terminal.")
    ] = False,
    localizer: Annotated[
        str, typer.Option(help="auto (CNN if available, else centroid), cnn or centroid.")
    ] = "auto",
    model: Annotated[str, typer.Option(help="Shipped CNN model name.")] = "spots",
    size: Annotated[int, typer.Option(help="Camera width and height in pixels.")] = 512,
    exposure_ms: Annotated[
        float, typer.Option(help="Camera exposure (sets the frame rate).")
    ] = 40.0,
    particles: Annotated[int, typer.Option(help="Particles on the (periodic) sample.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the simulated sample.")] = 0,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep the particle nearest the centre centred.")
    ] = False,
) -> None:
    """Start the simulated microscope, track FRAMES frames live and record them to OUT."""
    if frames < 1:
        raise InputError(f"--frames must be >= 1, got {frames}")
    if localizer not in _LOCALIZERS:
        raise InputError(f"--localizer must be one of {', '.join(_LOCALIZERS)}, got {localizer!r}")
    if size < 16:
        raise InputError(f"--size must be >= 16, got {size}")
    if not headless:
        typer.echo("the live viewer is not available yet; running headless")

    import numpy as np

    from livetrack.acquire import run_continuous, simulated_core
    from livetrack.link import Linker
    from livetrack.pipeline import Tracker, TrackerOptions, localizer_name
    from livetrack.record import TrackWriter

    core = simulated_core(
        shape=(size, size), exposure_ms=exposure_ms, n_particles=particles, seed=seed
    )
    pixel_size = core.getPixelSizeUm()
    loc = _localizer(localizer, model)
    linker = Linker(search_range_px=5.0, memory=2)
    header = {
        "model": localizer_name(loc),
        "pixel_size_um": pixel_size,
        "source": "livetrack demo (simulated microscope)",
        "settings": {
            "size": size,
            "exposure_ms": exposure_ms,
            "particles": particles,
            "seed": seed,
        },
    }
    writer = TrackWriter(out, header)
    callbacks = []
    if follow:
        from livetrack.feedback import Recenter

        callbacks.append(Recenter(core))
    options = TrackerOptions(pixel_size_um=pixel_size)
    tracker = Tracker(loc, linker, writer, callbacks=callbacks, options=options)
    typer.echo(
        f"livetrack demo: {size}x{size} simulated camera at {1000 / exposure_ms:.0f} fps, "
        f"{localizer_name(loc)}, recording to {writer.path}"
    )
    done = threading.Event()
    status = threading.Thread(target=_status, args=(tracker, frames, done), daemon=True)
    status.start()
    stop = threading.Event()
    t0 = time.perf_counter()
    try:
        run = run_continuous(core, tracker, n_frames=frames, stop_event=stop)
    except KeyboardInterrupt:
        stop.set()
        tracker.stop()
        typer.echo("\ninterrupted")
        run = None
    finally:
        done.set()
        status.join()
    stats = run.stats if run is not None else tracker.stats()
    wall = time.perf_counter() - t0
    typer.echo("")
    typer.echo(
        f"frames {stats.processed} tracked of {stats.submitted} acquired "
        f"({stats.dropped} dropped, {stats.failed} failed) in {wall:.1f} s"
    )
    typer.echo(f"tracks {linker.next_id}")
    typer.echo(f"fps    {stats.processed / wall:.1f} overall, {stats.fps:.1f} recent")
    typer.echo(
        f"latency median {stats.latency_median_ms:.1f} ms, p99 {stats.latency_p99_ms:.1f} ms, "
        f"max backlog {stats.max_backlog}"
    )
    if follow:
        rc = callbacks[0]
        offsets = np.hypot(*np.array([h[1:] for h in rc.history]).T) if rc.history else [np.nan]
        typer.echo(
            f"follow particle {rc.particle}: {rc.moves} stage moves, offset from centre "
            f"mean {np.mean(offsets):.2f} px, max {np.max(offsets):.2f} px"
        )
    typer.echo(f"tracks written to {writer.path}  (livetrack.read_tracks({str(out)!r}))")


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the ``livetrack`` app."""
    app.command("demo")(demo)
