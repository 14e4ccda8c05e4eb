"""``livetrack view``: replay a recorded movie with its tracks (time slider, live overlays)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from livetrack._errors import InputError

__all__ = ["read_track_table", "register"]


def read_track_table(path: Path) -> Any:
    """Read tracks from a livetrack tracks file (header + rows) or any CSV with frame, x, y.

    ``livetrack demo`` and the acquisition hooks write tracks files
    (:func:`livetrack.read_tracks`); ``livetrack track -o tracks.csv`` writes a plain CSV.
    """
    import pandas as pd

    from livetrack.record import read_tracks

    try:
        return read_tracks(path)
    except InputError as exc:
        if path.is_dir() or not path.is_file() or "not a livetrack tracks file" not in str(exc):
            raise
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read {path} as CSV: {exc}") from None
    missing = [c for c in ("frame", "x", "y") if c not in table.columns]
    if missing:
        raise InputError(f"{path}: no {', '.join(missing)} column (need frame, x, y)")
    table["frame"] = table["frame"].astype("int64")
    return table


def view(
    movie: Annotated[
        str, typer.Argument(help="The movie: TIFF stack, video, image folder or glob.")
    ],
    tracks: Annotated[
        Path,
        typer.Argument(help="Its tracks: a livetrack tracks file or folder, or a CSV."),
    ],
    tail: Annotated[int, typer.Option(help="Frames a trajectory tail spans.")] = 30,
    frame: Annotated[int, typer.Option(help="Frame shown first.")] = 0,
    fps: Annotated[float, typer.Option(help="Frames per second of the play button.")] = 20.0,
    pixel_size_um: Annotated[
        float | None,
        typer.Option(help="Pixel size for the MSD in µm (default: the tracks file's header)."),
    ] = None,
    frame_interval_ms: Annotated[
        float | None,
        typer.Option(help="Time between frames (default: from the tracks' t column)."),
    ] = None,
    screenshot: Annotated[
        Path | None,
        typer.Option(
            help="Save the window at --frame as PNG and exit (renders offscreen without a display)."
        ),
    ] = None,
) -> None:
    """Replay MOVIE with TRACKS drawn on it: markers, tails, the MSD and track lengths."""
    from livetrack._stack import read_stack
    from livetrack.cli._demo_window import check_screenshot_path, viewer_unavailable
    from livetrack.viewer import display_available

    if tail < 1:
        raise InputError(f"--tail must be >= 1, got {tail}")
    if not fps > 0:
        raise InputError(f"--fps must be > 0, got {fps}")
    check_screenshot_path(screenshot)
    if screenshot is None and not display_available():
        raise InputError("no display to show the viewer on: save a view with --screenshot PATH")
    reason = viewer_unavailable()
    if reason is not None:
        raise InputError(f"livetrack view needs the viewer: {reason}")
    frames = read_stack(movie)
    table = read_track_table(tracks)
    if not 0 <= frame < frames.shape[0]:
        raise InputError(f"--frame must be in 0..{frames.shape[0] - 1}, got {frame}")
    beyond = int((table["frame"] >= frames.shape[0]).sum())
    if beyond:
        typer.echo(
            f"note: {beyond} track rows are beyond the movie's {frames.shape[0]} frames",
            err=True,
        )

    from livetrack.viewer import ReplayViewer, dispose, ensure_app

    app = ensure_app()
    window = ReplayViewer(
        frames,
        table,
        tail_frames=tail,
        pixel_size_um=pixel_size_um,
        frame_interval_s=None if frame_interval_ms is None else frame_interval_ms / 1e3,
        play_fps=fps,
    )
    window.setWindowTitle(f"livetrack view: {movie} with {tracks}")
    window.resize(1400, 820)
    window.show_frame(frame)
    window.show()
    if screenshot is not None:
        app.processEvents()
        window.save_png(screenshot)
        typer.echo(f"screenshot of frame {frame} saved to {screenshot}")
        dispose(window)
        return
    app.exec()
    dispose(window)


def register(app: typer.Typer) -> None:
    """Add the ``view`` command to the ``livetrack`` app."""
    app.command("view")(view)
