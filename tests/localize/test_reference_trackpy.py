"""Our Crocker-Grier implementation against trackpy's on a clean scene.

trackpy is a test-only reference; accuracy itself is judged against ground truth elsewhere.
"""

import warnings

import numpy as np
import pytest

from livetrack.localize import locate

from .conftest import grid_positions, nearest_errors, render_gaussians

trackpy = pytest.importorskip("trackpy")


def test_centroid_matches_trackpy_locate_on_clean_scene(rng):
    x, y = grid_positions(rng, 100, 12.0, 10.0)
    img = render_gaussians((110, 110), x, y, 2000.0, 1.5, background=10.0)
    trackpy.quiet()
    with warnings.catch_warnings():
        # trackpy's own pandas deprecations are not ours to fix.
        warnings.simplefilter("ignore")
        ref = trackpy.locate(img, 7)
    ours = locate(img, method="centroid", diameter_px=7)
    assert len(ref) == len(ours) == x.size
    diff = nearest_errors(ref[["x", "y"]].to_numpy(), ours)
    assert np.abs(diff).max() < 0.01
    # Same algorithm, hence the same (small) bias with respect to the truth.
    np.testing.assert_allclose(
        np.abs(nearest_errors(np.column_stack([x, y]), ours)).max(),
        np.abs(nearest_errors(np.column_stack([x, y]), ref)).max(),
        atol=0.01,
    )
