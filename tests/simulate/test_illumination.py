import numpy as np
import pytest

from livetrack._errors import InputError
from livetrack.simulate import Illumination, IlluminationState, simulate_movie

SHAPE = (96, 128)


def test_default_is_uniform_and_steady(rng):
    state = Illumination().start(SHAPE, rng)
    assert isinstance(state, IlluminationState)
    for frame in (0, 7):
        np.testing.assert_array_equal(state.multiplier(frame), np.ones(SHAPE))
        np.testing.assert_array_equal(state.background(frame, 12.0), np.full(SHAPE, 12.0))


@pytest.mark.parametrize("ratio", [1.5, 2.0, 3.0])
@pytest.mark.parametrize("hotspot_weight", [0.0, 0.5, 1.0])
def test_smooth_field_has_requested_ratio_and_unit_mean(ratio, hotspot_weight, rng):
    state = Illumination(ratio=ratio, hotspot_weight=hotspot_weight).start(SHAPE, rng)
    field = state.multiplier(0)
    assert field.shape == SHAPE
    assert field.max() / field.min() == pytest.approx(ratio, rel=1e-9)
    assert field.max() / field.min() <= 3.0 + 1e-9
    assert field.mean() == pytest.approx(1.0)
    # Smooth: neighbouring pixels differ by a small fraction of the full range.
    assert np.abs(np.diff(field, axis=1)).max() < 0.1 * (field.max() - field.min())


def test_linear_gradient_is_planar(rng):
    field = Illumination(ratio=2.5, hotspot_weight=0.0).start(SHAPE, rng).multiplier(0)
    rows, cols = np.indices(SHAPE)
    design = np.column_stack([np.ones(field.size), rows.ravel(), cols.ravel()])
    coef, *_ = np.linalg.lstsq(design, field.ravel(), rcond=None)
    np.testing.assert_allclose(design @ coef, field.ravel(), atol=1e-9)


def test_flicker_std_across_frames(rng):
    state = Illumination(flicker_std=0.1).start(SHAPE, rng)
    factors = np.array([state.global_factor(t) for t in range(3000)])
    assert factors.mean() == pytest.approx(1.0, abs=0.01)
    assert factors.std() == pytest.approx(0.1, rel=0.06)
    assert (factors > 0).all()
    np.testing.assert_allclose(state.multiplier(5), np.full(SHAPE, factors[5]))


def test_per_frame_values_are_reproducible_in_any_order(rng):
    ill = Illumination(ratio=2.0, flicker_std=0.2, structured_background=0.3)
    state = ill.start(SHAPE, np.random.default_rng(5))
    later = state.background(9, 10.0)
    fresh = ill.start(SHAPE, np.random.default_rng(5))
    for t in range(9):
        fresh.background(t, 10.0)
    np.testing.assert_array_equal(fresh.background(9, 10.0), later)


def test_slow_drift_is_exponential(rng):
    state = Illumination(drift_per_frame=-0.02).start(SHAPE, rng)
    for t in (0, 1, 10, 50):
        assert state.global_factor(t) == pytest.approx(0.98**t)


def test_structured_background_is_textured_and_static(rng):
    state = Illumination(structured_background=0.2, structure_scale_px=8.0).start(SHAPE, rng)
    bg = state.background(0, 50.0)
    assert bg.mean() == pytest.approx(50.0, rel=0.05)
    assert bg.std() / bg.mean() == pytest.approx(0.2, rel=0.1)
    # Correlated over its length scale: neighbours are nearly equal.
    corr = np.corrcoef(bg[:, :-1].ravel(), bg[:, 1:].ravel())[0, 1]
    assert corr > 0.9
    np.testing.assert_array_equal(state.background(3, 50.0), bg)
    assert (bg >= 0).all()


def test_multiplier_scales_background_in_fluorescence(rng):
    state = Illumination(ratio=3.0, flicker_std=0.1).start(SHAPE, rng)
    np.testing.assert_allclose(state.background(4, 20.0), 20.0 * state.multiplier(4))


def test_movie_particles_and_background_follow_illumination():
    movie = simulate_movie(
        n_frames=3,
        shape=(64, 64),
        n_particles=40,
        amplitude=500.0,
        background_photons=10.0,
        camera=None,
        illumination=Illumination(ratio=3.0, flicker_std=0.2),
        seed=4,
    )
    truth = movie.truth
    # Rendered amplitude = nominal * local multiplier, and the background there scales alike.
    np.testing.assert_allclose(truth["amplitude"] / 500.0, truth["background"] / 10.0)
    inside = truth[truth["in_frame"]]
    assert inside["amplitude"].max() / inside["amplitude"].min() > 1.5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratio": 0.5},
        {"ratio": 20.0},
        {"hotspot_weight": 1.5},
        {"flicker_std": -0.1},
        {"flicker_std": 1.0},
        {"drift_per_frame": -1.0},
        {"structured_background": -1.0},
        {"structure_scale_px": 0.0},
        {"ratio": "2"},
    ],
)
def test_bad_parameters_raise_input_error(kwargs):
    with pytest.raises(InputError):
        Illumination(**kwargs)


def test_bad_shape_or_base_raises_input_error(rng):
    with pytest.raises(InputError):
        Illumination().start((0, 4), rng)
    with pytest.raises(InputError):
        Illumination().start(SHAPE, rng).background(0, -1.0)
