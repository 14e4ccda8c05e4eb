"""Reading tracks files back, including after a crash of the writer."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack.record._writer import COLUMNS, TRACKS_FILENAME, data_stem

__all__ = ["find_tracks", "read_tracks"]

_PATTERNS = (TRACKS_FILENAME, "*.tracks.csv")


def _candidates(directory: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in _PATTERNS:
        found.extend(p for p in sorted(directory.glob(pattern)) if p.is_file())
    return found


def _preferred(found: list[Path], owner: Path) -> Path | None:
    """Among several candidates, the one named after ``owner`` (``<stem>.tracks.csv``), if any."""
    stems = {owner.name, data_stem(owner.name), owner.stem} - {""}
    named = [f for f in found if f.name in {f"{stem}.tracks.csv" for stem in stems}]
    return named[0] if len(named) == 1 else None


def _listing(found: list[Path], base: Path, limit: int = 10) -> str:
    names = []
    for f in found[:limit]:
        try:
            names.append(str(f.relative_to(base)))
        except ValueError:
            names.append(str(f))
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    # One line whatever the file names hold.
    return ", ".join(names).replace("\n", " ").replace("\r", " ") + more


def find_tracks(path: str | os.PathLike[str]) -> Path:
    """Locate the tracks file for a file, a directory or an acquisition's data.

    Parameters
    ----------
    path
        A tracks CSV file; or a directory holding ``tracks.csv`` (or one
        ``*.tracks.csv``), such as a pycromanager dataset folder or a pymmcore-plus
        output folder; or a folder holding exactly one such dataset folder
        (pycromanager's ``directory``); or the acquisition's data itself (e.g. an
        ``.ome.zarr`` folder or ``.ome.tif`` file) with the tracks beside it.

    Returns
    -------
    Path
        The tracks file. Where a directory holds several, the one named after
        it wins (``run1/run1.tracks.csv``); beside an acquisition's data, the one
        named after the data (``run1.ome.zarr`` -> ``run1.tracks.csv``).

    Raises
    ------
    InputError
        If nothing is found, or several candidates and none named as above (the
        message lists them; no file is picked silently).
    """
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".csv":
        return p
    if not p.exists():
        raise InputError(f"no tracks file: {p} does not exist")
    searched = []
    base = p
    if p.is_dir():
        searched.append(p)
        found = _candidates(p)
        if not found:
            found = [c for sub in sorted(p.iterdir()) if sub.is_dir() for c in _candidates(sub)]
    else:
        found = []
    if not found:
        # The data of an acquisition (a zarr folder, a TIFF file) with tracks beside it.
        searched.append(p.parent)
        base = p.parent
        found = _candidates(p.parent)
    if len(found) == 1:
        return found[0]
    if not found:
        where = " or ".join(str(s) for s in searched)
        raise InputError(f"no {TRACKS_FILENAME} found in {where}")
    # Several: only a file named after the folder (or the data) itself decides.
    why = ""
    if all(f.parent == base for f in found):
        chosen = _preferred(found, p)
        if chosen is not None:
            return chosen
        why = f" and none named {data_stem(p.name)}.tracks.csv"
    raise InputError(
        f"several tracks files under {base}{why}: {_listing(found, base)}; pass one of them"
    )


def _parse_header(lines: list[str]) -> dict[str, Any]:
    header: dict[str, Any] = {}
    for line in lines:
        key, sep, value = line[1:].strip().partition(":")
        if not sep:
            continue
        try:
            header[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            header[key.strip()] = value.strip()
    return header


def read_tracks(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a tracks file written by :class:`~livetrack.record.TrackWriter`.

    Parameters
    ----------
    path
        The file, or a directory where it sits (see :func:`find_tracks`).

    Returns
    -------
    pd.DataFrame
        One row per recorded detection with the columns of
        :data:`~livetrack.record.COLUMNS` (``frame`` int64; ``particle`` int64, or
        nullable Int64 where some rows have none). The header is in
        ``df.attrs["header"]`` and the file in ``df.attrs["path"]``.

    Raises
    ------
    InputError
        If the file is missing or is not a tracks file.

    Notes
    -----
    A last line without its newline is what a crash in the middle of a write
    leaves; it is dropped, so every row returned is complete.
    """
    file = find_tracks(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    text = raw.decode("utf-8", errors="replace")
    # Everything after the last newline is a row cut short by a crash.
    text = text[: text.rfind("\n") + 1]
    header_lines = []
    pos = 0
    while text.startswith("#", pos):
        end = text.index("\n", pos)
        header_lines.append(text[pos:end])
        pos = end + 1
    body = text[pos:]
    if "\x00" in body:
        # Blocks a crash left allocated but unwritten read back as NULs on some systems.
        body = "".join(line for line in body.splitlines(keepends=True) if "\x00" not in line)
    first = body[: body.find("\n")].strip().split(",")
    if first[: len(COLUMNS)] != list(COLUMNS):
        raise InputError(f"{file} is not a livetrack tracks file (no column line)")
    df = pd.read_csv(io.StringIO(body), dtype=np.float64)
    if df["frame"].isna().any():
        raise InputError(f"{file} has rows without a frame number")
    df["frame"] = df["frame"].astype(np.int64)
    particle = df["particle"]
    df["particle"] = particle.astype("Int64" if particle.isna().any() else np.int64)
    header = _parse_header(header_lines)
    df.attrs["header"] = header
    df.attrs["path"] = str(file)
    return df
