"""Frame-by-frame linking of detections into trajectories.

The algorithm is the one of Crocker & Grier (1996) as implemented by trackpy
(Allan et al., doi:10.5281/zenodo.1213240): each new frame is linked to the
tracks that are alive or in memory by the assignment that minimises the sum
of squared displacements, where a track left unlinked costs
``search_range_px**2``. Candidate pairs come from a KD-tree, the bipartite
graph is split into independent subnetworks, and each subnetwork is solved
exactly with :func:`scipy.optimize.linear_sum_assignment` (trackpy solves the
same subnetworks by recursive search). Tracks lost for longer than ``memory``
frames are forgotten, so the work per frame does not grow with the movie.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from livetrack._errors import InputError
from livetrack.link._predict import Predictor

__all__ = ["LinkOptions", "Linker", "link", "link_iter"]

_POS_COLUMNS = ("x", "y")


@dataclass(frozen=True)
class LinkOptions:
    """Options of the linker.

    Parameters
    ----------
    search_range_px
        Largest displacement in pixels between consecutive observations of a
        particle (measured from the predicted position when a predictor is used).
    memory
        Number of frames a particle may go undetected and still be resumed as the
        same track. Counted in frame numbers, so frames without detections count.
    """

    search_range_px: float
    memory: int = 0

    def __post_init__(self) -> None:
        r = self.search_range_px
        if isinstance(r, bool) or not isinstance(r, Real) or not math.isfinite(r) or r <= 0:
            raise InputError(f"search_range_px must be a positive finite number, got {r!r}")
        m = self.memory
        if isinstance(m, bool) or not isinstance(m, Integral) or m < 0:
            raise InputError(f"memory must be a non-negative integer, got {m!r}")


class Linker:
    """Stateful online linker: feed it one frame of detections at a time.

    Parameters
    ----------
    search_range_px
        Largest displacement in pixels between consecutive observations of a
        particle (from the predicted position when ``predictor`` is given).
    memory
        Number of frames a particle may be missing and still be resumed as the
        same track (gap closing).
    predictor
        Optional motion model, see :class:`~livetrack.link.Predictor`; ``None``
        predicts that a particle stays where it was last seen.

    Notes
    -----
    Links minimise the total squared displacement with an unlinked track costing
    ``search_range_px**2``, as in Crocker & Grier, J. Colloid Interface Sci. 179,
    298 (1996) and trackpy (Allan et al., doi:10.5281/zenodo.1213240). Ties are
    broken by track id and by detection position, so the result does not depend
    on the order of the rows. Track ids start at 0 for every ``Linker``.

    Examples
    --------
    >>> import pandas as pd
    >>> linker = Linker(search_range_px=3.0)
    >>> linker.step(0, pd.DataFrame({"x": [1.0, 20.0], "y": [1.0, 5.0]}))["particle"].tolist()
    [0, 1]
    >>> linker.step(1, pd.DataFrame({"x": [21.0, 2.0], "y": [5.0, 1.5]}))["particle"].tolist()
    [1, 0]
    """

    def __init__(
        self,
        search_range_px: float,
        memory: int = 0,
        predictor: Predictor | None = None,
    ) -> None:
        self.options = LinkOptions(search_range_px=search_range_px, memory=memory)
        if predictor is not None and not isinstance(predictor, Predictor):
            raise InputError(
                f"predictor must have predict() and observe() methods, got {type(predictor)!r}"
            )
        self.predictor = predictor
        # The track table: sorted by id because ids are handed out in increasing order.
        self._ids = np.empty(0, np.int64)
        self._xy = np.empty((0, 2), np.float64)
        self._last = np.empty(0, np.int64)
        self._next_id = 0
        self._frame: int | None = None

    @property
    def n_tracks(self) -> int:
        """Tracks that the next frame may continue (seen in the last ``memory + 1`` frames)."""
        return len(self._ids)

    @property
    def next_id(self) -> int:
        """Id the next new track will get (also: number of tracks started so far)."""
        return self._next_id

    @property
    def last_frame(self) -> int | None:
        """The last frame linked, or None before the first one."""
        return self._frame

    def tracks(self) -> pd.DataFrame:
        """Return the remembered tracks: where and when each was last seen.

        Returns
        -------
        pd.DataFrame
            One row per track alive or in memory, sorted by id, with columns
            ``particle``, ``x``, ``y`` (last observed position, pixels) and ``frame``
            (frame of that observation).
        """
        return pd.DataFrame(
            {
                "particle": self._ids.copy(),
                "x": self._xy[:, 0].copy(),
                "y": self._xy[:, 1].copy(),
                "frame": self._last.copy(),
            }
        )

    def step(self, frame: int, positions: pd.DataFrame) -> pd.DataFrame:
        """Link the detections of one frame.

        Parameters
        ----------
        frame
            Frame number; must increase from call to call (gaps are allowed).
        positions
            Detections of this frame with at least columns ``x`` and ``y`` in
            pixels; other columns are carried through untouched.

        Returns
        -------
        pd.DataFrame
            A copy of ``positions`` (same rows, order and index) with an int64
            ``particle`` column holding the track id of each row.

        Raises
        ------
        InputError
            If ``frame`` does not increase, or ``x``/``y`` are missing or not finite.
        """
        xy = _xy_of(positions)
        ids = self.step_xy(frame, xy)
        out = positions.copy()
        out["particle"] = ids
        return out

    def step_xy(self, frame: int, xy: ArrayLike) -> np.ndarray:
        """Link one frame given as an (m, 2) array of (x, y); return the m track ids.

        Parameters
        ----------
        frame
            Frame number; must increase from call to call (gaps are allowed).
        xy
            Positions in pixels, shape (m, 2), columns x then y.

        Returns
        -------
        np.ndarray
            int64 track id of each row of ``xy``.
        """
        frame = self._check_frame(frame)
        xy = np.asarray(xy, dtype=np.float64)
        if xy.size == 0:
            xy = xy.reshape(0, 2)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise InputError(f"positions must have shape (n, 2), got {xy.shape}")
        if not np.all(np.isfinite(xy)):
            raise InputError(f"frame {frame}: positions contain NaN or infinite values")
        # Work in (x, y)-sorted order so results do not depend on row order.
        order = np.lexsort((xy[:, 1], xy[:, 0]))
        sorted_ids = self._link_sorted(frame, xy[order])
        ids = np.empty(len(xy), np.int64)
        ids[order] = sorted_ids
        return ids

    def _check_frame(self, frame: int) -> int:
        if isinstance(frame, bool) or not isinstance(frame, Integral):
            raise InputError(f"frame must be an integer, got {frame!r}")
        frame = int(frame)
        if self._frame is not None and frame <= self._frame:
            raise InputError(f"frames must increase: got frame {frame} after frame {self._frame}")
        return frame

    def _forget_old(self, frame: int) -> None:
        """Drop tracks that can no longer be continued in ``frame``."""
        keep = self._last >= frame - self.options.memory - 1
        if keep.all():
            return
        dropped = self._ids[~keep]
        self._ids, self._xy, self._last = self._ids[keep], self._xy[keep], self._last[keep]
        forget = getattr(self.predictor, "forget", None)
        if forget is not None:
            forget(dropped)

    def _link_sorted(self, frame: int, xy: np.ndarray) -> np.ndarray:
        self._forget_old(frame)
        ids = np.full(len(xy), -1, np.int64)
        if len(self._ids) and len(xy):
            if self.predictor is None:
                expected = self._xy
            else:
                expected = np.asarray(
                    self.predictor.predict(frame, self._ids, self._xy, self._last), np.float64
                ).reshape(-1, 2)
            src, dst = _assign(expected, xy, self.options.search_range_px)
            ids[dst] = self._ids[src]
            self._xy[src] = xy[dst]
            self._last[src] = frame
        new = np.flatnonzero(ids < 0)
        if len(new):
            new_ids = np.arange(self._next_id, self._next_id + len(new), dtype=np.int64)
            self._next_id += len(new)
            ids[new] = new_ids
            self._ids = np.concatenate([self._ids, new_ids])
            self._xy = np.concatenate([self._xy, xy[new]])
            self._last = np.concatenate([self._last, np.full(len(new), frame, np.int64)])
        if self.predictor is not None:
            self.predictor.observe(frame, ids, xy)
        self._frame = frame
        self._forget_old(frame + 1)
        return ids


def _assign(sources: np.ndarray, dests: np.ndarray, search_range: float) -> tuple[np.ndarray, ...]:
    """Optimal links between ``sources`` and ``dests``: (source index, dest index) arrays.

    Minimising sum(d**2) + R**2 * (unlinked sources) is the same as maximising
    sum(R**2 - d**2) over links, a maximum-weight bipartite matching with
    positive weights; non-edges get weight 0 so they are never preferred.
    """
    pairs = cKDTree(sources).sparse_distance_matrix(
        cKDTree(dests), search_range, output_type="ndarray"
    )
    # trackpy's candidate search is strict (distance < search_range).
    pairs = pairs[pairs["v"] < search_range]
    if len(pairs) == 0:
        empty = np.empty(0, np.int64)
        return empty, empty
    i, j = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    w = search_range**2 - pairs["v"] ** 2
    n, m = len(sources), len(dests)
    graph = coo_matrix((np.ones(len(i)), (i, n + j)), shape=(n + m, n + m))
    n_comp, labels = connected_components(graph, directed=False)
    comp = labels[i]
    n_src = np.bincount(labels[:n], minlength=n_comp)
    n_dst = np.bincount(labels[n:], minlength=n_comp)
    # A subnetwork with one source or one destination allows a single link: the
    # heaviest edge. Only the rest need the assignment solver.
    star = (n_src[comp] == 1) | (n_dst[comp] == 1)
    order = np.lexsort((j, i, -w, comp))  # deterministic ties: lowest track, then detection
    order = order[star[order]]
    first = np.ones(len(order), bool)
    first[1:] = comp[order[1:]] != comp[order[:-1]]
    best = order[first]
    src_parts, dst_parts = [i[best]], [j[best]]
    rest = np.flatnonzero(~star)
    if len(rest):
        rest = rest[np.lexsort((j[rest], i[rest], comp[rest]))]
        bounds = np.flatnonzero(np.diff(comp[rest])) + 1
        for edges in np.split(rest, bounds):
            s, d = _solve_subnet(i[edges], j[edges], w[edges])
            src_parts.append(s)
            dst_parts.append(d)
    return np.concatenate(src_parts), np.concatenate(dst_parts)


def _solve_subnet(i: np.ndarray, j: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, ri = np.unique(i, return_inverse=True)
    cols, cj = np.unique(j, return_inverse=True)
    weights = np.zeros((len(rows), len(cols)))
    weights[ri, cj] = w
    r, c = linear_sum_assignment(weights, maximize=True)
    linked = weights[r, c] > 0
    return rows[r[linked]], cols[c[linked]]


def _xy_of(positions: pd.DataFrame) -> np.ndarray:
    if not isinstance(positions, pd.DataFrame):
        raise InputError(f"positions must be a pandas DataFrame, got {type(positions).__name__}")
    missing = [c for c in _POS_COLUMNS if c not in positions.columns]
    if missing:
        raise InputError(f"positions lack column(s) {', '.join(missing)}")
    try:
        return positions[list(_POS_COLUMNS)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"positions x/y must be numeric: {exc}") from None


def _frame_numbers(frames: pd.Series) -> np.ndarray:
    try:
        values = frames.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"frame column must be integer frame numbers: {exc}") from None
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise InputError("frame column must hold integer frame numbers (no NaN or fractions)")
    return values.astype(np.int64)


def link_iter(
    frames_of_positions: Iterable[pd.DataFrame | tuple[int, pd.DataFrame]],
    search_range_px: float,
    memory: int = 0,
    predictor: Predictor | None = None,
) -> Iterator[pd.DataFrame]:
    """Link a stream of frames lazily, yielding each frame as soon as it is linked.

    Parameters
    ----------
    frames_of_positions
        Iterable of per-frame detections, in increasing frame order: either
        DataFrames with a ``frame`` column (one value per DataFrame) and ``x``,
        ``y``, or ``(frame, DataFrame)`` pairs.
    search_range_px, memory, predictor
        As for :class:`Linker`.

    Yields
    ------
    pd.DataFrame
        Each input DataFrame with a ``particle`` column added.

    Notes
    -----
    The generator layer between :class:`Linker` and :func:`link`, as in trackpy
    (Allan et al., doi:10.5281/zenodo.1213240). An empty DataFrame without a
    frame number is passed through: skipping it changes nothing because memory
    is counted in frame numbers.
    """
    linker = Linker(search_range_px, memory=memory, predictor=predictor)
    for item in frames_of_positions:
        if isinstance(item, tuple):
            if len(item) != 2:
                raise InputError("link_iter items must be DataFrames or (frame, DataFrame) pairs")
            frame, positions = item
        else:
            positions = item
            if not isinstance(positions, pd.DataFrame):
                raise InputError(
                    f"link_iter items must be DataFrames or (frame, DataFrame) pairs, "
                    f"got {type(positions).__name__}"
                )
            if "frame" not in positions.columns:
                raise InputError("a DataFrame given to link_iter needs a 'frame' column")
            if len(positions) == 0:
                out = positions.copy()
                out["particle"] = np.empty(0, np.int64)
                yield out
                continue
            values = np.unique(_frame_numbers(positions["frame"]))
            if len(values) != 1:
                raise InputError(f"one DataFrame holds several frames: {values[:5].tolist()}")
            frame = int(values[0])
        yield linker.step(frame, positions)


def link(
    df: pd.DataFrame,
    search_range_px: float,
    memory: int = 0,
    predictor: Predictor | None = None,
) -> pd.DataFrame:
    """Link all detections of a movie at once.

    Parameters
    ----------
    df
        Detections with columns ``frame``, ``x``, ``y`` (pixels); any row order.
    search_range_px, memory, predictor
        As for :class:`Linker`.

    Returns
    -------
    pd.DataFrame
        A copy of ``df`` (same rows, order and index) with an int64 ``particle``
        column.

    Notes
    -----
    Offline convenience over :class:`Linker`, after ``trackpy.link`` (Crocker &
    Grier 1996; Allan et al., doi:10.5281/zenodo.1213240). Unlike trackpy,
    ``memory`` counts frame numbers, not frames that contain detections.
    """
    xy = _xy_of(df)
    if "frame" not in df.columns:
        raise InputError("detections lack column frame")
    frames = _frame_numbers(df["frame"])
    linker = Linker(search_range_px, memory=memory, predictor=predictor)
    particle = np.empty(len(df), np.int64)
    order = np.argsort(frames, kind="stable")
    bounds = np.flatnonzero(np.diff(frames[order])) + 1
    for rows in np.split(order, bounds):
        if len(rows):
            particle[rows] = linker.step_xy(int(frames[rows[0]]), xy[rows])
    out = df.copy()
    out["particle"] = particle
    return out
