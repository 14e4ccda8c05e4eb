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

from livetrack.link._linker import link

__all__ = ["confirm_along_tracks"]


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


def _fill(
    kept: pd.DataFrame,
    pool: pd.DataFrame,
    search_range_px: float,
    fill_px: float,
    memory: int,
    frames: tuple[int, int],
) -> list:
    """Index labels of ``pool`` rows that fill the kept trajectories' gaps and ends."""
    from scipy.spatial import cKDTree

    tracks = link(kept, search_range_px, memory=memory).sort_values(["particle", "frame"])
    f = tracks["frame"].to_numpy()
    x, y = tracks["x"].to_numpy(), tracks["y"].to_numpy()
    pid = tracks["particle"].to_numpy()
    same = pid[1:] == pid[:-1]
    gap = same & (f[1:] - f[:-1] == 2)
    start = np.r_[True, ~same]
    end = np.r_[~same, True]
    longer = np.bincount(pid)[pid] >= 2
    wants = [
        (f[:-1][gap] + 1, 0.5 * (x[:-1][gap] + x[1:][gap]), 0.5 * (y[:-1][gap] + y[1:][gap])),
        (f[start & longer] - 1, x[start & longer], y[start & longer]),
        (f[end & longer] + 1, x[end & longer], y[end & longer]),
    ]
    wf = np.concatenate([w[0] for w in wants])
    wx = np.concatenate([w[1] for w in wants])
    wy = np.concatenate([w[2] for w in wants])
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
        prob = sub["prob"].to_numpy()
        labels = sub.index.to_numpy()
        for near in tree.query_ball_point(np.column_stack([wx[mine], wy[mine]]), fill_px):
            free = [k for k in near if labels[k] not in taken]
            if free:
                best = max(free, key=lambda k: prob[k])
                taken.add(labels[best])
                chosen.append(labels[best])
    return chosen
