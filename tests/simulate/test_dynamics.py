import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack._errors import InputError
from livetrack.simulate import Dynamics, ParticleState, simulate_movie

HUGE = (-1e9, 1e9, -1e9, 1e9)
BOX = (-0.5, 63.5, -0.5, 63.5)


def uniform_spawn(bounds):
    def spawn(n, rng):
        x = rng.uniform(bounds[0], bounds[1], n)
        y = rng.uniform(bounds[2], bounds[3], n)
        return x, y, np.full(n, 100.0)

    return spawn


def run(dynamics, n, n_frames, rng, bounds=HUGE):
    spawn = uniform_spawn(bounds if bounds is not HUGE else (0, 100, 0, 100))
    state = dynamics.start(*spawn(n, rng), rng)
    states = [state]
    for _ in range(n_frames - 1):
        state = dynamics.step(state, rng, bounds, spawn)
        states.append(state)
    return states


def positions(states):
    """(T, N, 2) positions of particles that never left (ids 0..N-1 kept in order)."""
    return np.stack([np.column_stack([s.x, s.y]) for s in states])


@pytest.mark.parametrize("diffusion", [0.1, 0.5, 2.0])
def test_brownian_msd_is_four_d_t(diffusion, rng):
    states = run(Dynamics(diffusion_px2=diffusion), 4000, 11, rng)
    xy = positions(states)
    for lag in (1, 4, 10):
        msd = ((xy[lag] - xy[0]) ** 2).sum(axis=1).mean()
        # MSD of N particles has relative standard error sqrt(2/N) ~ 2 %.
        assert msd == pytest.approx(4 * diffusion * lag, rel=0.08)


def test_brownian_steps_are_gaussian_per_axis(rng):
    states = run(Dynamics(diffusion_px2=0.8), 20_000, 2, rng)
    dx = states[1].x - states[0].x
    assert dx.std() == pytest.approx(np.sqrt(1.6), rel=0.02)
    kurtosis = ((dx - dx.mean()) ** 4).mean() / dx.var() ** 2
    assert kurtosis == pytest.approx(3.0, abs=0.15)


def test_drift_mean(rng):
    states = run(Dynamics(diffusion_px2=0.5, drift_px=(0.3, -0.7)), 3000, 6, rng)
    step = positions(states)[5] - positions(states)[0]
    np.testing.assert_allclose(step.mean(axis=0) / 5, [0.3, -0.7], atol=0.03)


def test_directed_motion_keeps_speed_and_direction(rng):
    states = run(Dynamics(directed_speed_px=2.0, directed_fraction=1.0), 200, 5, rng)
    steps = np.diff(positions(states), axis=0)
    np.testing.assert_allclose(np.hypot(steps[..., 0], steps[..., 1]), 2.0)
    np.testing.assert_allclose(steps[1:], steps[:-1])


def test_directed_fraction(rng):
    states = run(Dynamics(directed_speed_px=1.0, directed_fraction=0.3), 5000, 2, rng)
    moving = np.hypot(states[1].x - states[0].x, states[1].y - states[0].y) > 0.5
    assert moving.mean() == pytest.approx(0.3, abs=0.03)


def test_keep_density_holds_count_with_new_ids(rng):
    dynamics = Dynamics(diffusion_px2=4.0, drift_px=(3.0, 0.0))
    states = run(dynamics, 50, 40, rng, bounds=BOX)
    seen: set[int] = set()
    for state in states:
        assert state.x.size == 50
        assert np.unique(state.particle).size == 50
        assert (state.x >= BOX[0]).all()
        assert (state.x <= BOX[1]).all()
        seen.update(state.particle.tolist())
    # Particles left and were replaced by particles with fresh ids.
    assert len(seen) > 100
    assert states[-1].next_id == max(seen) + 1


def test_without_keep_density_particles_leave(rng):
    dynamics = Dynamics(drift_px=(5.0, 0.0), keep_density=False)
    states = run(dynamics, 50, 20, rng, bounds=BOX)
    assert states[-1].x.size == 0


def test_blinking_fraction(rng):
    dynamics = Dynamics(blink_off_prob=0.2, blink_on_prob=0.3)
    states = run(dynamics, 400, 60, rng)
    on = np.stack([s.on for s in states])
    assert dynamics.on_fraction == pytest.approx(0.6)
    assert on.mean() == pytest.approx(0.6, abs=0.03)
    # Switching off happens with probability 0.2 per frame.
    off_switch = (on[:-1] & ~on[1:]).sum() / on[:-1].sum()
    assert off_switch == pytest.approx(0.2, abs=0.02)


def test_ids_persist_and_trajectories_are_continuous_in_movie():
    movie = simulate_movie(
        n_frames=15,
        shape=(48, 48),
        n_particles=30,
        camera=None,
        dynamics=Dynamics(diffusion_px2=0.5, blink_off_prob=0.1, blink_on_prob=0.5),
        seed=8,
    )
    truth = movie.truth
    assert not truth.duplicated(["frame", "particle"]).any()
    assert (truth.groupby("frame").size() == 30).all()
    for _, track in truth.groupby("particle"):
        frames = track["frame"].to_numpy()
        assert (np.diff(frames) == 1).all()  # an id is never reused after a gap
        step = np.hypot(np.diff(track["x"]), np.diff(track["y"]))
        assert (step < 6.0).all()  # 6 standard deviations of a sqrt(2D) = 1 px step
    new_ids = truth.loc[truth["frame"] > 0, "particle"]
    assert new_ids.max() >= 30  # particles left the area and were replaced with new ids


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 40),
    steps=st.integers(1, 10),
    diffusion=st.floats(0.0, 20.0),
    seed=st.integers(0, 2**32),
)
def test_ids_are_never_reused(n, steps, diffusion, seed):
    rng = np.random.default_rng(seed)
    states = run(Dynamics(diffusion_px2=diffusion), n, steps + 1, rng, bounds=BOX)
    first_frame = {}
    for t, state in enumerate(states):
        assert isinstance(state, ParticleState)
        assert state.x.size == n
        for pid in state.particle.tolist():
            first_frame.setdefault(pid, t)
        present = set(state.particle.tolist())
        # Every id present now was present in all frames since it first appeared.
        for pid in present:
            assert all(pid in set(s.particle.tolist()) for s in states[first_frame[pid] : t])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"diffusion_px2": -1.0},
        {"drift_px": (1.0,)},
        {"drift_px": (1.0, float("nan"))},
        {"directed_fraction": 1.5},
        {"blink_off_prob": -0.1},
        {"blink_on_prob": 2.0},
        {"directed_speed_px": "fast"},
    ],
)
def test_bad_parameters_raise_input_error(kwargs):
    with pytest.raises(InputError):
        Dynamics(**kwargs)


def test_spawn_at_edge_brings_new_particles_in_from_outside():
    movie = simulate_movie(
        n_frames=20,
        shape=(32, 32),
        n_particles=30,
        margin_px=4.0,
        camera=None,
        dynamics=Dynamics(diffusion_px2=2.0, spawn_at_edge=True),
        seed=6,
    )
    truth = movie.truth
    assert (truth.groupby("frame").size() == 30).all()
    births = truth.sort_values("frame").groupby("particle").first()
    born_later = births[births["frame"] > 0]
    assert len(born_later) > 5
    assert not born_later["in_frame"].any()


def test_spawn_at_edge_needs_a_margin():
    with pytest.raises(InputError, match="margin"):
        simulate_movie(
            n_frames=2,
            shape=(16, 16),
            n_particles=3,
            margin_px=0.0,
            dynamics=Dynamics(spawn_at_edge=True),
        )
