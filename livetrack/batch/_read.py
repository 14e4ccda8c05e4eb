"""Movies on disk, opened lazily: TIFF / OME-TIFF, OME-Zarr and NDTiff.

A :class:`Movie` names one time series of 2-D frames inside a file or dataset (one
position and one channel of it) and holds only what locates it; :func:`read_frames` reads
the frames ``[start, stop)`` and nothing else (TIFF pages by index, Zarr chunks, NDTiff
images by their coordinates), so a movie larger than memory is read piece by piece. A
Movie is small and picklable: Dask workers open the file themselves.

Every failure to open or read a file is an :class:`~livetrack.InputError` with one line.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from livetrack._errors import InputError, LivetrackError
from livetrack._extras import needs_extra

__all__ = ["Movie", "find_movies", "open_movies", "read_frames"]

Kind = Literal["tiff", "zarr", "ndtiff"]

_FORMAT_NAMES = {"tiff": "TIFF", "zarr": "OME-Zarr", "ndtiff": "NDTiff"}
_TIFF_SUFFIXES = (".tif", ".tiff")
_NDTIFF_INDEX = "NDTiff.index"


@dataclass(frozen=True)
class Movie:
    """One time series of 2-D frames in a file or dataset.

    Attributes
    ----------
    path : str
        The file (TIFF) or folder (OME-Zarr, NDTiff).
    kind : {"tiff", "zarr", "ndtiff"}
        The format.
    name : str
        Output name: the file's stem, with the position appended where a dataset has several.
    n_frames : int
        Frames in the series.
    shape : tuple of int
        ``(rows, columns)`` of a frame.
    dtype : str
        The stored pixel type.
    series : str
        Where the series lies in the file: the TIFF series index, the Zarr array's path
        inside the store, or the NDTiff position (``""``: none).
    channel : int or str
        The channel picked: an index (TIFF, Zarr) or the NDTiff channel's name (-1: none).
    """

    path: str
    kind: Kind
    name: str
    n_frames: int
    shape: tuple[int, int]
    dtype: str
    series: str = ""
    channel: int | str = -1

    @property
    def nbytes(self) -> int:
        """Bytes of the whole series as stored."""
        return self.n_frames * self.shape[0] * self.shape[1] * np.dtype(self.dtype).itemsize


def kind_of(path: Path) -> Kind | None:
    """Return the format of ``path`` if it is a movie livetrack batch-reads, else None."""
    if path.is_dir():
        if (path / _NDTIFF_INDEX).is_file():
            return "ndtiff"
        if (path / "zarr.json").is_file() or (path / ".zgroup").is_file():
            return "zarr"
        return None
    if path.suffix.lower() in _TIFF_SUFFIXES and path.is_file():
        return "tiff"
    return None


def find_movies(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand files, folders and glob patterns into the movies they name.

    Parameters
    ----------
    inputs
        Paths: a movie (a TIFF file, an OME-Zarr store, an NDTiff dataset folder); a folder
        holding movies (not recursively, hidden entries skipped); or a glob pattern such as
        ``"data/*.ome.tif"``.

    Returns
    -------
    list of pathlib.Path
        The movies, each once, in the order given (a folder's and a glob's sorted).

    Raises
    ------
    InputError
        A path that does not exist, or a folder or glob without any movie.
    """
    found: list[Path] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if not path.exists() and re.search(r"[*?[]", text):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(text)))
            movies = [p for p in matches if kind_of(p)]
            if not movies:
                raise InputError(f"no TIFF, OME-Zarr or NDTiff movies match {text}")
            found += movies
        elif not path.exists():
            raise InputError(f"no such file: {path}")
        elif kind_of(path):
            found.append(path)
        elif path.is_dir():
            movies = sorted(p for p in path.iterdir() if not p.name.startswith(".") and kind_of(p))
            if not movies:
                raise InputError(f"{path}: folder holds no TIFF, OME-Zarr or NDTiff movie")
            found += movies
        else:
            raise InputError(
                f"{path}: unsupported file type {path.suffix!r}; livetrack track reads "
                "several movies as TIFF / OME-TIFF, OME-Zarr or NDTiff"
            )
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique)


