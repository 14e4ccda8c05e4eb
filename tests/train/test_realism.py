import numpy as np
import pytest

from livetrack.model import CORRELATED_NOISE_RATIO, frame_statistics, scale_noise
from livetrack.train import DataConfig
from livetrack.train._data import _simulate, make_batch
from livetrack.train._realism import Realism, degrade, draw_realism


def _realism(**changes):
    base = dict(
        blobs=0,
        rods=0,
        smooth_px=0.0,
        extra_noise=0.0,
        extra_noise_px=1.0,
        compress_step=0.0,
        bits8=False,
        grey_noise=2.0,
        grey_background=50.0,
        overlay_seed=None,
    )
    return Realism(**{**base, **changes})


def test_8_bit_conversion_puts_noise_and_background_where_asked():
    rng = np.random.default_rng(0)
    frames = 1000.0 + 20.0 * rng.standard_normal((2, 64, 64))
    out, covered = degrade(frames, _realism(bits8=True, grey_noise=3.0), rng, 20.0)
    assert out.dtype == np.float32 and not covered.any()
    assert set(np.unique(out)) <= set(range(256))
    assert np.median(out) == pytest.approx(50.0, abs=1.0)
    assert frame_statistics(out[0], 1)[1] == pytest.approx(3.0, rel=0.15)


def test_smoothing_makes_the_noise_correlated():
    rng = np.random.default_rng(1)
    frames = 100.0 + 10.0 * rng.standard_normal((1, 64, 64))
    out, _ = degrade(frames, _realism(smooth_px=0.8), rng, 10.0)
    pixel = frame_statistics(out[0], 1)[1]
    assert scale_noise(out[0], 1.5) > CORRELATED_NOISE_RATIO * pixel


def test_overlay_is_the_same_in_every_frame_and_reported():
    rng = np.random.default_rng(2)
    frames = 100.0 + rng.standard_normal((3, 64, 64))
    out, covered = degrade(frames, _realism(overlay_seed=7), rng, 1.0)
    assert covered.any()
    assert (out[:, covered] == out.max()).all()
    assert np.array_equal(out[0][covered], out[2][covered])


def test_realistic_sequences_keep_targets_visible_and_report_their_scale():
    cfg = DataConfig(patch_px=64, realism_fraction=1.0, particles_per_patch=(6.0, 6.0))
    rng = np.random.default_rng(3)
    for _ in range(10):
        images, xys, scale = _simulate(cfg, rng, 1)
        assert scale is not None and 0.5 < scale < 4.0
        assert images.shape == (1, 64, 64) and np.isfinite(images).all()
        assert ((xys[0] >= -0.5) & (xys[0] < 63.5)).all()


def test_no_realism_by_default():
    rng = np.random.default_rng(4)
    for _ in range(5):
        _, _, scale = _simulate(DataConfig(patch_px=32), rng, 1)
        assert scale is None


def test_realism_draws_each_step_sometimes():
    rng = np.random.default_rng(5)
    draws = [draw_realism(rng, 64) for _ in range(400)]
    for name in ("blobs", "rods", "smooth_px", "extra_noise", "compress_step", "bits8"):
        share = np.mean([bool(getattr(d, name)) for d in draws])
        assert 0.1 < share < 0.9, name
    assert 0.1 < np.mean([d.overlay_seed is not None for d in draws]) < 0.4


def test_halo_particles_have_a_dark_rim():
    cfg = DataConfig(patch_px=64, halo_fraction=1.0, particles_per_patch=(1.0, 1.0))
    rng = np.random.default_rng(6)
    from livetrack.train._data import _draw_psf

    psf = _draw_psf(cfg, rng)
    image = psf.render((41, 41), 20.0, 20.0, 1000.0)
    profile = image[20, 20:]
    assert profile[0] > 0 and profile.min() < -0.05 * profile[0]


def test_realistic_batches_are_normalized_and_finite():
    cfg = DataConfig(patch_px=32, realism_fraction=1.0, halo_fraction=0.5)
    b = make_batch(cfg, np.random.default_rng(7), 8, 2, 0.5)
    assert np.isfinite(b.images).all()
    assert abs(float(np.median(b.images))) < 1.5
    n = sum(len(t) for t in b.truth)
    assert 0.8 * n <= b.det.sum() <= n  # two particles in one cell share it
