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
import logging
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
    "backend_unavailable",
    "check_backend",
    "choose_backend",
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
    why_not : callable, optional
        ``why_not() -> str | None``: why the engine cannot run here (one line), None where
        it can; replaces ``available`` where given, and its line is what ``"auto"`` logs
        and an explicit request's error says.
    """

    name: str
    factory: Callable[[ModelSpec], InferenceBackend]
    available: Callable[[], bool]
    why_not: Callable[[], str | None] | None = None

    def unavailable(self) -> str | None:
        """Return why the engine cannot run here, or None where it can."""
        if self.why_not is not None:
            return self.why_not()
        return None if self.available() else "not available on this machine"


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


def _tensorrt(spec: ModelSpec) -> InferenceBackend:
    from livetrack.infer import TensorRTBackend

    return TensorRTBackend(spec)


def _cuda(spec: ModelSpec) -> InferenceBackend:
    from livetrack.infer import CudaBackend

    return CudaBackend(spec)


def _module_missing(name: str, hint: str) -> Callable[[], str | None]:
    def why_not() -> str | None:
        return None if importlib.util.find_spec(name) is not None else f"{name} {hint}"

    return why_not


def _cuda_why_not() -> str | None:
    from livetrack._gpu import cuda_unavailable

    return cuda_unavailable()


def _tensorrt_why_not() -> str | None:
    from livetrack._gpu import tensorrt_unavailable

    return tensorrt_unavailable()


_BACKENDS: dict[str, BackendEntry] = {
    entry.name: entry
    for entry in (
        BackendEntry(
            "onnxruntime",
            _onnxruntime,
            _has_module("onnxruntime"),
            _module_missing("onnxruntime", "is not installed: pip install onnxruntime"),
        ),
        BackendEntry(
            "onnxruntime-int8",
            _onnxruntime_int8,
            _has_module("onnxruntime"),
            _module_missing("onnxruntime", "is not installed: pip install onnxruntime"),
        ),
        BackendEntry(
            "torch",
            _torch,
            _has_module("torch"),
            _module_missing("torch", "is not installed: pip install 'livetrack[gpu]'"),
        ),
        BackendEntry("cuda", _cuda, lambda: _cuda_why_not() is None, _cuda_why_not),
        BackendEntry("tensorrt", _tensorrt, lambda: _tensorrt_why_not() is None, _tensorrt_why_not),
    )
}
_LOCK = threading.Lock()
_log = logging.getLogger("livetrack")
# The auto choices already logged: a process builds many localizers, the line shows once.
_LOGGED: set[str] = set()

#: Preference order of ``backend="auto"``; names not registered are skipped.
AUTO_ORDER = ("tensorrt", "cuda", "onnxruntime", "torch")


def register_backend(
    name: str,
    factory: Callable[[ModelSpec], InferenceBackend],
    available: Callable[[], bool],
    why_not: Callable[[], str | None] | None = None,
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
    why_not : callable, optional
        ``why_not() -> str | None``: why it cannot run here, in one line (see
        :class:`BackendEntry`).
    """
    if not name or ":" in name or name == "auto":
        raise InputError(f"a backend name must be non-empty, without ':' and not 'auto': {name!r}")
    with _LOCK:
        _BACKENDS[name] = BackendEntry(name, factory, available, why_not)


def backend_names() -> list[str]:
    """Return the registered backend names, sorted (``"auto"`` chooses among them)."""
    return sorted(_BACKENDS)