def open_movies(
    path: str | os.PathLike[str],
    *,
    channel: str | int | None = None,
    position: str | int | None = None,
) -> list[Movie]:
    """Open the movies of one file or dataset without reading their frames.

    Parameters
    ----------
    path
        A TIFF / OME-TIFF file, an OME-Zarr store or an NDTiff dataset folder.
    channel
        The channel to track, by name or index; needed where there are several.
    position
        The position (OME-TIFF series, OME-Zarr image, NDTiff position), by name or
        index; None: every position, each a movie of its own.

    Returns
    -------
    list of Movie

    Raises
    ------
    InputError
        An unreadable or corrupt file, an unknown channel or position, several channels
        and none picked, or a Z stack.
    MissingExtraError
        The format's reader is not installed (the ``dask`` extra brings it).
    """
    p = Path(path)
    kind = kind_of(p)
    if kind is None:
        raise InputError(f"{p}: not a TIFF file, an OME-Zarr store or an NDTiff dataset")
    opener = {"tiff": _open_tiff, "zarr": _open_zarr, "ndtiff": _open_ndtiff}[kind]
    try:
        with needs_extra(f"reading {_FORMAT_NAMES[kind]}"):
            return opener(p, channel, position)
    except LivetrackError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # any failure to parse a user's file is a bad file
        raise InputError(f"{p}: not a readable {kind} movie ({_reason(exc)})") from None


def read_frames(movie: Movie, start: int, stop: int) -> np.ndarray:
    """Read frames ``[start, stop)`` of ``movie`` as a ``(T, H, W)`` array.

    Parameters
    ----------
    movie : Movie
        From :func:`open_movies`.
    start, stop : int
        The frames, ``0 <= start < stop <= movie.n_frames``.

    Returns
    -------
    numpy.ndarray
        The frames with their stored dtype (colour TIFF samples averaged as float32).

    Raises
    ------
    InputError
        The frames cannot be read (a truncated or corrupt file).
    """
    if not 0 <= start < stop <= movie.n_frames:
        raise InputError(f"{movie.name}: frames {start}..{stop} outside 0..{movie.n_frames}")
    reader = {"tiff": _read_tiff, "zarr": _read_zarr, "ndtiff": _read_ndtiff}[movie.kind]
    try:
        data = reader(movie, start, stop)
    except InputError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise InputError(
            f"{movie.path}: frames {start}..{stop - 1} unreadable ({_reason(exc)})"
        ) from None
    if data.shape != (stop - start, *movie.shape):
        raise InputError(
            f"{movie.path}: frames {start}..{stop - 1} came back with shape {data.shape}, "
            f"expected {(stop - start, *movie.shape)} (truncated file?)"
        )
    return data


# -- TIFF ------------------------------------------------------------------------------


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".ome.zarr", ".tiff", ".tif", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _open_tiff(path: Path, channel: str | int | None, position: str | int | None) -> list[Movie]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = list(tif.series)
            names = _ome_channel_names(tif.ome_metadata) if tif.is_ome else []
            layouts = [(s.axes, tuple(s.shape), str(s.dtype)) for s in series]
    except (tifffile.TiffFileError, ValueError, OSError, IndexError) as exc:
        raise InputError(f"{path}: not a readable TIFF file ({_reason(exc)})") from None
    if not layouts:
        raise InputError(f"{path}: the TIFF file holds no images")
    picked = _pick(
        [str(i) for i in range(len(layouts))], position, f"{path}: position", allow_all=True
    )
    movies = []
    for index in picked:
        axes, shape, dtype = layouts[int(index)]
        sizes = dict(zip(axes, shape, strict=True))
        if "Z" in sizes and sizes["Z"] > 1 and any(a in sizes for a in "TIQ"):
            raise InputError(f"{path}: Z stacks over time are not tracked (axes {axes})")
        c = -1
        if "C" in sizes:
            labels = names if len(names) == sizes["C"] else [str(i) for i in range(sizes["C"])]
            c = int(_pick(labels, channel, f"{path}: channel", indices=True)[0])
        elif channel not in (None, 0, "0"):
            raise InputError(f"{path}: no channel axis, so no channel {channel!r}")
        frames = int(np.prod([n for a, n in sizes.items() if a not in "CYXS"], dtype=np.int64))
        name = _stem(path) + (f"_p{index}" if len(layouts) > 1 else "")
        movies.append(
            Movie(
                str(path),
                "tiff",
                name,
                max(frames, 1),
                (sizes["Y"], sizes["X"]),
                "float32" if "S" in sizes else dtype,
                index,
                c,
            )
        )
    return movies


def _ome_channel_names(xml: str | None) -> list[str]:
    if not xml:
        return []
    block = re.search(r"<Pixels\b.*?</Pixels>", xml, flags=re.S)
    return re.findall(r'<Channel\b[^>]*?\bName="([^"]*)"', block.group(0) if block else xml)


def _read_tiff(movie: Movie, start: int, stop: int) -> np.ndarray:
    import tifffile

    # Opened per chunk and closed: a long-lived handle would pin a file the user may replace.
    with tifffile.TiffFile(movie.path) as tif:
        return _read_series(tif.series[int(movie.series)], movie, start, stop)


