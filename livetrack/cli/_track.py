"""``livetrack track`` and ``livetrack locate``: localize every frame of a recording offline.

``track`` links the positions into trajectories, ``locate`` writes them unlinked. Both read
whatever :func:`livetrack._stack.read_stack` reads (TIFF, videos, image folders and globs).
``track`` with several inputs, or an output folder, tracks many movies on a Dask cluster
(:func:`livetrack.track_many`).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from livetrack import registry
from livetrack._errors import InputError

# The options are declared once and shared by both commands, so that their help and
# defaults cannot drift apart.
InputArg = Annotated[
    str,
    typer.Argument(
        metavar="INPUT",
        help="Frames to read: a TIFF frame or stack (8/16-bit or float); a video "
        "(.mp4 .avi .mov .mkv .m4v); a PNG or JPEG image; a folder of PNG/TIFF/JPEG "
        "images, or a glob pattern in quotes such as 'frames/*.png' (natural order: "
        "frame2 before frame10). Colour becomes grey.",
    ),
]
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="CSV file to write.")]
InputsArg = Annotated[
    list[str],
    typer.Argument(
        metavar="INPUT...",
        help="One movie as for locate (TIFF, video, image folder or glob); or, with an "
        "output folder, movies, folders of movies and globs: TIFF / OME-TIFF, OME-Zarr "
        "(pymmcore-plus), NDTiff (pycromanager), tracked on a Dask cluster.",
    ),
]
TrackOutputOpt = Annotated[
    Path,
    typer.Option(
        "--output",
        "-o",
        help="CSV file to write; a folder (no .csv/.parquet suffix) for several movies: "
        "OUT/<movie>.csv per movie and OUT/manifest.json.",
    ),
]
MethodOpt = Annotated[
    str | None,
    typer.Option(help=f"Classical localizer instead of the CNN: {', '.join(registry.CLASSICAL)}."),
]
ModelOpt = Annotated[
    str,
    typer.Option(
        help="CNN model: auto (chosen from the data), a shipped name (spots, spots-t5, "
        "spots-c5, spots-fast, rings) or a model folder; spots-t5 decides each detection "
        "on 5 consecutive frames (finds more at SNR 2)."
    ),
]
BackendOpt = Annotated[
    str,
    typer.Option(
        help=f"CNN inference backend: auto (the fastest available) or one of "
        f"{', '.join(registry.backend_names())}."
    ),
]
ThresholdOpt = Annotated[
    str | None,
    typer.Option(
        help="CNN detection threshold in (0, 1], or 'adaptive' (chosen per frame batch; "
        "finds more particles at SNR <= 3). Default: the model's calibrated one."
    ),
]
RefineOpt = Annotated[
    bool,
    typer.Option(
        "--refine/--no-refine",
        help="CNN: refine positions with the model's fit (Gaussian MLE for spots); "
        "--no-refine is the fast path.",
    ),
]
TemporalWindowOpt = Annotated[
    int,
    typer.Option(
        help="CNN: detect on averages of this many neighbouring frames (odd; 3-5 find "
        "slow particles at SNR 1-2, single frames are better above SNR 3)."
    ),
]
DiameterOpt = Annotated[
    int | None,
    typer.Option(
        "--diameter",
        help="Feature diameter in px. With --method: odd, as in trackpy (default 7). "
        "With the CNN: a hint of the particle size for --model auto (default: measured "
        "from the data).",
    ),
]
MinmassOpt = Annotated[
    float | None,
    typer.Option(
        help="--method: minimum integrated brightness of a feature, as in trackpy "
        "(default: chosen from the image noise)."
    ),
]
SeparationOpt = Annotated[
    float | None,
    typer.Option(
        help="--method: minimum distance between features in px; the dimmer of a closer "
        "pair is dropped (default: diameter // 2 + 1)."
    ),
]
InvertOpt = Annotated[
    bool,
    typer.Option(
        "--invert",
        help="Dark features on a bright background (e.g. colloids in brightfield), as "
        "trackpy's invert; for the CNN it forces the contrast that --model auto decides.",
    ),
]
CameraOpt = Annotated[
    str | None,
    typer.Option(
        help="Camera calibration (livetrack calibrate camera): frames are converted to "
        "photons first (mass in photons); frames of another size or pixel type are refused.",
    ),
]
StageOpt = Annotated[
    str | None,
    typer.Option(
        help="Stage calibration (livetrack calibrate stage): adds x_um and y_um on the "
        "stage's axes (pixel size, rotation and mirror measured).",
    ),
]


def track(
    inputs: InputsArg,
    output: TrackOutputOpt,
    method: MethodOpt = None,
    model: ModelOpt = "auto",
    backend: BackendOpt = "auto",
    threshold: ThresholdOpt = None,
    refine: RefineOpt = True,
    temporal_window: TemporalWindowOpt = 1,
    diameter: DiameterOpt = None,
    minmass: MinmassOpt = None,
    separation: SeparationOpt = None,
    invert: InvertOpt = False,
    camera: CameraOpt = None,
    stage: StageOpt = None,
    search_range: Annotated[
        float,
        typer.Option(help="Linking search range (px); 0 writes positions without linking."),
    ] = 5.0,
    memory: Annotated[
        int, typer.Option(help="Frames a particle may vanish and keep its id when linking.")
    ] = 3,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Several movies: the Dask scheduler to run on (tcp://host:8786); default: "
            "a local cluster, one worker process per core."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Several movies: worker processes of the local cluster.")
    ] = None,
    gpus: Annotated[
        str,
        typer.Option(
            help="Several movies: GPU workers of the local cluster, one per GPU, each with "
            "the model on its own GPU: auto (every NVIDIA GPU; CPU workers where there is "
            "none), none, a count N, or GPU ids like 0,1."
        ),
    ] = "auto",
    chunk_frames: Annotated[
        int,
        typer.Option(
            help="Several movies: frames per time chunk of a long movie (0: whole movies); "
            "the result is that of one pass."
        ),
    ] = 256,
    format: Annotated[
        str, typer.Option("--format", help="Several movies: csv or parquet.")
    ] = "csv",
    channel: Annotated[
        str | None, typer.Option(help="Several movies: the channel to track (name or index).")
    ] = None,
    position: Annotated[
        str | None,
        typer.Option(help="Several movies: one position (name or index); default: all."),
    ] = None,
) -> None:
    """Localize every frame of INPUT, link the positions and write them to OUTPUT.

    Writes frame, x, y, mass, particle, ... Positions follow trackpy's convention:
    x is the column, y the row, in pixels, and the centre of the top-left pixel is
    (0, 0). With several inputs or an output folder, every movie is tracked on a Dask
    cluster into OUTPUT/<movie>.csv; a rerun skips the movies already done.
    """
    from livetrack import _api

    options = _localizer_options(
        method, threshold, refine, temporal_window, diameter, minmass, separation, invert
    )
    if _is_batch(inputs, output, scheduler):
        from livetrack.cli._batch import run_batch

        if camera is not None or stage is not None:
            raise InputError("--camera and --stage apply to one movie at a time")

        run_batch(
            inputs,
            output,
            scheduler=scheduler,
            workers=workers,
            gpus=gpus,
            model=model,
            method=method,
            backend=backend,
            search_range_px=search_range,
            memory=memory,
            channel=channel,
            position=position,
            chunk_frames=chunk_frames,
            format=format,
            options=options,
        )
        return
    if gpus.strip().lower() != "auto":
        raise InputError("--gpus applies to several movies on a cluster; one movie: --backend")
    _check_output(output)
    frames = _in_photons(_read(inputs[0]), camera, stage)
    if search_range > 0:
        table = _api.track(
            frames,
            model,
            method=method,
            backend=backend,
            search_range_px=search_range,
            memory=memory,
            **options,
        )
    else:
        table = _api.locate(frames, model, method=method, backend=backend, **options)
    _write(_in_um(table, stage), output, len(frames))


def locate(
    input: InputArg,
    output: OutputOpt,
    method: MethodOpt = None,
    model: ModelOpt = "auto",
    backend: BackendOpt = "auto",
    threshold: ThresholdOpt = None,
    refine: RefineOpt = True,
    temporal_window: TemporalWindowOpt = 1,
    diameter: DiameterOpt = None,
    minmass: MinmassOpt = None,
    separation: SeparationOpt = None,
    invert: InvertOpt = False,
    camera: CameraOpt = None,
    stage: StageOpt = None,
) -> None:
    """Localize every frame of INPUT and write the positions to OUTPUT, unlinked.

    Writes frame, x, y, mass, ... (as trackpy.batch). Positions follow trackpy's
    convention: x is the column, y the row, in pixels, and the centre of the
    top-left pixel is (0, 0).
    """
    from livetrack import _api

    _check_output(output)
    options = _localizer_options(
        method, threshold, refine, temporal_window, diameter, minmass, separation, invert
    )
    frames = _in_photons(_read(input), camera, stage)
    table = _api.locate(frames, model, method=method, backend=backend, **options)
    _write(_in_um(table, stage), output, len(frames))


def _in_photons(frames: Any, camera: str | None, stage: str | None = None) -> Any:
    """Convert frames to photons with a camera calibration that fits them (else keep them)."""
    if stage is not None:
        from livetrack.calibrate import load_stage

        header = load_stage(stage).header
        if header is not None:
            # Geometry only: the same camera may save its frames in another pixel type.
            dataclasses.replace(header, pixel_type=None).check_frames(frames, stage)
    if camera is None:
        return frames
    from livetrack.calibrate import load_camera

    cal = load_camera(camera)
    cal.check(frames, camera)
    return cal.to_photons(frames)


def _in_um(table: Any, stage: str | None) -> Any:
    """Add x_um and y_um from a stage calibration (without one, return the table as is)."""
    if stage is None:
        return table
    from livetrack.calibrate import load_stage

    return load_stage(stage).to_um(table)


def _localizer_options(
    method: str | None,
    threshold: str | None,
    refine: bool,
    temporal_window: int,
    diameter: int | None,
    minmass: float | None,
    separation: float | None,
    invert: bool,
) -> dict[str, Any]:
    """Turn the command-line options into keyword options of ``livetrack.locate``.

    Options left at their defaults are not passed, so that each localizer keeps its own
    defaults (and a CNN path that does not know an option is not handed it).
    """
    options: dict[str, Any] = {}
    if diameter is not None:
        # A classical method's feature diameter; for the CNN a hint of the particle size.
        options["diameter_px"] = diameter
    if method is not None:
        if minmass is not None:
            options["minmass"] = minmass
        if separation is not None:
            options["separation_px"] = separation
        if invert:
            options["polarity"] = "dark"
        for flag, given in (
            ("--threshold", threshold is not None),
            ("--no-refine", not refine),
            ("--temporal-window", temporal_window != 1),
        ):
            if given:
                raise InputError(f"{flag} applies to the CNN; drop it or drop --method")
        return options
    for flag, value in (("--minmass", minmass), ("--separation", separation)):
        if value is not None:
            raise InputError(f"{flag} applies to the classical methods; add --method or drop it")
    if invert:
        options["invert"] = True
    if threshold is not None:
        options["threshold"] = _threshold(threshold)
    if not refine:
        options["refine"] = False
    if temporal_window != 1:
        options["temporal_window"] = temporal_window
    return options


def _is_batch(inputs: list[str], output: Path, scheduler: str | None) -> bool:
    """Several inputs, a cluster or an output folder: many movies, one output each."""
    folder = output.is_dir() or output.suffix.lower() not in (".csv", ".parquet")
    return len(inputs) > 1 or scheduler is not None or folder


def _check_output(output: Path) -> None:
    if output.exists() and output.is_dir():
        raise InputError(f"output {output} is a directory, expected a CSV file path")


def _read(input: str):
    from livetrack._stack import read_stack

    return read_stack(input)


def _write(table, output: Path, n_frames: int) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index=False)
    n_tracks = table["particle"].nunique() if "particle" in table else 0
    print(
        f"{n_frames} frames, {len(table)} localizations"
        + (f", {n_tracks} trajectories" if n_tracks else "")
        + f" -> {output}",
        file=sys.stderr,
    )


def _threshold(text: str) -> float | str:
    if text == "adaptive":
        return text
    try:
        return float(text)
    except ValueError:
        raise InputError(
            f"--threshold must be a number in (0, 1] or 'adaptive', got {text!r}"
        ) from None


def register(app: typer.Typer) -> None:
    """Add the ``track`` and ``locate`` commands to the ``livetrack`` CLI."""
    app.command("track")(track)
    app.command("locate")(locate)
