"""Tails, MSD and track lengths: the viewer's numpy side (no Qt)."""

import numpy as np
import pytest

from livetrack._errors import InputError
from livetrack.viewer import TailBuffer, TrackLengths, fit_diffusion, msd


def _walk(rng, n=200, frames=200, d=0.5, size=256.0):
    """Brownian walkers in a square field; only those inside it are 'detected'."""
    pos = rng.uniform(0, size, (n, 2))
    for f in range(frames):
        pos = pos + rng.normal(0, np.sqrt(2 * d), pos.shape)
        inside = ((pos >= 0) & (pos < size)).all(axis=1)
        yield f, np.flatnonzero(inside), pos[inside, 0], pos[inside, 1]


def test_tails_follow_each_track_oldest_first():
    tb = TailBuffer(length_frames=3)
    tb.push(0, np.array([7, 9]), np.array([1.0, 10.0]), np.array([1.0, 10.0]))
    tb.push(1, np.array([9, 7]), np.array([11.0, 2.0]), np.array([11.0, 2.0]))
    tb.push(2, np.array([7]), np.array([3.0]), np.array([3.0]))
    tails = tb.tails()
    by_id = {int(p): tails.x[tails.particle == p].tolist() for p in np.unique(tails.particle)}
    assert by_id == {7: [1.0, 2.0, 3.0], 9: [10.0, 11.0]}
    # Segments join points of one track only: the last point of each track is not connected.
    last = np.r_[tails.particle[1:] != tails.particle[:-1], True]
    assert not tails.connect[last].any() and tails.connect[~last].all()
    tb.push(3, np.array([7]), np.array([4.0]), np.array([4.0]))
    tails = tb.tails()
    assert tails.x[tails.particle == 7].tolist() == [2.0, 3.0, 4.0]  # frame 0 scrolled out
    assert tails.x[tails.particle == 9].tolist() == [11.0]


def test_colour_groups_keep_tracks_whole():
    tb = TailBuffer(length_frames=5)
    for f in range(5):
        ids = np.arange(25)
        tb.push(f, ids, ids + 0.1 * f, ids * 2.0)
    tails = tb.tails()
    groups = tails.colour_groups(10)
    assert sum(g.x.size for g in groups) == tails.x.size
    for k, g in enumerate(groups):
        assert (g.particle % 10 == k).all()
        assert g.connect.sum() == 4 * np.unique(g.particle).size  # 5 points, 4 segments each


def test_slots_are_reused_and_gaps_leave_holes():
    tb = TailBuffer(length_frames=4, capacity=2)
    for f in range(50):  # a new track every frame, each seen once: memory must stay flat
        tb.push(f, np.array([f]), np.array([float(f)]), np.array([0.0]))
    ids, x, _ = tb.ordered()
    assert sorted(ids.tolist()) == [46, 47, 48, 49]
    assert tb._x.shape[0] <= 8
    tb.push(52, np.array([49]), np.array([1.0]), np.array([1.0]))  # frames 50, 51 skipped
    ids, x, _ = tb.ordered()
    row = x[ids.tolist().index(49)]
    assert np.isnan(row[1:3]).all() and row[-1] == 1.0
    tb.push(10, np.array([1]), np.array([0.0]), np.array([0.0]))  # back in time: starts over
    assert tb.ordered()[0].tolist() == [1]


def test_msd_fit_recovers_the_diffusion_coefficient(rng):
    tb = TailBuffer(length_frames=30)
    lengths = TrackLengths()
    for f, ids, x, y in _walk(rng):
        tb.push(f, ids, x, y)
        lengths.push(ids)
    _, x, y = tb.ordered()
    lags, values, counts = msd(x, y, 20)
    fit = fit_diffusion(lags, values, counts, 8)
    assert fit is not None
    assert fit.d_px2_per_frame == pytest.approx(0.5, rel=0.08)
    assert abs(fit.offset_px2) < 0.3
    # 0.1 µm pixels at 50 frames/s: 0.5 px²/frame = 0.25 µm²/s.
    assert fit.d_um2_per_s(0.1, 0.02) == pytest.approx(fit.d_px2_per_frame * 0.01 / 0.02)
    assert fit.label(0.1, 0.02).endswith("µm²/s")
    assert fit.label(None, 0.02).endswith("px²/frame")
    assert lengths.lengths().max() <= 200 and lengths.lengths().size >= 150


def test_drift_is_not_diffusion(rng):
    frames = [(f, ids, x + 3.0 * f, y - 2.0 * f) for f, ids, x, y in _walk(rng, size=1e4)]
    tb = TailBuffer(length_frames=30)
    for f, ids, x, y in frames:
        tb.push(f, ids, x, y)
    _, x, y = tb.ordered()
    drift_free = fit_diffusion(*msd(x, y, 20), 8)
    raw = fit_diffusion(*msd(x, y, 20, subtract_drift=False), 8)
    assert drift_free.d_px2_per_frame == pytest.approx(0.5, rel=0.08)
    assert raw.d_px2_per_frame > 2.0


def test_fit_needs_two_lags_and_bad_lengths_are_refused():
    assert fit_diffusion(np.array([1.0]), np.array([2.0]), np.array([5])) is None
    with pytest.raises(InputError, match="length_frames"):
        TailBuffer(0)