def _read_series(series: Any, movie: Movie, start: int, stop: int) -> np.ndarray:
    axes, shape = series.axes, series.shape
    # One page per plane: the planes' indices laid out as the series' non-image axes.
    plane_axes = [a for a in axes if a not in "YXS"]
    planes = np.arange(int(np.prod([shape[axes.index(a)] for a in plane_axes], dtype=np.int64)))
    planes = planes.reshape([shape[axes.index(a)] for a in plane_axes] or [1])
    if "C" in plane_axes:
        planes = np.take(planes, int(movie.channel), axis=plane_axes.index("C"))
    keys = planes.ravel()[start:stop]
    data = series.asarray(key=keys.tolist()) if len(plane_axes) else series.asarray()
    data = np.asarray(data)
    if "S" in axes:
        # Colour samples (RGB) become grey, as the single-file reader does for colour.
        s_axis = data.ndim - (len(axes) - axes.index("S"))
        data = data.mean(axis=s_axis, dtype=np.float32)
    return data.reshape(stop - start, *movie.shape)


# -- OME-Zarr --------------------------------------------------------------------------


def _open_zarr(path: Path, channel: str | int | None, position: str | int | None) -> list[Movie]:
    import zarr

    root = zarr.open_group(str(path), mode="r")
    images = _zarr_images(root)
    if not images:
        raise InputError(f"{path}: no OME-Zarr image (multiscales) in the store")
    picked = _pick(list(images), position, f"{path}: position", allow_all=True)
    movies = []
    for key in picked:
        group = root[key] if key else root
        meta = _ome(group.attrs)
        multiscale = meta["multiscales"][0]
        axes = [a["name"].lower() for a in multiscale["axes"]]
        array_path = multiscale["datasets"][0]["path"]
        array = group[array_path]
        if not isinstance(array, zarr.Array):
            raise InputError(f"{path}: {key}/{array_path} is not an array")
        sizes = dict(zip(axes, array.shape, strict=True))
        if sizes.get("z", 1) > 1:
            raise InputError(f"{path}: Z stacks are not tracked (axes {''.join(axes)})")
        c = -1
        if "c" in sizes:
            names = [ch.get("label", "") for ch in meta.get("omero", {}).get("channels", [])]
            if len(names) != sizes["c"] or not all(names):
                names = [str(i) for i in range(sizes["c"])]
            c = int(_pick(names, channel, f"{path}: channel", indices=True)[0])
        elif channel not in (None, 0, "0"):
            raise InputError(f"{path}: no channel axis, so no channel {channel!r}")
        name = _stem(path) + (f"_{key.replace('/', '_')}" if len(images) > 1 else "")
        movies.append(
            Movie(
                str(path),
                "zarr",
                name,
                int(sizes.get("t", 1)),
                (int(sizes["y"]), int(sizes["x"])),
                str(array.dtype),
                f"{key}/{array_path}" if key else array_path,
                c,
            )
        )
    return movies


def _ome(attrs: Any) -> dict[str, Any]:
    # OME-NGFF 0.5 nests its metadata under "ome"; 0.4 keeps it at the top level.
    data = dict(attrs)
    return dict(data.get("ome", data))


def _zarr_images(root: Any) -> dict[str, None]:
    """Paths of the store's images ("" for the root): bioformats2raw series or children."""
    meta = _ome(root.attrs)
    if "multiscales" in meta:
        return {"": None}
    series: list[str] = []
    if "OME" in root:
        series = [str(s) for s in _ome(root["OME"].attrs).get("series", [])]
    if not series:
        series = sorted(
            k for k, v in root.groups() if "multiscales" in _ome(v.attrs) and k != "OME"
        )
    return dict.fromkeys(series)


def _read_zarr(movie: Movie, start: int, stop: int) -> np.ndarray:
    import zarr

    array = zarr.open_array(str(Path(movie.path) / movie.series), mode="r")
    axes = _zarr_axes(movie)
    index: list[Any] = []
    for a in axes:
        if a == "t":
            index.append(slice(start, stop))
        elif a == "c":
            index.append(int(movie.channel))
        elif a in ("y", "x"):
            index.append(slice(None))
        else:
            index.append(0)
    data = np.asarray(array[tuple(index)])
    return data.reshape(stop - start, *movie.shape)


@functools.lru_cache(maxsize=32)
def _zarr_axes_of(path: str, group_path: str) -> tuple[str, ...]:
    import zarr

    group = zarr.open_group(str(Path(path) / group_path) if group_path else path, mode="r")
    return tuple(a["name"].lower() for a in _ome(group.attrs)["multiscales"][0]["axes"])


