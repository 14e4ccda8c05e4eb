"""Accuracy against ground truth and the Cramér-Rao bound (never against another tracker)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack.evaluate import crlb_gaussian, score
from livetrack.localize import locate
from livetrack.simulate import Camera, GaussianPSF, simulate_movie

from .conftest import grid_positions, nearest_errors, render_gaussians

# Noiseless error bounds (px, per spot) for a sigma 1.5 px Gaussian, window 7 px.
NOISELESS_MAX_ERR = {"centroid": 0.1, "radial": 0.02, "mle": 0.02}


@pytest.mark.parametrize("method", sorted(NOISELESS_MAX_ERR))
def test_noiseless_spots_subpixel(method, rng):
    x, y = grid_positions(rng, 120, 12.0, 10.0)
    img = render_gaussians((130, 130), x, y, 2000.0, 1.5, background=10.0)
    df = locate(img, method=method)
    assert len(df) == x.size
    err = nearest_errors(np.column_stack([x, y]), df)
    assert np.abs(err).max() < NOISELESS_MAX_ERR[method]


@settings(max_examples=25, deadline=None)
@given(
    x=st.floats(0.0, 23.0),
    y=st.floats(0.0, 23.0),
    sigma=st.floats(0.8, 1.8),
)
def test_mle_exact_anywhere_even_on_the_border(x, y, sigma):
    img = render_gaussians((24, 24), [x], [y], 3000.0, sigma, background=5.0)
    df = locate(img, method="mle")
    assert len(df) == 1
    np.testing.assert_allclose(df[["x", "y"]].to_numpy()[0], [x, y], atol=0.01)
    assert df["sigma"].iloc[0] == pytest.approx(sigma, abs=0.01)


@settings(max_examples=25, deadline=None)
@given(x=st.floats(1.0, 22.0), y=st.floats(1.0, 22.0))
def test_radial_within_one_px_of_the_border_stays_subpixel(x, y):
    img = render_gaussians((24, 24), [x], [y], 3000.0, 1.2, background=5.0)
    df = locate(img, method="radial")
    assert len(df) == 1
    err = df[["x", "y"]].to_numpy()[0] - [x, y]
    assert np.abs(err).max() < 0.1


@pytest.mark.parametrize("method", ["centroid", "radial", "mle"])
def test_particles_on_the_border_are_found_and_refined(method, render):
    # Centres 0.2-1.4 px from the outermost pixel centres, on every edge and in two corners.
    x = np.array([0.4, 38.6, 20.2, 19.7, 1.2, 38.3])
    y = np.array([20.3, 19.6, 0.7, 38.5, 1.4, 38.8])
    img = render((40, 40), x, y, 3000.0, 1.2, background=10.0)
    df = locate(np.random.default_rng(0).poisson(img).astype(np.uint16), method=method)
    assert len(df) == x.size
    err = nearest_errors(np.column_stack([x, y]), df)
    # Centroids of truncated spots are pulled inward; radial symmetry loses some symmetry
    # within a pixel of the border; the MLE models the missing pixels exactly.
    bound = {"centroid": 0.8, "radial": 0.45, "mle": 0.15}[method]
    assert np.abs(err).max() < bound


@pytest.fixture(scope="module")
def noisy_movie():
    # SNR 5 Gaussian spots, sigma 1.3 px, on an sCMOS-like camera (gain, offset).
    return simulate_movie(
        n_frames=2,
        shape=(160, 160),
        n_particles=40,
        psf=GaussianPSF(1.3),
        snr=5.0,
        background_photons=10.0,
        camera=Camera(gain_adu_per_e=2.0, offset_adu=100.0),
        margin_px=0.0,
        min_separation_px=10.0,
        seed=11,
    )


@pytest.mark.parametrize(("method", "rmse_over_crlb"), [("radial", 1.6), ("mle", 1.25)])
def test_noisy_spots_reach_subpixel_accuracy_near_crlb(noisy_movie, method, rmse_over_crlb):
    mv = noisy_movie
    sc = score(
        mv.truth,
        locate(mv.frames, method=method, camera=mv.camera, sigma_px=1.3)
        if method == "mle"
        else locate(mv.frames, method=method, camera=mv.camera),
    )
    assert sc.recall > 0.95
    assert sc.precision > 0.95
    photons = mv.truth["amplitude"].iloc[0]
    crlb = crlb_gaussian(photons, 10.0, 1.3, window_px=7)
    assert sc.rmse_x < rmse_over_crlb * crlb
    assert sc.rmse_y < rmse_over_crlb * crlb
    assert sc.rmse < 0.3


@pytest.mark.parametrize(
    "camera",
    [
        Camera(gain_adu_per_e=2.0, offset_adu=100.0, read_noise_e=1.5),
        Camera(quantum_efficiency=0.9, offset_adu=100.0, read_noise_e=50.0, em_gain=100.0),
    ],
    ids=["scmos", "emccd"],
)
def test_mle_rmse_within_15_percent_of_crlb_at_high_snr(camera):
    sigma, bg, photons = 1.4, 10.0, 3000.0
    mv = simulate_movie(
        n_frames=4,
        shape=(256, 256),
        n_particles=120,
        psf=GaussianPSF(sigma),
        amplitude=photons,
        background_photons=bg,
        camera=camera,
        margin_px=0.0,
        min_separation_px=13.0,
        seed=5,
    )
    truth = mv.truth[mv.truth.visible]
    # Keep spots whose 7x7 window lies inside the frame: the CRLB below assumes a full window.
    inside = (truth.x.between(4, 251)) & (truth.y.between(4, 251))
    truth = truth[inside]
    df = locate(mv.frames, method="mle", camera=camera, sigma_px=sigma)
    sc = score(truth, df, gate_px=1.0)
    assert sc.tp > 400
    assert sc.recall > 0.99
    t = truth.loc[sc.truth_index]
    x0 = t.x.to_numpy() - np.rint(t.x.to_numpy())
    y0 = t.y.to_numpy() - np.rint(t.y.to_numpy())
    qe = camera.quantum_efficiency
    bound = crlb_gaussian(
        photons * qe,
        bg * qe,
        sigma,
        read_noise_e=camera.read_noise_e,
        em_gain=camera.em_gain,
        window_px=7,
        x0=x0,
        y0=y0,
        estimate=("x", "y", "N", "bg", "sigma"),
    )
    crlb_rms = np.sqrt(np.mean(bound**2))
    assert sc.rmse_x == pytest.approx(crlb_rms, rel=0.15)
    assert sc.rmse_y == pytest.approx(crlb_rms, rel=0.15)
    # The per-fit uncertainty is the same bound evaluated at the estimate.
    fit_sigma = df.loc[sc.pred_index][["sigma_x", "sigma_y"]].to_numpy()
    assert np.median(fit_sigma) == pytest.approx(np.median(bound), rel=0.15)
    # Photons are recovered through the camera model.
    assert df.loc[sc.pred_index, "mass"].median() == pytest.approx(photons, rel=0.05)
