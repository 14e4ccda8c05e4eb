"""Optional dependencies: which extra brings each, and the one-line error when it is missing.

The base install is what inference on the CPU needs. Training, Micro-Manager, the viewer
and the benchmarks need packages that come with extras (``pip install 'livetrack[train]'``);
code that needs one imports it through :func:`require` (or inside :func:`needs_extra`), so a
user without it reads which extra to install instead of a bare ``No module named ...``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from livetrack._errors import LivetrackError

__all__ = ["EXTRA_OF", "MissingExtraError", "install_hint", "needs_extra", "require"]

#: Top-level module -> the extra that installs it ("" for a base dependency).
EXTRA_OF: dict[str, str] = {
    "onnxruntime": "",
    "torch": "train",
    "onnx": "train",
    "matplotlib": "bench",
    "psutil": "bench",
    "trackpy": "bench",
    "pymmcore_plus": "mm",
    "pymmcore": "mm",
    "pycromanager": "mm",
    "useq": "mm",
    "pyqtgraph": "viewer",
    "PyQt6": "viewer",
    "distributed": "dask",
    "zarr": "dask",
    "ndstorage": "dask",
    "pyarrow": "dask",
}


class MissingExtraError(LivetrackError, ImportError):
    """An optional package is not installed; the message names the extra that brings it.

    It is an ``ImportError`` too, so code that already falls back on one still does, and a
    :class:`~livetrack.LivetrackError`, so the command line prints it as one line.
    """


def install_hint(module: str, extra: str | None = None) -> str:
    """Return the command that installs ``module``: ``pip install 'livetrack[<extra>]'``.

    Parameters
    ----------
    module : str
        A module name (its top-level package decides the extra).
    extra : str, optional
        The extra to name; defaults to the one :data:`EXTRA_OF` lists for ``module``,
        else ``all``. ``""``: a base dependency, installed by its own name.
    """
    top = module.split(".")[0]
    extra = EXTRA_OF.get(top, "all") if extra is None else extra
    if not extra:
        return f"pip install {top}"
    return f"pip install 'livetrack[{extra}]'"


def _missing(exc: ModuleNotFoundError, feature: str, extra: str | None) -> MissingExtraError:
    top = (exc.name or "").split(".")[0]
    hint = install_hint(top, extra)
    return MissingExtraError(f"{feature} needs {top}, which is not installed: {hint}")


def require(module: str, feature: str, extra: str | None = None) -> ModuleType:
    """Import ``module``, or raise a one-line :class:`MissingExtraError` naming its extra.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"torch"`` or ``"matplotlib.pyplot"``.
    feature : str
        What needs it, as the user would name it (``"training"``, ``"the torch backend"``).
    extra : str, optional
        The extra to name; defaults to the one :data:`EXTRA_OF` lists for the package.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingExtraError
        If ``module`` (or a package it imports that the same extra brings) is not installed.
    """
    with needs_extra(feature, extra):
        return importlib.import_module(module)


@contextmanager
def needs_extra(feature: str, extra: str | None = None) -> Iterator[None]:
    """Turn a missing optional package, imported in the block, into a :class:`MissingExtraError`.

    Only packages that an extra brings (:data:`EXTRA_OF`) are translated; any other
    missing module is a broken install and keeps its own error.

    Parameters
    ----------
    feature : str
        What needs the block's imports, as the user would name it.
    extra : str, optional
        The extra to name; defaults to the one :data:`EXTRA_OF` lists for the package.

    Examples
    --------
    >>> with needs_extra("the simulated microscope"):
    ...     import pymmcore_plus  # doctest: +SKIP
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in EXTRA_OF:
            raise
        raise _missing(exc, feature, extra) from None
