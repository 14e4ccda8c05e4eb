"""``livetrack track``: localize (and link) every frame of a TIFF stack offline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from livetrack._errors import InputError


def track(
    input: Annotated[Path, typer.Argument(help="TIFF frame or stack (frames, rows, columns).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write.")],
    method: Annotated[
        str | None,
        typer.Option(help="Classical localizer instead of the CNN: centroid, radial or mle."),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            help="CNN model: a shipped name (spots, spots-t5, rings) or a model folder; "
            "spots-t5 decides each detection on 5 consecutive frames (finds more at SNR 2)."
        ),
    ] = "spots",
    backend: Annotated[
        str, typer.Option(help="CNN inference backend: auto, onnxruntime, onnxruntime-int8, torch.")
    ] = "auto",
    threshold: Annotated[
        str | None,
        typer.Option(
            help="CNN detection threshold in (0, 1], or 'adaptive' (chosen per frame batch; "
            "finds more particles at SNR <= 3). Default: the model's calibrated one."
        ),
    ] = None,
    refine: Annotated[
        bool,
        typer.Option(
            "--refine/--no-refine",
            help="CNN: refine positions with the model's fit (Gaussian MLE for spots); "
            "--no-refine is the fast path.",
        ),
    ] = True,
    temporal_window: Annotated[
        int,
        typer.Option(
            help="CNN: detect on averages of this many neighbouring frames (odd; 3-5 find "
            "slow particles at SNR 1-2, single frames are better above SNR 3)."
        ),
    ] = 1,
    diameter: Annotated[
        int, typer.Option("--diameter", help="Feature diameter (px, odd) for --method.")
    ] = 7,
    search_range: Annotated[
        float,
        typer.Option(help="Linking search range (px); 0 writes positions without linking."),
    ] = 5.0,
    memory: Annotated[
        int, typer.Option(help="Frames a particle may vanish and keep its id when linking.")
    ] = 3,
) -> None:
    """Localize every frame of INPUT and write frame, x, y, ... to OUTPUT.

    Positions follow trackpy's convention: x is the column, y the row, in
    pixels, and the centre of the top-left pixel is (0, 0).
    """
    from livetrack import _api
    from livetrack._stack import read_stack

    if output.exists() and output.is_dir():
        raise InputError(f"output {output} is a directory, expected a CSV file path")
    frames = read_stack(input)
    options: dict = {"diameter_px": diameter} if method is not None else {}
    if threshold is not None:
        if method is not None:
            raise InputError("--threshold applies to the CNN; drop it or drop --method")
        options["threshold"] = _threshold(threshold)
    if not refine:
        if method is not None:
            raise InputError("--no-refine applies to the CNN; drop it or drop --method")
        options["refine"] = False
    if temporal_window != 1:
        if method is not None:
            raise InputError("--temporal-window applies to the CNN; drop it or drop --method")
        options["temporal_window"] = temporal_window
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
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index=False)
    n_tracks = table["particle"].nunique() if "particle" in table else 0
    print(
        f"{len(frames)} frames, {len(table)} localizations"
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
    """Add the ``track`` command to the ``livetrack`` CLI."""
    app.command("track")(track)