def choose_backend(exclude: tuple[str, ...] = ()) -> tuple[str, str]:
    """Return the backend ``"auto"`` takes here, and one line saying why.

    The first of :data:`AUTO_ORDER` that can run here is taken; the line names it and why
    each one before it cannot run, e.g. ``"backend 'onnxruntime': tensorrt not installed;
    cuda: no CUDA device (no NVIDIA driver (libcuda not found))"``.

    Parameters
    ----------
    exclude : tuple of str
        Backends to pass over (they failed to start), named as such in the line.

    Raises
    ------
    InputError
        None of them can run.
    """
    skipped: list[str] = []
    for name in AUTO_ORDER:
        entry = _BACKENDS.get(name)
        if entry is None:
            continue
        why = "failed to start" if name in exclude else entry.unavailable()
        if why is None:
            reasons = "; ".join(skipped) or "the first choice of auto"
            return name, f"backend {name!r}: {reasons}"
        # A line that names its backend already reads as it is.
        skipped.append(why if why.startswith(name) else f"{name}: {why}")
    raise InputError("no inference backend can run here: " + "; ".join(skipped))


def backend_unavailable(name: str) -> str | None:
    """Return why the registered backend ``name`` cannot run here, or None where it can.

    Raises
    ------
    InputError
        An unknown name.
    """
    entry = _BACKENDS.get(name)
    if entry is None:
        known = ", ".join(["auto", *backend_names()])
        raise InputError(f"unknown backend {name!r} (choose from {known})")
    return entry.unavailable()


def check_backend(name: str) -> None:
    """Raise a one-line error where the backend ``name`` is unknown or cannot run here.

    ``"auto"`` always passes (it takes whatever runs). Commands call it before they start
    anything slow, so ``--backend cuda`` on a machine without a GPU fails at once.

    Raises
    ------
    InputError
        ``backend 'cuda' cannot run here: no CUDA device (...)``, or an unknown name.
    """
    if name == "auto":
        return
    why_not = backend_unavailable(name)
    if why_not is not None:
        raise InputError(f"backend {name!r} cannot run here: {why_not}")


def make_backend(spec: ModelSpec, backend: str | InferenceBackend = "auto") -> InferenceBackend:
    """Create the backend ``backend`` for ``spec``.

    ``"auto"`` takes the first of :data:`AUTO_ORDER` that can run here and logs (once per
    process) which and why (:func:`choose_backend`); an object that already is a backend is
    returned as it is.

    Raises
    ------
    InputError
        An unknown name, or a backend asked for by name that cannot run here (the message
        says why).
    """
    from livetrack.protocols import InferenceBackend

    if not isinstance(backend, str):
        if isinstance(backend, InferenceBackend):
            return backend
        raise InputError(f"backend must be a name or a Backend, got {type(backend).__name__}")
    if backend == "auto":
        return _make_auto(spec)
    check_backend(backend)
    return _BACKENDS[backend].factory(spec)


def _make_auto(spec: ModelSpec) -> InferenceBackend:
    """Build the first backend of :data:`AUTO_ORDER` that runs here and starts."""
    failed: list[str] = []
    while True:
        name, why = choose_backend(exclude=tuple(failed))
        if why not in _LOGGED:
            _LOGGED.add(why)
            _log.info("%s", why)
        try:
            return _BACKENDS[name].factory(spec)
        except Exception as exc:
            # A GPU engine that fails to start (a driver, a TensorRT build) must not stop a
            # user who asked for whatever runs: the next one does, and the line says why.
            if name == AUTO_ORDER[-1] or name in ("onnxruntime", "onnxruntime-int8"):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _log.warning("backend %r failed to start (%s); trying the next", name, first)
            failed.append(name)


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
        an error, and the CNN skips the joint fits of crowded detections (``crowded=False``,
        unless the options say otherwise).
    **options
        Keyword options of the localizer: the fields of the classical options
        (``diameter_px=9``, ``camera=...``), the CNN's ``threshold``, ``refine``,
        ``camera``, ``batch_size``, ``noise_scale_px``, ``crowded``, ``model``, ``auto``'s
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
    if live and parsed.kind in ("cnn", "auto"):
        # Live, the frame rate counts more than pairs closer than 4 px: no joint fits.
        options = {"crowded": False, **options}
    return kind.build(parsed, backend, options)
