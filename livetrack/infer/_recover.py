"""Particles a faint movie's network trajectories miss, recovered from path evidence.

At ISBI SNR 2 the network merges a particle into a neighbour a few px away, or misses it in
one frame; summed along its path over neighbouring frames
(:func:`livetrack.localize.path_evidence`) the particle still stands out. Two kinds of
path-evidence peak are added to the network's trajectories (``prob`` NaN):

- in a one-frame gap of a trajectory, the strongest peak within the fill distance of the
  gap's midpoint and farther than :data:`FREE_PX` from every kept detection: the
  trajectory says a particle is there;
- a lone peak, farther than :data:`FAR_PX` from every kept detection (the peaks' own
  separation), whose own frame shows it (:data:`OWN` noise units of that frame's matched
  filter: summed along a path, a particle in the neighbouring frames raises ghost peaks a
  few px beside it in frames where nothing is), and whose score passes the threshold at
  which the shuffled twins' lone peaks put the false discovery rate at :data:`FDR`.

Offline (:func:`recover_missed`) the evidence runs over the frames on both sides of each
one; live (:class:`LiveRecovery`), over the frame and the ones before it, and only lone
peaks are added (a gap is known one frame late).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

__all__ = ["FAR_PX", "FDR", "FREE_PX", "OWN", "LiveRecovery", "recover_missed"]

#: A gap's peak lies farther than this from every kept detection (px).
FREE_PX = 1.5
#: A lone peak lies farther than this from every kept detection (px).
FAR_PX = 3.0
#: A lone peak's own frame's evidence, in that frame's noise units after the filter.
OWN = 3.0
#: False discovery rate of the lone peaks, estimated from the shuffled twins' peaks.
FDR = 0.2
#: Shuffled draws of the live calibration window: its lone-peak null.
_LIVE_NULL_DRAWS = 4
#: Recent frames whose lone peaks the live threshold is chosen on.
_LIVE_POOL_FRAMES = 20


def distance_to_kept(kept: pd.DataFrame, peaks: pd.DataFrame) -> np.ndarray:
    """Each peak's distance to the nearest kept detection of its frame (inf: none there)."""
    distance = np.full(len(peaks), np.inf)
    for t, rows in peaks.groupby("frame").indices.items():
        distance[rows] = _distance(kept[kept["frame"] == t], peaks.iloc[rows])
    return distance


def recover_missed(
    kept: pd.DataFrame,
    peaks: pd.DataFrame,
    null: pd.DataFrame,
    search_range_px: float,
    fill_px: float,
) -> pd.DataFrame:
    """Add to a movie's kept detections the particles path evidence shows they miss.

    Parameters
    ----------
    kept : pandas.DataFrame
        The network's detections kept on trajectories (``frame, x, y`` ...).
    peaks, null : pandas.DataFrame
        Path-evidence peaks of the movie and of its shuffled twin (``frame, x, y, score,
        own``), both already above the threshold that tells particles from the null.
    search_range_px, fill_px : float
        Linking distance per frame, and the largest distance of a gap's peak from the gap's
        midpoint.

    Returns
    -------
    pandas.DataFrame
        ``kept`` followed by the added peaks (``kept``'s columns where the peaks have them).
    """
    from livetrack.link import fill_gaps
    from livetrack.localize import choose_fdr_threshold

    if kept.empty or peaks.empty:
        return kept
    distance = distance_to_kept(kept, peaks)
    gaps = fill_gaps(kept, peaks[distance > FREE_PX], search_range_px, fill_px, score="score")
    lone = (distance > FAR_PX) & (peaks["own"].to_numpy() >= OWN)
    null_lone = (distance_to_kept(kept, null) > FAR_PX) & (null["own"].to_numpy() >= OWN)
    score = peaks["score"].to_numpy()
    q = choose_fdr_threshold(score[lone], null["score"].to_numpy()[null_lone], FDR)
    added = peaks[(lone & (score >= q)) | peaks.index.isin(gaps.index)]
    return pd.concat([kept, added], ignore_index=True)


