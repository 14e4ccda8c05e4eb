import itertools
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from livetrack._errors import InputError
from livetrack.evaluate import _matching, match


def _match(truth, pred, gate_px=2.0, tree=False):
    # Large frames go through a KD-tree instead of a dense distance matrix; forcing that
    # path on small inputs checks both give the same answer.
    with mock.patch.object(_matching, "_DENSE_LIMIT", -1 if tree else 10**12):
        return match(truth, pred, gate_px=gate_px)


@pytest.mark.parametrize("tree", [False, True])
def test_pair_exactly_at_gate_matches_and_just_beyond_does_not(tree):
    i, j = _match([[0.0, 0.0]], [[2.0, 0.0]], gate_px=2.0, tree=tree)
    assert i.tolist() == [0] and j.tolist() == [0]
    i, j = _match([[0.0, 0.0]], [[2.0 + 1e-9, 0.0]], gate_px=2.0, tree=tree)
    assert i.size == 0 and j.size == 0
    i, j = _match([[0.1, 0.3]], [[0.1 + 1.2, 0.3 + 1.6]], gate_px=2.0, tree=tree)
    assert i.size == int(np.hypot(1.2, 1.6) <= 2.0)


@pytest.mark.parametrize("tree", [False, True])
def test_hungarian_keeps_pair_that_greedy_nearest_neighbour_loses(tree):
    # Greedy takes the closest pair t1-p0 (0.8 px) first and leaves t0 with only p1,
    # 3.5 px away: 1 match. The optimal assignment t0-p0 (1.0), t1-p1 (1.7) has 2.
    truth = [[0.0, 0.0], [1.8, 0.0]]
    pred = [[1.0, 0.0], [3.5, 0.0]]
    i, j = _match(truth, pred, gate_px=2.0, tree=tree)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 0), (1, 1)]


def test_equal_count_assignments_prefer_smaller_total_distance():
    truth = [[0.0, 0.0], [1.0, 0.0]]
    pred = [[0.9, 0.0], [0.1, 0.0]]
    i, j = match(truth, pred, gate_px=2.0)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_rectangular_case_pairs_the_closest_and_leaves_the_rest():
    truth = [[5.0, 5.0]]
    pred = [[6.5, 5.0], [5.2, 5.1], [20.0, 20.0]]
    i, j = match(truth, pred)
    assert i.tolist() == [0] and j.tolist() == [1]
    i, j = match(pred, truth)
    assert i.tolist() == [1] and j.tolist() == [0]


def test_nothing_within_gate_gives_empty_integer_arrays():
    i, j = match([[0.0, 0.0], [10.0, 10.0]], [[5.0, 5.0]], gate_px=1.0)
    assert i.size == 0 and j.size == 0
    assert i.dtype.kind == "i" and j.dtype.kind == "i"


@pytest.mark.parametrize(
    ("truth", "pred"),
    [
        (np.empty((0, 2)), np.empty((0, 2))),
        (np.empty((0, 2)), [[1.0, 2.0]]),
        ([[1.0, 2.0]], np.empty((0, 2))),
        ([], []),
    ],
)
def test_empty_inputs(truth, pred):
    i, j = match(truth, pred)
    assert i.shape == (0,) and j.shape == (0,)


@pytest.mark.parametrize(
    ("truth", "pred", "gate"),
    [
        ([1.0, 2.0], [[1.0, 2.0]], 2.0),
        ([[1.0, 2.0, 3.0]], [[1.0, 2.0]], 2.0),
        ([[np.nan, 2.0]], [[1.0, 2.0]], 2.0),
        ([[1.0, 2.0]], [[1.0, np.inf]], 2.0),
        ([[1.0, 2.0]], [[1.0, 2.0]], 0.0),
        ([[1.0, 2.0]], [[1.0, 2.0]], -1.0),
        ([[1.0, 2.0]], [[1.0, 2.0]], np.nan),
    ],
)
def test_bad_input_raises_input_error(truth, pred, gate):
    with pytest.raises(InputError):
        match(truth, pred, gate_px=gate)


