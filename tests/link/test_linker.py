import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack._errors import InputError
from livetrack.link import ConstantVelocityPredictor, Linker, LinkOptions, link, link_iter

# --- strategies ---------------------------------------------------------------

coord = st.floats(min_value=0.0, max_value=60.0, allow_nan=False, width=32)


@st.composite
def detections(draw, max_frames=6, max_per_frame=12):
    """Random detections (possibly crowded, possibly empty frames) as a DataFrame."""
    n_frames = draw(st.integers(1, max_frames))
    rows = []
    for f in range(n_frames):
        n = draw(st.integers(0, max_per_frame))
        for _ in range(n):
            rows.append((f, draw(coord), draw(coord)))
    df = pd.DataFrame(rows, columns=["frame", "x", "y"])
    return df.astype({"frame": np.int64, "x": np.float64, "y": np.float64})


@st.composite
def separated_movies(draw, search_range=4.0):
    """Particles on a lattice with spacing 3R, each wandering < 0.3R per axis from its node.

    Every frame-to-frame step is then below 0.6*sqrt(2)*R < R, while any other
    particle stays further than 3R - 0.6*sqrt(2)*R > 2R away: the true links are
    the only candidates.
    """
    n_side = draw(st.integers(1, 4))
    n_frames = draw(st.integers(2, 6))
    spacing = 3 * search_range
    nodes = np.array([(i * spacing, j * spacing) for i in range(n_side) for j in range(n_side)])
    offsets = st.floats(-0.3 * search_range, 0.3 * search_range, allow_nan=False)
    rows = []
    for f in range(n_frames):
        for k, (nx, ny) in enumerate(nodes):
            rows.append((f, k, nx + draw(offsets), ny + draw(offsets)))
    return pd.DataFrame(rows, columns=["frame", "truth", "x", "y"])


def partition(df, key="particle"):
    """Trajectories as a set of frozensets of row labels (ids themselves are arbitrary)."""
    return {frozenset(g.index) for _, g in df.groupby(key)}


# --- property tests -----------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(df=detections(), search_range=st.floats(0.5, 20.0))
def test_ids_unique_within_each_frame(df, search_range):
    out = link(df, search_range, memory=1)
    assert not out.duplicated(["frame", "particle"]).any()


