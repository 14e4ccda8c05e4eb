"""What one task does: read a chunk of a movie and localize its frames (no Dask here).

With ``model="auto"`` the CNN is set up from the data (:class:`~livetrack.infer.AutoLocalizer`).
A movie tracked in one chunk runs exactly as ``livetrack.locate`` runs it. A movie split
into chunks is planned once (:func:`auto_plan`: overlays, stripes, network, scale,
polarity, noise and false-alarm levels, all measured on the frames
:func:`~livetrack.infer.plan_frames` picks, as ``livetrack.locate`` measures them on the
whole movie); every chunk runs that plan (:meth:`~livetrack.infer.AutoLocalizer.detect`)
and the driver keeps what stands out of the movie's clutter over all chunks' detections
together (:meth:`~livetrack.infer.AutoPlan.select`), so the positions are those of one
pass. A named model or a classical method has no such step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from livetrack.batch._chunks import Chunk, core_positions
from livetrack.batch._read import Movie, read_frames

__all__ = ["LocateSpec", "auto_plan", "locate_chunk", "sample_frames"]


@dataclass(frozen=True)
class LocateSpec:
    """How to localize: what :func:`livetrack.locate` takes, in one picklable value.

    Attributes
    ----------
    model : str
        CNN model (``"auto"``, a shipped name or a folder); ignored with ``method``.
    method : str or None
        A classical localizer instead of the CNN.
    backend : str
        CNN inference backend.
    options : dict
        The localizer's options (``threshold``, ``refine``, ``temporal_window``,
        ``diameter_px``, ``invert``, ``minmass``, ...).
    """

    model: str = "auto"
    method: str | None = None
    backend: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_auto(self) -> bool:
        """Whether the CNN is set up from the data."""
        return self.method is None and self.model == "auto"

    @property
    def temporal_window(self) -> int:
        """The CNN's temporal window (1: single frames)."""
        return int(self.options.get("temporal_window", 1))


def sample_frames(movie: Movie) -> list[int]:
    """Frames of ``movie`` the auto mode plans on (:func:`livetrack.infer.plan_frames`)."""
    from livetrack.infer import plan_frames

    return [int(i) for i in plan_frames(movie.n_frames)]


def _read_sample(movie: Movie) -> np.ndarray:
    return np.concatenate([read_frames(movie, i, i + 1) for i in sample_frames(movie)])


def _auto_localizer(spec: LocateSpec, plan: Any = None) -> Any:
    from livetrack.infer import AutoLocalizer

    opts = spec.options
    args = (spec.backend, opts.get("threshold"), opts.get("refine"))
    if plan is not None:
        return AutoLocalizer.from_plan(plan, *args)
    return AutoLocalizer(*args, diameter_px=opts.get("diameter_px"), invert=opts.get("invert"))


def auto_plan(movie: Movie, spec: LocateSpec) -> Any:
    """Plan the auto mode for a chunked movie (an :class:`~livetrack.infer.AutoPlan`)."""
    return _auto_localizer(spec).plan(_read_sample(movie))


def locate_chunk(
    movie: Movie, chunk: Chunk, spec: LocateSpec, chunked: bool = True, plan: Any = None
) -> tuple[pd.DataFrame, float]:
    """Localize the frames of ``chunk`` and return the positions of its core.

    Parameters
    ----------
    movie : Movie
        The movie (opened by the worker itself).
    chunk : Chunk
        The frames to read and the core to keep.
    spec : LocateSpec
        The localizer.
    chunked : bool
        Whether the movie has other chunks.
    plan : AutoPlan, optional
        The movie's :func:`auto_plan` (``model="auto"``, chunked): the positions then
        keep a ``strength`` column for the movie-wide :meth:`~livetrack.infer.AutoPlan.select`.

    Returns
    -------
    positions : pandas.DataFrame
        ``frame`` (the movie's frame numbers), ``x``, ``y``, ``mass``, ... of the core frames.
    seconds : float
        Time spent reading and localizing.
    """
    from livetrack import _api

    began = time.perf_counter()
    frames = read_frames(movie, chunk.start, chunk.stop)
    options = dict(spec.options)
    if spec.is_auto and chunked:
        if plan is None:
            plan = auto_plan(movie, spec)
        table = _auto_localizer(spec, plan).detect(
            frames, first_frame=0, temporal_window=options.get("temporal_window", 1)
        )
    else:
        table = _api.locate(frames, spec.model, method=spec.method, backend=spec.backend, **options)
    table = table.copy()
    table["frame"] = table["frame"].to_numpy() + chunk.start
    return core_positions(table, chunk), time.perf_counter() - began
