"""The shared detection step: bandpass, automatic threshold, local maxima."""

import numpy as np
import pytest

from livetrack.evaluate import score
from livetrack.localize import bandpass, locate
from livetrack.simulate import Camera, GaussianPSF, Illumination, simulate_movie


def test_bandpass_removes_constant_and_linear_background():
    yy, xx = np.mgrid[:40, :50]
    flat = bandpass(np.full((40, 50), 123.0))
    np.testing.assert_allclose(flat, 0.0, atol=1e-9)
    ramp = bandpass(3.0 + 0.5 * xx + 0.2 * yy)
    # Symmetric filters keep a linear ramp's local mean; the border is normalized too but
    # one-sided there.
    np.testing.assert_allclose(ramp[5:-5, 5:-5], 0.0, atol=1e-9)


@pytest.mark.parametrize("background", [2.0, 10.0, 100.0])
def test_auto_threshold_rejects_pure_noise(background):
    rng = np.random.default_rng(int(background))
    cam = Camera(gain_adu_per_e=2.0, offset_adu=100.0, read_noise_e=1.5)
    frames = np.stack([cam.expose(np.full((256, 256), background), rng) for _ in range(2)])
    for method in ("centroid", "mle"):
        # About one false detection per 512 x 512 frame is the design point.
        assert len(locate(frames, method=method, camera=cam)) <= 3


def test_auto_threshold_finds_faint_spots_without_tuning():
    mv = simulate_movie(
        n_frames=2,
        shape=(192, 192),
        n_particles=50,
        psf=GaussianPSF(1.3),
        snr=3.0,
        background_photons=10.0,
        camera=Camera(gain_adu_per_e=2.0, offset_adu=100.0),
        illumination=Illumination(ratio=2.0),
        margin_px=0.0,
        min_separation_px=8.0,
        seed=3,
    )
    sc = score(mv.truth, locate(mv.frames, method="centroid", camera=mv.camera))
    assert sc.recall > 0.9
    assert sc.precision > 0.95


def test_close_maxima_keep_the_brighter(render):
    img = render((40, 40), [15.0, 20.0], [20.0, 20.0], [3000.0, 1000.0], 1.0, 5.0)
    assert len(locate(img, method="radial", separation_px=4.0)) == 2
    df = locate(img, method="radial", separation_px=6.0)
    assert len(df) == 1
    assert abs(df["x"].iloc[0] - 15.0) < 1.0


def test_scale_invariance_without_camera(render):
    img = render((48, 48), [12.3, 30.6], [20.2, 35.8], 800.0, 1.2, 10.0)
    a = locate(np.random.default_rng(0).poisson(img).astype(float), method="centroid")
    b = locate(1000.0 * np.random.default_rng(0).poisson(img).astype(float), method="centroid")
    np.testing.assert_allclose(a[["x", "y"]], b[["x", "y"]], atol=1e-9)
    np.testing.assert_allclose(b["mass"], 1000.0 * a["mass"], rtol=1e-9)
