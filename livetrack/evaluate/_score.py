"""Detection, localisation and linking scores of predictions against simulated ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack.evaluate._matching import check_gate, match


@dataclass(frozen=True, eq=False)
class Score:
    """Detection counts and localisation error of predictions matched to ground truth.

    Ratios with a zero denominator (no predictions, no truth, no matches) are NaN rather
    than 0 or 1, so that an empty benchmark is never mistaken for a perfect or failed one.

    Attributes
    ----------
    tp, fp, fn : int
        Matched pairs, unmatched predictions, unmatched (visible) true particles.
    precision : float
        ``tp / (tp + fp)``.
    recall : float
        ``tp / (tp + fn)``.
    jaccard : float
        ``tp / (tp + fp + fn)`` (Sage et al., Nat. Methods 16, 387 (2019)).
    rmse : float
        Root mean square Euclidean error over matched pairs, ``sqrt(mean(dx**2 + dy**2))``,
        in pixels.
    rmse_x, rmse_y : float
        Root mean square error per axis in pixels; ``rmse**2 == rmse_x**2 + rmse_y**2``.
    errors : numpy.ndarray, shape (tp, 2)
        Prediction minus truth ``(dx, dy)`` in pixels for every matched pair.
    truth_index, pred_index : numpy.ndarray, shape (tp,)
        Index labels of the matched rows of the truth and prediction DataFrames, aligned
        with `errors`.
    """

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    jaccard: float
    rmse: float
    rmse_x: float
    rmse_y: float
    errors: np.ndarray = field(repr=False)
    truth_index: np.ndarray = field(repr=False)
    pred_index: np.ndarray = field(repr=False)

    @property
    def dx(self) -> np.ndarray:
        """Prediction minus truth along x for matched pairs, in pixels."""
        return self.errors[:, 0]

    @property
    def dy(self) -> np.ndarray:
        """Prediction minus truth along y for matched pairs, in pixels."""
        return self.errors[:, 1]

    def as_dict(self) -> dict[str, float | int]:
        """Return the scalar metrics as a plain dict (no arrays), e.g. for a results table."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "jaccard": self.jaccard,
            "rmse": self.rmse,
            "rmse_x": self.rmse_x,
            "rmse_y": self.rmse_y,
        }


def score(truth: pd.DataFrame, pred: pd.DataFrame, gate_px: float = 2.0) -> Score:
    """Score predicted positions against ground truth, frame by frame.

    In every frame, truth and predictions are matched one-to-one within ``gate_px`` by
    `match` (Hungarian assignment, as in the ISBI 2012 challenge, Chenouard et al.,
    Nat. Methods 11, 281 (2014)); counts and errors are then pooled over all frames.

    Parameters
    ----------
    truth : pandas.DataFrame
        Columns ``frame, x, y`` in pixels; rows with ``visible == False`` are ignored when
        that column exists. Rows with ``in_frame == False`` (centre outside the image, as
        :func:`livetrack.simulate.simulate_movie` marks them) are "don't care": a
        prediction matched to one counts neither way. ``frame`` may be absent from both
        inputs (one image).
    pred : pandas.DataFrame
        Columns ``frame, x, y`` in pixels, e.g. the output of a localizer.
    gate_px : float, optional
        Largest truth-prediction distance in pixels that counts as a detection.

    Returns
    -------
    Score
        Counts, precision, recall, Jaccard index and RMSE, plus per-pair errors.

    Raises
    ------
    InputError
        On missing columns, NaN positions, or a non-positive gate.
    """
    gate = check_gate(gate_px)
    truth, pred = _prepare_pair(truth, pred)
    ti, pi = _match_by_frame(truth, pred, gate)
    if "in_frame" in truth.columns:
        # Particles whose centre lies outside the image are "don't care": finding one
        # is neither a true nor a false positive, missing one is not a miss.
        outside = ~truth["in_frame"].to_numpy(dtype=bool)
        drop_pred = pred.index.to_numpy()[pi[outside[ti]]]
        keep = ~outside[ti]
        ti, pi = ti[keep], pi[keep]
        inside_pos = np.flatnonzero(~outside)
        remap = np.full(len(truth), -1)
        remap[inside_pos] = np.arange(len(inside_pos))
        pred_keep = ~pred.index.isin(drop_pred)
        pred_remap = np.full(len(pred), -1)
        pred_remap[np.flatnonzero(pred_keep)] = np.arange(int(pred_keep.sum()))
        truth, pred = truth[~outside], pred[pred_keep]
        ti, pi = remap[ti], pred_remap[pi]
    errors = np.column_stack(
        [
            pred["x"].to_numpy(np.float64)[pi] - truth["x"].to_numpy(np.float64)[ti],
            pred["y"].to_numpy(np.float64)[pi] - truth["y"].to_numpy(np.float64)[ti],
        ]
    ).reshape(-1, 2)
    tp = len(ti)
    fp = len(pred) - tp
    fn = len(truth) - tp
    sq = errors**2
    return Score(
        tp=tp,
        fp=fp,
        fn=fn,
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        jaccard=_ratio(tp, tp + fp + fn),
        rmse=_rms(sq.sum(axis=1)),
        rmse_x=_rms(sq[:, 0]),
        rmse_y=_rms(sq[:, 1]),
        errors=errors,
        truth_index=truth.index.to_numpy()[ti],
        pred_index=pred.index.to_numpy()[pi],
    )


