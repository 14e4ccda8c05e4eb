import numpy as np
import pytest

from livetrack.train import DataConfig
from livetrack.train._config import TemporalTrainConfig
from livetrack.train._data import make_batch, simulate_patch, simulate_sequence, target_maps


def test_target_maps_mark_the_owning_cell_and_its_neighbours():
    det, offset, weight = target_maps(np.array([[5.2, 2.9]]), (8, 8), 2, 0.5)
    # x = 5.2 -> cell column floor(5.7 / 2) = 2 (centre 4.5); y = 2.9 -> row 1 (centre 2.5)
    assert det.sum() == 1 and det[1, 2] == 1
    assert offset[:, 1, 2] == pytest.approx([0.7, 0.4])
    assert weight[1, 2] == 1.0
    assert weight[0:3, 1:4].sum() == pytest.approx(1.0 + 8 * 0.5)
    assert offset[:, 2, 3] == pytest.approx([5.2 - 6.5, 2.9 - 4.5])


def test_nearest_particle_wins_a_shared_neighbour_cell():
    _, offset, weight = target_maps(np.array([[0.4, 0.0], [3.4, 0.0]]), (4, 4), 2, 0.5)
    # cells (0, 0) and (0, 1) own the particles; (0, 0) keeps its own despite the other.
    assert offset[0, 0, 0] == pytest.approx(0.4 - 0.5)
    assert offset[0, 0, 1] == pytest.approx(3.4 - 2.5)
    assert weight[0, 0] == weight[0, 1] == 1.0


def test_batch_shapes_and_normalization(rng):
    cfg = DataConfig(patch_px=32)
    b = make_batch(cfg, rng, 6, 2, 0.5)
    assert b.images.shape == (6, 1, 32, 32) and b.images.dtype == np.float32
    assert b.det.shape == (6, 16, 16) and b.offset.shape == (6, 2, 16, 16)
    assert np.isfinite(b.images).all()
    assert abs(float(np.median(b.images))) < 1.0
    assert b.det.sum() == sum(len(t) for t in b.truth)


def test_targets_are_the_particles_inside_the_patch(rng):
    cfg = DataConfig(patch_px=32, particles_per_patch=(20.0, 20.0), outside_px=6.0)
    for _ in range(3):
        _, xy = simulate_patch(cfg, rng)
        assert ((xy >= -0.5) & (xy < 31.5)).all()


@pytest.mark.parametrize("psf", ["gaussian", "ring"])
def test_both_particle_kinds_render(rng, psf):
    cfg = DataConfig(patch_px=32, psf=psf, particles_per_patch=(3.0, 3.0))
    image, _ = simulate_patch(cfg, rng)
    assert image.shape == (32, 32) and np.isfinite(image).all()


@pytest.mark.parametrize("k", [3, 4])
def test_temporal_batch_holds_sequences_of_diffusing_particles(rng, k):
    cfg = DataConfig(patch_px=32, particles_per_patch=(4.0, 4.0))
    temporal = TemporalTrainConfig(
        frames=k, diffusion_px2=(0.5, 0.5), static_fraction=0.0, causal=k % 2 == 0
    )
    b = make_batch(cfg, rng, 4, 2, 0.5, temporal)
    assert b.images.shape == (4 * k, 1, 32, 32) and b.det.shape == (4 * k, 16, 16)
    # Every particle owns a cell (two in one cell share it).
    n = sum(len(t) for t in b.truth)
    assert 0.9 * n <= b.det.sum() <= n
    # Consecutive frames of one sequence share particles that moved a little.
    moved = []
    for s in range(4):
        a, c = b.truth[k * s + k - 2], b.truth[k * s + k - 1]  # the last two frames
        if len(a) and len(c):
            d = np.hypot(a[:, None, 0] - c[None, :, 0], a[:, None, 1] - c[None, :, 1])
            moved.extend(d.min(axis=1))
    assert moved and 0.0 < np.median(moved) < 3.0


def test_still_sequences_keep_their_particles(rng):
    cfg = DataConfig(patch_px=32, particles_per_patch=(4.0, 4.0))
    images, xys = simulate_sequence(cfg, rng, 3, static_fraction=1.0)
    assert images.shape == (3, 32, 32)
    assert np.array_equal(xys[0], xys[1]) and np.array_equal(xys[1], xys[2])
    assert not np.array_equal(images[0], images[1])  # fresh noise every frame


def test_soft_targets_spread_a_particle_over_the_cells_around_it():
    # Cell centres (stride 2) are at 0.5, 2.5, ...: (1.5, 1.5) is the corner of four cells.
    det, _, _ = target_maps(np.array([[1.5, 1.5], [4.5, 0.5]]), (4, 4), 2, 0.5, soft=True)
    assert det[:2, :2] == pytest.approx(np.full((2, 2), 0.25))
    assert det[0, 2] == 1.0  # exactly on a cell centre: all of it there
    assert det.sum() == pytest.approx(2.0)
    hard, _, _ = target_maps(np.array([[1.5, 1.5]]), (4, 4), 2, 0.5)
    assert hard.sum() == 1.0 and hard[1, 1] == 1.0