class LiveRecovery:
    """The causal form of :func:`recover_missed`: lone peaks, one frame at a time.

    Each frame's path evidence runs over it and the ``window`` frames before it
    (:func:`livetrack.localize.forward_evidence`). The first full window is shuffled
    :data:`_LIVE_NULL_DRAWS` times for the null; the lone peaks' threshold is chosen on the
    last :data:`_LIVE_POOL_FRAMES` frames.

    Parameters
    ----------
    sigma_px : float
        The particles' Gaussian sigma (the matched filter's width).
    window : int
        Earlier frames each path runs through.
    floor : float
        Lowest path evidence of a peak.
    """

    def __init__(self, sigma_px: float, window: int, floor: float) -> None:
        self.sigma_px, self.window, self.floor = float(sigma_px), int(window), float(floor)
        self._frames: deque[np.ndarray] = deque(maxlen=self.window + 1)
        self._own: deque[np.ndarray] = deque(maxlen=self.window + 1)
        self._null: pd.DataFrame | None = None
        self._pool: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=_LIVE_POOL_FRAMES)

    def push(self, normalized: np.ndarray) -> np.ndarray:
        """Take a frame into the window without looking for peaks; return its own evidence."""
        from livetrack.localize import frame_evidence

        own = frame_evidence(normalized[None], self.sigma_px)[0]
        if self._null is None:
            # Only the first window is shuffled for the null; later frames need not be kept.
            self._frames.append(np.asarray(normalized, dtype=np.float32))
        self._own.append(own.astype(np.float32))
        return own

    def step(self, normalized: np.ndarray, frame: int, kept: pd.DataFrame) -> pd.DataFrame:
        """Return the frame's lone peaks the kept detections miss (``frame, x, y, score, own``).

        Parameters
        ----------
        normalized : numpy.ndarray
            The frame, normalized (background about 0, noise about 1, bright particles).
        frame : int
            Its number.
        kept : pandas.DataFrame
            The frame's kept detections (``x, y``).
        """
        from livetrack.localize import choose_fdr_threshold, evidence_peaks, forward_evidence

        own = self.push(normalized)
        if len(self._own) <= self.window:
            return _no_peaks()
        if self._null is None:
            self._null = self._calibrate()
            self._frames.clear()
        score = forward_evidence(np.stack(self._own))
        peaks = evidence_peaks(score[None], np.array([frame]), floor=self.floor, own=own[None])
        peaks = peaks[peaks["own"].to_numpy() >= OWN]
        lone = _distance(kept, peaks) > FAR_PX
        null_lone = _distance(kept, self._null) > FAR_PX
        self._pool.append(
            (peaks["score"].to_numpy()[lone], self._null["score"].to_numpy()[null_lone])
        )
        q = choose_fdr_threshold(
            np.concatenate([p[0] for p in self._pool]),
            np.concatenate([p[1] for p in self._pool]),
            FDR,
            null_weight=1.0 / _LIVE_NULL_DRAWS,
        )
        return peaks[lone & (peaks["score"].to_numpy() >= q)].reset_index(drop=True)

    def _calibrate(self) -> pd.DataFrame:
        """Return the shuffled first window's peaks its own frame shows (``x, y, score``)."""
        from livetrack.localize import (
            evidence_peaks,
            forward_evidence,
            frame_evidence,
            shuffled_frames,
        )

        stack = np.stack(self._frames)
        parts = []
        for draw in range(_LIVE_NULL_DRAWS):
            # Seeded by draw: the same stream always gets the same null.
            numbers = np.arange(len(stack)) + draw * len(stack)
            own = frame_evidence(shuffled_frames(stack, numbers), self.sigma_px)
            parts.append(
                evidence_peaks(
                    forward_evidence(own)[None], np.array([0]), floor=self.floor, own=own[-1:]
                )
            )
        null = pd.concat(parts, ignore_index=True)
        return null[null["own"].to_numpy() >= OWN].reset_index(drop=True)


def _distance(kept: pd.DataFrame, peaks: pd.DataFrame) -> np.ndarray:
    """Each peak's distance to the nearest of one frame's kept detections (inf: none)."""
    from scipy.spatial import cKDTree

    if kept.empty or peaks.empty:
        return np.full(len(peaks), np.inf)
    tree = cKDTree(kept[["x", "y"]].to_numpy())
    return tree.query(peaks[["x", "y"]].to_numpy())[0]


def _no_peaks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frame": pd.Series(dtype=np.int64),
            "x": pd.Series(dtype=np.float64),
            "y": pd.Series(dtype=np.float64),
            "score": pd.Series(dtype=np.float64),
            "own": pd.Series(dtype=np.float64),
        }
    )
