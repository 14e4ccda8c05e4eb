import queue

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack._errors import InputError
from livetrack.feedback import RegionTrigger, image_shift, pycromanager_burst
from livetrack.pipeline import FrameResult
from livetrack.simulate import GaussianPSF


def _result(frame, rows):
    df = pd.DataFrame(rows, columns=["particle", "x", "y"])
    return FrameResult(frame=frame, timestamp=frame * 0.1, positions=df, latency_s=0, compute_s=0)


def test_region_trigger_fires_on_enter_and_leave():
    events = []
    trigger = RegionTrigger((10, 10, 20, 20), events.append)
    path = [(5, 15), (9.9, 15), (10, 15), (15, 15), (21, 15), (25, 15)]
    for frame, (x, y) in enumerate(path):
        trigger(_result(frame, [(7, x, y), (8, 50.0, 50.0)]))
    assert [(e.kind, e.particle, e.frame) for e in events] == [("enter", 7, 2), ("leave", 7, 4)]
    assert events[0].timestamp == pytest.approx(0.2)
    assert (events[1].x, events[1].y) == (21, 15)


def test_region_trigger_filters_kinds_and_particles_and_accepts_shapes():
    entered = []

    def disc(x, y):
        return np.hypot(x - 30, y - 30) < 5

    trigger = RegionTrigger(disc, entered.append, on=["enter"], particles=[1])
    trigger(_result(0, [(1, 0.0, 0.0), (2, 0.0, 0.0)]))
    trigger(_result(1, [(1, 30.0, 31.0), (2, 30.0, 30.0)]))
    trigger(_result(2, [(1, 0.0, 0.0), (2, 0.0, 0.0)]))
    assert [(e.kind, e.particle) for e in entered] == [("enter", 1)]


def test_a_vanished_particle_is_forgotten_without_a_leave_event():
    events = []
    trigger = RegionTrigger((0, 0, 10, 10), events.append, forget_frames=2)
    trigger(_result(0, [(3, 5.0, 5.0)]))
    for frame in range(1, 5):
        trigger(_result(frame, []))
    trigger(_result(5, [(3, 5.0, 5.0)]))
    assert [e.kind for e in events] == ["enter", "enter"]


def test_region_trigger_rejects_bad_regions():
    with pytest.raises(InputError, match="region"):
        RegionTrigger((1, 2, 3), print)
    with pytest.raises(InputError, match="x_min <= x_max"):
        RegionTrigger((5, 0, 1, 10), print)
    with pytest.raises(InputError, match="on must"):
        RegionTrigger((0, 0, 1, 1), print, on=["arrive"])


def test_pycromanager_burst_queues_numbered_bursts():
    q = queue.Queue()
    action = pycromanager_burst(q, n_frames=3, exposure_ms=2.0)
    trigger = RegionTrigger((0, 0, 10, 10), action, on=["enter"])
    trigger(_result(0, [(1, 5.0, 5.0), (2, 6.0, 6.0)]))
    first, second = q.get_nowait(), q.get_nowait()
    assert [e["axes"] for e in first] == [{"burst": 0, "time": i} for i in range(3)]
    assert second[0]["axes"]["burst"] == 1 and second[0]["exposure"] == 2.0


@settings(max_examples=25, deadline=None)
@given(
    dx=st.floats(-12, 12),
    dy=st.floats(-12, 12),
    seed=st.integers(0, 2**16),
)
def test_image_shift_recovers_the_displacement_of_a_spot_pattern(dx, dy, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(16, 80, size=(25, 2))
    psf = GaussianPSF(1.5)
    amp = np.full(25, 1000.0)
    a = psf.render((96, 96), xy[:, 0], xy[:, 1], amp)
    b = psf.render((96, 96), xy[:, 0] + dx, xy[:, 1] + dy, amp)
    got = image_shift(a, b)
    np.testing.assert_allclose(got, (dx, dy), atol=0.1)


def test_pycromanager_burst_calls_an_acquisitions_acquire():
    class FakeAcquisition:
        def __init__(self):
            self.calls = []

        def acquire(self, events):
            self.calls.append(events)

    acq = FakeAcquisition()
    pycromanager_burst(acq, n_frames=2)(None)
    assert acq.calls == [[{"axes": {"burst": 0, "time": 0}}, {"axes": {"burst": 0, "time": 1}}]]
    with pytest.raises(InputError, match="target"):
        pycromanager_burst(object(), n_frames=2)
