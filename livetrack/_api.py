"""The batch conveniences in the spirit of trackpy: ``locate`` and ``track``."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack._stack import as_stack

__all__ = ["locate", "track"]


def locate(
    frames: np.ndarray,
    model: str = "auto",
    *,
    method: str | None = None,
    backend: str = "auto",
    **options: Any,
) -> pd.DataFrame:
    """Localize particles in a frame or a stack.

    Parameters
    ----------
    frames
        A 2-D frame (rows, columns) or a 3-D stack (frames, rows, columns).
    model
        CNN model: ``"auto"`` (the default: the input scale, polarity and noise model
        chosen from the data and logged in one line), a shipped name (``"spots"``,
        ``"rings"``) or a model folder. Ignored when ``method`` is given.
    method
        A classical localizer instead of the CNN: ``"centroid"`` (Crocker–Grier),
        ``"radial"`` (radial symmetry) or ``"mle"`` (Gaussian maximum likelihood).
    backend
        CNN inference backend: ``"auto"``, ``"onnxruntime"``, ``"torch"`` or ``"tensorrt"``.
    **options
        Options of the localizer.

        For a classical method, the fields of its options (see
        :class:`livetrack.localize.DetectionOptions`), named as in trackpy's
        ``locate`` where trackpy has them:

        - ``diameter_px`` (odd, default 7): trackpy's ``diameter``;
        - ``minmass``: minimum integrated brightness of a feature (default:
          chosen from the image noise);
        - ``separation_px``: minimum distance between features (default
          ``diameter_px // 2 + 1``);
        - ``polarity="dark"``: dark features on a bright background (trackpy's
          ``invert=True``); ``"abs"`` finds bright and dark ones.

        For the CNN: ``threshold`` (a number or ``"adaptive"``), ``refine``,
        ``temporal_window``, and, where the CNN path takes them (the
        ``model="auto"`` mode), ``diameter_px`` as a hint of the particle size
        and ``invert=True`` for dark particles. An option that the chosen
        localizer does not take raises :class:`~livetrack.InputError`.

    Returns
    -------
    pandas.DataFrame
        One row per particle with ``frame, x, y, mass`` and method-specific
        columns; x is the column and y the row in pixels (trackpy's convention).
    """
    stack = as_stack(frames)
    if method is None:
        from livetrack.infer import locate as cnn_locate

        _check_cnn_options(cnn_locate, options)
        return cnn_locate(stack, model, backend=backend, **options)
    from livetrack.registry import CLASSICAL

    if method not in CLASSICAL:
        raise InputError(f"unknown method {method!r}; choose from {', '.join(CLASSICAL)}")
    from livetrack.localize import locate as classical_locate

    return classical_locate(stack, method, **options)


def _check_cnn_options(cnn_locate: Any, options: dict[str, Any]) -> None:
    # An option the CNN path does not take would be a TypeError from deep inside;
    # name it in one line instead, as make_localizer does for the classical methods.
    params = inspect.signature(cnn_locate).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = sorted(set(params) - {"frame_or_stack", "model", "backend"})
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise InputError(f"unknown option(s) {unknown} for the CNN; valid: {valid}")


def track(
    frames: np.ndarray,
    model: str = "auto",
    *,
    method: str | None = None,
    backend: str = "auto",
    search_range_px: float = 5.0,
    memory: int = 3,
    **options: Any,
) -> pd.DataFrame:
    """Localize particles in every frame and link them into trajectories.

    Parameters
    ----------
    frames
        A 3-D stack (frames, rows, columns) or a single 2-D frame.
    model, method, backend, **options
        As in :func:`locate` (``minmass``, ``separation_px``, ``polarity`` and
        ``diameter_px`` for the classical methods, for instance).
    search_range_px
        Largest displacement between frames that can be linked.
    memory
        Frames a particle may go undetected and keep its id.

    Returns
    -------
    pandas.DataFrame
        The positions of :func:`locate` with a ``particle`` column.
    """
    from livetrack.link import link

    positions = locate(frames, model, method=method, backend=backend, **options)
    return link(positions, search_range_px=search_range_px, memory=memory)
