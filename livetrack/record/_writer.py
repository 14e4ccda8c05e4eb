"""Append-only CSV recording of tracks, one frame at a time.

Every :meth:`TrackWriter.write` appends the frame's rows in a single write and
flushes them to the operating system before returning. Once flushed, the data
live in the kernel's page cache, which outlives the process: a crash or
``kill -9`` of the acquisition loses nothing already acknowledged. Only a
power loss can lose unsynced data; ``fsync=True`` covers that at the cost of a
disk round trip per frame.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack._version import __version__

__all__ = ["COLUMNS", "TRACKS_FILENAME", "TrackWriter", "tracks_path"]

#: Columns of a tracks file, in order.
COLUMNS = (
    "frame",
    "t",
    "particle",
    "x",
    "y",
    "x_um",
    "y_um",
    "prob",
    "sigma_x",
    "sigma_y",
    "mass",
)
#: File name used when a directory is given.
TRACKS_FILENAME = "tracks.csv"
#: Suffixes of an acquisition's own data; ``run1.ome.zarr`` has its tracks in ``run1.tracks.csv``.
DATA_SUFFIXES = (".ome.zarr", ".ome.tiff", ".ome.tif", ".zarr", ".tiff", ".tif")


def data_stem(name: str) -> str:
    """Return ``name`` without its data suffix (:data:`DATA_SUFFIXES`), if it has one.

    ``run1.ome.zarr`` -> ``run1``; ``acq_1`` -> ``acq_1``.
    """
    lower = name.lower()
    for suffix in DATA_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


_INT_COLUMNS = ("frame", "particle")


def tracks_path(path: str | os.PathLike[str]) -> Path:
    """Return the tracks file a :class:`TrackWriter` writes for ``path``.

    Parameters
    ----------
    path
        A file path, or a directory (an existing one, or any path without a file
        suffix) in which case the file is ``<dir>/tracks.csv``.

    Returns
    -------
    Path
        The path of the CSV file.
    """
    p = Path(path)
    if p.is_dir() or (not p.exists() and p.suffix == ""):
        return p / TRACKS_FILENAME
    return p


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return str(value)


def _header_lines(header: dict[str, Any]) -> str:
    if not isinstance(header, dict):
        raise InputError(f"header must be a dict, got {type(header).__name__}")
    full: dict[str, Any] = {
        "livetrack_version": __version__,
        "start_time": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
    }
    full.update(header)
    lines = []
    for key, value in full.items():
        if not isinstance(key, str) or not key or any(c in key for c in ":\r\n"):
            raise InputError(
                f"header keys must be non-empty strings without ':' or newlines: {key!r}"
            )
        lines.append(f"# {key}: {json.dumps(value, default=_json_default)}\n")
    return "".join(lines)


def _numbers(column: pd.Series, name: str) -> np.ndarray:
    try:
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise InputError(f"column {name} must be numeric") from None


def _format(values: np.ndarray, *, integer: bool, name: str) -> list[str]:
    """Format numbers as CSV fields: shortest round-trip floats, empty for NaN."""
    finite = np.isfinite(values)
    if integer:
        if np.any(values[finite] != np.round(values[finite])):
            raise InputError(f"column {name} must hold whole numbers")
        text = np.where(finite, values, 0).astype(np.int64).astype(str)
    else:
        text = values.astype(str)
    if finite.all():
        return text.tolist()
    text = text.astype(object)
    text[~finite] = ""
    return text.tolist()


def _pixel_size(header: dict[str, Any]) -> float | None:
    value = header.get("pixel_size_um")
    if value is None:
        return None
    try:
        size = float(value)
    except (TypeError, ValueError):
        raise InputError(f"header pixel_size_um must be a number, got {value!r}") from None
    if not math.isfinite(size) or size <= 0:
        raise InputError(f"header pixel_size_um must be positive, got {value!r}")
    return size


class TrackWriter:
    """Write tracks to a CSV file, appending and flushing every frame.

    The file starts with ``# key: value`` comment lines (``livetrack_version``,
    ``start_time`` in UTC, then every entry of ``header`` with JSON-encoded
    values), then a line with the column names :data:`COLUMNS`, then one row per
    detection. Columns missing from the written DataFrames are left empty;
    ``x_um``/``y_um`` are computed from ``header["pixel_size_um"]`` when given.

    Parameters
    ----------
    path
        File to create, or a directory (e.g. pycromanager's dataset folder) in
        which ``tracks.csv`` is created; see :func:`tracks_path`.
    header
        Metadata to record: model, pixel size (``pixel_size_um``), settings, ...
        Values may be anything JSON can encode, plus dataclasses, numpy values
        and dates.
    fsync
        Also ask the OS to commit every frame to disk (survives power loss, not
        only a crash of the process; slower).
    overwrite
        Replace an existing file instead of refusing to.

    Raises
    ------
    InputError
        If the file exists (and ``overwrite`` is false) or the header is invalid.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with TrackWriter(d, {"model": "spots", "pixel_size_um": 0.1}) as w:
    ...     w.write(pd.DataFrame({"particle": [0], "x": [1.5], "y": [2.0]}), frame=0, t=0.0)
    >>> w.frames_written
    1
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: dict[str, Any] | None = None,
        *,
        fsync: bool = False,
        overwrite: bool = False,
    ) -> None:
        header = {} if header is None else header
        text = _header_lines(header) + ",".join(COLUMNS) + "\n"
        self._pixel_size_um = _pixel_size(header)
        self.path = tracks_path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._file = open(self.path, "w" if overwrite else "x", encoding="utf-8", newline="")  # noqa: SIM115
        except FileExistsError:
            raise InputError(
                f"{self.path} already exists; choose another path or pass overwrite=True"
            ) from None
        self._frames_written = 0
        self._rows_written = 0
        self._last_frame: int | None = None
        self._append(text)

    @property
    def frames_written(self) -> int:
        """Frames whose rows have been handed to the OS (acknowledged)."""
        return self._frames_written

    @property
    def rows_written(self) -> int:
        """Rows acknowledged so far."""
        return self._rows_written

    @property
    def last_frame(self) -> int | None:
        """Frame number of the last acknowledged :meth:`write`, or None."""
        return self._last_frame

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._file.closed

    def _append(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def write(self, df: pd.DataFrame, frame: int | None = None, t: float | None = None) -> None:
        """Append one frame's rows and flush them.

        Parameters
        ----------
        df
            The frame's detections with any of the columns in :data:`COLUMNS`
            (at least ``x`` and ``y``); other columns are ignored.
        frame
            Frame number for rows without a ``frame`` column.
        t
            Time stamp (seconds) for rows without a ``t`` column.

        Raises
        ------
        InputError
            If the writer is closed, or ``x``/``y``/``frame`` are missing or invalid.
        """
        if self._file.closed:
            raise InputError(f"cannot write to {self.path}: the TrackWriter is closed")
        columns = self._columns(df, frame, t)
        n = len(df)
        text = "".join(line + "\n" for line in map(",".join, zip(*columns, strict=True)))
        # One write per frame: a crash can cut at most the frame being written.
        self._append(text)
        self._frames_written += 1
        self._rows_written += n
        if n:
            self._last_frame = int(df["frame"].iloc[-1]) if "frame" in df.columns else frame
        elif frame is not None:
            self._last_frame = int(frame)

    def _columns(self, df: pd.DataFrame, frame: int | None, t: float | None) -> list[list[str]]:
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"write() needs a pandas DataFrame, got {type(df).__name__}")
        missing = [c for c in ("x", "y") if c not in df.columns]
        if missing:
            raise InputError(f"tracks to write lack column(s) {', '.join(missing)}")
        if "frame" not in df.columns and frame is None:
            raise InputError("tracks to write need a 'frame' column or the frame= argument")
        n = len(df)
        out = []
        for name in COLUMNS:
            if name in df.columns:
                values = _numbers(df[name], name)
            elif name == "frame":
                assert frame is not None  # checked above: no 'frame' column needs frame=
                values = np.full(n, int(frame), np.int64)
            elif name == "t" and t is not None:
                values = np.full(n, float(t))
            elif name in ("x_um", "y_um") and self._pixel_size_um is not None:
                values = _numbers(df[name[0]], name[0]) * self._pixel_size_um
            else:
                out.append([""] * n)
                continue
            out.append(_format(values, integer=name in _INT_COLUMNS, name=name))
        return out

    def close(self) -> None:
        """Flush and close the file; further writes raise."""
        if not self._file.closed:
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TrackWriter({str(self.path)!r}, frames_written={self._frames_written})"
