"""Feature size and polarity measured from the data (scale space), and frame binning."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack import simulate
from livetrack._errors import InputError
from livetrack.localize import bin_frames, measure_feature_scale


def _spots(sigma: float, seed: int, n: int = 12, shape=(128, 128)) -> np.ndarray:
    movie = simulate.simulate_movie(
        n_frames=2,
        n_particles=n,
        shape=shape,
        snr=20,
        seed=seed,
        psf=simulate.GaussianPSF(sigma_px=sigma),
    )
    return movie.frames


@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.0, 8.0])
def test_gaussian_spots_report_their_sigma(sigma):
    shape = (256, 256) if sigma > 4 else (128, 128)
    found = measure_feature_scale(_spots(sigma, seed=int(sigma * 10), n=8, shape=shape))
    assert found.polarity == "bright"
    assert found.n_features > 0
    # A quarter octave resolves the scale to about 19 %; pixelation widens small spots.
    assert sigma / 1.25 <= found.sigma_px <= sigma * 1.45


def test_dark_spots_on_a_bright_background_are_dark():
    frames = _spots(1.5, seed=3).astype(np.float64)
    inverted = frames.max() + frames.min() - frames
    found = measure_feature_scale(inverted)
    assert found.polarity == "dark"
    assert 1.0 <= found.sigma_px <= 2.5


def test_large_spheres_in_dark_halos_are_one_bright_feature():
    movie = simulate.compressed_spheres(n_frames=2, shape=(192, 192), n_particles=4, seed=1)
    found = measure_feature_scale(movie.frames)
    # The halo and the compression blocks inside the core do not vote on their own.
    assert found.polarity == "bright"
    assert 4.0 <= found.sigma_px <= 8.0


def test_pure_noise_reports_nothing(rng):
    found = measure_feature_scale(rng.poisson(50.0, size=(2, 96, 96)).astype(np.float32))
    assert found.n_features == 0
    assert (found.polarity, found.sigma_px) == ("bright", 1.0)


def test_bin_frames_averages_blocks_and_drops_partial_ones():
    frames = np.arange(2 * 5 * 7, dtype=np.uint16).reshape(2, 5, 7)
    binned = bin_frames(frames, 2)
    assert binned.shape == (2, 2, 3)
    assert binned.dtype == np.float32
    assert binned[1, 1, 2] == pytest.approx(frames[1, 2:4, 4:6].mean())
    with pytest.raises(InputError, match="smaller than"):
        bin_frames(frames, 8)


@settings(max_examples=40, deadline=None)
@given(
    factor=st.integers(1, 6),
    row=st.integers(0, 40),
    col=st.integers(0, 40),
)
def test_bin_frames_pixel_centres_map_back(factor, row, col):
    # A binned pixel's centre, mapped as the auto mode maps positions, is the centroid of
    # the input pixels it averages.
    frames = np.zeros((1, 48, 48), dtype=np.float32)
    r0, c0 = row // factor * factor, col // factor * factor
    frames[0, r0 : r0 + factor, c0 : c0 + factor] = 1.0
    binned = bin_frames(frames, factor)[0]
    i, j = np.unravel_index(np.argmax(binned), binned.shape)
    assert i * factor + (factor - 1) / 2 == pytest.approx(r0 + (factor - 1) / 2)
    assert j * factor + (factor - 1) / 2 == pytest.approx(c0 + (factor - 1) / 2)


def test_a_ring_needs_more_than_one_feature():
    from livetrack.localize import FeatureScale

    lone = FeatureScale(polarity="bright", sigma_px=1.0, n_features=1, ring_contrast=-0.3)
    several = FeatureScale(polarity="bright", sigma_px=1.0, n_features=3, ring_contrast=-0.3)
    spots = FeatureScale(polarity="bright", sigma_px=1.0, n_features=30, ring_contrast=-0.1)
    assert not lone.is_ring and several.is_ring and not spots.is_ring


def test_faint_spots_over_many_frames_are_not_rings():
    # ISBI-like spots at SNR 1: of ten frames only a noise peak or two pass as features.
    movie = simulate.simulate_movie(n_frames=10, shape=(256, 256), n_particles=25, snr=1.0, seed=8)
    assert not measure_feature_scale(movie.frames).is_ring
