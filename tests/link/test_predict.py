import numpy as np
import pandas as pd
import pytest

from livetrack._errors import InputError
from livetrack.link import (
    ConstantVelocityPredictor,
    Linker,
    NearestVelocityPredictor,
    Predictor,
    link,
)


def partition(df, key):
    return {frozenset(g.index) for _, g in df.groupby(key)}


def accelerating_movie(rng, n_frames=15):
    """Particles on a wide lattice, moving along +x with speed a*t (a in 0.4..0.6 px/frame^2)."""
    nodes = np.array([(i * 50.0, j * 50.0) for i in range(4) for j in range(4)])
    accel = rng.uniform(0.4, 0.6, len(nodes))
    rows = []
    for t in range(n_frames):
        x = nodes[:, 0] + accel * t * (t + 1) / 2 + rng.normal(0, 0.05, len(nodes))
        y = nodes[:, 1] + rng.normal(0, 0.05, len(nodes))
        rows += [(t, k, x[k], y[k]) for k in range(len(nodes))]
    return pd.DataFrame(rows, columns=["frame", "truth", "x", "y"])


def test_prediction_keeps_accelerating_particles_linked(rng):
    movie = accelerating_movie(rng)
    # Steps grow to ~9 px per frame, far beyond the 2 px search range...
    plain = link(movie, search_range_px=2.0)
    assert plain["particle"].nunique() > 5 * movie["truth"].nunique()
    # ...but a constant-velocity prediction is never off by more than ~0.6 px.
    predicted = link(movie, search_range_px=2.0, predictor=ConstantVelocityPredictor())
    assert partition(predicted, "particle") == partition(movie, "truth")


def flow_with_newcomers(rng, n_frames=20):
    """A flow ramping up to 4 px/frame along x; new particles appear in frames 12, 14, 16."""
    nodes = np.array([(i * 40.0, j * 40.0) for i in range(4) for j in range(4)])
    births = {12: 3, 14: 3, 16: 3}
    rows, start, next_id = [], {}, len(nodes)
    cells = iter(rng.permutation(len(nodes)))  # one newcomer per lattice cell: well separated
    for k, node in enumerate(nodes):
        start[k] = (0, node)
    for t in range(n_frames):
        for _ in range(births.get(t, 0)):
            cell = nodes[next(cells)] + 20.0 + rng.uniform(-3, 3, 2)
            start[next_id] = (t, cell - [shift(t), 0.0])
            next_id += 1
        for k, (t0, origin) in start.items():
            if t >= t0:
                rows.append((t, k, origin[0] + shift(t), origin[1]))
    return pd.DataFrame(rows, columns=["frame", "truth", "x", "y"])


def shift(t):
    """Displacement of the flow up to frame t: speed 0.4*t px/frame, capped at 4."""
    speeds = np.minimum(0.4 * np.arange(1, t + 1), 4.0)
    return float(speeds.sum())


def test_nearest_velocity_links_newcomers_in_a_flow(rng):
    movie = flow_with_newcomers(rng)
    newcomers = movie["truth"] >= 16
    nearest = link(movie, search_range_px=2.0, predictor=NearestVelocityPredictor())
    assert partition(nearest, "particle") == partition(movie, "truth")
    # With only its own history, a newcomer never gets a velocity: a new id every frame.
    own = link(movie, search_range_px=2.0, predictor=ConstantVelocityPredictor())
    assert own.loc[newcomers, "particle"].is_unique
    assert partition(own[~newcomers], "particle") == partition(movie[~newcomers], "truth")


def test_constant_velocity_extrapolates_over_gaps():
    p = ConstantVelocityPredictor(initial_velocity_px=(1.0, 0.0))
    p.observe(0, np.array([3, 7]), np.array([[0.0, 0.0], [10.0, 10.0]]))
    p.observe(2, np.array([3]), np.array([[4.0, 2.0]]))  # v = (2, 1) per frame
    predicted = p.predict(5, np.array([3, 7]), np.array([[4.0, 2.0], [10.0, 10.0]]), [2, 0])
    np.testing.assert_allclose(predicted, [[10.0, 5.0], [15.0, 10.0]])
    p.forget(np.array([3]))
    assert p.n_tracks == 1


def test_predictors_satisfy_protocol():
    assert isinstance(ConstantVelocityPredictor(), Predictor)
    assert isinstance(NearestVelocityPredictor(), Predictor)


def test_linker_calls_forget_on_dropped_tracks():
    p = ConstantVelocityPredictor()
    linker = Linker(search_range_px=1.0, memory=1, predictor=p)
    linker.step_xy(0, [[0.0, 0.0]])
    linker.step_xy(1, [[10.0, 0.0]])
    assert p.n_tracks == 2
    linker.step_xy(3, [[20.0, 0.0]])
    # Tracks 0 and 1 (last seen in frames 0 and 1) can no longer be continued.
    assert linker.tracks()["particle"].tolist() == [2]
    assert p.n_tracks == 1


def test_bad_initial_velocity():
    with pytest.raises(InputError, match="initial_velocity_px"):
        ConstantVelocityPredictor(initial_velocity_px=(1.0, float("nan")))
