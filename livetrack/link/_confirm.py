"""Deciding faint detections on their trajectories: hysteresis in time, and filled gaps.

A faint particle scores low in some frames and high in others; a false detection of the
noise seldom recurs where the same particle would be a frame later. So, as Canny's edge
detector does in space, a detection is kept at a low score where it lies on a trajectory
that also holds a confident one, and a trajectory's one-frame gaps and its ends are
filled from the weakest candidates, where the particle must be. Only the detection table
of the whole movie is needed: a movie located in time chunks and confirmed once gives the
positions one pass gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from livetrack.link._linker import Linker, link

__all__ = ["TrackConfirmer", "confirm_along_tracks", "fill_gaps"]


class TrackConfirmer:
    """The live, causal form of :func:`confirm_along_tracks`: one frame at a time.

    A detection scoring at least ``high`` stays and confirms its trajectory; one scoring at
    least ``low`` stays where its trajectory was confirmed in an earlier frame. Nothing is
    filled: a live frame has no later ones. A frame number at or below the previous one
    starts a new stream.

    Parameters
    ----------
    search_range_px : float
        Linking distance per frame.
    low, high : float
        Default thresholds; :meth:`step` may take the frame's own.
    memory : int
        Frames a trajectory may skip.
    """

    def __init__(self, search_range_px: float, low: float, high: float, memory: int = 1) -> None:
        self.search_range_px = float(search_range_px)
        self.low, self.high, self.memory = float(low), float(high), int(memory)
        self._start()

    def _start(self) -> None:
        self._linker = Linker(self.search_range_px, memory=self.memory)
        self._confirmed = np.empty(0, np.int64)

    def step(
        self,
        frame: int,
        table: pd.DataFrame,
        low: float | None = None,
        high: float | None = None,
    ) -> pd.DataFrame:
        """Link one frame's candidates and return those that stay (``table``'s columns).

        Parameters
        ----------
        frame : int
            Frame number.
        table : pandas.DataFrame
            The frame's candidates: ``x``, ``y``, ``prob``.
        low, high : float, optional
            This frame's thresholds (default: the constructor's).
        """
        last = self._linker.last_frame
        if last is not None and frame <= last:
            self._start()
        low = self.low if low is None else float(low)
        high = self.high if high is None else float(high)
        cands = table[table["prob"] >= low]
        ids = self._linker.step(frame, cands)["particle"].to_numpy()
        strong = cands["prob"].to_numpy() >= high
        keep = strong | np.isin(ids, self._confirmed)
        # Only trajectories the linker may still continue are remembered.
        alive = self._linker.tracks()["particle"].to_numpy()
        self._confirmed = np.intersect1d(np.union1d(self._confirmed, ids[strong]), alive)
        return cands[keep].reset_index(drop=True)


def confirm_along_tracks(
    table: pd.DataFrame,
    search_range_px: float,
    low: float,
    high: float,
    fill_floor: float | None = None,
    fill_px: float | None = None,
    memory: int = 1,
    frames: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Keep the detections that lie on a confident trajectory, and fill its gaps.

    Parameters
    ----------
    table : pandas.DataFrame
        Candidate detections of a movie: ``frame``, ``x``, ``y`` and a score ``prob``.
    search_range_px : float
        Linking distance per frame (as for :func:`livetrack.link.link`).
    low, high : float
        A detection scoring at least ``high`` stays; one scoring at least ``low`` stays
        where its trajectory (of candidates scoring at least ``low``) has another detection
        and one of them scores at least ``high``.
    fill_floor : float, optional
        Candidates scoring at least this fill a kept trajectory's one-frame gaps and the
        frame before its start and after its end: the strongest one within ``fill_px`` of
        the gap's midpoint, or of the end's position. None: no filling.
    fill_px : float, optional
        Distance of a filling candidate (default ``search_range_px / 2``).
    memory : int
        Frames a trajectory may skip (:func:`livetrack.link.link`).
    frames : tuple of int, optional
        First and last frame of the movie (ends are not extended beyond them); default the
        table's.

    Returns
    -------
    pandas.DataFrame
        The kept and filled rows of ``table`` (its columns), sorted by frame.
    """
    table = table.reset_index(drop=True)
    if table.empty:
        return table
    first, last = frames if frames is not None else (table["frame"].min(), table["frame"].max())
    cands = table[table["prob"] >= low]
    if cands.empty:
        return cands.reset_index(drop=True)
    linked = link(cands, search_range_px, memory=memory)
    by_track = linked.groupby("particle")["prob"]
    confident = (by_track.transform("max") >= high) & (by_track.transform("size") >= 2)
    kept = linked[confident | (linked["prob"] >= high)].drop(columns="particle")
    if fill_floor is not None and len(kept):
        fill = _fill(
            kept,
            table[(table["prob"] >= fill_floor) & ~table.index.isin(kept.index)],
            search_range_px,
            search_range_px / 2 if fill_px is None else fill_px,
            memory,
            (int(first), int(last)),
        )
        kept = pd.concat([kept, table.loc[fill]])
    return kept.sort_index().sort_values("frame", kind="stable").reset_index(drop=True)


