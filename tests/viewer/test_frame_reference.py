"""The frame reaches callbacks (the viewer's relay) as the array handed over, not a copy."""

import numpy as np

from livetrack.localize import CentroidLocalizer
from livetrack.pipeline import Tracker, TrackerOptions


def test_callbacks_get_the_submitted_frame_itself(rng):
    frame = rng.poisson(100, (32, 32)).astype(np.uint16)
    seen = []
    tracker = Tracker(CentroidLocalizer(), callbacks=[seen.append])
    tracker.step(frame)
    with tracker:
        tracker.submit(frame)
    assert len(seen) == 2
    assert all(r.image is frame for r in seen)


def test_copy_frames_hands_over_the_copy():
    frame = np.zeros((16, 16), np.uint16)
    seen = []
    options = TrackerOptions(copy_frames=True)
    with Tracker(CentroidLocalizer(), callbacks=[seen.append], options=options) as t:
        t.submit(frame)
    assert seen[0].image is not frame
    np.testing.assert_array_equal(seen[0].image, frame)
