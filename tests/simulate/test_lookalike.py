import numpy as np
import pytest

from livetrack import InputError
from livetrack import simulate as sim

# Small versions of each look-alike, fast enough for the unit tests.
SMALL = {
    "compressed spheres": {"shape": (96, 112), "n_particles": 2},
    "brightfield rings": {"shape": (64, 64), "n_particles": 3},
    "dark colloids": {"shape": (64, 64), "n_particles": 20},
    "cluttered spots": {"shape": (96, 128), "n_particles": 6},
}


@pytest.fixture(scope="module")
def movies():
    return {
        kind: sim.lookalike_movie(kind, n_frames=3, seed=5, **kwargs)
        for kind, kwargs in SMALL.items()
    }


def test_every_kind_is_made(movies):
    assert set(movies) == set(sim.LOOKALIKES)


@pytest.mark.parametrize("kind", list(SMALL))
def test_frames_are_8_bit_with_truth_inside(movies, kind):
    movie = movies[kind]
    assert movie.frames.dtype == np.uint8
    assert movie.frames.shape == (3, *SMALL[kind]["shape"])
    assert movie.camera is None  # grey levels of unknown gain, not camera ADU
    truth = movie.truth
    assert set(truth["frame"]) == {0, 1, 2}
    counts = truth.groupby("frame").size()
    if kind == "cluttered spots":  # spots hidden under the burned-in label are dropped
        assert counts.between(SMALL[kind]["n_particles"] - 2, SMALL[kind]["n_particles"]).all()
    else:
        assert (counts == SMALL[kind]["n_particles"]).all()
    h, w = movie.shape
    assert truth["in_frame"].all() and truth["visible"].all()
    assert truth["x"].between(0, w - 1).all() and truth["y"].between(0, h - 1).all()
    assert movie.metadata["generator"].startswith("livetrack.simulate.")


def _at(frames, truth, dx=0, dy=0):
    """Mean grey level at the truth positions (offset by dx, dy), over all frames."""
    rows = np.rint(truth["y"].to_numpy() + dy).astype(int)
    cols = np.rint(truth["x"].to_numpy() + dx).astype(int)
    return frames[truth["frame"].to_numpy(), rows, cols].astype(float).mean()


def test_polarity_of_each_kind(movies):
    spheres = movies["compressed spheres"]
    background = np.median(spheres.frames)
    assert _at(spheres.frames, spheres.truth) > background + 40  # bright core
    assert _at(spheres.frames, spheres.truth, dx=15) < background - 5  # dark halo at 15 px
    rings = movies["brightfield rings"]
    background = np.median(rings.frames)
    assert _at(rings.frames, rings.truth) > background + 20  # bright centre
    assert _at(rings.frames, rings.truth, dy=5) < background - 5  # dark ring at 5 px
    colloids = movies["dark colloids"]
    assert np.median(colloids.frames) > 150  # bright background
    assert _at(colloids.frames, colloids.truth) < np.median(colloids.frames) - 30  # dark spots


def test_cluttered_spots_hold_clutter_and_a_changing_label(movies):
    movie = movies["cluttered spots"]
    frames = movie.frames.astype(float)
    label = frames[:, :24, :96] == 255
    assert label.any(axis=(1, 2)).all()  # a label in every frame ...
    assert not np.array_equal(label[0], label[1])  # ... whose counter changes
    assert (frames[:, 24:, :] == 255).mean() < 0.01  # nothing else is white
    # Rods and blobs: bright structure where no spot is, well above the noise.
    background = np.median(frames)
    far = np.ones(movie.shape, bool)
    for x, y in movie.truth.loc[movie.truth["frame"] == 0, ["x", "y"]].to_numpy():
        r, c = round(float(y)), round(float(x))
        far[max(0, r - 6) : r + 7, max(0, c - 6) : c + 7] = False
    far[:24, :96] = False
    assert (frames[0][far] > background + 25).sum() > 10


def test_seeded():
    a = sim.brightfield_rings(n_frames=2, shape=(48, 48), n_particles=2, seed=3)
    b = sim.brightfield_rings(n_frames=2, shape=(48, 48), n_particles=2, seed=3)
    c = sim.brightfield_rings(n_frames=2, shape=(48, 48), n_particles=2, seed=4)
    assert np.array_equal(a.frames, b.frames) and a.truth.equals(b.truth)
    assert not np.array_equal(a.frames, c.frames)


def test_unknown_kind():
    with pytest.raises(InputError, match="unknown look-alike"):
        sim.lookalike_movie("bacteria")


def test_dark_psf_is_the_negative_of_its_shape():
    spot = sim.GaussianPSF(1.1)
    dark = sim.DarkPSF(spot)
    np.testing.assert_array_equal(
        dark.render((9, 9), 4.2, 3.9, 100.0), -spot.render((9, 9), 4.2, 3.9, 100.0)
    )
    assert dark.peak_per_amplitude() == -spot.peak_per_amplitude()
    assert dark.half_width_px == spot.half_width_px
    assert isinstance(dark, sim.PSF)


def test_quantize_8bit_scales_rounds_and_clips():
    out = sim.quantize_8bit(np.array([[0.0, 10.0, 24.9, 1000.0, -50.0]]), gain=2.0, offset=5.0)
    assert out.dtype == np.uint8 and out.shape == (1, 1, 5)
    assert out.ravel().tolist() == [5, 25, 55, 255, 0]
    with pytest.raises(InputError, match="gain"):
        sim.quantize_8bit(np.zeros((2, 2)), gain=0.0)


@pytest.mark.parametrize("length", [0.0, 1.5])
def test_correlated_noise_has_the_asked_std_and_correlation(length):
    rng = np.random.default_rng(1)
    noise = sim.add_correlated_noise(np.zeros((4, 128, 128)), 3.0, length, rng)
    assert noise.shape == (4, 128, 128) and noise.dtype == np.float64
    assert noise.std() == pytest.approx(3.0, rel=0.05)
    neighbour = np.corrcoef(noise[:, :, :-1].ravel(), noise[:, :, 1:].ravel())[0, 1]
    # Gaussian-smoothed white noise: neighbours correlate as exp(-1 / (4 length**2)).
    expected = np.exp(-1 / (4 * length**2)) if length else 0.0
    assert neighbour == pytest.approx(expected, abs=0.03)


def test_h264_roundtrip_keeps_shape_and_degrades_a_little():
    rng = np.random.default_rng(2)
    smooth = sim.add_correlated_noise(np.full((3, 33, 47), 100.0), 20.0, 2.0, rng)
    frames = sim.quantize_8bit(smooth, gain=1.0)
    lossy = sim.h264_roundtrip(frames, crf=28)
    assert lossy.dtype == np.uint8 and lossy.shape == frames.shape  # odd sides kept
    error = np.abs(lossy.astype(int) - frames).mean()
    assert 0.3 < error < 0.5 * frames.std()  # blocks and smoothing, not a new image
    assert np.array_equal(sim.h264_roundtrip(frames, crf=28), lossy)  # deterministic
    # crf 0 is lossless but for the limited-range luma scaling: at most one grey level.
    assert np.abs(sim.h264_roundtrip(frames, crf=0).astype(int) - frames).max() <= 1
    with pytest.raises(InputError, match="uint8"):
        sim.h264_roundtrip(smooth)
