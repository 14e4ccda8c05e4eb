import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from livetrack._errors import InputError
from livetrack.evaluate import Score, link_score, score


def _df(rows, columns=("frame", "x", "y")):
    return pd.DataFrame(rows, columns=list(columns))


def test_counts_precision_recall_jaccard_over_frames():
    truth = _df([(0, 1.0, 1.0), (0, 10.0, 10.0), (0, 20.0, 20.0), (1, 5.0, 5.0), (1, 9.0, 9.0)])
    pred = _df([(0, 1.5, 1.0), (0, 10.0, 10.5), (0, 40.0, 40.0), (2, 5.0, 5.0)])
    s = score(truth, pred)
    assert (s.tp, s.fp, s.fn) == (2, 2, 3)
    assert s.precision == pytest.approx(2 / 4)
    assert s.recall == pytest.approx(2 / 5)
    assert s.jaccard == pytest.approx(2 / 7)


def test_positions_in_different_frames_never_match():
    truth = _df([(0, 5.0, 5.0)])
    pred = _df([(1, 5.0, 5.0)])
    s = score(truth, pred)
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)
    assert math.isnan(s.rmse)


def test_rmse_and_errors_are_exact():
    truth = pd.DataFrame({"frame": [3, 3], "x": [1.0, 8.0], "y": [1.0, 8.0]}, index=[10, 20])
    pred = pd.DataFrame({"frame": [3, 3], "x": [7.4, 1.3], "y": [8.8, 1.4]}, index=["a", "b"])
    s = score(truth, pred)
    order = np.argsort(s.truth_index)
    assert s.truth_index[order].tolist() == [10, 20]
    assert s.pred_index[order].tolist() == ["b", "a"]
    np.testing.assert_allclose(s.errors[order], [[0.3, 0.4], [-0.6, 0.8]], atol=1e-12)
    np.testing.assert_allclose(s.dx[order], [0.3, -0.6], atol=1e-12)
    np.testing.assert_allclose(s.dy[order], [0.4, 0.8], atol=1e-12)
    assert s.rmse == pytest.approx(math.sqrt((0.25 + 1.0) / 2), rel=1e-12)
    assert s.rmse_x == pytest.approx(math.sqrt((0.09 + 0.36) / 2), rel=1e-12)
    assert s.rmse_y == pytest.approx(math.sqrt((0.16 + 0.64) / 2), rel=1e-12)


def test_invisible_truth_is_ignored():
    truth = pd.DataFrame(
        {"frame": [0, 0], "x": [1.0, 9.0], "y": [1.0, 9.0], "visible": [True, False]}
    )
    pred = _df([(0, 1.0, 1.0), (0, 9.0, 9.0)])
    s = score(truth, pred)
    # The prediction on the invisible particle is a false positive, not a match.
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)


def test_gate_is_respected_in_score():
    truth = _df([(0, 0.0, 0.0)])
    assert score(truth, _df([(0, 2.0, 0.0)]), gate_px=2.0).tp == 1
    assert score(truth, _df([(0, 2.01, 0.0)]), gate_px=2.0).tp == 0
    assert score(truth, _df([(0, 2.01, 0.0)]), gate_px=3.0).tp == 1


def test_score_uses_optimal_assignment_per_frame():
    truth = _df([(0, 0.0, 0.0), (0, 1.8, 0.0)])
    pred = _df([(0, 1.0, 0.0), (0, 3.5, 0.0)])
    assert score(truth, pred).tp == 2


def test_empty_inputs_give_nan_ratios():
    empty = _df([])
    s = score(empty, empty)
    assert (s.tp, s.fp, s.fn) == (0, 0, 0)
    assert all(math.isnan(v) for v in (s.precision, s.recall, s.jaccard, s.rmse))
    assert s.errors.shape == (0, 2)
    s = score(_df([(0, 1.0, 1.0)]), empty)
    assert (s.tp, s.fp, s.fn, s.recall, s.jaccard) == (0, 0, 1, 0.0, 0.0)
    assert math.isnan(s.precision)


def test_single_image_without_frame_column():
    truth = pd.DataFrame({"x": [1.0, 5.0], "y": [1.0, 5.0]})
    pred = pd.DataFrame({"x": [1.1], "y": [0.9]})
    s = score(truth, pred)
    assert (s.tp, s.fp, s.fn) == (1, 0, 1)


def test_as_dict_and_frozen():
    s = score(_df([(0, 1.0, 1.0)]), _df([(0, 1.0, 1.5)]))
    d = s.as_dict()
    assert d == {
        "tp": 1,
        "fp": 0,
        "fn": 0,
        "precision": 1.0,
        "recall": 1.0,
        "jaccard": 1.0,
        "rmse": 0.5,
        "rmse_x": 0.0,
        "rmse_y": 0.5,
    }
    assert isinstance(s, Score)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tp = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("truth", "pred"),
    [
        (_df([(0, 1.0, 1.0)]), pd.DataFrame({"x": [1.0], "y": [1.0]})),
        (_df([(0, 1.0, 1.0)]), pd.DataFrame({"frame": [0], "x": [1.0]})),
        (_df([(0, 1.0, 1.0)]), _df([(0, np.nan, 1.0)])),
        (_df([(0, 1.0, 1.0)]), np.zeros((1, 3))),
    ],
)
def test_bad_input_raises_input_error(truth, pred):
    with pytest.raises(InputError):
        score(truth, pred)