def _zarr_axes(movie: Movie) -> tuple[str, ...]:
    group_path = movie.series.rpartition("/")[0]
    return _zarr_axes_of(movie.path, group_path)


# -- NDTiff ----------------------------------------------------------------------------


@contextlib.contextmanager
def _ndtiff_dataset(path: str) -> Iterator[Any]:
    import io

    from ndstorage import Dataset

    # ndstorage prints its progress in opening the index; a batch run's output is its own.
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = Dataset(path)
    try:
        yield dataset
    finally:
        dataset.close()


def _open_ndtiff(path: Path, channel: str | int | None, position: str | int | None) -> list[Movie]:
    with _ndtiff_dataset(str(path)) as dataset:
        return _ndtiff_movies(dataset, path, channel, position)


def _ndtiff_movies(
    dataset: Any, path: Path, channel: str | int | None, position: str | int | None
) -> list[Movie]:
    axes: dict[str, Any] = {k: sorted(v, key=str) for k, v in dataset.axes.items()}
    if len(axes.get("z", [0])) > 1:
        raise InputError(f"{path}: Z stacks are not tracked (axes {', '.join(axes)})")
    channels = [str(c) for c in axes.get("channel", [])]
    ch: int | str = -1
    if len(channels) >= 1:
        ch = _pick(channels, channel, f"{path}: channel")[0]
        ch = int(ch) if isinstance(axes["channel"][0], int) else ch
    elif channel not in (None, 0, "0"):
        raise InputError(f"{path}: no channel axis, so no channel {channel!r}")
    positions = [str(p) for p in axes.get("position", [])]
    picked = _pick(positions, position, f"{path}: position", allow_all=True) if positions else [""]
    times = axes.get("time", [0])
    first = dataset.read_image(**_ndtiff_coords(times[0], ch, picked[0]))
    movies = []
    for pos in picked:
        name = path.name + (f"_p{pos}" if len(positions) > 1 else "")
        movies.append(
            Movie(
                str(path), "ndtiff", name, len(times), first.shape[-2:], str(first.dtype), pos, ch
            )
        )
    return movies


def _ndtiff_coords(t: int, channel: int | str, position: str) -> dict[str, Any]:
    coords: dict[str, Any] = {"time": t}
    if channel != -1:
        coords["channel"] = channel
    if position != "":
        coords["position"] = int(position)
    return coords


def _read_ndtiff(movie: Movie, start: int, stop: int) -> np.ndarray:
    with _ndtiff_dataset(movie.path) as dataset:
        times = sorted(dataset.axes.get("time", [0]))
        frames = [
            np.asarray(dataset.read_image(**_ndtiff_coords(t, movie.channel, movie.series)))
            for t in times[start:stop]
        ]
    return np.stack(frames)


# -- shared ----------------------------------------------------------------------------


def _pick(
    names: Sequence[str],
    wanted: str | int | None,
    what: str,
    *,
    allow_all: bool = False,
    indices: bool = False,
) -> list[str]:
    """Pick ``wanted`` among ``names`` by name or index; all of them (or the one) if None.

    Returns the names, or their indices as strings with ``indices=True``.
    """
    if wanted is None:
        if len(names) > 1 and not allow_all:
            raise InputError(f"{what}: several ({', '.join(names)}); pick one with --{_opt(what)}")
        chosen = list(range(len(names)))
    else:
        text = str(wanted)
        if text in names:
            chosen = [list(names).index(text)]
        elif text.lstrip("-").isdigit() and -len(names) <= int(text) < len(names):
            chosen = [int(text) % len(names)]
        else:
            raise InputError(f"{what} {wanted!r} not found; the file has {', '.join(names)}")
    return [str(i) if indices else names[i] for i in chosen]


def _opt(what: str) -> str:
    return what.rsplit(" ", 1)[-1]


def fingerprint(path: str | os.PathLike[str]) -> dict[str, int]:
    """Return the size and newest modification time of a file or every file under a folder.

    Cheap (no reading): a rerun compares it to decide that an input is unchanged.
    """
    p = Path(path)
    files: Iterable[Path] = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    size, mtime, count = 0, 0, 0
    for f in files:
        st = f.stat()
        size, mtime, count = size + st.st_size, max(mtime, st.st_mtime_ns), count + 1
    return {"bytes": size, "mtime_ns": mtime, "files": count}


def content_hash(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 of a file's bytes, or of a folder's files (relative names and bytes)."""
    import hashlib

    p = Path(path)
    digest = hashlib.sha256()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            digest.update(json.dumps(str(f.relative_to(p))).encode())
        with f.open("rb") as handle:
            for block in iter(functools.partial(handle.read, 1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