@settings(max_examples=60, deadline=None)
@given(df=detections(), search_range=st.floats(0.5, 20.0), memory=st.integers(0, 2))
def test_every_row_returned_once_unchanged(df, search_range, memory):
    df.index = np.arange(len(df))[::-1] * 3 + 7  # an index that is not a RangeIndex
    out = link(df, search_range, memory=memory)
    assert out.index.equals(df.index)
    pd.testing.assert_frame_equal(out.drop(columns="particle"), df)
    assert out["particle"].dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(df=detections(), search_range=st.floats(0.5, 20.0), seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_trajectories(df, search_range, seed):
    shuffled = df.sample(frac=1.0, random_state=np.random.RandomState(seed))
    a = link(df, search_range, memory=1)
    b = link(shuffled, search_range, memory=1)
    # Same positions get the same ids, whatever the row order.
    cols = ["frame", "x", "y", "particle"]
    pd.testing.assert_frame_equal(
        a[cols].sort_values(cols).reset_index(drop=True),
        b[cols].sort_values(cols).reset_index(drop=True),
    )


@settings(max_examples=60, deadline=None)
@given(movie=separated_movies())
def test_separated_particles_keep_their_ids(movie):
    out = link(movie, search_range_px=4.0)
    assert partition(out) == partition(movie, key="truth")
    assert out["particle"].nunique() == movie["truth"].nunique()


# --- behaviour ----------------------------------------------------------------


def frame_df(*xy):
    return pd.DataFrame(np.array(xy, dtype=float).reshape(-1, 2), columns=["x", "y"])


def test_step_keeps_rows_index_and_extra_columns():
    linker = Linker(search_range_px=2.0)
    first = frame_df((0, 0), (10, 10)).assign(mass=[5.0, 6.0])
    first.index = ["a", "b"]
    out = linker.step(0, first)
    assert list(out.index) == ["a", "b"]
    assert out["mass"].tolist() == [5.0, 6.0]
    assert out["particle"].tolist() == [0, 1]
    out = linker.step(np.int64(1), frame_df((10.5, 10), (0.5, 0)).astype(np.float32))
    assert out["particle"].tolist() == [1, 0]


def test_optimal_assignment_not_greedy():
    # Greedy nearest-neighbour would give track 0 the detection at 1.0 and leave
    # track 1 unlinked; the minimum total squared displacement links both.
    linker = Linker(search_range_px=2.0)
    linker.step(0, frame_df((0, 0), (2.5, 0)))
    out = linker.step(1, frame_df((1.0, 0), (-1.2, 0)))
    assert out["particle"].tolist() == [1, 0]


def test_unlinked_track_costs_search_range_squared():
    # One detection between two tracks: it goes to the nearer one.
    linker = Linker(search_range_px=5.0)
    linker.step(0, frame_df((0, 0), (6, 0)))
    assert linker.step(1, frame_df((3.5, 0)))["particle"].tolist() == [1]


def test_ids_are_per_linker_instance():
    a, b = Linker(2.0), Linker(2.0)
    a.step(0, frame_df((0, 0), (5, 5)))
    assert b.step(0, frame_df((1, 1)))["particle"].tolist() == [0]
    assert a.next_id == 2 and b.next_id == 1


def test_gap_closing_with_memory():
    blinking = [(0, 0.0), (1, 0.5), (4, 1.0), (5, 1.2)]  # missing in frames 2 and 3
    df = pd.DataFrame([(f, x, 0.0) for f, x in blinking] + [(f, 50.0, 50.0) for f in range(6)])
    df.columns = ["frame", "x", "y"]
    resumed = link(df, search_range_px=2.0, memory=2)
    assert resumed.loc[:3, "particle"].nunique() == 1
    split = link(df, search_range_px=2.0, memory=1)
    assert split.loc[:3, "particle"].nunique() == 2
    # The always-visible particle is unaffected either way.
    assert resumed.loc[4:, "particle"].nunique() == 1
    assert split.loc[4:, "particle"].nunique() == 1


def test_tracks_table_shows_last_observations():
    linker = Linker(search_range_px=2.0, memory=1)
    linker.step(0, frame_df((0, 0), (10, 10)))
    linker.step(1, frame_df((0.5, 0)))
    table = linker.tracks()
    assert table.columns.tolist() == ["particle", "x", "y", "frame"]
    assert table.values.tolist() == [[0, 0.5, 0.0, 1], [1, 10.0, 10.0, 0]]
    linker.step(2, frame_df((1.0, 0)))
    assert linker.tracks()["particle"].tolist() == [0]  # track 1 is beyond memory


def test_memory_counts_frame_numbers_not_calls():
    linker = Linker(search_range_px=2.0, memory=1)
    linker.step(0, frame_df((0, 0)))
    assert linker.step(2, frame_df((0.5, 0)))["particle"].tolist() == [0]
    assert linker.step(5, frame_df((1.0, 0)))["particle"].tolist() == [1]


def test_empty_frames():
    linker = Linker(search_range_px=2.0, memory=1)
    linker.step(0, frame_df((0, 0)))
    empty = linker.step(1, pd.DataFrame({"x": [], "y": []}))
    assert len(empty) == 0 and empty["particle"].dtype == np.int64
    assert linker.step(2, frame_df((0.5, 0)))["particle"].tolist() == [0]


def test_track_table_stays_bounded_with_turnover(rng):
    memory, n_alive = 3, 20
    predictor = ConstantVelocityPredictor()
    linker = Linker(search_range_px=3.0, memory=memory, predictor=predictor)
    pos = rng.uniform(0, 500, (n_alive, 2))
    sizes = []
    for frame in range(2000):
        # Every particle is replaced by a new one elsewhere with probability 0.1.
        reborn = rng.random(n_alive) < 0.1
        pos[reborn] = rng.uniform(0, 500, (reborn.sum(), 2))
        pos += rng.normal(0, 0.3, pos.shape)
        linker.step_xy(frame, pos)
        sizes.append((linker.n_tracks, predictor.n_tracks))
    assert linker.next_id > 3000  # plenty of turnover happened
    # Alive tracks plus at most memory frames' worth of lost ones.
    bound = n_alive * (memory + 1)
    assert max(s for s, _ in sizes) <= bound
    assert max(p for _, p in sizes) <= bound
    assert linker.n_tracks == predictor.n_tracks


def test_link_iter_matches_link(rng):
    df = pd.DataFrame(
        {
            "frame": np.repeat(np.arange(8), 15),
            "x": rng.uniform(0, 40, 120),
            "y": rng.uniform(0, 40, 120),
        }
    )
    offline = link(df, search_range_px=5.0, memory=1)
    streamed = pd.concat(
        list(link_iter((g for _, g in df.groupby("frame")), search_range_px=5.0, memory=1))
    )
    pd.testing.assert_frame_equal(streamed.sort_index(), offline)
    pairs = list(link_iter(((f, g[["x", "y"]]) for f, g in df.groupby("frame")), 5.0, memory=1))
    assert pd.concat(pairs)["particle"].sort_index().tolist() == offline["particle"].tolist()


def test_link_iter_passes_through_empty_frames():
    frames = [
        pd.DataFrame({"frame": [0], "x": [0.0], "y": [0.0]}),
        pd.DataFrame({"frame": pd.Series([], dtype=int), "x": [], "y": []}),
        pd.DataFrame({"frame": [2], "x": [0.5], "y": [0.0]}),
    ]
    out = list(link_iter(frames, search_range_px=2.0, memory=1))
    assert [len(f) for f in out] == [1, 0, 1]
    assert out[2]["particle"].tolist() == [0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"search_range_px": 0.0}, "search_range_px"),
        ({"search_range_px": float("nan")}, "search_range_px"),
        ({"search_range_px": 1.0, "memory": -1}, "memory"),
        ({"search_range_px": 1.0, "memory": 1.5}, "memory"),
        ({"search_range_px": 1.0, "predictor": object()}, "predictor"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(InputError, match=match):
        Linker(**kwargs)


def test_options_dataclass_is_frozen():
    options = LinkOptions(search_range_px=2.0, memory=1)
    with pytest.raises(AttributeError):
        options.memory = 2  # type: ignore[misc]


def test_bad_input():
    linker = Linker(2.0)
    with pytest.raises(InputError, match="lack column"):
        linker.step(0, pd.DataFrame({"x": [1.0]}))
    with pytest.raises(InputError, match="NaN"):
        linker.step(0, frame_df((np.nan, 1.0)))
    with pytest.raises(InputError, match="frame must be an integer"):
        linker.step(0.5, frame_df((1.0, 1.0)))  # type: ignore[arg-type]
    linker.step(3, frame_df((1.0, 1.0)))
    with pytest.raises(InputError, match="frames must increase"):
        linker.step(3, frame_df((1.0, 1.0)))
    with pytest.raises(InputError, match="frame"):
        link(pd.DataFrame({"x": [1.0], "y": [1.0]}), 2.0)
    with pytest.raises(InputError, match="integer frame numbers"):
        link(pd.DataFrame({"frame": [0.5], "x": [1.0], "y": [1.0]}), 2.0)
    with pytest.raises(InputError, match="several frames"):
        list(link_iter([pd.DataFrame({"frame": [0, 1], "x": [1.0, 2.0], "y": [1.0, 2.0]})], 2.0))


def optimal_cost(src, dst, r):
    """Brute-force reference: min sum(d**2) + r**2 per unlinked source, one dense LSA."""
    from scipy.optimize import linear_sum_assignment

    n, m = len(src), len(dst)
    big = 1e12
    d2 = ((src[:, None, :] - dst[None, :, :]) ** 2).sum(-1)
    cost = np.full((n + m, m + n), big)
    cost[:n, :m] = np.where(d2 < r * r, d2, big)
    cost[:n, m:] = np.where(np.eye(n, dtype=bool), r * r, big)
    cost[n:, :m] = np.where(np.eye(m, dtype=bool), 0.0, big)
    cost[n:, m:] = 0.0
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols].sum()


