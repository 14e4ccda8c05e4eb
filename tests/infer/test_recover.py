"""Particles the network's trajectories miss, recovered from path evidence."""

import numpy as np
import pandas as pd

from livetrack import evaluate
from livetrack.infer._recover import FAR_PX, OWN, LiveRecovery, recover_missed
from livetrack.localize import render_gaussians


def _peaks(rows):
    return pd.DataFrame(rows, columns=["frame", "x", "y", "score", "own"]).assign(prob=np.nan)


def test_gap_peaks_and_lone_peaks_its_own_frame_shows_are_added():
    # One trajectory along x with frame 2 missing. Peaks: one in the gap, one beside a kept
    # detection (the same particle), a lone one its own frame shows, a lone ghost it does not.
    kept = pd.DataFrame(
        {"frame": [0, 1, 3, 4], "x": [10.0, 11.0, 13.0, 14.0], "y": 20.0, "prob": 0.5}
    )
    peaks = _peaks(
        [
            (2, 12.3, 20.4, 8.0, 1.0),
            (3, 13.8, 20.5, 9.0, 4.0),
            (1, 40.0, 40.0, 7.0, OWN + 0.5),
            (1, 60.0, 60.0, 7.5, OWN - 1.5),
        ]
    )
    null = _peaks([])
    found = recover_missed(kept, peaks, null, 4.0, 2.0)
    added = found[found["prob"].isna()]
    assert sorted(zip(added["frame"], added["x"], strict=True)) == [(1, 40.0), (2, 12.3)]
    assert len(found) == len(kept) + 2
    assert recover_missed(kept.iloc[:0], peaks, null, 4.0, 2.0).empty


def test_lone_peaks_stop_where_the_null_says_they_are_mostly_false():
    kept = pd.DataFrame({"frame": [0], "x": [5.0], "y": 5.0, "prob": 0.9})
    # Ten lone peaks scoring 10..19; the null's ten score 13..17.5.
    peaks = _peaks([(0, 20.0 + 10 * k, 50.0, 10.0 + k, 5.0) for k in range(10)])
    null = _peaks([(0, 20.0 + 10 * k, 80.0, 13.0 + k / 2, 5.0) for k in range(10)])
    added = recover_missed(kept, peaks, null, 4.0, 2.0).iloc[1:]
    # From 18 up the null has none; from 17 down it has 2 or more for 3 or more peaks.
    assert added["score"].tolist() == [18.0, 19.0]


def test_live_recovery_finds_a_particle_the_kept_detections_miss(rng):
    # A faint particle walking through 8 frames of unit noise, and a kept one far from it.
    shape, n = (64, 64), 8
    walk = np.array([20.0, 30.0]) + np.cumsum(rng.normal(0, 0.7, (n, 2)), axis=0)
    amplitude = 3.0 * 2 * np.pi * 1.2**2  # peak 3 noise units
    live = LiveRecovery(1.2, window=4, floor=2.0)
    kept = pd.DataFrame({"x": [50.0], "y": [50.0]})
    found = []
    for t in range(n):
        frame = render_gaussians(shape, walk[t, :1], walk[t, 1:], np.array([amplitude]), 1.2)
        frame = frame + render_gaussians(
            shape, np.array([50.0]), np.array([50.0]), np.array([amplitude]), 1.2
        )
        frame = frame + rng.standard_normal(shape)
        if t < 4:
            live.push(frame)
            continue
        found.append(live.step(frame, t, kept))
    table = pd.concat(found, ignore_index=True)
    truth = pd.DataFrame({"frame": np.arange(4, n), "x": walk[4:, 0], "y": walk[4:, 1]})
    score = evaluate.score(truth, table[["frame", "x", "y"]], gate_px=2.0)
    # Four frames of one particle: all found, with at most one noise peak beside them.
    assert score.recall == 1.0 and score.fp <= 1 and score.rmse < 1.0
    # The kept particle is never found again.
    assert (np.hypot(table["x"] - 50.0, table["y"] - 50.0) > FAR_PX).all()
