"""Path evidence (track-before-detect) and its shuffled null."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack import evaluate
from livetrack.localize import (
    choose_evidence_threshold,
    evidence_peaks,
    frame_evidence,
    path_evidence,
    render_gaussians,
    shuffled_frames,
    sum_along_paths,
)


@pytest.fixture(scope="module")
def faint_walk():
    """Ten frames of 30 spots diffusing 1 px^2 per frame, 1.2 noise units at their peaks."""
    rng = np.random.default_rng(3)
    n, frames, shape = 30, 10, (96, 96)
    xy = rng.uniform(10, 86, (n, 2)) + np.cumsum(rng.normal(0, 1.0, (frames, n, 2)), axis=0)
    amplitude = 1.2 * 2 * np.pi  # peak 1.2 for sigma 1 (unit-noise frames)
    stack = np.stack(
        [
            render_gaussians(shape, xy[t, :, 0], xy[t, :, 1], np.full(n, amplitude), 1.0)
            + rng.standard_normal(shape)
            for t in range(frames)
        ]
    )
    truth = pd.DataFrame(
        {
            "frame": np.repeat(np.arange(frames), n),
            "x": xy[:, :, 0].ravel(),
            "y": xy[:, :, 1].ravel(),
        }
    )
    return stack, truth


def test_path_evidence_finds_particles_no_single_frame_shows(faint_walk):
    frames, truth = faint_walk
    numbers = np.arange(len(frames))
    found = evidence_peaks(path_evidence(frames, 1.0), numbers, floor=2.0)
    null = evidence_peaks(path_evidence(shuffled_frames(frames, numbers), 1.0), numbers, floor=2.0)
    q, true = choose_evidence_threshold(found["score"], null["score"])
    along = evaluate.score(truth, found[found["score"] >= q], gate_px=2.0)
    # One frame at a time: the same peaks, scored with no neighbouring frame.
    alone = evidence_peaks(path_evidence(frames, 1.0, window=0), numbers, floor=2.0)
    null_alone = evidence_peaks(
        path_evidence(shuffled_frames(frames, numbers), 1.0, window=0), numbers, floor=2.0
    )
    q1, _ = choose_evidence_threshold(alone["score"], null_alone["score"])
    single = evaluate.score(truth, alone[alone["score"] >= q1], gate_px=2.0)
    assert along.jaccard > single.jaccard + 0.2
    # The null's count is what the threshold lets through falsely: the rest is what it finds.
    assert along.precision > 0.7 and abs(true - along.tp) < 0.3 * along.tp


def test_shuffled_frames_keep_the_pixels_and_follow_the_frame_numbers():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(3, 8, 9))
    a = shuffled_frames(frames, np.array([5, 6, 7]))
    b = shuffled_frames(frames[1:], np.array([6, 7]))
    assert np.array_equal(a[1:], b)  # a chunk shuffles its frames as the whole movie does
    for f, s in zip(frames, a, strict=True):
        assert np.array_equal(np.sort(f.ravel()), np.sort(s.ravel()))
        assert not np.array_equal(f, s)


def test_peaks_are_refined_to_sub_pixel():
    image = render_gaussians((21, 21), np.array([10.3]), np.array([9.6]), np.array([100.0]), 1.5)
    peaks = evidence_peaks(image[None], np.array([4]))
    top = peaks.loc[peaks["score"].idxmax()]
    assert top["frame"] == 4
    assert abs(top["x"] - 10.3) < 0.1 and abs(top["y"] - 9.6) < 0.1


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 200), st.integers(50, 400), st.floats(2.0, 8.0))
def test_threshold_separates_signal_from_null(n_true, n_null, shift):
    rng = np.random.default_rng(n_true + 1000 * n_null)
    null = rng.normal(0, 1, n_null)
    data = np.concatenate([rng.normal(0, 1, n_null), rng.normal(shift, 1, n_true)])
    q, true = choose_evidence_threshold(data, null)
    if n_true < 5:
        # Nothing to find beyond what the null explains: no threshold, or very few kept.
        assert np.isinf(q) or (data >= q).sum() <= n_true + 5 * np.sqrt(n_null)
    elif shift >= 4.0 and n_true >= 30:
        assert np.isfinite(q) and abs(true - n_true) < 0.5 * n_true


def test_path_evidence_sums_each_frames_own_evidence(faint_walk, rng):
    frames, _ = faint_walk
    own = frame_evidence(frames, 1.0)
    np.testing.assert_allclose(path_evidence(frames, 1.0), sum_along_paths(own))
    # One frame alone: its own evidence, which is in units of its noise.
    np.testing.assert_allclose(sum_along_paths(own, window=0), own)
    noise = frame_evidence(rng.standard_normal((2, 128, 128)) * 7.0 + 3.0, 1.0)
    assert np.median(noise) == pytest.approx(0.0, abs=0.05)
    assert 1.4826 * np.median(np.abs(noise)) == pytest.approx(1.0, abs=0.02)
    numbers = np.arange(len(frames))
    peaks = evidence_peaks(sum_along_paths(own), numbers, floor=2.0, own=own)
    rows = np.rint(peaks["y"]).astype(int), np.rint(peaks["x"]).astype(int)
    # Sub-pixel shifts stay within half a pixel, so the own evidence is the peak pixel's.
    np.testing.assert_allclose(peaks["own"], own[peaks["frame"], rows[0], rows[1]])
    assert "own" not in evidence_peaks(own, numbers, floor=2.0)