# -- link_score ---------------------------------------------------------------------


def _truth_tracks(n_frames=4):
    rows = []
    for f in range(n_frames):
        rows.append((f, 1, 10.0 + f, 10.0))
        rows.append((f, 2, 30.0, 30.0 - f))
    return _df(rows, ("frame", "particle", "x", "y"))


def _as_tracks(truth, ids, jitter=0.1):
    tracks = truth.copy()
    tracks["x"] = tracks["x"] + jitter
    tracks["particle"] = tracks["particle"].map(ids)
    return tracks


def test_link_score_perfect():
    truth = _truth_tracks()
    assert link_score(truth, _as_tracks(truth, {1: 10, 2: 20})) == 1.0


def test_link_score_one_swap():
    truth = _truth_tracks()
    tracks = _as_tracks(truth, {1: 10, 2: 20})
    # From frame 2 on the linker exchanged the two ids: the 1->2 link of both particles
    # is wrong, the other 4 of 6 links are right.
    late = tracks["frame"] >= 2
    tracks.loc[late, "particle"] = tracks.loc[late, "particle"].map({10: 20, 20: 10})
    assert link_score(truth, tracks) == pytest.approx(4 / 6)


def test_link_score_missing_detection_breaks_two_links():
    truth = _truth_tracks()
    tracks = _as_tracks(truth, {1: 10, 2: 20})
    tracks = tracks[~((tracks["frame"] == 2) & (tracks["particle"] == 10))]
    assert link_score(truth, tracks) == pytest.approx(4 / 6)


def test_link_score_track_break_counts_once():
    truth = _truth_tracks()
    tracks = _as_tracks(truth, {1: 10, 2: 20})
    tracks.loc[(tracks["particle"] == 10) & (tracks["frame"] >= 3), "particle"] = 11
    assert link_score(truth, tracks) == pytest.approx(5 / 6)


def test_link_score_ignores_links_across_invisible_frames():
    truth = _truth_tracks()
    truth["visible"] = ~((truth["frame"] == 2) & (truth["particle"] == 1))
    tracks = _as_tracks(truth[truth["visible"]], {1: "a", 2: "b"}).drop(columns="visible")
    # particle 1 has only the 0->1 link left, particle 2 all three.
    assert link_score(truth, tracks) == 1.0
    tracks.loc[tracks["frame"] == 1, "particle"] = "c"
    assert link_score(truth, tracks) == pytest.approx(1 / 4)


def test_link_score_without_true_links_is_nan():
    truth = _df([(0, 1, 1.0, 1.0), (2, 1, 1.0, 1.0)], ("frame", "particle", "x", "y"))
    assert math.isnan(link_score(truth, truth.copy()))


def test_link_score_requires_particle_and_frame():
    truth = _truth_tracks()
    with pytest.raises(InputError):
        link_score(truth, truth.drop(columns="particle"))
    with pytest.raises(InputError):
        link_score(truth.drop(columns="frame"), truth.drop(columns="frame"))


def test_link_score_accepts_any_id_dtype_and_unlinked_detections():
    truth = _truth_tracks()
    truth["particle"] = truth["particle"].map({1: "p1", 2: "p2"})
    tracks = _as_tracks(truth, {"p1": 1.0, "p2": 2.0})
    assert link_score(truth, tracks) == 1.0
    # A detection the linker left unassigned (NaN id) reproduces no link.
    tracks.loc[(tracks["frame"] == 3) & (tracks["particle"] == 2.0), "particle"] = np.nan
    assert link_score(truth, tracks) == pytest.approx(5 / 6)


def test_particles_outside_the_frame_are_dont_care():
    truth = pd.DataFrame(
        {
            "frame": [0, 0, 0],
            "x": [5.0, -0.8, 20.0],
            "y": [5.0, 3.0, 20.0],
            "in_frame": [True, False, True],
        }
    )
    # One exact hit, one detection of the outside particle, one false positive.
    pred = pd.DataFrame({"frame": [0, 0, 0], "x": [5.0, -0.3, 40.0], "y": [5.0, 3.0, 40.0]})
    s = score(truth, pred)
    assert (s.tp, s.fp, s.fn) == (1, 1, 1)
    assert s.rmse == 0.0
    assert list(s.truth_index) == [0]
    assert list(s.pred_index) == [0]
    # Missing the outside particle costs nothing either.
    s = score(truth, pred.iloc[[0]])
    assert (s.tp, s.fp, s.fn) == (1, 0, 1)