def fill_gaps(
    kept: pd.DataFrame,
    pool: pd.DataFrame,
    search_range_px: float,
    fill_px: float,
    score: str = "prob",
    memory: int = 1,
) -> pd.DataFrame:
    """Return the rows of ``pool`` that fill the one-frame gaps of ``kept``'s trajectories.

    Parameters
    ----------
    kept : pandas.DataFrame
        Detections of a movie: ``frame``, ``x``, ``y``; linked here.
    pool : pandas.DataFrame
        Candidates that may fill a gap: ``frame``, ``x``, ``y`` and ``score``.
    search_range_px : float
        Linking distance per frame (as for :func:`livetrack.link.link`).
    fill_px : float
        Largest distance of a filling candidate from the gap's midpoint.
    score : str
        Column of ``pool`` that ranks the candidates: each gap takes the highest one within
        ``fill_px``, and a candidate fills one gap at most.
    memory : int
        Frames a trajectory may skip.

    Returns
    -------
    pandas.DataFrame
        The chosen rows of ``pool`` (its columns and index labels).
    """
    if kept.empty or pool.empty:
        return pool.iloc[:0]
    return pool.loc[_fill(kept, pool, search_range_px, fill_px, memory, None, score=score)]


def _fill(
    kept: pd.DataFrame,
    pool: pd.DataFrame,
    search_range_px: float,
    fill_px: float,
    memory: int,
    frames: tuple[int, int] | None,
    score: str = "prob",
) -> list:
    """Index labels of ``pool`` rows that fill the kept trajectories' gaps and ends.

    ``frames`` (first and last frame of the movie) None: gaps only.
    """
    from scipy.spatial import cKDTree

    tracks = link(kept, search_range_px, memory=memory).sort_values(["particle", "frame"])
    f = tracks["frame"].to_numpy()
    x, y = tracks["x"].to_numpy(), tracks["y"].to_numpy()
    pid = tracks["particle"].to_numpy()
    same = pid[1:] == pid[:-1]
    gap = same & (f[1:] - f[:-1] == 2)
    wants = [(f[:-1][gap] + 1, 0.5 * (x[:-1][gap] + x[1:][gap]), 0.5 * (y[:-1][gap] + y[1:][gap]))]
    if frames is not None:
        start = np.r_[True, ~same]
        end = np.r_[~same, True]
        longer = np.bincount(pid)[pid] >= 2
        wants += [
            (f[start & longer] - 1, x[start & longer], y[start & longer]),
            (f[end & longer] + 1, x[end & longer], y[end & longer]),
        ]
    wf = np.concatenate([w[0] for w in wants])
    wx = np.concatenate([w[1] for w in wants])
    wy = np.concatenate([w[2] for w in wants])
    if frames is not None:
        inside = (wf >= frames[0]) & (wf <= frames[1])
        wf, wx, wy = wf[inside], wx[inside], wy[inside]
    chosen: list = []
    taken: set = set()
    for t, rows in pool.groupby("frame").indices.items():
        mine = np.flatnonzero(wf == t)
        if mine.size == 0:
            continue
        sub = pool.iloc[rows]
        tree = cKDTree(sub[["x", "y"]].to_numpy())
        rank = sub[score].to_numpy()
        labels = sub.index.to_numpy()
        for near in tree.query_ball_point(np.column_stack([wx[mine], wy[mine]]), fill_px):
            free = [k for k in near if labels[k] not in taken]
            if free:
                best = max(free, key=lambda k: rank[k])
                taken.add(labels[best])
                chosen.append(labels[best])
    return chosen
