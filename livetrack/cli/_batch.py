"""``livetrack track`` over many movies: the command line's side of :func:`livetrack.track_many`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from livetrack._errors import InputError


def run_batch(
    inputs: list[str],
    output: Path,
    *,
    scheduler: str | None,
    workers: int | None,
    gpus: str = "auto",
    chunk_frames: int,
    format: str,
    channel: str | None,
    position: str | None,
    options: dict[str, Any],
    **settings: Any,
) -> None:
    """Track ``inputs`` into the folder ``output``; exit 1 if any movie failed.

    Each failure was printed as one line as it happened; the summary line follows.
    ``gpus`` (``--gpus``) is for the local cluster (:func:`livetrack.batch.local_client`).
    """
    from livetrack._extras import needs_extra
    from livetrack.batch import track_many

    if output.suffix.lower() in (".csv", ".parquet") and not output.is_dir():
        raise InputError(
            f"output {output} is a file; several movies are written to a folder (-o OUT)"
        )
    client = None
    if scheduler is not None and gpus.strip().lower() != "auto":
        raise InputError(
            "--gpus starts a local cluster's workers; a --scheduler's workers have their own "
            "GPUs (start one worker per GPU there, e.g. with dask-cuda)"
        )
    if scheduler is not None:
        with needs_extra("tracking on a Dask cluster (--scheduler)"):
            from distributed import Client
        try:
            client = Client(scheduler, timeout="5s")
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    try:
        report = track_many(
            inputs,
            output,
            client=client,
            n_workers=workers,
            gpus=gpus,
            chunk_frames=chunk_frames,
            format=format,
            channel=_number_or_name(channel),
            position=_number_or_name(position),
            **settings,
            **options,
        )
    finally:
        if client is not None:
            client.close()
    print(report.line(), file=sys.stderr)
    if not report.ok:
        raise typer.Exit(1)


def _number_or_name(text: str | None) -> str | int | None:
    return int(text) if text is not None and text.isdigit() else text
