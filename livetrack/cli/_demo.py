"""``livetrack demo``: track a simulated microscope live and record the tracks."""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from livetrack import registry
from livetrack._errors import InputError

__all__ = ["register"]

#: Search range in standard deviations of the per-axis Brownian step per frame. The
#: 2-D step length is Rayleigh distributed: P(step > 5 sigma) = exp(-12.5) ~ 4e-6, so
#: a true link is almost never cut, and at the demo's density (~1 particle per 75 x 75
#: px) a wrong one is rare. 4 sigma (P = 3e-4 per step) breaks a few tracks per run.
_SEARCH_SIGMAS = 5.0
#: Frames a particle may go undetected and keep its id: one sitting on the edge of the
#: field hops in and out for a few frames, and two passing close merge for a few.
_MEMORY = 5
#: Detections fainter than this fraction of one particle's mass are dropped before
#: linking. On a 512 x 512 frame the localizers find one or two faint false spots in
#: the noise per frame (median mass 6-10% of a particle's); each started a one-frame track.
_MASS_FRACTION = 0.3


def _localizer(kind: str, model: str, backend: str = "auto") -> Any:
    from livetrack.pipeline import default_localizer

    if kind in ("auto", "cnn") and backend == "auto":
        return default_localizer(model)
    if kind in ("auto", "cnn"):
        options = {} if model == "auto" else {"model": model}
        name = "auto" if model == "auto" else "cnn"
        return registry.make_localizer(name, backend=backend, live=True, **options)
    return registry.make_localizer(kind, backend=backend, live=True)


def _search_range_px(diffusion_um2_per_frame: float, pixel_size_um: float) -> float:
    """Search range matched to the sample's diffusion (at least 2 px for localization error)."""
    step_px = math.sqrt(2.0 * diffusion_um2_per_frame) / pixel_size_um
    return max(2.0, _SEARCH_SIGMAS * step_px)


def _min_mass(loc: Any, sample: Any, exposure_ms: float) -> float | None:
    """Return a mass floor: a fraction of the mass ``loc`` measures for one simulated particle.

    Images four isolated particles with the demo's optics, exposure and camera (a
    fixed seed, away from the live sample) and takes the median mass the localizer
    reports for them, so the floor is in the localizer's own units (ADU for the
    CNN, bandpassed intensity for the centroid). None if none is found.
    """
    import numpy as np

    opts = sample.options
    n = 64
    xs = np.array([16.3, 47.6, 16.8, 47.2])
    ys = np.array([16.5, 16.2, 47.7, 47.4])
    photons = sample.psf.render((n, n), xs, ys, np.full(4, opts.photons_per_ms * exposure_ms))
    photons += opts.background_photons_per_ms * exposure_ms
    image = sample.camera.expose(photons, np.random.default_rng(12345))
    found = loc.locate(image)
    if not len(found) or "mass" not in found.columns:
        return None
    dx = found["x"].to_numpy()[:, None] - xs[None, :]
    dy = found["y"].to_numpy()[:, None] - ys[None, :]
    near = np.hypot(dx, dy).min(axis=1) < 1.5
    if not near.any():
        return None
    return _MASS_FRACTION * float(np.median(found["mass"].to_numpy()[near]))


