import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack._errors import InputError
from livetrack.calibrate import (
    StageCalibration,
    calibrate_stage_transform,
    fit_stage_transform,
    load_stage,
)
from livetrack.feedback import StageTransform


def _true_map(pixel_um: float, rotation_deg: float, flip: bool) -> np.ndarray:
    t = math.radians(rotation_deg)
    m = pixel_um * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return m @ np.diag([-1.0, 1.0]) if flip else m


def _moves(step: float = 10.0) -> np.ndarray:
    angles = np.radians(np.arange(0, 360, 45))
    return np.concatenate(
        [s * step * np.column_stack([np.cos(angles), np.sin(angles)]) for s in (1, 0.5)]
    )


@settings(max_examples=60, deadline=None)
@given(
    pixel=st.floats(0.02, 5.0),
    rotation=st.floats(-179.0, 179.0),
    flip=st.booleans(),
)
def test_fit_recovers_any_rotation_scale_and_flip(pixel, rotation, flip):
    m = _true_map(pixel, rotation, flip)
    moves = _moves()
    # The image content moves opposite to the stage: shift = -inverse(m) @ move.
    shifts = -(moves @ np.linalg.inv(m).T)
    transform, residual, kept = fit_stage_transform(moves, shifts)
    cal = StageCalibration(transform, residual, int(kept.sum()))
    np.testing.assert_allclose(transform.matrix, m, rtol=1e-9, atol=1e-12)
    assert cal.flipped == flip
    assert cal.pixel_size_um == pytest.approx(pixel, rel=1e-9)
    assert math.remainder(cal.rotation_deg - rotation, 360.0) == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), bad=st.integers(1, 4))
def test_fit_drops_moves_that_disagree(seed, bad):
    rng = np.random.default_rng(seed)
    m = _true_map(0.13, 3.0, True)
    moves = _moves()
    shifts = -(moves @ np.linalg.inv(m).T) + rng.normal(0, 0.05, moves.shape)
    wrong = rng.choice(len(moves), bad, replace=False)
    shifts[wrong] += rng.uniform(5, 20, (bad, 2))  # a slip, or particles that swam off
    transform, _, kept = fit_stage_transform(moves, shifts)
    assert not kept[wrong].any() and kept.sum() == len(moves) - bad
    cal = StageCalibration(transform)
    assert cal.pixel_size_um == pytest.approx(0.13, rel=0.01)
    assert cal.rotation_deg == pytest.approx(3.0, abs=0.5)


def test_fit_needs_moves_in_two_directions():
    moves = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    with pytest.raises(InputError, match="two directions"):
        fit_stage_transform(moves, -moves)


@pytest.mark.parametrize("flip", [False, True])
def test_simulated_microscope_hidden_rotation_flip_and_pixel_size(flip, tmp_path):
    from livetrack.acquire import simulated_core

    core = simulated_core(
        shape=(256, 256),
        pixel_size_um=0.13,
        nominal_pixel_size_um=0.1,  # what the user believes; the truth is hidden
        rotation_deg=3.0,
        flip_x=flip,
        realtime=False,
        diffusion_um2_per_frame=0.005,  # the particles diffuse between the snaps
    )
    start = core.getXYPosition()
    cal = calibrate_stage_transform(core)
    assert core.getXYPosition() == pytest.approx(start)  # the stage is put back
    assert cal.flipped == flip
    assert cal.rotation_deg == pytest.approx(3.0, abs=0.5)
    assert cal.pixel_size_um == pytest.approx(0.13, rel=0.01)
    np.testing.assert_allclose(
        cal.transform.matrix, core.microscope.camera_to_stage_um(), atol=0.01 * 0.13
    )
    back = load_stage(cal.save(tmp_path / "stage.json"))
    assert back.transform == cal.transform and back.header.frame_shape == (256, 256)


def test_micrometre_columns_follow_the_stage_axes():
    cal = StageCalibration(StageTransform.from_pixel_size(0.2, rotation_deg=90.0))
    table = cal.to_um(pd.DataFrame({"frame": [0], "x": [10.0], "y": [0.0]}))
    assert table["x_um"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert table["y_um"].iloc[0] == pytest.approx(2.0)
    with pytest.raises(InputError):
        cal.to_um(pd.DataFrame({"frame": [0]}))
