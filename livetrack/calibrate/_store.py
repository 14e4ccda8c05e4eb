"""Self-describing calibration files: what was measured, when, from what, for which camera.

A calibration is a JSON file (camera, particle image, stage) or a model folder with a
``calibration.json`` (model). Every one starts with the same header: the format version,
its kind, the UTC date, the SHA-256 of each input, the livetrack version and the camera's
frame size and pixel type, so that one applied to other data can be refused in one line.
Arrays (an sCMOS camera's per-pixel maps) go to an ``.npz`` file beside the JSON, named in
it and hashed.

A calibration is given by path, or by bare name: ``NAME`` or ``NAME.json`` is looked up in
the user's calibration folder (``platformdirs.user_data_dir("livetrack") / "calibrations"``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livetrack._errors import InputError
from livetrack._version import __version__

__all__ = [
    "CALIBRATION_FORMAT",
    "CALIBRATION_FORMAT_VERSION",
    "CALIBRATION_KINDS",
    "CalibrationEntry",
    "CalibrationHeader",
    "array_sha256",
    "find_calibrations",
    "input_hashes",
    "read_calibration",
    "resolve_calibration",
    "user_calibrations_dir",
    "write_calibration",
]

#: Written as ``format`` in every calibration file, so that any JSON is not mistaken for one.
CALIBRATION_FORMAT = "livetrack-calibration"
#: Bumped when a file written by this version cannot be read by an older one.
CALIBRATION_FORMAT_VERSION = 1
#: What can be calibrated.
CALIBRATION_KINDS = ("camera", "psf", "stage", "model")
#: The file inside a calibrated model's folder that makes it a calibration.
MODEL_CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class CalibrationHeader:
    """What every calibration says about itself.

    Attributes
    ----------
    kind : str
        One of :data:`CALIBRATION_KINDS`.
    created : str
        UTC date and time of the measurement, ISO 8601.
    inputs : dict of str to str
        SHA-256 of each input (file name, or a description of the source, to hex digest).
    frame_shape : tuple of int or None
        The camera's frame size ``(rows, columns)`` the calibration was measured on.
    pixel_type : str or None
        The frames' numpy dtype name (``"uint16"``...).
    format_version : int
        :data:`CALIBRATION_FORMAT_VERSION` of the writer.
    livetrack_version : str
        Version of livetrack that measured it.
    """

    kind: str
    created: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    )
    inputs: dict[str, str] = field(default_factory=dict)
    frame_shape: tuple[int, int] | None = None
    pixel_type: str | None = None
    format_version: int = CALIBRATION_FORMAT_VERSION
    livetrack_version: str = __version__

    def __post_init__(self) -> None:
        if self.kind not in CALIBRATION_KINDS:
            raise InputError(f"unknown calibration kind {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        """Return the header as JSON-ready fields."""
        return {
            "format": CALIBRATION_FORMAT,
            "format_version": self.format_version,
            "kind": self.kind,
            "created": self.created,
            "livetrack_version": self.livetrack_version,
            "inputs": dict(self.inputs),
            "frame_shape": None if self.frame_shape is None else list(self.frame_shape),
            "pixel_type": self.pixel_type,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], source: Path) -> CalibrationHeader:
        """Read a header written by :meth:`to_json`; refuse other files in one line."""
        if raw.get("format") != CALIBRATION_FORMAT:
            raise InputError(f"{source} is not a livetrack calibration file")
        version = raw.get("format_version")
        if not isinstance(version, int) or version > CALIBRATION_FORMAT_VERSION:
            raise InputError(
                f"{source}: calibration format version {version!r} is newer than this "
                f"livetrack reads ({CALIBRATION_FORMAT_VERSION}); update livetrack"
            )
        shape = raw.get("frame_shape")
        try:
            return cls(
                kind=str(raw.get("kind")),
                created=str(raw.get("created", "")),
                inputs={str(k): str(v) for k, v in dict(raw.get("inputs") or {}).items()},
                frame_shape=None if shape is None else (int(shape[0]), int(shape[1])),
                pixel_type=raw.get("pixel_type"),
                format_version=version,
                livetrack_version=str(raw.get("livetrack_version", "")),
            )
        except (TypeError, ValueError, IndexError, InputError) as exc:
            raise InputError(f"{source}: malformed calibration header ({exc})") from None

    def check_frames(self, frames: np.ndarray, source: str | os.PathLike[str] = "") -> None:
        """Refuse frames of another size or pixel type than the calibration's, in one line.

        Parameters
        ----------
        frames : numpy.ndarray
            ``(T, H, W)`` stack or one ``(H, W)`` frame.
        source : str or path-like
            The calibration's name, for the message.

        Raises
        ------
        InputError
            The frame size or pixel type differs.
        """
        arr = np.asarray(frames)
        what = f"{self.kind} calibration {source}".rstrip()
        if self.frame_shape is not None and tuple(arr.shape[-2:]) != tuple(self.frame_shape):
            rows, cols = self.frame_shape
            raise InputError(
                f"{what} is for {cols}x{rows} frames, got {arr.shape[-1]}x{arr.shape[-2]}"
            )
        if self.pixel_type is not None and arr.dtype.name != self.pixel_type:
            raise InputError(f"{what} is for {self.pixel_type} pixels, got {arr.dtype.name}")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(array: np.ndarray) -> str:
    """Return the SHA-256 of an array's bytes, shape and dtype (for inputs given in memory)."""
    arr = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()


