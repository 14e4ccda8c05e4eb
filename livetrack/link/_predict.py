"""Motion predictors that tell the linker where a track should be next.

A predictor is a small stateful object with two hooks, in the spirit of
trackpy's ``predict`` module: the linker calls :meth:`Predictor.predict` with
the tracks it may extend, links the new detections against the predicted
positions, then calls :meth:`Predictor.observe` with the positions it linked.
The optional ``forget(ids)`` hook is called when tracks are dropped for good,
so that a predictor's memory stays as bounded as the linker's.

One predictor instance belongs to one :class:`~livetrack.link.Linker`; sharing
it between linkers mixes their track ids.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from scipy.spatial import cKDTree

from livetrack._errors import InputError

__all__ = ["ConstantVelocityPredictor", "NearestVelocityPredictor", "Predictor"]


@runtime_checkable
class Predictor(Protocol):
    """Where tracks are expected in the next frame.

    Required hooks are :meth:`predict` and :meth:`observe`. A predictor that keeps
    per-track state should also define ``forget(ids: np.ndarray) -> None``; the
    linker calls it (when present) with the ids of tracks it has dropped.
    """

    def predict(
        self, frame: int, ids: np.ndarray, xy: np.ndarray, last_frame: np.ndarray
    ) -> np.ndarray:
        """Predict positions at ``frame``.

        Parameters
        ----------
        frame
            The frame about to be linked.
        ids
            Track ids, shape (n,), sorted ascending.
        xy
            Last observed (x, y) of each track in pixels, shape (n, 2).
        last_frame
            Frame of that last observation, shape (n,); smaller than ``frame - 1``
            for tracks in memory (not seen in the previous frame).

        Returns
        -------
        np.ndarray
            Predicted (x, y) at ``frame``, shape (n, 2), float64.
        """
        ...

    def observe(self, frame: int, ids: np.ndarray, xy: np.ndarray) -> None:
        """Record the linked positions of ``frame``.

        Parameters
        ----------
        frame
            The frame just linked.
        ids
            Track id of every detection in the frame, shape (m,), unique.
        xy
            (x, y) of every detection in pixels, shape (m, 2).
        """
        ...


class _VelocityTable:
    """Last position, frame and velocity per track id, as sorted arrays.

    Sorted numpy arrays rather than a dict keep an update of a few thousand
    tracks per frame vectorized.
    """

    def __init__(self) -> None:
        self.ids = np.empty(0, np.int64)
        self.xy = np.empty((0, 2), np.float64)
        self.frame = np.empty(0, np.int64)
        self.v = np.empty((0, 2), np.float64)
        self.has_v = np.empty(0, bool)

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (row index, found mask) of ``ids`` in the table."""
        pos = np.searchsorted(self.ids, ids)
        found = np.zeros(len(ids), bool)
        inside = pos < len(self.ids)
        found[inside] = self.ids[pos[inside]] == ids[inside]
        return pos, found

    def observe(self, frame: int, ids: np.ndarray, xy: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        pos, found = self.lookup(ids)
        rows = pos[found]
        dt = frame - self.frame[rows]
        # A track re-observed in the same frame (dt == 0) keeps its velocity.
        moved = dt > 0
        rows_m = rows[moved]
        self.v[rows_m] = (xy[found][moved] - self.xy[rows_m]) / dt[moved, None]
        self.has_v[rows_m] = True
        self.xy[rows] = xy[found]
        self.frame[rows] = frame
        new = ~found
        if new.any():
            n_new = int(new.sum())
            ids_all = np.concatenate([self.ids, ids[new]])
            order = np.argsort(ids_all, kind="stable")
            self.ids = ids_all[order]
            self.xy = np.concatenate([self.xy, xy[new]])[order]
            self.frame = np.concatenate([self.frame, np.full(n_new, frame, np.int64)])[order]
            self.v = np.concatenate([self.v, np.zeros((n_new, 2))])[order]
            self.has_v = np.concatenate([self.has_v, np.zeros(n_new, bool)])[order]

    def forget(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self.ids, ids)
        self.ids = self.ids[keep]
        self.xy = self.xy[keep]
        self.frame = self.frame[keep]
        self.v = self.v[keep]
        self.has_v = self.has_v[keep]


def _initial_velocity(value: tuple[float, float]) -> np.ndarray:
    v = np.asarray(value, np.float64)
    if v.shape != (2,) or not np.all(np.isfinite(v)):
        raise InputError(f"initial_velocity_px must be two finite numbers (vx, vy), got {value!r}")
    return v


class ConstantVelocityPredictor:
    """Extrapolate each track with its own last measured velocity.

    The velocity of a track is its displacement between its last two
    observations divided by the frames between them. A track seen only once
    moves with ``initial_velocity_px``.

    Parameters
    ----------
    initial_velocity_px
        (vx, vy) in pixels per frame for tracks without a measured velocity.

    Notes
    -----
    Equivalent in spirit to trackpy's ``predict.NearestVelocityPredict`` restricted
    to each particle's own history (Allan et al., trackpy, doi:10.5281/zenodo.1213240).
    """

    def __init__(self, initial_velocity_px: tuple[float, float] = (0.0, 0.0)) -> None:
        self.initial_velocity_px = _initial_velocity(initial_velocity_px)
        self._table = _VelocityTable()

    @property
    def n_tracks(self) -> int:
        """Number of tracks whose state is kept."""
        return len(self._table)

    def _velocities(self, ids: np.ndarray, xy: np.ndarray) -> np.ndarray:
        v = np.broadcast_to(self.initial_velocity_px, (len(ids), 2)).copy()
        pos, found = self._table.lookup(np.asarray(ids, np.int64))
        rows = pos[found]
        known = self._table.has_v[rows]
        v[np.flatnonzero(found)[known]] = self._table.v[rows[known]]
        return v

    def predict(
        self, frame: int, ids: np.ndarray, xy: np.ndarray, last_frame: np.ndarray
    ) -> np.ndarray:
        """Predict positions at ``frame``; see :meth:`Predictor.predict`."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        dt = (frame - np.asarray(last_frame, np.float64))[:, None]
        return xy + self._velocities(ids, xy) * dt

    def observe(self, frame: int, ids: np.ndarray, xy: np.ndarray) -> None:
        """Record linked positions; see :meth:`Predictor.observe`."""
        self._table.observe(frame, ids, xy)

    def forget(self, ids: np.ndarray) -> None:
        """Drop the state of tracks the linker no longer remembers."""
        self._table.forget(np.asarray(ids, np.int64))


class NearestVelocityPredictor(ConstantVelocityPredictor):
    """Extrapolate with the track's own velocity, else the nearest track's.

    A track with a measured velocity moves with it, as in
    :class:`ConstantVelocityPredictor`. A track seen only once (a particle that
    has just appeared) borrows the velocity of the nearest track that has one, so
    that in a flow every newcomer is predicted from its neighbours. Without any
    measured velocity, ``initial_velocity_px`` is used.

    Parameters
    ----------
    initial_velocity_px
        (vx, vy) in pixels per frame used while no track has a measured velocity.

    Notes
    -----
    After trackpy's ``predict.NearestVelocityPredict`` (Allan et al., trackpy,
    doi:10.5281/zenodo.1213240), which interpolates the velocity field from the
    nearest particle of the previous frame.
    """

    def _velocities(self, ids: np.ndarray, xy: np.ndarray) -> np.ndarray:
        v = super()._velocities(ids, xy)
        pos, found = self._table.lookup(np.asarray(ids, np.int64))
        own = np.zeros(len(ids), bool)
        own[found] = self._table.has_v[pos[found]]
        sources = self._table.has_v
        if own.all() or not sources.any():
            return v
        tree = cKDTree(self._table.xy[sources])
        _, nearest = tree.query(xy[~own])
        v[~own] = self._table.v[sources][nearest]
        return v