points = st.lists(st.tuples(coord, coord), min_size=1, max_size=14).map(
    lambda p: np.array(p, dtype=float) / 4  # crowd them into a 15 px square
)


@settings(max_examples=100, deadline=None)
@given(src=points, dst=points, r=st.floats(0.5, 4.0))
def test_links_minimise_total_squared_displacement(src, dst, r):
    linker = Linker(search_range_px=r)
    first = linker.step_xy(0, src)
    second = linker.step_xy(1, dst)
    pos = dict(zip(first.tolist(), src, strict=True))
    linked = [k for k, pid in enumerate(second) if pid in pos]
    cost = sum(((pos[second[k]] - dst[k]) ** 2).sum() for k in linked)
    cost += r * r * (len(src) - len(linked))
    assert all(((pos[second[k]] - dst[k]) ** 2).sum() < r * r for k in linked)
    assert cost == pytest.approx(optimal_cost(src, dst, r), rel=1e-9, abs=1e-9)


def test_subnetwork_without_a_perfect_matching():
    # Tracks A and B can only reach detection X; C reaches X, Y and Z. At most two
    # links exist, and A or B must stay unlinked rather than jump to Y or Z.
    linker = Linker(search_range_px=2.0)
    tracks = np.array([[-1.5, 0.0], [0.0, -1.5], [1.5, 0.0]])  # A, B, C
    dets = np.array([[0.0, 0.0], [3.0, 0.0], [1.5, 1.5]])  # X, Y, Z
    first = linker.step_xy(0, tracks)
    second = linker.step_xy(1, dets)
    assert second[0] in first[:2]  # X continues A or B
    assert second[1] == first[2] or second[2] == first[2]  # C moves to Y or Z
    assert len(set(second) & set(first)) == 2