def input_hashes(inputs: Iterable[str | os.PathLike[str] | np.ndarray]) -> dict[str, str]:
    """Return ``{name: sha256}`` of files (by name) and in-memory arrays (``array[i]``).

    Parameters
    ----------
    inputs : iterable
        File paths, folders (every file in them, sorted) or arrays.

    Returns
    -------
    dict of str to str
    """
    hashes: dict[str, str] = {}
    for i, item in enumerate(inputs):
        if isinstance(item, np.ndarray):
            hashes[f"array[{i}]"] = array_sha256(item)
            continue
        path = Path(item)
        if path.is_dir():
            digest = hashlib.sha256()
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                digest.update(_sha256_file(f).encode())
            hashes[str(path)] = digest.hexdigest()
        elif path.is_file():
            hashes[str(path)] = _sha256_file(path)
        else:
            hashes[str(path)] = "not a file"
    return hashes


def user_calibrations_dir() -> Path:
    """Return the user's calibration folder: ``user_data_dir("livetrack") / "calibrations"``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("livetrack", appauthor=False)) / "calibrations"


def resolve_calibration(name_or_path: str | os.PathLike[str]) -> Path:
    """Return the calibration file a path or a bare name refers to.

    Parameters
    ----------
    name_or_path : str or path-like
        A file, a calibrated model's folder, or a bare name looked up (with and without
        ``.json``) in :func:`user_calibrations_dir`.

    Raises
    ------
    InputError
        Nothing of that name exists.
    """
    path = Path(name_or_path)
    if path.is_dir() and (path / MODEL_CALIBRATION_FILE).is_file():
        return path / MODEL_CALIBRATION_FILE
    if path.is_file():
        return path
    text = os.fspath(name_or_path)
    if os.sep not in text and "/" not in text:
        base = user_calibrations_dir()
        for candidate in (base / text, base / f"{text}.json"):
            if candidate.is_file():
                return candidate
    raise InputError(
        f"no calibration file {text!r} (a path, or a name in {user_calibrations_dir()})"
    )


def write_calibration(
    path: str | os.PathLike[str],
    header: CalibrationHeader,
    body: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write a calibration: JSON with the header and ``body``; arrays to an ``.npz`` beside.

    The file is written to a temporary name and renamed, so that an existing calibration
    is replaced whole or not at all.

    Parameters
    ----------
    path : str or path-like
        The JSON file to write (``.json`` is added if it has no suffix).
    header : CalibrationHeader
        What the calibration says about itself.
    body : mapping
        The measured values (JSON-serializable).
    arrays : mapping of str to numpy.ndarray, optional
        Maps saved to ``<stem>.npz`` beside the file, their hash kept in the JSON.

    Returns
    -------
    Path
        The JSON file written.
    """
    out = Path(path)
    if not out.suffix:
        out = out.with_suffix(".json")
    if out.is_dir():
        raise InputError(f"{out} is a folder; give a file name for the calibration")
    out.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = header.to_json()
    if arrays:
        npz = out.with_suffix(".npz")
        tmp_npz = npz.with_name(npz.name + ".tmp.npz")
        maps: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
        np.savez_compressed(tmp_npz, **maps)
        os.replace(tmp_npz, npz)
        doc["arrays"] = {"file": npz.name, "sha256": _sha256_file(npz), "names": sorted(arrays)}
    doc.update(body)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def read_calibration(
    path: str | os.PathLike[str], kind: str | None = None
) -> tuple[CalibrationHeader, dict[str, Any], dict[str, np.ndarray]]:
    """Read a calibration written by :func:`write_calibration`.

    Parameters
    ----------
    path : str or path-like
        The file, a calibrated model's folder or a name (:func:`resolve_calibration`).
    kind : str, optional
        The kind expected; another kind is refused in one line.

    Returns
    -------
    header : CalibrationHeader
    body : dict
        Every other field of the JSON.
    arrays : dict of str to numpy.ndarray
        The maps of the ``.npz`` beside it (empty if none).

    Raises
    ------
    InputError
        A missing, unreadable or foreign file, another kind, or maps that changed.
    """
    source = resolve_calibration(path)
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read calibration {source}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{source} is not a livetrack calibration file (not JSON)") from None
    if not isinstance(raw, dict):
        raise InputError(f"{source} is not a livetrack calibration file")
    header = CalibrationHeader.from_json(raw, source)
    if kind is not None and header.kind != kind:
        raise InputError(f"{source} is a {header.kind} calibration, expected a {kind} one")
    skip = {"format", "format_version", "kind", "created", "livetrack_version", "inputs"}
    body = {k: v for k, v in raw.items() if k not in skip | {"frame_shape", "pixel_type"}}
    arrays: dict[str, np.ndarray] = {}
    meta = body.pop("arrays", None)
    if meta:
        npz = source.parent / str(meta.get("file", ""))
        if not npz.is_file():
            raise InputError(f"{source}: its maps {npz.name} are missing beside it")
        if _sha256_file(npz) != meta.get("sha256"):
            raise InputError(f"{source}: its maps {npz.name} changed since it was written")
        with np.load(npz) as data:
            arrays = {k: data[k] for k in data.files}
    return header, body, arrays


