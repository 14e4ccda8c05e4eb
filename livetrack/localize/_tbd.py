"""Track-before-detect: a particle's evidence summed along its best path through frames.

Below the single-frame limit (ISBI SNR 1: a matched filter sees a particle at about 2 noise
units in one frame) no detector can decide frame by frame. Summed along the particle's path
over ``2 * window + 1`` frames the evidence grows with the number of frames; the path is not
known, so each step takes the best neighbour within ``step_px`` (dynamic programming, as in
Barniv's track-before-detect, IEEE Trans. Aerosp. Electron. Syst. 21, 144 (1985)): a forward
pass over the earlier frames and a backward pass over the later ones meet at the frame
scored. What noise alone reaches that way is measured on the same frames with their pixels
shuffled (a per-frame permutation keeps the noise's distribution, skew included, and
destroys the particles), and the threshold is the one that maximizes the expected Jaccard
index of the peaks above it.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = [
    "choose_evidence_threshold",
    "choose_fdr_threshold",
    "evidence_peaks",
    "forward_evidence",
    "frame_evidence",
    "path_evidence",
    "shuffled_frames",
    "sum_along_paths",
]


def frame_evidence(frames: np.ndarray, sigma_px: float) -> np.ndarray:
    """Each frame's matched-filter evidence, in that frame's noise units after the filter.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` normalized frames (background about 0, bright particles).
    sigma_px : float
        The particles' Gaussian sigma: the matched filter's width.

    Returns
    -------
    numpy.ndarray
        ``(T, H, W)`` float64: the Gaussian-filtered frames less their median, over their
        noise (MAD); a particle scores its strength in one frame, noise about N(0, 1).
    """
    stack = np.asarray(frames, dtype=np.float64)
    filtered = np.stack([ndimage.gaussian_filter(f, sigma_px) for f in stack])
    centred = filtered - np.median(filtered, axis=(1, 2), keepdims=True)
    noise = 1.4826 * np.median(np.abs(centred), axis=(1, 2))
    # The filter mirrors the frame at its edges, so a pixel there sums some noise twice and
    # spreads more than the frame's (interior) noise says: each pixel in its own units.
    h, w = stack.shape[1:]
    spread = np.sqrt(np.outer(_edge_gain(h, sigma_px), _edge_gain(w, sigma_px)))
    return centred / (np.maximum(noise, 1e-12)[:, None, None] * spread)


@functools.lru_cache(maxsize=16)
def _edge_gain(n: int, sigma_px: float) -> np.ndarray:
    """Return the mirrored Gaussian filter's white-noise variance along one axis.

    Relative to the axis's middle: 1 inside, up to about 2 at the edges.
    """
    response = ndimage.gaussian_filter1d(np.eye(n), sigma_px, axis=0)
    variance = (response**2).sum(axis=1)
    return variance / variance[n // 2]


def path_evidence(
    frames: np.ndarray,
    sigma_px: float,
    window: int = 4,
    step_px: int = 2,
) -> np.ndarray:
    """Score every pixel of every frame by the best path through its neighbouring frames.

    :func:`sum_along_paths` of :func:`frame_evidence`.

    Parameters
    ----------
    frames, sigma_px
        As for :func:`frame_evidence`.
    window : int
        Frames on each side of the scored one that the path runs through (fewer at the
        ends of ``frames``).
    step_px : int
        Largest move of a particle between frames, px (a disc).

    Returns
    -------
    numpy.ndarray
        ``(T, H, W)`` path evidence in noise units of one frame times ``sqrt(frames)``: a
        particle on its path scores its per-frame strength times the root of the frames.
    """
    return sum_along_paths(frame_evidence(frames, sigma_px), window, step_px)


def sum_along_paths(evidence: np.ndarray, window: int = 4, step_px: int = 2) -> np.ndarray:
    """Sum per-frame evidence along the best path through each pixel's neighbouring frames.

    Parameters
    ----------
    evidence : numpy.ndarray
        ``(T, H, W)`` per-frame evidence (:func:`frame_evidence`).
    window, step_px : int
        As for :func:`path_evidence`. A live stream, which has no later frames, uses
        :func:`forward_evidence`.

    Returns
    -------
    numpy.ndarray
        As :func:`path_evidence`.
    """
    disc = _disc(step_px)
    t_count = len(evidence)
    out = np.empty_like(evidence)
    for t in range(t_count):
        lo, hi = max(0, t - window), min(t_count - 1, t + window)
        forward = _forward(evidence[lo : t + 1], disc)
        backward = _forward(evidence[t : hi + 1][::-1], disc)
        out[t] = (forward + backward - evidence[t]) / np.sqrt(hi - lo + 1)
    return out


def forward_evidence(evidence: np.ndarray, step_px: int = 2) -> np.ndarray:
    """Path evidence of the last of ``evidence``'s frames, through the frames before it only.

    Parameters
    ----------
    evidence : numpy.ndarray
        ``(T, H, W)`` per-frame evidence (:func:`frame_evidence`) of consecutive frames.
    step_px : int
        As for :func:`path_evidence`.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` evidence summed along the best path ending at each pixel of the last
        frame, over ``sqrt(T)``.
    """
    return _forward(evidence, _disc(step_px)) / np.sqrt(len(evidence))


def _disc(step_px: int) -> np.ndarray:
    return np.hypot(*np.mgrid[-step_px : step_px + 1, -step_px : step_px + 1]) <= step_px + 1e-9


def _forward(evidence: np.ndarray, disc: np.ndarray) -> np.ndarray:
    """Return the best path's summed evidence at each pixel of the last frame (Barniv's DP)."""
    total = evidence[0]
    for frame in evidence[1:]:
        total = frame + ndimage.maximum_filter(total, footprint=disc)
    return total


def shuffled_frames(frames: np.ndarray, frame_numbers: np.ndarray) -> np.ndarray:
    """Each frame's pixels in a random order seeded by its frame number (the null movie)."""
    out = np.empty_like(frames)
    for i, (f, number) in enumerate(zip(frames, frame_numbers, strict=True)):
        rng = np.random.default_rng(int(number))
        out[i] = rng.permutation(f.ravel()).reshape(f.shape)
    return out


