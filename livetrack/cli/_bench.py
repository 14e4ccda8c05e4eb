"""``livetrack bench``: accuracy against ground truth and the CRLB, and speed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from livetrack import registry
from livetrack._errors import InputError

bench_app = typer.Typer(
    help="Benchmarks on seeded simulated data, side by side with the classical baselines.",
    no_args_is_help=True,
)


@bench_app.command("accuracy")
def accuracy(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for accuracy.md, accuracy.csv and accuracy.png."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller scenes and one frame each (a smoke run).")
    ] = False,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            help="Only these localizers (repeatable): "
            f"{registry.localizer_syntax()}; a CNN runs on onnxruntime unless named.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Base seed of the scene suite.")] = 2012,
    skip_frames: Annotated[
        int,
        typer.Option(
            "--skip-frames",
            help="Score only the frames from this one on (a causal model's first frames "
            "lack the earlier frames it fuses; the scenes have 10).",
        ),
    ] = 0,
) -> None:
    """Score every available localizer on the fixed scene suite.

    Prints a markdown table of Jaccard, RMSE (px), RMSE/CRLB and ms/frame; with
    --out also writes the table, the raw numbers and a plot of RMSE vs SNR with
    the CRLB curve.
    """
    from livetrack import bench

    scenes = bench.accuracy_suite(quick=quick)
    if not 0 <= skip_frames < min(s.n_frames for s in scenes):
        raise InputError(
            f"--skip-frames must be in 0..{min(s.n_frames for s in scenes) - 1}, got {skip_frames}"
        )
    localizers = bench.available_localizers(method)

    def progress(message: str) -> None:
        print(f"  … {message}", file=sys.stderr, flush=True)

    rows = bench.run_accuracy(
        scenes, localizers, seed=seed, progress=progress, skip_frames=skip_frames
    )
    table = bench.accuracy_markdown(rows)
    print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "accuracy.md").write_text(table)
        bench.accuracy_frame(rows).to_csv(out / "accuracy.csv", index=False)
        png = bench.plot_rmse_vs_snr(rows, out / "accuracy.png")
        print(f"wrote {out / 'accuracy.md'}, {out / 'accuracy.csv'} and {png}", file=sys.stderr)


@bench_app.command("speed")
def speed(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="CNN model name or folder (repeatable); default: spots and spots-fast.",
        ),
    ] = None,
    frames: Annotated[int, typer.Option("--frames", help="Frames timed per method.")] = 40,
    rounds: Annotated[
        int,
        typer.Option("--rounds", help="Times every method, round-robin; medians over the rounds."),
    ] = 3,
    backend: Annotated[
        list[str] | None,
        typer.Option(
            "--backend",
            "-b",
            help=f"Backends to time (repeatable): {', '.join(registry.backend_names())}; "
            "default: every one that runs here.",
        ),
    ] = None,
    trackpy: Annotated[
        bool, typer.Option("--trackpy/--no-trackpy", help="Time trackpy.locate as the baseline.")
    ] = True,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write speed.md here.")] = None,
    size: Annotated[
        list[int] | None,
        typer.Option(
            "--size",
            help="Frame side in pixels (repeatable), e.g. --size 512 --size 1024 --size 2048; "
            "default: 512.",
        ),
    ] = None,
    batch: Annotated[
        list[int] | None,
        typer.Option(
            "--batch",
            help="Frames per call (repeatable): 1 is latency mode, more is throughput mode; "
            "default: 1.",
        ),
    ] = None,
    fast_only: Annotated[
        bool,
        typer.Option(
            "--fast-only",
            help="Time the fast path only (no refinement: on a GPU backend, frame to "
            "positions all on the GPU).",
        ),
    ] = False,
) -> None:
    """Time frame -> positions per CNN backend and frame size, beside trackpy.locate.

    Each method runs in its own fresh process on the same seeded uint16 frames, every method
    once per round; the table gives median, p90 and p99 ms per frame, the stage breakdown,
    peak resident memory, frames/s and the speed-ups over trackpy and over fp32 ONNX
    Runtime (the CPU reference, always timed beside a GPU backend) measured in the same run.
    Backends that cannot run here are left out with a line saying why.
    """
    from livetrack.bench import measure_speed, speed_markdown
    from livetrack.model import available_models

    if frames < 1:
        raise InputError(f"--frames must be >= 1, got {frames}")
    if rounds < 1:
        raise InputError(f"--rounds must be >= 1, got {rounds}")
    sizes = tuple(size or (512,))
    batches = tuple(batch or (1,))
    if min(sizes) < 16 or min(batches) < 1:
        raise InputError(f"--size must be >= 16 and --batch >= 1, got {sizes} and {batches}")
    if model:
        models = tuple(model)
    else:
        models = tuple(m for m in ("spots", "spots-fast") if m in available_models())
    asked = list(backend or registry.backend_names())
    for name in asked:
        registry.backend_unavailable(name)  # an unknown name is an error before any timing
    if backend and "onnxruntime" not in asked:
        asked.append("onnxruntime")  # the CPU reference, timed in the same run
    backends = []
    for name in asked:
        why = registry.backend_unavailable(name)
        if why is None:
            backends.append(name)
        elif backend and name in backend:
            registry.check_backend(name)
        else:
            print(f"livetrack: bench speed leaves out {name!r}: {why}", file=sys.stderr)
    results = measure_speed(
        model=models,
        backends=tuple(backends),
        n_frames=frames,
        include_trackpy=trackpy,
        rounds=rounds,
        shapes=tuple((s, s) for s in sizes),
        batches=batches,
        refine_modes=(False,) if fast_only else (None, False),
    )
    table = speed_markdown(results)
    print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "speed.md").write_text(table)
        import json

        rows = [r.to_dict() for r in results]
        (out / "speed.json").write_text(json.dumps(rows, indent=2, default=float))


@bench_app.command("live")
def live(
    localizer: Annotated[
        list[str] | None,
        typer.Option(
            "--localizer",
            "-l",
            help=f"A localizer (repeatable): {registry.localizer_syntax()}, without :t<k>; "
            "default: cnn, cnn:int8:fast, cnn:spots-fast:int8:fast and centroid.",
        ),
    ] = None,
    size: Annotated[int, typer.Option(help="Frame size (square), pixels.")] = 512,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            "-b",
            help="The CNN's backend where a localizer name names none: auto or one of "
            f"{', '.join(registry.backend_names())}.",
        ),
    ] = "onnxruntime",
    rates: Annotated[
        str, typer.Option(help="Camera rates to try, Hz, comma separated.")
    ] = "10,15,20,30,45,60,80,100",
    seconds: Annotated[float, typer.Option(help="Length of each rate trial, s.")] = 6.0,
    soak: Annotated[int, typer.Option(help="Frames of the soak run (0: none).")] = 0,
    soak_rate: Annotated[
        float | None, typer.Option(help="Camera rate of the soak; default: best sustained.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every trial's raw numbers here.")
    ] = None,
    viewer: Annotated[
        bool,
        typer.Option(
            "--viewer/--no-viewer",
            help="Also measure the live viewer (offscreen Qt): its cost to the first "
            "localizer and its display rate with 1,000 tracks.",
        ),
    ] = True,
) -> None:
    """Live pipeline on the simulated Micro-Manager camera: fps, dropped frames, latency.

    For each localizer: the throughput with the camera free-running, the highest camera
    rate sustained with zero dropped frames and a flat backlog with its latency median and
    p99, and with --soak a long run's memory growth and latency drift. Then the live
    viewer: the first localizer's throughput and sustained rate with and without it, and
    its display rate with 1,000 tracks and 100-frame tails on a 512x512 stream.
    """
    import json

    from livetrack.bench import live_markdown, run_live

    try:
        rate_list = [float(r) for r in rates.split(",") if r.strip()]
    except ValueError:
        raise InputError(f"--rates must be numbers separated by commas, got {rates!r}") from None
    if not rate_list or min(rate_list) <= 0:
        raise InputError(f"--rates must be positive numbers separated by commas, got {rates!r}")

    registry.check_backend(backend)

    def progress(message: str) -> None:
        print(f"  … {message}", file=sys.stderr, flush=True)

    report = run_live(
        localizer or ("cnn", "cnn:int8:fast", "cnn:spots-fast:int8:fast", "centroid"),
        size=size,
        rates=rate_list,
        seconds=seconds,
        soak_frames=soak,
        soak_rate=soak_rate,
        progress=progress,
        viewer=viewer,
        backend=backend,
    )
    print(live_markdown(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2, default=float))


@bench_app.command("real")
def real(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for real.md and real.csv.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Folder of real videos and <stem>_ref.csv references; default: "
            "$LIVETRACK_REALDATA, else <repo root>/../shared/realdata.",
        ),
    ] = None,
    gate: Annotated[
        float, typer.Option("--gate", help="Matching gate, px (references are good to 3-4 px).")
    ] = 4.0,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            help="More localizers beside defaults, trackpy, centroid and radial (repeatable), "
            f"as bench accuracy takes them: {registry.localizer_syntax()}.",
        ),
    ] = None,
    video: Annotated[
        list[str] | None,
        typer.Option("--video", help="Only this video (file stem, repeatable)."),
    ] = None,
    frames: Annotated[
        int | None, typer.Option("--frames", help="Only the first frames of each video.")
    ] = None,
    simulated: Annotated[
        bool,
        typer.Option("--simulated/--no-simulated", help="Score the simulated look-alikes too."),
    ] = True,
    sim_frames: Annotated[int, typer.Option(help="Frames of each look-alike.")] = 20,
    seed: Annotated[int, typer.Option(help="Base seed of the look-alikes.")] = 2012,
) -> None:
    """Real microscope videos against their references, and simulated look-alikes.

    Per video: recall within the gate, false detections per frame away from the border,
    median distance of matched pairs, detections per frame and ms/frame, for
    `livetrack.locate(frames)` with no options ("defaults") beside trackpy and the
    classical localizers with the parameters a user would set for each video. The
    look-alikes add Jaccard and RMSE against their ground truth.
    """
    from livetrack import bench

    if frames is not None and frames < 1:
        raise InputError(f"--frames must be >= 1, got {frames}")
    if sim_frames < 1:
        raise InputError(f"--sim-frames must be >= 1, got {sim_frames}")
    localizers = bench.real_localizers(method)
    folder = bench.find_realdata(data)
    sources = []
    if folder is None:
        print(
            "livetrack: no real videos (no folder ../shared/realdata beside the repository; "
            "give --data or set LIVETRACK_REALDATA): scoring the look-alikes only",
            file=sys.stderr,
        )
        if video:
            raise InputError("--video needs the real videos' folder")
    else:
        sources += bench.real_sources(folder, videos=video, max_frames=frames)
    if simulated:
        n_sim = sim_frames if frames is None else min(frames, sim_frames)
        sources += bench.lookalike_sources(seed=seed, n_frames=n_sim)
    if not sources:
        raise InputError("nothing to score: no real videos and --no-simulated")

    def progress(message: str) -> None:
        print(f"  … {message}", file=sys.stderr, flush=True)

    rows = bench.run_real(sources, localizers, gate_px=gate, progress=progress)
    table = bench.real_markdown(rows, gate_px=gate)
    print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "real.md").write_text(table)
        bench.real_frame(rows).to_csv(out / "real.csv", index=False)
        print(f"wrote {out / 'real.md'} and {out / 'real.csv'}", file=sys.stderr)
    if any(r.note.startswith("failed") for r in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command group to the ``livetrack`` CLI."""
    app.add_typer(bench_app, name="bench")
