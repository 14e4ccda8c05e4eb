import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack.model import frame_statistics, normalize_frame, pad_batch


def noisy_frame(rng, shape=(96, 96), sigma=3.0):
    return 50.0 + sigma * rng.standard_normal(shape)


def test_noise_scale_matches_gaussian_noise(rng):
    frame = noisy_frame(rng)
    bg, noise = frame_statistics(frame, subsample=1)
    assert bg == pytest.approx(50.0, abs=0.5)
    assert noise == pytest.approx(3.0, rel=0.1)


def test_noise_scale_ignores_a_smooth_gradient_and_spots(rng):
    frame = noisy_frame(rng) + np.linspace(0, 200, 96)[None, :]
    frame[40:43, 40:43] += 500.0
    _, noise = frame_statistics(frame, subsample=1)
    assert noise == pytest.approx(3.0, rel=0.15)


@settings(max_examples=25, deadline=None)
@given(gain=st.floats(0.2, 20.0), offset=st.floats(0.0, 1000.0))
def test_normalization_is_indifferent_to_gain_and_offset(gain, offset):
    frame = noisy_frame(np.random.default_rng(1), (64, 64))
    a, _, _ = normalize_frame(frame)
    b, _, _ = normalize_frame(gain * frame + offset)
    assert np.allclose(a, b, atol=1e-3)


def test_constant_and_tiny_frames_give_finite_output():
    for frame in (np.full((32, 32), 7, np.uint16), np.zeros((1, 1)), np.ones((1, 5))):
        out, _, noise = normalize_frame(frame)
        assert noise > 0
        assert np.isfinite(out).all()


def test_sparse_photon_counts_use_the_rms_fallback(rng):
    frame = (rng.random((64, 64)) < 0.05).astype(np.uint16)
    _, noise = frame_statistics(frame)
    assert 0.05 < noise < 1.0


def test_pad_batch_pads_with_zeros():
    batch = pad_batch([np.ones((5, 6)), np.ones((5, 6))], 4)
    assert batch.shape == (2, 1, 8, 8) and batch.dtype == np.float32
    assert batch[:, :, :5, :6].min() == 1 and batch[:, :, 5:].max() == 0