def _status(
    tracker, total: int, done: threading.Event, note: str = "", period_s: float = 0.5
) -> None:
    while not done.wait(period_s):
        s = tracker.stats()
        sys.stdout.write(
            f"\r  frame {s.processed:6d}/{total}  {s.fps:6.1f} fps  backlog {s.backlog:4d}  "
            f"dropped {s.dropped}  latency {s.latency_median_ms:6.1f} ms "
            f"(p99 {s.latency_p99_ms:6.1f})  {note}"
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
        bool,
        typer.Option(
            "--headless",
            help="No window: status line on the terminal (the default without a display).",
        ),
    ] = False,
    localizer: Annotated[
        str,
        typer.Option(
            help="auto or cnn: the CNN of --model; or any localizer name: "
            f"{registry.localizer_syntax()}, without :t<k>."
        ),
    ] = "auto",
    model: Annotated[
        str,
        typer.Option(
            help="CNN model: auto (size, polarity and noise measured on the first frame) "
            "or a model name or folder."
        ),
    ] = "auto",
    size: Annotated[int, typer.Option(help="Camera width and height in pixels.")] = 512,
    backend: Annotated[
        str,
        typer.Option(
            help="The CNN's inference backend: auto (TensorRT, CUDA, ONNX Runtime, PyTorch: "
            f"the first that runs here) or one of {', '.join(registry.backend_names())}."
        ),
    ] = "auto",
    exposure_ms: Annotated[
        float, typer.Option(help="Camera exposure (sets the frame rate).")
    ] = 40.0,
    particles: Annotated[int, typer.Option(help="Particles on the (periodic) sample.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the simulated sample.")] = 0,
    follow: Annotated[
        bool,
        typer.Option(
            "--recenter",
            "--follow",
            help="Closed loop: keep a particle centred with the stage (the one nearest the "
            "centre; in the window, click another to follow it).",
        ),
    ] = False,
    screenshot: Annotated[
        Path | None,
        typer.Option(
            help="Save the viewer window as PNG at the end (rendered offscreen without a display).",
        ),
    ] = None,
    adapt: Annotated[
        bool,
        typer.Option(
            "--adapt/--no-adapt",
            help="Time the inference paths before the camera starts and run the most "
            "accurate that keeps up with it, or lower the camera rate where none does; "
            "--no-adapt runs the rate and localizer as given.",
        ),
    ] = True,
    camera: Annotated[
        str | None,
        typer.Option(
            help="Camera calibration (livetrack calibrate camera): the localizer sees "
            "photons; one of another frame size or pixel type is refused.",
        ),
    ] = None,
) -> None:
    """Start the simulated microscope, track FRAMES frames live and record them to OUT."""
    if frames < 1:
        raise InputError(f"--frames must be >= 1, got {frames}")
    registry.parse_localizer(localizer)  # an unknown name fails before the microscope starts
    registry.check_backend(backend)  # so does a backend that cannot run here
    if size < 16:
        raise InputError(f"--size must be >= 16, got {size}")
    window = _use_window(headless, screenshot)

    import numpy as np

    from livetrack.acquire import run_continuous, simulated_core
    from livetrack.cli._demo_adapt import format_rate
    from livetrack.link import Linker
    from livetrack.pipeline import Tracker, TrackerOptions, localizer_name
    from livetrack.record import TrackWriter

    core = simulated_core(
        shape=(size, size), exposure_ms=exposure_ms, n_particles=particles, seed=seed
    )
    pixel_size = core.getPixelSizeUm()
    requested_exposure_ms = exposure_ms
    if adapt:
        loc, exposure_ms, path_note = _adapt(core, localizer, model, exposure_ms, window, backend)
    else:
        loc, path_note = _localizer(localizer, model, backend), "as given (--no-adapt)"
    if camera is not None:
        from livetrack.calibrate import PhotonLocalizer, load_camera

        cal = load_camera(camera)
        if cal.header is not None:
            cal.header.check_frames(np.empty((0, size, size), core.sample.dtype), camera)
        # Checked here against the camera; the localizer also sees smaller test images.
        loc = PhotonLocalizer(loc, cal, check=False)
    search_range = _search_range_px(core.microscope.diffusion_um2_per_frame, pixel_size)
    linker = Linker(search_range_px=search_range, memory=_MEMORY)
    min_mass = _min_mass(loc, core.sample, exposure_ms)
    header = {
        "model": localizer_name(loc),
        "pixel_size_um": pixel_size,
        "source": "livetrack demo (simulated microscope)",
        "settings": {
            "size": size,
            "exposure_ms": exposure_ms,
            "requested_exposure_ms": requested_exposure_ms,
            "path": path_note,
            "particles": particles,
            "seed": seed,
            "search_range_px": search_range,
            "memory": _MEMORY,
            "min_mass": min_mass,
        },
    }
    writer = TrackWriter(out, header)
    callbacks = []
    recenter = None
    if follow:
        from livetrack.feedback import Recenter

        recenter = Recenter(core)
        callbacks.append(recenter)
    options = TrackerOptions(pixel_size_um=pixel_size, min_mass=min_mass)
    tracker = Tracker(loc, linker, writer, callbacks=callbacks, options=options)
    typer.echo(
        f"livetrack demo: {size}x{size} simulated camera at {format_rate(1000 / exposure_ms)} "
        f"fps, {localizer_name(loc)}, recording to {writer.path}"
    )
    done = threading.Event()
    status = threading.Thread(target=_status, args=(tracker, frames, done, path_note), daemon=True)
    status.start()
    stop = threading.Event()
    t0 = time.perf_counter()
    try:
        if window:
            from livetrack.cli._demo_window import run_with_window

            run, interrupted = run_with_window(
                core,
                tracker,
                n_frames=frames,
                stop_event=stop,
                recenter=recenter,
                screenshot=screenshot,
                title=f"livetrack demo: {size}x{size} simulated camera, {localizer_name(loc)}",
                status_note=path_note,
            )
            if interrupted:
                typer.echo("\ninterrupted")
        else:
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
    n_tracks = linker.next_id
    mean_length = writer.rows_written / n_tracks if n_tracks else 0.0
    typer.echo(
        f"tracks {n_tracks}, mean length {mean_length:.1f} frames "
        f"(search range {search_range:.1f} px, memory {_MEMORY}, "
        f"min mass {'none' if min_mass is None else f'{min_mass:.0f}'})"
    )
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
    if screenshot is not None:
        typer.echo(f"screenshot saved to {screenshot}")