points = st.lists(
    st.tuples(
        st.floats(0.0, 8.0, allow_nan=False, allow_subnormal=False),
        st.floats(0.0, 8.0, allow_nan=False, allow_subnormal=False),
    ),
    min_size=0,
    max_size=12,
)
gates = st.floats(0.25, 4.0)


def _dist(truth, pred):
    t = np.asarray(truth, dtype=float).reshape(-1, 2)
    p = np.asarray(pred, dtype=float).reshape(-1, 2)
    return np.hypot(t[:, None, 0] - p[None, :, 0], t[:, None, 1] - p[None, :, 1])


@settings(max_examples=150, deadline=None)
@given(truth=points, pred=points, gate=gates, tree=st.booleans())
def test_matches_are_one_to_one_within_gate_and_maximal(truth, pred, gate, tree):
    i, j = _match(truth, pred, gate_px=gate, tree=tree)
    assert len(i) == len(j) <= min(len(truth), len(pred))
    assert len(set(i.tolist())) == len(i) and len(set(j.tolist())) == len(j)
    assert np.all(np.diff(i) > 0)
    d = _dist(truth, pred)
    assert np.all(d[i, j] <= gate)
    if len(truth) and len(pred):
        # No assignment can pair more particles within the gate.
        best = maximum_bipartite_matching(csr_matrix(d <= gate), perm_type="column")
        assert len(i) == int(np.sum(best >= 0))


@settings(max_examples=100, deadline=None)
@given(truth=points, pred=points, gate=gates, data=st.data())
def test_permuting_inputs_permutes_the_matching(truth, pred, gate, data):
    i, j = match(truth, pred, gate_px=gate)
    perm_t = np.asarray(data.draw(st.permutations(range(len(truth)))), dtype=int)
    perm_p = np.asarray(data.draw(st.permutations(range(len(pred)))), dtype=int)
    t2 = np.asarray(truth, dtype=float).reshape(-1, 2)[perm_t]
    p2 = np.asarray(pred, dtype=float).reshape(-1, 2)[perm_p]
    i2, j2 = match(t2, p2, gate_px=gate)
    # Ties may be broken differently, so compare what is invariant: count and total distance.
    assert len(i2) == len(i)
    d = _dist(truth, pred)
    assert np.isclose(d[i, j].sum(), _dist(t2, p2)[i2, j2].sum(), rtol=1e-9, atol=1e-9)


small_points = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=4)


@settings(max_examples=100, deadline=None)
@given(
    truth=small_points,
    pred=small_points,
    gate=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    tree=st.booleans(),
)
def test_total_distance_is_minimal_among_largest_matchings(truth, pred, gate, tree):
    i, j = _match(truth, pred, gate_px=gate, tree=tree)
    d = _dist(truth, pred)
    best = (0, 0.0)
    n, m = len(truth), len(pred)
    for k in range(min(n, m), 0, -1):
        for rows in itertools.combinations(range(n), k):
            for cols in itertools.permutations(range(m), k):
                dd = d[list(rows), list(cols)]
                if np.all(dd <= gate) and (k > best[0] or dd.sum() < best[1]):
                    best = (k, dd.sum())
        if best[0]:
            break
    assert len(i) == best[0]
    assert np.isclose(d[i, j].sum(), best[1])


def test_tree_and_dense_paths_agree_on_a_crowded_frame(rng):
    truth = rng.uniform(0, 60, size=(400, 2))
    pred = np.vstack([truth + rng.normal(0, 0.8, truth.shape), rng.uniform(0, 60, (150, 2))])
    dense = _match(truth, pred, tree=False)
    tree = _match(truth, pred, tree=True)
    assert len(dense[0]) == len(tree[0]) > 300
    d = _dist(truth, pred)
    assert np.isclose(d[dense].sum(), d[tree].sum(), rtol=1e-12)
