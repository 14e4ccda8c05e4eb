"""One-to-one matching of true and predicted positions within a distance gate."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from livetrack._errors import InputError

_DENSE_LIMIT = 250_000  # truth x pred pairs below which a dense distance matrix is cheaper


def _as_xy(points: ArrayLike, name: str) -> np.ndarray:
    xy = np.asarray(points, dtype=np.float64)
    if xy.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InputError(f"{name} must have shape (n, 2) of (x, y) in pixels, got {xy.shape}")
    if not np.all(np.isfinite(xy)):
        raise InputError(f"{name} contains NaN or infinite coordinates")
    return xy


def check_gate(gate_px: float) -> float:
    """Return ``gate_px`` as a float, or raise `InputError` if it is not positive and finite."""
    gate = float(gate_px)
    if not (np.isfinite(gate) and gate > 0):
        raise InputError(f"gate_px must be a positive finite distance in pixels, got {gate_px!r}")
    return gate


def match(
    truth_xy: ArrayLike, pred_xy: ArrayLike, gate_px: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Match true and predicted positions one-to-one within a distance gate.

    The assignment first maximises the number of pairs closer than the gate and, among
    assignments with that many pairs, minimises the summed Euclidean distance (the
    Hungarian algorithm, Kuhn 1955, as used by the ISBI 2012 particle tracking challenge,
    Chenouard et al., Nat. Methods 11, 281 (2014)). Unlike greedy nearest-neighbour
    matching it never loses a pair because a closer but contested pair was taken first.

    Parameters
    ----------
    truth_xy : array_like, shape (n, 2)
        True positions (x, y) in pixels.
    pred_xy : array_like, shape (m, 2)
        Predicted positions (x, y) in pixels.
    gate_px : float, optional
        Largest distance in pixels for a pair to count as a match; a pair exactly at the
        gate matches.

    Returns
    -------
    i_truth, i_pred : numpy.ndarray of int
        Row indices into ``truth_xy`` and ``pred_xy`` of the matched pairs, ordered by
        ``i_truth``. Both are empty when nothing matches.

    Raises
    ------
    InputError
        If the arrays are not (n, 2), contain NaN, or the gate is not positive.
    """
    gate = check_gate(gate_px)
    truth = _as_xy(truth_xy, "truth_xy")
    pred = _as_xy(pred_xy, "pred_xy")
    ti, pj, dist = _candidate_pairs(truth, pred, gate)
    if ti.size == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    # Pairs in different connected components of the gate graph never compete, so each
    # component is solved on its own: exact, and small dense problems instead of one n x m.
    n = len(truth)
    graph = coo_matrix((np.ones(ti.size), (ti, n + pj)), shape=(n + len(pred), n + len(pred)))
    _, labels = connected_components(graph, directed=False)
    comp = labels[ti]
    order = np.argsort(comp, kind="stable")
    ti, pj, dist, comp = ti[order], pj[order], dist[order], comp[order]
    starts = np.flatnonzero(np.r_[True, comp[1:] != comp[:-1]])
    sizes = np.diff(np.r_[starts, comp.size])
    # A component with a single candidate pair is its own optimum.
    single = starts[sizes == 1]
    rows_out, cols_out = [ti[single]], [pj[single]]
    for start, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
        r, c = _solve_component(
            ti[start : start + size], pj[start : start + size], dist[start : start + size], gate
        )
        rows_out.append(r)
        cols_out.append(c)
    rows = np.concatenate(rows_out).astype(np.intp)
    cols = np.concatenate(cols_out).astype(np.intp)
    order = np.argsort(rows, kind="stable")
    return rows[order], cols[order]


def _candidate_pairs(
    truth: np.ndarray, pred: np.ndarray, gate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (truth, pred) index pairs within the gate, with their distances."""
    empty = np.empty(0, dtype=np.intp)
    if len(truth) == 0 or len(pred) == 0:
        return empty, empty.copy(), np.empty(0)
    if len(truth) * len(pred) <= _DENSE_LIMIT:
        dist = _distances(truth, pred)
        ti, pj = np.nonzero(dist <= gate)
        return ti, pj, dist[ti, pj]
    # The tree search radius is padded so that rounding in the tree never drops a pair;
    # the gate itself is applied below on the same distance formula as the dense path.
    found = cKDTree(truth).query_ball_tree(cKDTree(pred), r=gate * (1 + 1e-9) + 1e-12)
    counts = np.fromiter((len(f) for f in found), dtype=np.intp, count=len(found))
    if counts.sum() == 0:
        return empty, empty.copy(), np.empty(0)
    ti = np.repeat(np.arange(len(truth)), counts)
    pj = np.fromiter((j for f in found for j in f), dtype=np.intp, count=int(counts.sum()))
    dist = np.hypot(truth[ti, 0] - pred[pj, 0], truth[ti, 1] - pred[pj, 1])
    keep = dist <= gate
    return ti[keep], pj[keep], dist[keep]


def _distances(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.hypot(truth[:, None, 0] - pred[None, :, 0], truth[:, None, 1] - pred[None, :, 1])


def _solve_component(
    ti: np.ndarray, pj: np.ndarray, dist: np.ndarray, gate: float
) -> tuple[np.ndarray, np.ndarray]:
    rows, r_inv = np.unique(ti, return_inverse=True)
    cols, c_inv = np.unique(pj, return_inverse=True)
    # A forbidden pair costs more than any set of allowed pairs one larger, so the optimum
    # has the most within-gate pairs first and the smallest summed distance second.
    forbidden = gate * (min(len(rows), len(cols)) + 1) + 1.0
    cost = np.full((len(rows), len(cols)), forbidden)
    cost[r_inv, c_inv] = dist
    allowed = np.zeros(cost.shape, dtype=bool)
    allowed[r_inv, c_inv] = True
    r, c = linear_sum_assignment(cost)
    keep = allowed[r, c]
    return rows[r[keep]], cols[c[keep]]
