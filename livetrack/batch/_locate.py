"""What one task does: read a chunk of a movie and localize its frames (no Dask here).

With ``model="auto"`` the CNN is set up from the data (:class:`~livetrack.infer.AutoLocalizer`).
A movie tracked in one chunk is set up on all its frames, as ``livetrack.locate`` does. A
movie split into chunks is set up on :data:`AUTO_SAMPLE_FRAMES` frames spread over the
whole movie, and every chunk sets itself up on those same frames: the choice (network,
scale, polarity, noise model, noise level) is the movie's, the same in every chunk, made
once per movie by the driver's first task and repeated bit for bit by the others. What
``AutoLocalizer.locate_stack`` measures on the frames it is given (overlays, stripes, the
clutter gap, the false-alarm level outside the training regime) is measured per chunk:
there a chunked movie's positions can differ from one pass's. A named model or a classical
method has no such step and chunks are exact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from livetrack.batch._chunks import Chunk, core_positions
from livetrack.batch._read import Movie, read_frames

__all__ = ["AUTO_SAMPLE_FRAMES", "LocateSpec", "auto_choice", "locate_chunk", "sample_frames"]

#: Frames, spread over a chunked movie, the auto mode's one-time analysis looks at.
AUTO_SAMPLE_FRAMES = 20


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
    """Frames of ``movie`` the auto mode of a chunked movie is set up on (evenly spread)."""
    n = min(movie.n_frames, AUTO_SAMPLE_FRAMES)
    return sorted({int(i) for i in np.linspace(0, movie.n_frames - 1, n).round()})


def _read_sample(movie: Movie) -> np.ndarray:
    return np.concatenate([read_frames(movie, i, i + 1) for i in sample_frames(movie)])


def _auto_localizer(spec: LocateSpec, movie: Movie) -> Any:
    from livetrack.infer import AutoLocalizer

    opts = spec.options
    loc = AutoLocalizer(
        spec.backend,
        opts.get("threshold"),
        opts.get("refine"),
        diameter_px=opts.get("diameter_px"),
        invert=opts.get("invert"),
    )
    loc.configure(_read_sample(movie))
    return loc


def auto_choice(movie: Movie, spec: LocateSpec) -> str:
    """Make the auto mode's choice for a chunked movie and return its one-line description."""
    return str(_auto_localizer(spec, movie).choice.line())


def locate_chunk(
    movie: Movie, chunk: Chunk, spec: LocateSpec, chunked: bool = True
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
        Whether the movie has other chunks; for ``model="auto"`` it decides what the CNN
        is set up on (see the module's docstring).

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
        loc = _auto_localizer(spec, movie)
        table = loc.locate_stack(
            frames, first_frame=0, temporal_window=options.get("temporal_window", 1)
        )
    else:
        table = _api.locate(frames, spec.model, method=spec.method, backend=spec.backend, **options)
    table = table.copy()
    table["frame"] = table["frame"].to_numpy() + chunk.start
    return core_positions(table, chunk), time.perf_counter() - began