@dataclass(frozen=True)
class CalibrationEntry:
    """A calibration found by :func:`find_calibrations`.

    Attributes
    ----------
    path : Path
        The JSON file (for a model: its ``calibration.json``).
    header : CalibrationHeader
        Its header.
    summary : str
        One line of its main values.
    """

    path: Path
    header: CalibrationHeader
    summary: str


def _summary(kind: str, body: Mapping[str, Any]) -> str:
    try:
        if kind == "camera":
            pixel = ", per-pixel maps" if body.get("per_pixel") else ""
            return (
                f"gain {body['gain_adu_per_photon']:.4g} ADU/photon, offset "
                f"{body['offset_adu']:.1f} ADU, read noise {body['read_noise_adu']:.3g} ADU{pixel}"
            )
        if kind == "psf":
            size = (
                f"ring radius {body['ring_radius_px']:.3g} px"
                if body.get("model") == "ring"
                else f"sigma {body['sigma_px']:.3g} px"
            )
            return f"{body['model']} {body['polarity']}, {size}, {body['n_particles']} particles"
        if kind == "stage":
            flip = ", flipped" if body.get("flipped") else ""
            return (
                f"pixel {body['pixel_size_um']:.5g} um, rotation "
                f"{body['rotation_deg']:.3f} deg{flip}"
            )
        if kind == "model":
            return f"model {body.get('name')} from {body.get('base_model')}"
    except (KeyError, TypeError, ValueError):
        pass
    return ""


def find_calibrations(folders: Iterable[str | os.PathLike[str]] = ()) -> list[CalibrationEntry]:
    """List the calibrations: the user's folder, the given ones, and calibrated models.

    Calibrated models are found in the model search path (``LIVETRACK_MODEL_PATH``, the
    user's model folder, the shipped models).

    Files that are not calibrations are skipped; a calibration that cannot be read is
    listed with its reason as the summary.

    Parameters
    ----------
    folders : iterable of path-like
        More folders to search (not recursively).

    Returns
    -------
    list of CalibrationEntry
        In search order, each folder's files sorted by name.
    """
    from livetrack.model import model_dirs

    candidates: list[Path] = []
    for folder in [user_calibrations_dir(), *(Path(f) for f in folders)]:
        if folder.is_dir():
            candidates.extend(sorted(folder.glob("*.json")))
    for d in model_dirs():
        if d.path.is_dir():
            candidates.extend(sorted(d.path.glob(f"*/{MODEL_CALIBRATION_FILE}")))
    entries = []
    for path in candidates:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(raw, dict) or raw.get("format") != CALIBRATION_FORMAT:
            continue
        try:
            header, body, _ = read_calibration(path)
        except InputError as exc:
            kind = raw.get("kind")
            if kind in CALIBRATION_KINDS:
                entries.append(
                    CalibrationEntry(path, CalibrationHeader(kind), f"unreadable: {exc}")
                )
            continue
        entries.append(CalibrationEntry(path, header, _summary(header.kind, body)))
    return entries
