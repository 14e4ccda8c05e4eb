"""One registry per extension point: localizers and inference backends, by name.

Every place that turns a name into a localizer or an inference engine asks here: the
command line (``--method``, ``--backend``, ``bench -m``, ``demo --localizer``), the
benchmarks, the live pipeline's default and ``livetrack.locate``. The command line's help
texts list what is registered, so a new engine registered with :func:`register_backend` (or
a new kind of localizer with :func:`register_localizer`) is offered everywhere without
editing them.

Localizer names
---------------
``auto``
    The CNN with its input scale, polarity and noise model chosen from the data
    (:class:`livetrack.infer.AutoLocalizer`).
``cnn[:<model>][:<backend>][:int8][:fast][:adaptive][:t<k>]``
    A :class:`livetrack.infer.CNNLocalizer`: ``<model>`` a model name or folder (default
    ``spots``), ``<backend>`` any registered backend name, ``int8`` the model's int8 export
    on ONNX Runtime (``onnxruntime-int8``), ``fast`` no refinement, ``adaptive`` the
    adaptive threshold, ``t<k>`` detection on ``k``-frame averages (stacks only). ``auto``
    takes the same flags, except a model.
``centroid``, ``radial``, ``mle``
    The classical localizers of :mod:`livetrack.localize`.
``defaults``
    Exactly what ``livetrack.locate(frames)`` does with no options.

This module imports nothing heavy; each builder imports its localizer when it runs.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livetrack._errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from livetrack.model import ModelSpec
    from livetrack.protocols import InferenceBackend, Localizer

__all__ = [
    "AUTO_ORDER",
    "CLASSICAL",
    "BackendEntry",
    "LocalizerKind",
    "LocalizerName",
    "backend_names",
    "localizer_kinds",
    "localizer_syntax",
    "make_backend",
    "make_localizer",
    "parse_localizer",
    "register_backend",
    "register_localizer",
]

# -- inference backends ----------------------------------------------------------------


@dataclass(frozen=True)
class BackendEntry:
    """A registered inference engine.

    Attributes
    ----------
    name : str
        The name ``backend=`` arguments and the command line take.
    factory : callable
        ``factory(spec) -> InferenceBackend`` for a loaded :class:`~livetrack.model.ModelSpec`.
    available : callable
        Cheap check whether the engine can run here (used by ``"auto"``).
    """

    name: str
    factory: Callable[[ModelSpec], InferenceBackend]
    available: Callable[[], bool]


def _has_module(name: str) -> Callable[[], bool]:
    def check() -> bool:
        return importlib.util.find_spec(name) is not None

    return check


def _onnxruntime(spec: ModelSpec) -> InferenceBackend:
    from livetrack.infer import OnnxRuntimeBackend

    return OnnxRuntimeBackend(spec)


def _onnxruntime_int8(spec: ModelSpec) -> InferenceBackend:
    from livetrack.infer import OnnxRuntimeBackend

    return OnnxRuntimeBackend(spec, precision="int8")


def _torch(spec: ModelSpec) -> InferenceBackend:
    from livetrack.infer import TorchBackend

    return TorchBackend(spec)


_BACKENDS: dict[str, BackendEntry] = {
    entry.name: entry
    for entry in (
        BackendEntry("onnxruntime", _onnxruntime, _has_module("onnxruntime")),
        BackendEntry("onnxruntime-int8", _onnxruntime_int8, _has_module("onnxruntime")),
        BackendEntry("torch", _torch, _has_module("torch")),
    )
}
_LOCK = threading.Lock()

#: Preference order of ``backend="auto"``; names not registered are skipped.
AUTO_ORDER = ("tensorrt", "onnxruntime", "torch")


def register_backend(
    name: str, factory: Callable[[ModelSpec], InferenceBackend], available: Callable[[], bool]
) -> None:
    """Register an inference engine under ``name`` (replacing any previous one).

    Parameters
    ----------
    name : str
        Backend name used by ``backend=`` arguments, ``cnn:<model>:<name>`` localizer names
        and the command line.
    factory : callable
        ``factory(spec) -> InferenceBackend``.
    available : callable
        Cheap check whether the engine can run here (used by ``"auto"``).
    """
    if not name or ":" in name or name == "auto":
        raise InputError(f"a backend name must be non-empty, without ':' and not 'auto': {name!r}")
    with _LOCK:
        _BACKENDS[name] = BackendEntry(name, factory, available)


def backend_names() -> list[str]:
    """Return the registered backend names, sorted (``"auto"`` chooses among them)."""
    return sorted(_BACKENDS)


def make_backend(spec: ModelSpec, backend: str | InferenceBackend = "auto") -> InferenceBackend:
    """Create the backend ``backend`` for ``spec``.

    ``"auto"`` takes the first available of :data:`AUTO_ORDER`; an object that already is
    a backend is returned as it is.

    Raises
    ------
    InputError
        An unknown or unavailable backend name.
    """
    from livetrack.protocols import InferenceBackend

    if not isinstance(backend, str):
        if isinstance(backend, InferenceBackend):
            return backend
        raise InputError(f"backend must be a name or a Backend, got {type(backend).__name__}")
    if backend == "auto":
        for name in AUTO_ORDER:
            entry = _BACKENDS.get(name)
            if entry is not None and entry.available():
                return entry.factory(spec)
        raise InputError("no inference backend available (install onnxruntime or torch)")
    entry = _BACKENDS.get(backend)
    if entry is None:
        known = ", ".join(["auto", *backend_names()])
        raise InputError(f"unknown backend {backend!r} (choose from {known})")
    if not entry.available():
        if backend == "torch":
            from livetrack._extras import install_hint

            hint = install_hint("torch")
            raise InputError(f"backend 'torch' needs torch, which is not installed: {hint}")
        raise InputError(f"backend {backend!r} is not available on this machine")
    return entry.factory(spec)


# -- localizers ------------------------------------------------------------------------

#: The classical localizers (:mod:`livetrack.localize`).
CLASSICAL = ("centroid", "radial", "mle")
# The flag that names the int8 export on ONNX Runtime.
_INT8 = "onnxruntime-int8"


@dataclass(frozen=True)
class LocalizerName:
    """A parsed localizer name (see the module's documentation for the syntax).

    Attributes
    ----------
    kind : str
        ``"auto"``, ``"cnn"``, ``"centroid"``, ``"radial"``, ``"mle"``, ``"defaults"`` or a
        registered kind.
    model : str or None
        The CNN's model name or folder (``cnn`` only; None: ``spots``).
    backend : str or None
        The backend the name asks for; None leaves it to the caller.
    refine : bool or None
        False for ``:fast``; None leaves it to the caller (the model's default).
    threshold : str or None
        ``"adaptive"`` for ``:adaptive``; None leaves it to the caller.
    window : int
        Frames averaged for detection (``:t<k>``; 1: single frames).
    text : str
        The name as given.
    """

    kind: str
    model: str | None = None
    backend: str | None = None
    refine: bool | None = None
    threshold: str | None = None
    window: int = 1
    text: str = ""

    def __str__(self) -> str:
        return self.text or self.kind


@dataclass(frozen=True)
class LocalizerKind:
    """A registered kind of localizer.

    Attributes
    ----------
    name : str
        The first part of a localizer name.
    build : callable
        ``build(name, backend, options) -> Localizer`` with the parsed
        :class:`LocalizerName`, the caller's default backend and the keyword options.
    syntax : str
        How to write the name (for help texts).
    cnn_flags : bool
        Whether the name takes the CNN's flags (backend, ``int8``, ``fast``, ...).
    takes_model : bool
        Whether the name takes a model name or folder.
    """

    name: str
    build: Callable[[LocalizerName, str, dict[str, Any]], Localizer]
    syntax: str
    cnn_flags: bool = False
    takes_model: bool = False


def _merge(name: LocalizerName, options: dict[str, Any]) -> dict[str, Any]:
    """Fill ``threshold`` and ``refine`` from the name; a keyword may not contradict it."""
    merged = dict(options)
    for key, value in (("threshold", name.threshold), ("refine", name.refine)):
        if value is None:
            continue
        if merged.get(key) is not None and merged[key] != value:
            raise InputError(f"{name}: the name sets {key}={value!r}, the options {merged[key]!r}")
        merged[key] = value
    return merged


def _build_cnn(name: LocalizerName, backend: str, options: dict[str, Any]) -> Localizer:
    from livetrack.infer import CNNLocalizer

    options = _merge(name, options)
    model = options.pop("model", None) or name.model or "spots"
    return CNNLocalizer(model, backend=name.backend or backend, **options)


def _build_auto(name: LocalizerName, backend: str, options: dict[str, Any]) -> Localizer:
    from livetrack.infer import AutoLocalizer

    options = _merge(name, options)
    return AutoLocalizer(backend=name.backend or backend, **options)


def _build_classical(name: LocalizerName, backend: str, options: dict[str, Any]) -> Localizer:
    from livetrack.localize import make_localizer as classical

    return classical(name.kind, **options)


def _build_defaults(name: LocalizerName, backend: str, options: dict[str, Any]) -> Localizer:
    if options:
        raise InputError(f"'defaults' is livetrack.locate without options, got {sorted(options)}")
    return _Defaults()


class _Defaults:
    """``livetrack.locate`` with no options, shaped as a localizer."""

    def __repr__(self) -> str:
        return "livetrack.locate (defaults)"

    def locate(self, image: np.ndarray, frame: int = 0) -> pd.DataFrame:
        """Locate one frame as ``livetrack.locate(image)`` does."""
        return self.locate_stack(image, first_frame=frame)

    def locate_stack(
        self, frames: np.ndarray, first_frame: int = 0, temporal_window: int = 1
    ) -> pd.DataFrame:
        """Locate a stack as ``livetrack.locate(frames)`` does (``temporal_window`` unused)."""
        from livetrack._api import locate

        table = locate(frames)
        table["frame"] += first_frame
        return table


_CNN_SYNTAX = "cnn[:<model>][:<backend>|:int8][:fast][:adaptive][:t<k>]"
_KINDS: dict[str, LocalizerKind] = {
    kind.name: kind
    for kind in (
        LocalizerKind("auto", _build_auto, "auto", cnn_flags=True),
        LocalizerKind("cnn", _build_cnn, _CNN_SYNTAX, cnn_flags=True, takes_model=True),
        *(LocalizerKind(method, _build_classical, method) for method in CLASSICAL),
        LocalizerKind("defaults", _build_defaults, "defaults"),
    )
}


def register_localizer(
    name: str,
    build: Callable[[LocalizerName, str, dict[str, Any]], Localizer],
    syntax: str | None = None,
    *,
    cnn_flags: bool = False,
    takes_model: bool = False,
) -> None:
    """Register a kind of localizer under ``name`` (replacing any previous one).

    Parameters
    ----------
    name : str
        The first part of the names it is built from.
    build : callable
        ``build(name, backend, options) -> Localizer``: the parsed :class:`LocalizerName`,
        the caller's default backend and the keyword options of :func:`make_localizer`.
    syntax : str, optional
        How to write the name, for help texts (default: ``name``).
    cnn_flags, takes_model : bool
        Whether the name takes the CNN's flags and a model, as ``cnn`` does.
    """
    if not name or ":" in name:
        raise InputError(f"a localizer name must be non-empty and without ':': {name!r}")
    with _LOCK:
        _KINDS[name] = LocalizerKind(name, build, syntax or name, cnn_flags, takes_model)


def localizer_kinds() -> list[str]:
    """Return the registered kinds of localizer, in registration order."""
    return list(_KINDS)


def localizer_syntax() -> str:
    """Return the localizer names the registry takes, for help texts and errors."""
    return ", ".join(kind.syntax for kind in _KINDS.values())


def parse_localizer(name: str) -> LocalizerName:
    """Split a localizer name into its kind and settings.

    Parameters
    ----------
    name : str
        E.g. ``"auto"``, ``"radial"``, ``"cnn:spots-c5:adaptive"``, ``"cnn:spots:int8:fast"``.

    Returns
    -------
    LocalizerName

    Raises
    ------
    InputError
        An unknown kind, or settings the kind does not take.
    """
    kind_name, *parts = str(name).split(":")
    kind = _KINDS.get(kind_name)
    if kind is None:
        raise InputError(f"unknown localizer {name!r}; available: {localizer_syntax()}")
    windows = [p for p in parts if len(p) > 1 and p[0] == "t" and p[1:].isdigit()]
    flags = {p for p in parts if p in ("int8", "fast", "adaptive") or p in _BACKENDS}
    rest = [p for p in parts if p not in flags and p not in windows]
    backends = sorted({_INT8 if p == "int8" else p for p in flags - {"fast", "adaptive"}})
    parsed = LocalizerName(
        kind=kind_name,
        # A folder may hold ':' (a Windows drive): what is no flag is the model, rejoined.
        model=":".join(rest) or None,
        backend=backends[0] if backends else None,
        refine=False if "fast" in flags else None,
        threshold="adaptive" if "adaptive" in flags else None,
        window=int(windows[-1][1:]) if windows else 1,
        text=str(name),
    )
    if len(backends) > 1:
        raise InputError(f"{name!r} names more than one backend: {', '.join(backends)}")
    if parsed.model is not None and not kind.takes_model:
        raise InputError(f"unknown localizer {name!r}; available: {localizer_syntax()}")
    if (flags or windows) and not kind.cnn_flags:
        raise InputError(f"{kind_name!r} takes no flags, got {name!r}")
    if parsed.window < 1 or parsed.window % 2 == 0:
        raise InputError(f"{name!r}: t<k> needs a positive odd k, got {parsed.window}")
    return parsed


def make_localizer(
    name: str | LocalizerName, *, backend: str = "auto", live: bool = False, **options: Any
) -> Localizer:
    """Build the localizer a name describes.

    Parameters
    ----------
    name : str or LocalizerName
        A localizer name (see the module's documentation) or one parsed already.
    backend : str
        The CNN's backend where the name names none.
    live : bool
        The localizer tracks a live stream: a name asking for later frames (``:t<k>``) is
        an error.
    **options
        Keyword options of the localizer: the fields of the classical options
        (``diameter_px=9``, ``camera=...``), the CNN's ``threshold``, ``refine``,
        ``camera``, ``batch_size``, ``noise_scale_px``, ``model``, ``auto``'s
        ``diameter_px`` and ``invert``. A setting of the name wins; an option that
        contradicts it is an error.

    Returns
    -------
    Localizer

    Raises
    ------
    InputError
        An unknown name, option or model.
    """
    parsed = name if isinstance(name, LocalizerName) else parse_localizer(name)
    if live and parsed.window != 1:
        raise InputError(f"{parsed}: live tracking has no future frames (drop :t{parsed.window})")
    kind = _KINDS.get(parsed.kind)
    if kind is None:
        raise InputError(f"unknown localizer {str(parsed)!r}; available: {localizer_syntax()}")
    return kind.build(parsed, backend, options)