def evidence_peaks(
    scores: np.ndarray,
    frame_numbers: np.ndarray,
    separation_px: int = 3,
    floor: float = 0.0,
    own: np.ndarray | None = None,
) -> pd.DataFrame:
    """Local maxima of path evidence, refined to sub-pixel by a parabola through each axis.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(T, H, W)`` :func:`path_evidence`.
    frame_numbers : numpy.ndarray
        Frame number of each map.
    separation_px : int
        Maxima closer than this to a higher one are dropped (a path spreads its evidence
        to the pixels it could have come from).
    floor : float
        Lowest score kept.
    own : numpy.ndarray, optional
        ``(T, H, W)`` :func:`frame_evidence` of the same frames: each peak's own frame's
        evidence at its pixel is returned as column ``own``.

    Returns
    -------
    pandas.DataFrame
        Columns ``frame, x, y, score`` (and ``own``).
    """
    parts = []
    size = 2 * separation_px + 1
    for i, (s, number) in enumerate(zip(scores, frame_numbers, strict=True)):
        peak = (s == ndimage.maximum_filter(s, size=size)) & (s >= floor)
        rows, cols = np.nonzero(peak)
        h, w = s.shape
        inner = (rows > 0) & (rows < h - 1) & (cols > 0) & (cols < w - 1)
        dx = np.zeros(rows.size)
        dy = np.zeros(rows.size)
        r, c = rows[inner], cols[inner]
        for delta, a, b in ((dx, s[r, c - 1], s[r, c + 1]), (dy, s[r - 1, c], s[r + 1, c])):
            curv = a - 2.0 * s[r, c] + b
            delta[inner] = np.where(curv < 0, 0.5 * (a - b) / np.where(curv < 0, curv, -1.0), 0.0)
        part = {
            "frame": np.full(rows.size, int(number), dtype=np.int64),
            "x": cols + np.clip(dx, -0.5, 0.5),
            "y": rows + np.clip(dy, -0.5, 0.5),
            "score": s[rows, cols],
        }
        if own is not None:
            part["own"] = own[i][rows, cols]
        parts.append(pd.DataFrame(part))
    if not parts:
        columns = ["frame", "x", "y", "score"] + ([] if own is None else ["own"])
        return pd.DataFrame({c: [] for c in columns})
    return pd.concat(parts, ignore_index=True)


def choose_evidence_threshold(
    scores: np.ndarray, null_scores: np.ndarray, levels: int = 64
) -> tuple[float, float]:
    """Return the score threshold that maximizes the expected Jaccard index.

    ``N(q)`` peaks of the movie and ``F(q)`` of its shuffled twin reach ``q``: ``F`` are
    false, ``N - F`` true; with ``P`` the most true ones at any ``q``, the expected Jaccard
    index is ``(N - F) / (P + F)`` (the reasoning of
    :func:`livetrack.model.adaptive_threshold`).

    Returns
    -------
    threshold : float
        inf where no threshold finds more peaks than the null explains.
    true : float
        The expected number of true peaks at it.
    """
    scores = np.asarray(scores, dtype=np.float64)
    null_scores = np.sort(np.asarray(null_scores, dtype=np.float64))
    if scores.size == 0:
        return float("inf"), 0.0
    qs = np.quantile(scores, np.linspace(0.5, 0.9995, levels))
    found = np.array([(scores >= q).sum() for q in qs], dtype=np.float64)
    false = null_scores.size - np.searchsorted(null_scores, qs, side="left")
    true = np.clip(found - false, 0.0, None)
    jaccard = true / np.maximum(true.max() + false, 1.0)
    best = int(np.argmax(jaccard))
    # Within four standard deviations of the difference of two counts (the best of many
    # thresholds is tried): nothing found.
    if true[best] <= 4.0 * np.sqrt(max(found[best] + false[best], 1.0)):
        return float("inf"), 0.0
    return float(qs[best]), float(true[best])


def choose_fdr_threshold(
    scores: np.ndarray, null_scores: np.ndarray, fdr: float, null_weight: float = 1.0
) -> float:
    """Return the lowest score threshold whose estimated false discovery rate is at most ``fdr``.

    At a threshold ``q``, ``null_weight`` times the null scores reaching ``q`` are the false
    ones expected among the scores reaching it (Benjamini-Hochberg's reasoning with an
    empirical null: ``null_weight`` scales the null's draws to the scores' frames).

    Returns
    -------
    float
        inf where no threshold qualifies.
    """
    scores = np.sort(np.asarray(scores, dtype=np.float64))
    null_scores = np.sort(np.asarray(null_scores, dtype=np.float64))
    if scores.size == 0:
        return float("inf")
    found = scores.size - np.arange(scores.size)  # scores reaching each of them
    false = null_weight * (null_scores.size - np.searchsorted(null_scores, scores, side="left"))
    ok = np.flatnonzero(false <= fdr * found)
    return float(scores[ok[0]]) if ok.size else float("inf")
