"""Writing and reading simulated movies: TIFF stack + ground-truth CSV + metadata JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack._stack import read_stack
from livetrack.simulate._camera import Camera
from livetrack.simulate._movie import TRUTH_COLUMNS, Movie, empty_truth
from livetrack.simulate._psf import PSF, AiryPSF, GaussianPSF, RingPSF

_PSF_TYPES: dict[str, type] = {cls.__name__: cls for cls in (GaussianPSF, AiryPSF, RingPSF)}


def movie_paths(path: str | Path) -> tuple[Path, Path, Path]:
    """Files of a movie stored at ``path``: the TIFF, ``<stem>.truth.csv``, ``<stem>.meta.json``.

    Parameters
    ----------
    path : str or Path
        The TIFF file.

    Returns
    -------
    tuple of Path
        ``(tiff, truth_csv, metadata_json)``.
    """
    tiff = Path(path)
    stem = tiff.name.rsplit(".", 1)[0] if tiff.suffix.lower() in (".tif", ".tiff") else tiff.name
    return tiff, tiff.with_name(f"{stem}.truth.csv"), tiff.with_name(f"{stem}.meta.json")


def write_movie(movie: Movie, path: str | Path) -> Path:
    """Write a movie as a TIFF stack with its ground truth and metadata beside it.

    Parameters
    ----------
    movie : Movie
        The movie to store.
    path : str or Path
        TIFF file to write (``.tif`` or ``.tiff``); ``<stem>.truth.csv`` and
        ``<stem>.meta.json`` are written next to it.

    Returns
    -------
    Path
        The TIFF path.
    """
    import tifffile

    tiff, csv, meta = movie_paths(path)
    if tiff.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"{tiff}: movie path must end in .tif or .tiff")
    if not tiff.parent.is_dir():
        raise InputError(f"{tiff.parent}: no such directory")
    tifffile.imwrite(tiff, movie.frames, photometric="minisblack")
    movie.truth.to_csv(csv, index=False)
    meta.write_text(json.dumps(movie.metadata, indent=2))
    return tiff


def _from_description(desc: Any, types: dict[str, type], what: str, source: Path) -> Any:
    if desc is None:
        return None
    if not isinstance(desc, dict) or desc.get("type") not in types:
        raise InputError(f"{source}: unknown {what} description {desc!r}")
    params = {k: v for k, v in desc.items() if k != "type"}
    try:
        return types[desc["type"]](**params)
    except (TypeError, InputError) as exc:
        raise InputError(f"{source}: bad {what} parameters ({exc})") from None


def _read_truth(csv: Path) -> pd.DataFrame:
    if not csv.is_file():
        raise InputError(f"missing ground-truth file {csv}")
    try:
        truth = pd.read_csv(csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{csv}: not a readable CSV file ({exc})") from None
    missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise InputError(f"{csv}: missing ground-truth columns {missing}")
    if truth.empty:
        return empty_truth()
    try:
        return truth.astype(TRUTH_COLUMNS)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{csv}: non-numeric ground-truth values ({exc})") from None


def _read_metadata(meta: Path) -> dict[str, Any]:
    if not meta.is_file():
        raise InputError(f"missing metadata file {meta}")
    try:
        metadata = json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{meta}: not valid JSON ({exc})") from None
    if not isinstance(metadata, dict) or "psf" not in metadata:
        raise InputError(f"{meta}: expected a JSON object with a 'psf' entry")
    return metadata


def read_movie(path: str | Path) -> Movie:
    """Read a movie written by :func:`write_movie`.

    Parameters
    ----------
    path : str or Path
        The TIFF file; its ``.truth.csv`` and ``.meta.json`` must sit beside it.

    Returns
    -------
    Movie
        The movie, equal to the one written.

    Raises
    ------
    InputError
        A missing or unreadable file, frames that are not a non-empty numeric 2-D/3-D stack,
        or ground truth / metadata that do not match.
    """
    tiff, csv, meta = movie_paths(path)
    frames = read_stack(tiff)
    truth = _read_truth(csv)
    metadata = _read_metadata(meta)
    psf: PSF = _from_description(metadata["psf"], _PSF_TYPES, "psf", meta)
    camera = _from_description(metadata.get("camera"), {"Camera": Camera}, "camera", meta)
    if camera is not None and frames.dtype != camera.dtype:
        raise InputError(f"{tiff}: dtype {frames.dtype} does not match the camera's {camera.dtype}")
    if len(truth) and not truth["frame"].between(0, frames.shape[0] - 1).all():
        raise InputError(f"{csv}: frame numbers outside the {frames.shape[0]} frames of {tiff}")
    return Movie(
        frames=np.ascontiguousarray(frames),
        truth=truth,
        camera=camera,
        psf=psf,
        metadata=metadata,
    )
