"""Radial symmetry on microsphere ring patterns (bright- and dark-centred)."""

import numpy as np
import pytest

from livetrack.evaluate import score
from livetrack.localize import locate
from livetrack.simulate import Camera, RingPSF, simulate_movie


@pytest.mark.parametrize("contrast", [-1.0, 1.0])
def test_radial_symmetry_locates_rings(contrast):
    mv = simulate_movie(
        n_frames=2,
        shape=(128, 128),
        n_particles=12,
        psf=RingPSF(radius_px=4.0, contrast=contrast),
        amplitude=300.0,
        background_photons=400.0,
        camera=Camera(),
        margin_px=0.0,
        min_separation_px=20.0,
        seed=2,
    )
    df = locate(
        mv.frames,
        method="radial",
        camera=mv.camera,
        polarity="abs",
        diameter_px=11,
        separation_px=8.0,
    )
    sc = score(mv.truth, df)
    assert sc.recall == 1.0
    assert sc.precision == 1.0
    assert sc.rmse < 0.1


def test_abs_polarity_auto_threshold_rejects_pure_noise():
    rng = np.random.default_rng(4)
    cam = Camera(gain_adu_per_e=2.0, offset_adu=100.0, read_noise_e=1.5)
    frames = np.stack([cam.expose(np.full((256, 256), 200.0), rng) for _ in range(2)])
    df = locate(frames, method="radial", camera=cam, polarity="abs", diameter_px=11)
    assert len(df) <= 2


def test_dark_polarity_finds_dark_centres_only(render):
    # A dark spot (absorbing particle) on a bright background.
    img = 500.0 - render((48, 48), [20.4], [25.7], 2000.0, 1.5)
    bright = locate(img, method="radial")[["x", "y"]].to_numpy()
    assert not (np.hypot(*(bright - [20.4, 25.7]).T) < 2).any()
    df = locate(img, method="radial", polarity="dark")
    np.testing.assert_allclose(df[["x", "y"]].to_numpy(), [[20.4, 25.7]], atol=0.02)
