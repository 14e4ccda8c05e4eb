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

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = ["choose_evidence_threshold", "evidence_peaks", "path_evidence", "shuffled_frames"]


def _matched(frames: np.ndarray, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-filtered frames and each frame's noise after the filter (MAD)."""
    filtered = np.stack([ndimage.gaussian_filter(f, sigma_px) for f in frames])
    centred = filtered - np.median(filtered, axis=(1, 2), keepdims=True)
    noise = 1.4826 * np.median(np.abs(centred), axis=(1, 2))
    return filtered, np.maximum(noise, 1e-12)


def path_evidence(
    frames: np.ndarray,
    sigma_px: float,
    window: int = 4,
    step_px: int = 2,
) -> np.ndarray:
    """Score every pixel of every frame by the best path through its neighbouring frames.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(T, H, W)`` normalized frames (background about 0, bright particles).
    sigma_px : float
        The particles' Gaussian sigma: the matched filter's width.
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
    filtered, noise = _matched(np.asarray(frames, dtype=np.float64), sigma_px)
    evidence = (filtered - np.median(filtered, axis=(1, 2), keepdims=True)) / noise[:, None, None]
    disc = np.hypot(*np.mgrid[-step_px : step_px + 1, -step_px : step_px + 1]) <= step_px + 1e-9
    t_count = len(evidence)
    out = np.empty_like(evidence)
    for t in range(t_count):
        lo, hi = max(0, t - window), min(t_count - 1, t + window)
        forward = evidence[lo]
        for s in range(lo + 1, t + 1):
            forward = evidence[s] + ndimage.maximum_filter(forward, footprint=disc)
        backward = evidence[hi]
        for s in range(hi - 1, t - 1, -1):
            backward = evidence[s] + ndimage.maximum_filter(backward, footprint=disc)
        out[t] = (forward + backward - evidence[t]) / np.sqrt(hi - lo + 1)
    return out


def shuffled_frames(frames: np.ndarray, frame_numbers: np.ndarray) -> np.ndarray:
    """Each frame's pixels in a random order seeded by its frame number (the null movie)."""
    out = np.empty_like(frames)
    for i, (f, number) in enumerate(zip(frames, frame_numbers, strict=True)):
        rng = np.random.default_rng(int(number))
        out[i] = rng.permutation(f.ravel()).reshape(f.shape)
    return out


def evidence_peaks(
    scores: np.ndarray, frame_numbers: np.ndarray, separation_px: int = 3, floor: float = 0.0
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

    Returns
    -------
    pandas.DataFrame
        Columns ``frame, x, y, score``.
    """
    parts = []
    size = 2 * separation_px + 1
    for s, number in zip(scores, frame_numbers, strict=True):
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
        parts.append(
            pd.DataFrame(
                {
                    "frame": np.full(rows.size, int(number), dtype=np.int64),
                    "x": cols + np.clip(dx, -0.5, 0.5),
                    "y": rows + np.clip(dy, -0.5, 0.5),
                    "score": s[rows, cols],
                }
            )
        )
    if not parts:
        return pd.DataFrame({"frame": [], "x": [], "y": [], "score": []})
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