def _adapt(
    core: Any, localizer: str, model: str, exposure_ms: float, window: bool, backend: str = "auto"
) -> tuple[Any, float, str]:
    """Time the inference paths, print what was measured and chosen, set the camera's rate.

    Returns the localizer to run (a fresh one: the timed ones were configured on frames
    at the requested exposure), the exposure and the note for the status line.
    """
    import logging

    from livetrack.cli._demo_adapt import path_options, plan_demo

    options = path_options(localizer, model, backend)
    infer_log = logging.getLogger("livetrack.infer")
    level = infer_log.level
    # Each timed AutoLocalizer logs its choice; the one that runs logs it again below.
    infer_log.setLevel(max(logging.WARNING, level))
    try:
        x, y = core.getXYPosition()
        plan = plan_demo(options, core.sample, exposure_ms, stage_um=(x, y), window=window)
    finally:
        infer_log.setLevel(level)
    typer.echo(plan.line())
    if plan.rate_lowered:
        exposure_ms = plan.exposure_ms
        core.setExposure(exposure_ms)
    return options[plan.chosen].build(), exposure_ms, plan.status()


def _use_window(headless: bool, screenshot: Path | None) -> bool:
    """Decide before the microscope starts whether the viewer window runs.

    The window opens where there is a display (or ``QT_QPA_PLATFORM`` names a Qt
    platform); ``--screenshot`` renders it offscreen where there is none. Without a
    display, or without the viewer extra, the demo runs headless as it always has.
    """
    from livetrack.cli._demo_window import check_screenshot_path, viewer_unavailable
    from livetrack.viewer import display_available

    if headless:
        if screenshot is not None:
            raise InputError("--screenshot saves the viewer window: drop --headless")
        return False
    check_screenshot_path(screenshot)
    if screenshot is None and not display_available():
        typer.echo("no display: running headless (--screenshot PATH renders the viewer offscreen)")
        return False
    reason = viewer_unavailable()
    if reason is not None:
        if screenshot is not None:
            raise InputError(f"--screenshot needs the live viewer: {reason}")
        typer.echo(f"the live viewer cannot start ({reason}); running headless")
        return False
    return True


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the ``livetrack`` app."""
    app.command("demo")(demo)
