import numpy as np
import pytest

from livetrack import InputError
from livetrack.simulate import (
    blob_photons,
    block_compress,
    draw_overlay,
    rod_photons,
)


def _second_moments(image):
    rows, cols = np.indices(image.shape)
    w = image / image.sum()
    y0, x0 = (w * rows).sum(), (w * cols).sum()
    cov = np.array(
        [
            [(w * (cols - x0) ** 2).sum(), (w * (cols - x0) * (rows - y0)).sum()],
            [(w * (cols - x0) * (rows - y0)).sum(), (w * (rows - y0) ** 2).sum()],
        ]
    )
    return np.sort(np.linalg.eigvalsh(cov))


def test_blob_is_wide_and_round():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        image = blob_photons((120, 120), rng, 1, sigma_px=(6.0, 6.0), peak_photons=(10.0, 10.0))
        assert image.max() <= 10.0 + 1e-9 and image.min() >= 0
        r, c = np.unravel_index(np.argmax(image), image.shape)
        if 25 <= r <= 94 and 25 <= c <= 94:  # whole in the frame: its moments are clean
            small, large = _second_moments(image)
            assert np.sqrt(small) == pytest.approx(6.0, rel=0.05)
            assert large / small == pytest.approx(1.0, rel=0.05)
            return
    pytest.fail("no blob landed inside the frame in 20 draws")


@pytest.mark.parametrize("seed", range(5))
def test_rods_are_elongated(seed):
    rng = np.random.default_rng(seed)
    image = rod_photons((300, 300), rng, 1)
    if image.sum() < 1.0:  # a rod centred outside the frame
        return
    small, large = _second_moments(image)
    # Cut by the border a rod stays at least as elongated in the part that is seen.
    assert large / small > 3.0**2 * 0.5


def test_overlay_is_drawn_at_its_level_and_nothing_else_changes():
    rng = np.random.default_rng(3)
    image = rng.integers(10, 100, size=(64, 80)).astype(np.uint16)
    out = draw_overlay(image, np.random.default_rng(1), 65535)
    changed = out != image
    assert out.dtype == image.dtype and changed.any()
    assert (out[changed] == 65535).all()
    # Deterministic for a seed, different for another.
    assert np.array_equal(out, draw_overlay(image, np.random.default_rng(1), 65535))
    assert not np.array_equal(out, draw_overlay(image, np.random.default_rng(2), 65535))
    with pytest.raises(InputError, match="2-D"):
        draw_overlay(np.zeros(5), rng)


def test_overlay_fits_a_frame_lower_than_its_font():
    for seed in range(20):
        out = draw_overlay(np.zeros((6, 200)), np.random.default_rng(seed), 1.0)
        assert out.shape == (6, 200)


def test_block_compress_makes_8x8_blocks_and_keeps_the_mean():
    rng = np.random.default_rng(4)
    image = 100 + 5 * rng.standard_normal((35, 41))
    out = block_compress(image, 8.0)
    assert out.shape == image.shape and out.dtype == np.float64
    assert abs(out.mean() - image.mean()) < 1.0
    # Fine texture is lost: neighbours inside a block agree more than across its edge.
    inside = np.abs(np.diff(out[:32, :40], axis=1))[:, [c for c in range(39) if c % 8 != 7]]
    across = np.abs(np.diff(out[:32, :40], axis=1))[:, 7::8]
    assert inside.mean() < across.mean()
    assert np.array_equal(block_compress(image, 0.0), image)
    with pytest.raises(InputError, match="step"):
        block_compress(image, -1.0)