def link_score(truth: pd.DataFrame, tracks: pd.DataFrame, gate_px: float = 2.0) -> float:
    """Fraction of true frame-to-frame links that the tracks reproduce.

    A true link joins the same true particle in frames ``t`` and ``t + 1`` (both visible).
    It is reproduced when, after per-frame matching with `match`, the particle is matched
    in both frames and both matched predictions carry the same ``particle`` id. Missed
    detections, swaps and track breaks therefore all count against the score; links
    across gaps in visibility are not counted. This is the link-level analogue of the
    ISBI 2012 track-assignment measures (Chenouard et al., Nat. Methods 11, 281 (2014)).

    Parameters
    ----------
    truth : pandas.DataFrame
        Columns ``frame, particle, x, y`` (``visible`` honoured if present).
    tracks : pandas.DataFrame
        Columns ``frame, particle, x, y``, e.g. the output of a linker.
    gate_px : float, optional
        Matching gate in pixels.

    Returns
    -------
    float
        Reproduced links divided by true links, in [0, 1]; NaN when there is no true link.

    Raises
    ------
    InputError
        On missing columns, NaN positions, or a non-positive gate.
    """
    gate = check_gate(gate_px)
    truth, tracks = _prepare_pair(
        truth, tracks, extra=("frame", "particle"), names=("truth", "tracks")
    )
    ti, pi = _match_by_frame(truth, tracks, gate)
    # Integer codes make ids of any dtype comparable and sortable; an unlinked detection
    # (NaN particle) gets -1 and so reproduces no link.
    assigned = np.full(len(truth), -1, dtype=np.int64)
    assigned[ti] = pd.factorize(tracks["particle"])[0][pi]
    frames = truth["frame"].to_numpy()
    ids = pd.factorize(truth["particle"])[0]
    order = np.lexsort((frames, ids))
    f, p, a = frames[order], ids[order], assigned[order]
    is_link = (p[1:] == p[:-1]) & (p[1:] >= 0) & (f[1:] == f[:-1] + 1)
    n_links = int(is_link.sum())
    if n_links == 0:
        return math.nan
    kept = is_link & (a[1:] >= 0) & (a[1:] == a[:-1])
    return int(kept.sum()) / n_links


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _rms(squares: np.ndarray) -> float:
    return float(np.sqrt(np.mean(squares))) if squares.size else math.nan


def _match_by_frame(
    truth: pd.DataFrame, pred: pd.DataFrame, gate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Positional indices of matched truth and prediction rows, over all frames."""
    txy = truth[["x", "y"]].to_numpy(np.float64)
    pxy = pred[["x", "y"]].to_numpy(np.float64)
    t_groups = truth.groupby("frame", sort=False).indices
    p_groups = pred.groupby("frame", sort=False).indices
    ti_all, pi_all = [], []
    for frame, t_rows in t_groups.items():
        p_rows = p_groups.get(frame)
        if p_rows is None:
            continue
        i, j = match(txy[t_rows], pxy[p_rows], gate)
        ti_all.append(t_rows[i])
        pi_all.append(p_rows[j])
    if not ti_all:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    return np.concatenate(ti_all).astype(np.intp), np.concatenate(pi_all).astype(np.intp)


def _prepare(df: pd.DataFrame, name: str, extra: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("x", "y", *extra) if c not in df.columns]
    if missing:
        raise InputError(f"{name} is missing column(s) {', '.join(missing)}")
    if "visible" in df.columns:
        df = df[df["visible"].to_numpy(dtype=bool)]
    if not np.all(np.isfinite(df[["x", "y"]].to_numpy(np.float64))):
        raise InputError(f"{name} contains NaN or infinite x/y")
    if "frame" not in df.columns:
        df = df.assign(frame=0)
    return df


def _prepare_pair(
    truth: pd.DataFrame,
    pred: pd.DataFrame,
    extra: tuple[str, ...] = (),
    names: tuple[str, str] = ("truth", "pred"),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    has_t = isinstance(truth, pd.DataFrame) and "frame" in truth.columns
    has_p = isinstance(pred, pd.DataFrame) and "frame" in pred.columns
    if has_t != has_p:
        raise InputError(f"{names[0]} and {names[1]} must both have a 'frame' column, or neither")
    truth = _prepare(truth, names[0], extra)
    if isinstance(pred, pd.DataFrame):
        # 'visible' is a ground-truth flag; predictions are scored as given.
        pred = pred.drop(columns="visible", errors="ignore")
    return truth, _prepare(pred, names[1], extra)
