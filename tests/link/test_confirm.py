"""Faint detections decided on their trajectories (``livetrack.link.confirm_along_tracks``)."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack.link import confirm_along_tracks, fill_gaps


def _walk(rng, n_frames, x0, y0, step=0.7):
    xy = np.cumsum(rng.normal(0, step, (n_frames, 2)), axis=0) + np.array([x0, y0])
    return xy[:, 0], xy[:, 1]


def _table(rows):
    return pd.DataFrame(rows, columns=["frame", "x", "y", "prob"])


def test_weak_detections_on_a_confident_track_stay_and_lone_ones_go(rng):
    x, y = _walk(rng, 8, 50.0, 50.0)
    probs = [0.05, 0.04, 0.6, 0.05, 0.03, 0.05, 0.04, 0.05]
    rows = [(t, x[t], y[t], p) for t, p in enumerate(probs)]
    # Noise: weak detections that never recur in the same place.
    rows += [(t, 10.0 + 17 * t, 90.0 - 11 * t, 0.05) for t in range(8)]
    # A weak track with no confident detection is noise too.
    wx, wy = _walk(rng, 8, 120.0, 20.0)
    rows += [(t, wx[t], wy[t], 0.05) for t in range(8)]
    kept = confirm_along_tracks(_table(rows), 4.0, low=0.02, high=0.2)
    assert len(kept) == 8
    assert np.allclose(np.sort(kept["x"].to_numpy()), np.sort(x))


def test_a_one_frame_gap_and_the_ends_are_filled_from_weaker_candidates(rng):
    x, y = _walk(rng, 7, 40.0, 40.0)
    rows = [(t, x[t], y[t], 0.5) for t in range(1, 6) if t != 3]
    # Below the low threshold, where the particle must be: gap (frame 3) and ends (0, 6).
    rows += [(t, x[t] + 0.3, y[t] - 0.2, 0.008) for t in (0, 3, 6)]
    # A weaker candidate elsewhere in the gap frame, too far from the path.
    rows += [(3, x[3] + 9.0, y[3], 0.009)]
    table = _table(rows)
    plain = confirm_along_tracks(table, 4.0, low=0.02, high=0.2)
    filled = confirm_along_tracks(table, 4.0, low=0.02, high=0.2, fill_floor=0.005, fill_px=2.0)
    assert sorted(plain["frame"]) == [1, 2, 4, 5]
    assert sorted(filled["frame"]) == [0, 1, 2, 3, 4, 5, 6]
    assert (np.abs(filled["x"].to_numpy() - x[filled["frame"].to_numpy()]) < 1.0).all()
    # The movie's range bounds the ends.
    short = confirm_along_tracks(
        table, 4.0, low=0.02, high=0.2, fill_floor=0.005, fill_px=2.0, frames=(1, 5)
    )
    assert sorted(short["frame"]) == [1, 2, 3, 4, 5]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),
            st.floats(0, 60),
            st.floats(0, 60),
            st.floats(0.0, 1.0),
        ),
        max_size=40,
    )
)
def test_kept_rows_are_input_rows_and_confident_ones_always_stay(rows):
    table = _table(rows)
    kept = confirm_along_tracks(table, 4.0, low=0.1, high=0.5, fill_floor=0.05)
    assert list(kept.columns) == list(table.columns)
    as_tuples = set(map(tuple, table.to_numpy().tolist()))
    assert set(map(tuple, kept.to_numpy().tolist())) <= as_tuples
    assert len(kept) <= len(table)
    confident = table[table["prob"] >= 0.5]
    assert set(map(tuple, confident.to_numpy().tolist())) <= set(
        map(tuple, kept.to_numpy().tolist())
    )
    assert kept["frame"].is_monotonic_increasing


def test_empty_input():
    kept = confirm_along_tracks(_table([]), 4.0, low=0.1, high=0.5, fill_floor=0.05)
    assert kept.empty


def test_live_confirmer_keeps_weak_detections_after_a_confident_one(rng):
    from livetrack.link import TrackConfirmer

    x, y = _walk(rng, 6, 30.0, 30.0)
    wx, wy = _walk(rng, 6, 80.0, 80.0)
    probs = [0.05, 0.6, 0.05, 0.04, 0.05, 0.05]
    conf = TrackConfirmer(4.0, low=0.02, high=0.2)
    kept = []
    for t in range(6):
        # A particle confirmed in frame 1, and a weak trajectory never confirmed.
        frame = _table([(t, x[t], y[t], probs[t]), (t, wx[t], wy[t], 0.05)])
        kept.append(conf.step(t, frame))
    counts = [len(k) for k in kept]
    # Frame 0 is weak and not yet confirmed (causal: no later frame vouches for it).
    assert counts == [0, 1, 1, 1, 1, 1]
    assert all(np.isclose(k["x"].iloc[0], x[t]) for t, k in enumerate(kept) if len(k))
    # A frame number at or below the last one starts a new stream: nothing confirmed.
    again = conf.step(0, _table([(0, x[5], y[5], 0.05)]))
    assert again.empty


def test_fill_gaps_takes_the_strongest_candidate_at_each_gap_once():
    kept = _table(
        [(t, 10.0 + t, 0.0, 0.5) for t in (0, 1, 3, 4)] + [(t, 40.0, 0.0, 0.5) for t in (0, 2)]
    )
    pool = pd.DataFrame(
        {
            "frame": [2, 2, 2, 1, 3],
            "x": [12.2, 11.5, 25.0, 40.5, 40.0],
            "y": 0.0,
            "score": [5.0, 9.0, 20.0, 7.0, 30.0],
        },
        index=[10, 11, 12, 13, 14],
    )
    chosen = fill_gaps(kept, pool, 4.0, 2.0, score="score")
    # Frame 2's gap takes the stronger of the two near its midpoint (12, 0); the far one and
    # the second trajectory's gap (frame 1 at x 40) are taken on their own; frame 3 has no gap.
    assert sorted(chosen.index) == [11, 13]
    assert fill_gaps(kept.iloc[:0], pool, 4.0, 2.0, score="score").empty
