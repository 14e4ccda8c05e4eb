"""Offline linking agrees with trackpy.link on well-separated particles.

trackpy is a test reference only; livetrack never imports it.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from livetrack.link import link

tp = pytest.importorskip("trackpy")


def separated_detections(rng, n_frames=60, n_side=7, spacing=30.0, step_px=0.7):
    """Brownian particles on a wide lattice with blinking and births/deaths."""
    n = n_side * n_side
    xy = np.array([(i * spacing, j * spacing) for i in range(n_side) for j in range(n_side)])
    born = rng.integers(0, n_frames // 3, n)
    dies = rng.integers(2 * n_frames // 3, n_frames + 1, n)
    rows = []
    for t in range(n_frames):
        xy = xy + rng.normal(0, step_px, xy.shape)
        visible = (t >= born) & (t < dies) & (rng.random(n) > 0.08)
        rows += [(t, xy[k, 0], xy[k, 1]) for k in np.flatnonzero(visible)]
    df = pd.DataFrame(rows, columns=["frame", "x", "y"])
    return df.sample(frac=1.0, random_state=np.random.RandomState(1)).reset_index(drop=True)


def partition(df):
    return {frozenset(g.index) for _, g in df.groupby("particle")}


def trackpy_link(df, search_range, memory):
    tp.quiet()
    with warnings.catch_warnings():
        # trackpy 0.7 uses pandas API that pandas 3 deprecates; not ours to fix.
        warnings.simplefilter("ignore", getattr(pd.errors, "Pandas4Warning", FutureWarning))
        return tp.link(df.copy(), search_range=search_range, memory=memory)


@pytest.mark.parametrize("memory", [0, 2])
def test_same_trajectories_as_trackpy(rng, memory):
    df = separated_detections(rng)
    assert df["frame"].nunique() == 60  # trackpy counts memory in non-empty frames
    ours = link(df, search_range_px=5.0, memory=memory)
    theirs = trackpy_link(df, search_range=5.0, memory=memory)
    assert partition(ours) == partition(theirs)


def test_reference_data_exercises_gaps(rng):
    # Guard against a comparison that passes trivially: blinking splits tracks
    # without memory and memory closes most of those gaps.
    df = separated_detections(rng)
    n_without = link(df, 5.0, memory=0)["particle"].nunique()
    n_with = link(df, 5.0, memory=2)["particle"].nunique()
    assert n_without > 100
    assert 49 <= n_with < n_without - 50


def test_same_trajectories_as_trackpy_in_a_crowd(rng):
    # Beyond the contract (well-separated particles): a crowded field where
    # subnetworks with competing candidates are common still links identically,
    # because both minimise the same total squared displacement.
    n = 300
    xy = rng.uniform(0, 150, (n, 2))
    rows = []
    for t in range(20):
        xy = xy + rng.normal(0, 1.0, xy.shape)
        rows += [(t, *xy[k]) for k in np.flatnonzero(rng.random(n) > 0.05)]
    df = pd.DataFrame(rows, columns=["frame", "x", "y"])
    for memory in (0, 2):
        ours = link(df, search_range_px=4.0, memory=memory)
        assert partition(ours) == partition(trackpy_link(df, 4.0, memory))
