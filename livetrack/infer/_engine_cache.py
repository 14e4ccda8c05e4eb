"""The on-disk cache of serialized TensorRT engines: built once, trusted only when proven.

Building an engine takes seconds to minutes; loading one takes milliseconds. An engine is
only valid for the model, the GPU model, the TensorRT version, the shape profile and the
precision it was built for, so those make its key (:class:`EngineKey`). Each file holds a
header (the key in full, the engine's length and SHA-256) before the engine's bytes; a file
whose header does not match the key asked for, or whose bytes are cut short or changed, is
removed and the engine rebuilt, never handed to TensorRT. Files are written to a temporary
name and renamed, so a crash mid-write leaves no half file under the real name.

Nothing here imports TensorRT: the building and the deserializing are callables, so the
cache's logic is tested with fake engine bytes anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from livetrack._errors import LivetrackError

_log = logging.getLogger("livetrack")

#: The first bytes of every cache file; a new layout gets a new magic.
MAGIC = b"LTTRTENG1\n"
# Bumped when what livetrack puts into an engine changes (the FP16 graph, the profile's
# rules), so engines of an older livetrack are rebuilt, not reused.
_RECIPE = 1
_HEADER_LEN = struct.Struct("<I")

T = TypeVar("T")

#: ``(min, opt, max)`` input shapes ``(B, 1, H, W)`` of a TensorRT optimization profile.
ShapeProfile = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class EngineKey:
    """What a serialized engine was built for; any difference means another engine.

    Attributes
    ----------
    model_sha256 : str
        SHA-256 of the ONNX graph the engine was built from.
    gpu : str
        GPU model and compute capability, e.g. ``"NVIDIA H200 (sm_90)"``.
    tensorrt : str
        TensorRT version (``tensorrt.__version__``).
    profile : tuple
        The optimization profile, ``(min, opt, max)`` input shapes.
    precision : str
        ``"fp16"`` or ``"fp32"``, and how FP16 was asked for (builder flag or FP16 graph).
    """

    model_sha256: str
    gpu: str
    tensorrt: str
    profile: ShapeProfile
    precision: str

    def to_dict(self) -> dict[str, Any]:
        """Return the key as JSON-serializable values (the profile as lists)."""
        d = asdict(self)
        d["profile"] = [list(s) for s in self.profile]
        d["recipe"] = _RECIPE
        return d

    def digest(self) -> str:
        """Return a short hex digest of the key, the cache file's name."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def default_cache_dir() -> Path:
    """Return the user cache folder of TensorRT engines (``LIVETRACK_ENGINE_CACHE`` overrides)."""
    override = os.environ.get("LIVETRACK_ENGINE_CACHE")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("livetrack")) / "tensorrt"


def pack(key: EngineKey, engine: bytes) -> bytes:
    """Return the file contents of ``engine`` under ``key``: magic, header, engine."""
    header = json.dumps(
        {
            "key": key.to_dict(),
            "size": len(engine),
            "sha256": hashlib.sha256(engine).hexdigest(),
        },
        sort_keys=True,
    ).encode()
    return MAGIC + _HEADER_LEN.pack(len(header)) + header + engine


def unpack(key: EngineKey, data: bytes) -> tuple[bytes | None, str]:
    """Return the engine a cache file holds for ``key``, or None and why it is not usable.

    Parameters
    ----------
    key : EngineKey
        The engine asked for.
    data : bytes
        The file's contents.

    Returns
    -------
    engine : bytes or None
        The engine's bytes where the header matches ``key`` and the bytes their checksum.
    why : str
        Empty where ``engine`` is given; else what is wrong with the file.
    """
    if not data.startswith(MAGIC):
        return None, "not a livetrack engine file"
    start = len(MAGIC) + _HEADER_LEN.size
    if len(data) < start:
        return None, "cut short"
    (n,) = _HEADER_LEN.unpack_from(data, len(MAGIC))
    try:
        header = json.loads(data[start : start + n])
    except ValueError:
        return None, "damaged header"
    if not isinstance(header, dict) or header.get("key") != key.to_dict():
        return None, "built for another model, GPU, TensorRT version or shape profile"
    engine = data[start + n :]
    if len(engine) != header.get("size"):
        return None, f"{len(engine)} engine bytes where the header says {header.get('size')}"
    if hashlib.sha256(engine).hexdigest() != header.get("sha256"):
        return None, "engine bytes do not match their checksum"
    return engine, ""


class EngineCache:
    """Serialized engines on disk, one file per :class:`EngineKey`.

    Parameters
    ----------
    folder : path-like, optional
        Where the files go; default: :func:`default_cache_dir`.
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()

    def path(self, key: EngineKey) -> Path:
        """Return the file of ``key``'s engine."""
        return self.folder / f"{key.digest()}.engine"

    def load(self, key: EngineKey) -> bytes | None:
        """Return ``key``'s cached engine bytes, or None (a bad file is removed and logged)."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            _log.warning("cannot read the cached TensorRT engine %s (%s); rebuilding", path, exc)
            return None
        engine, why = unpack(key, data)
        if engine is None:
            _log.warning("cached TensorRT engine %s: %s; rebuilding it", path, why)
            self.discard(key)
        return engine

    def store(self, key: EngineKey, engine: bytes) -> Path | None:
        """Write ``engine`` under ``key`` (atomically); None where the folder is not writable."""
        path = self.path(key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".engine")
            with os.fdopen(fd, "wb") as f:
                f.write(pack(key, engine))
            os.replace(tmp, path)
        except OSError as exc:
            # No cache is slower starts, not wrong results.
            _log.warning("cannot cache the TensorRT engine in %s (%s)", self.folder, exc)
            return None
        return path

    def discard(self, key: EngineKey) -> None:
        """Remove ``key``'s file if there is one."""
        with contextlib.suppress(OSError):
            self.path(key).unlink()

    def load_or_build(
        self,
        key: EngineKey,
        build: Callable[[], bytes],
        open_engine: Callable[[bytes], T | None],
        what: str = "a TensorRT engine",
    ) -> T:
        """Return the engine of ``key``: from the cache where it opens, else built and stored.

        Parameters
        ----------
        key : EngineKey
            The engine wanted.
        build : callable
            ``build() -> bytes``: builds the serialized engine (slow).
        open_engine : callable
            ``open_engine(bytes) -> engine or None``: deserializes; None (or an exception)
            for bytes the runtime refuses, which are rebuilt too.
        what : str
            What is built, for the log line shown while it builds.

        Raises
        ------
        LivetrackError
            A freshly built engine that does not open.
        """
        cached = self.load(key)
        if cached is not None:
            engine = _try_open(open_engine, cached)
            if engine is not None:
                return engine
            _log.warning("cached TensorRT engine %s does not load; rebuilding it", self.path(key))
            self.discard(key)
        _log.info(
            "building %s (once; later starts load it from %s) ...", what, self.path(key).parent
        )
        data = build()
        engine = _try_open(open_engine, data)
        if engine is None:
            raise LivetrackError(f"the TensorRT engine just built does not load ({what})")
        self.store(key, data)
        return engine


def _try_open(open_engine: Callable[[bytes], T | None], data: bytes) -> T | None:
    try:
        return open_engine(data)
    except Exception as exc:  # a runtime's refusal of foreign bytes takes any form
        _log.debug("engine bytes refused: %s", exc)
        return None
