import json
import warnings

import numpy as np
import pandas as pd
import pytest

from livetrack._errors import InputError
from livetrack.simulate import (
    TRUTH_COLUMNS,
    AiryPSF,
    Camera,
    Dynamics,
    GaussianPSF,
    Illumination,
    Movie,
    RingPSF,
    render_frame,
    simulate_movie,
)


def centroid(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    return float((image * cols).sum() / image.sum()), float((image * rows).sum() / image.sum())


def test_coordinate_convention_x_is_column_y_is_row():
    image = render_frame((40, 30), 10.0, 20.0, 1000.0, GaussianPSF(1.0), background_photons=0.0)
    row, col = np.unravel_index(np.argmax(image), image.shape)
    assert (row, col) == (20, 10)
    cx, cy = centroid(image)
    assert abs(cx - 10.0) < 0.01
    assert abs(cy - 20.0) < 0.01


def test_coordinate_convention_agrees_with_trackpy():
    trackpy = pytest.importorskip("trackpy")
    image = render_frame((64, 64), [20.3, 41.7], [30.6, 12.2], 2000.0, GaussianPSF(1.5), 0.0)
    with warnings.catch_warnings():  # trackpy's own pandas deprecations are not ours
        warnings.simplefilter("ignore")
        found = trackpy.locate(image, 9, preprocess=False).sort_values("x")
    # Only the convention is checked (a half-pixel shift or swapped axes would show); the
    # accuracy of trackpy's masked centroid is not our business.
    np.testing.assert_allclose(
        found[["x", "y"]].to_numpy(), [[20.3, 30.6], [41.7, 12.2]], atol=0.15
    )


def test_render_frame_adds_background_and_multiplier():
    psf = GaussianPSF(1.0)
    plain = render_frame((32, 32), 16.0, 16.0, 100.0, psf, background_photons=5.0)
    assert plain.dtype == np.float64
    assert plain[0, 0] == pytest.approx(5.0)
    assert plain.sum() == pytest.approx(5.0 * 32 * 32 + 100.0, rel=1e-5)
    doubled = render_frame((32, 32), 16.0, 16.0, 100.0, psf, 5.0, multiplier=2.0)
    np.testing.assert_allclose(doubled, 2 * plain)
    field = np.full((32, 32), 3.0)
    np.testing.assert_allclose(
        render_frame((32, 32), 16.0, 16.0, 100.0, psf, 5.0, field), 3 * plain
    )


def test_render_frame_with_camera_is_seeded():
    psf, camera = GaussianPSF(1.0), Camera(read_noise_e=1.0)
    a = render_frame((32, 32), 16.0, 16.0, 100.0, psf, 5.0, camera=camera, rng=3)
    b = render_frame((32, 32), 16.0, 16.0, 100.0, psf, 5.0, camera=camera, rng=3)
    assert a.dtype == np.uint16
    np.testing.assert_array_equal(a, b)


def test_render_frame_rejects_bad_maps():
    with pytest.raises(InputError):
        render_frame((8, 8), 4.0, 4.0, 1.0, GaussianPSF(1.0), np.ones((4, 4)))
    with pytest.raises(InputError):
        render_frame((8, 8), 4.0, 4.0, 1.0, GaussianPSF(1.0), 1.0, multiplier=-1.0)


def test_movie_shape_dtype_and_truth_columns():
    movie = simulate_movie(n_frames=3, shape=(40, 50), n_particles=12, seed=1)
    assert isinstance(movie, Movie)
    assert movie.frames.shape == (3, 40, 50)
    assert movie.frames.dtype == np.uint16
    assert movie.shape == (40, 50)
    assert list(movie.truth.columns) == list(TRUTH_COLUMNS)
    assert dict(movie.truth.dtypes.astype(str)) == TRUTH_COLUMNS
    assert len(movie.truth) == 36
    assert repr(movie).startswith("Movie(frames=(3, 40, 50) uint16, particles=12")


def test_seeding_is_reproducible():
    kwargs = {
        "n_frames": 4,
        "shape": (32, 32),
        "n_particles": 10,
        "snr": (2.0, 8.0),
        "camera": Camera(read_noise_e=1.5),
        "illumination": Illumination(ratio=2.0, flicker_std=0.1, structured_background=0.2),
        "dynamics": Dynamics(diffusion_px2=1.0, blink_off_prob=0.1),
    }
    a = simulate_movie(**kwargs, seed=42)
    b = simulate_movie(**kwargs, seed=42)
    c = simulate_movie(**kwargs, seed=np.random.default_rng(42))
    d = simulate_movie(**kwargs, seed=43)
    assert a == b
    np.testing.assert_array_equal(a.frames, c.frames)
    pd.testing.assert_frame_equal(a.truth, c.truth)
    assert not np.array_equal(a.frames, d.frames)


@pytest.mark.parametrize("psf", [GaussianPSF(1.2), AiryPSF(2.0), RingPSF(3.0, -1.0)], ids=repr)
def test_noiseless_movie_is_background_plus_visible_particles(psf):
    movie = simulate_movie(
        n_frames=2,
        shape=(48, 48),
        n_particles=15,
        psf=psf,
        snr=5.0,
        background_photons=50.0,
        camera=None,
        dynamics=Dynamics(diffusion_px2=0.5, blink_off_prob=0.4, blink_on_prob=0.4),
        seed=3,
    )
    assert movie.frames.dtype == np.float64
    for t in range(2):
        rows = movie.truth[(movie.truth["frame"] == t) & movie.truth["visible"]]
        expected = 50.0 + psf.render((48, 48), rows["x"], rows["y"], rows["amplitude"])
        np.testing.assert_allclose(movie.frames[t], np.maximum(expected, 0.0))
    assert (~movie.truth["visible"]).any()


def test_truth_snr_and_amplitude_follow_request():
    movie = simulate_movie(n_frames=1, shape=(64, 64), n_particles=50, snr=(2.0, 6.0), seed=5)
    assert movie.truth["snr"].between(2.0 - 1e-9, 6.0 + 1e-9).all()
    assert movie.truth["snr"].std() > 0.5
    fixed = simulate_movie(n_frames=1, shape=(64, 64), n_particles=20, amplitude=300.0, seed=5)
    np.testing.assert_allclose(fixed.truth["amplitude"], 300.0)
    default = simulate_movie(n_frames=1, shape=(64, 64), n_particles=20, seed=5)
    np.testing.assert_allclose(default.truth["snr"], 7.0)


def test_border_particles_exist_and_are_flagged():
    movie = simulate_movie(
        n_frames=1, shape=(32, 32), n_particles=200, margin_px=6.0, camera=None, seed=2
    )
    truth = movie.truth
    outside = truth[~truth["in_frame"]]
    assert len(outside) > 0
    assert (truth["x"].between(-6.5, 37.5) & truth["y"].between(-6.5, 37.5)).all()
    inside = (truth["x"].between(-0.5, 31.5)) & (truth["y"].between(-0.5, 31.5))
    np.testing.assert_array_equal(truth["in_frame"], inside)
    assert len(movie.visible_truth()) == int(inside.sum())


def test_min_separation_holds_in_first_frame():
    movie = simulate_movie(
        n_frames=1, shape=(64, 64), n_particles=40, min_separation_px=6.0, camera=None, seed=9
    )
    xy = movie.truth[["x", "y"]].to_numpy()
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    assert d.min() >= 6.0


def test_zero_particles_gives_background_only():
    movie = simulate_movie(n_frames=2, shape=(16, 16), n_particles=0, camera=None, seed=0)
    assert movie.truth.empty
    assert list(movie.truth.columns) == list(TRUTH_COLUMNS)
    np.testing.assert_allclose(movie.frames, 10.0)


def test_metadata_describes_every_parameter_and_is_json():
    movie = simulate_movie(
        n_frames=1,
        shape=(16, 16),
        n_particles=3,
        psf=RingPSF(3.0, -0.5),
        camera=Camera(em_gain=100.0),
        illumination=Illumination(ratio=2.0),
        dynamics=Dynamics(drift_px=(1.0, 0.5)),
        seed=7,
    )
    meta = movie.metadata
    assert json.loads(json.dumps(meta)) == meta
    assert meta["psf"] == {
        "type": "RingPSF",
        "radius_px": 3.0,
        "contrast": -0.5,
        "envelope_px": None,
        "supersample": 3,
    }
    assert meta["camera"]["em_gain"] == 100.0
    assert meta["illumination"]["ratio"] == 2.0
    assert meta["dynamics"]["drift_px"] == [1.0, 0.5]
    assert meta["seed"] == 7


@pytest.mark.parametrize(
    "kwargs",
    [
        {"snr": 3.0, "amplitude": 100.0},
        {"snr": -1.0},
        {"snr": (5.0, 2.0)},
        {"snr": "high"},
        {"amplitude": (1.0, 2.0, 3.0)},
        {"camera": "andor"},
        {"dynamics": None},
        {"background_photons": "lots"},
        {"psf": RingPSF(3.0, -1.0), "background_photons": 0.0},
        {"n_frames": 0},
        {"n_particles": -1},
        {"shape": (0, 10)},
        {"shape": (10,)},
        {"psf": "gaussian"},
        {"seed": "abc"},
        {"seed": -3},
        {"margin_px": -8.0},
        {"margin_px": "wide"},
        {"background_photons": -1.0},
        {"n_particles": 500, "shape": (8, 8), "min_separation_px": 5.0},
    ],
)
def test_bad_arguments_raise_input_error(kwargs):
    base = {"n_frames": 1, "shape": (16, 16), "n_particles": 3}
    with pytest.raises(InputError):
        simulate_movie(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("shape", "x", "amp", "background"),
    [
        (5, 4.0, 1.0, 1.0),
        ((8, 8.5), 4.0, 1.0, 1.0),
        ((8, 8), [1.0, 2.0], [1.0, 2.0, 3.0], 1.0),
        ((8, 8), 4.0, 1.0, "dark"),
    ],
)
def test_render_frame_rejects_bad_input(shape, x, amp, background):
    with pytest.raises(InputError):
        render_frame(shape, x, 4.0, amp, GaussianPSF(1.0), background)


def test_negative_margin_insets_the_particles():
    movie = simulate_movie(
        n_frames=5,
        shape=(40, 40),
        n_particles=30,
        margin_px=-6.0,
        camera=None,
        dynamics=Dynamics(diffusion_px2=2.0),
        seed=3,
    )
    xy = movie.truth[["x", "y"]].to_numpy()
    assert (xy >= 5.5).all()
    assert (xy <= 33.5).all()
    assert movie.truth["in_frame"].all()
