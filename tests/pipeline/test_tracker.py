import logging
import threading

import numpy as np
import pandas as pd
import pytest

from livetrack._errors import InputError
from livetrack.link import Linker
from livetrack.localize import TruthLocalizer
from livetrack.pipeline import FrameResult, Tracker, TrackerOptions
from livetrack.record import TrackWriter, read_tracks
from livetrack.simulate import Dynamics, simulate_movie


@pytest.fixture(scope="module")
def movie():
    return simulate_movie(
        n_frames=40,
        shape=(64, 64),
        n_particles=8,
        amplitude=500.0,
        dynamics=Dynamics(diffusion_px2=0.2),
        min_separation_px=8.0,
        seed=7,
    )


class GatedLocalizer:
    """Replays truth, but frame ``gate_frame`` waits until the test opens the gate."""

    def __init__(self, truth, gate_frame=0):
        self.inner = TruthLocalizer(truth)
        self.gate = threading.Event()
        self.gate_frame = gate_frame
        self.entered = threading.Event()

    def locate(self, image, frame=0):
        if frame == self.gate_frame:
            self.entered.set()
            assert self.gate.wait(10), "test never opened the gate"
        return self.inner.locate(image, frame)


def test_step_links_particles_and_times_frames(movie):
    tracker = Tracker(TruthLocalizer(movie.truth), Linker(search_range_px=4.0))
    results = [tracker.step(f, timestamp=0.1 * i) for i, f in enumerate(movie.frames)]
    assert [r.frame for r in results] == list(range(len(movie.frames)))
    assert results[3].timestamp == pytest.approx(0.3)
    assert all(r.latency_s >= r.compute_s >= 0 for r in results)
    tracks = pd.concat([r.positions for r in results], ignore_index=True)
    # Ground truth is well separated and slow: each true particle keeps one id.
    truth = movie.truth[movie.truth["visible"]]
    merged = tracks.merge(truth, on=["frame", "x", "y"], suffixes=("", "_true"))
    assert len(merged) == len(tracks) == len(truth)
    ids_per_true = merged.groupby("particle_true")["particle"].nunique()
    assert (ids_per_true == 1).all()
    assert (tracks["t"] == tracks["frame"] * 0.1).all()


def test_threaded_tracks_every_frame_in_order(movie):
    seen = []
    tracker = Tracker(TruthLocalizer(movie.truth), Linker(4.0), callbacks=[seen.append])
    with tracker:
        accepted = [tracker.submit(f) for f in movie.frames]
    stats = tracker.stats()
    assert all(accepted)
    assert [r.frame for r in seen] == list(range(len(movie.frames)))
    assert stats.submitted == stats.processed == len(movie.frames)
    assert stats.dropped == stats.failed == stats.backlog == 0
    assert stats.latency_p99_ms >= stats.latency_median_ms > 0


def test_backlog_is_counted_while_the_worker_is_busy(movie):
    loc = GatedLocalizer(movie.truth)
    tracker = Tracker(loc, Linker(4.0)).start()
    tracker.submit(movie.frames[0])
    assert loc.entered.wait(10)
    for f in movie.frames[1:10]:
        tracker.submit(f)
    assert tracker.stats().backlog == 9
    loc.gate.set()
    stats = tracker.stop()
    assert stats.processed == 10
    assert stats.max_backlog == 9
    assert stats.backlog == stats.dropped == 0


@pytest.mark.parametrize(
    ("policy", "expected_frames"),
    [("oldest", [0, 15, 16, 17, 18, 19]), ("newest", [0, 1, 2, 3, 4, 5])],
)
def test_drop_policy_discards_only_when_asked(movie, policy, expected_frames):
    loc = GatedLocalizer(movie.truth)
    seen = []
    opts = TrackerOptions(drop_policy=policy, max_backlog_frames=5)
    tracker = Tracker(loc, callbacks=[lambda r: seen.append(r.frame)], options=opts).start()
    tracker.submit(movie.frames[0])
    assert loc.entered.wait(10)
    for f in movie.frames[1:20]:
        tracker.submit(f)
    loc.gate.set()
    stats = tracker.stop()
    assert seen == expected_frames
    assert stats.dropped == 14
    assert stats.submitted == 20


def test_never_policy_overflow_is_counted_and_logged(movie, caplog):
    loc = GatedLocalizer(movie.truth)
    tracker = Tracker(loc, options=TrackerOptions(max_backlog_frames=3)).start()
    tracker.submit(movie.frames[0])
    assert loc.entered.wait(10)
    with caplog.at_level(logging.ERROR, logger="livetrack.pipeline"):
        ok = [tracker.submit(f) for f in movie.frames[1:6]]
    loc.gate.set()
    stats = tracker.stop()
    assert ok == [True, True, True, False, False]
    assert stats.dropped == 2 and stats.processed == 4
    assert "backlog reached 3 frames" in caplog.text


def test_failing_and_slow_callbacks_do_not_stop_tracking(movie, caplog):
    calls = []

    def broken(result: FrameResult) -> None:
        raise RuntimeError("boom")

    opts = TrackerOptions(slow_callback_ms=0.0)  # every call counts as slow
    tracker = Tracker(TruthLocalizer(movie.truth), callbacks=[broken, calls.append], options=opts)
    with caplog.at_level(logging.WARNING, logger="livetrack.pipeline"), tracker:
        for f in movie.frames:
            tracker.submit(f)
    stats = tracker.stats()
    assert stats.processed == len(movie.frames)
    assert stats.callback_errors == len(movie.frames)
    assert stats.slow_callbacks == 2 * len(movie.frames)
    assert len(calls) == len(movie.frames)
    assert "boom" in caplog.text
    # The log is not flooded: a few reports, not one per frame.
    assert caplog.text.count("RuntimeError: boom") <= 3


def test_a_failing_frame_is_counted_and_tracking_goes_on(movie, caplog):
    inner = TruthLocalizer(movie.truth)

    class Flaky:
        def locate(self, image, frame=0):
            if frame == 2:
                raise ValueError("bad frame")
            return inner.locate(image, frame)

    with caplog.at_level(logging.ERROR, logger="livetrack.pipeline"):
        tracker = Tracker(Flaky(), Linker(4.0)).start()
        for f in movie.frames[:6]:
            tracker.submit(f)
        stats = tracker.stop()
    assert stats.failed == 1 and stats.processed == 5
    assert "tracking frame 2 failed" in caplog.text


def test_recorder_receives_every_frame_and_is_closed(movie, tmp_path):
    writer = TrackWriter(tmp_path / "run.tracks.csv", {"pixel_size_um": 0.1})
    tracker = Tracker(
        TruthLocalizer(movie.truth),
        Linker(4.0),
        recorder=writer,
        options=TrackerOptions(pixel_size_um=0.1),
    )
    with tracker:
        for i, f in enumerate(movie.frames):
            tracker.submit(f, timestamp=i * 0.01)
    assert writer.closed
    tracks = read_tracks(tmp_path)
    truth = movie.truth[movie.truth["visible"]]
    assert len(tracks) == len(truth)
    assert sorted(tracks["frame"].unique()) == list(range(len(movie.frames)))
    np.testing.assert_allclose(tracks["x_um"], tracks["x"] * 0.1)
    np.testing.assert_allclose(tracks["t"], tracks["frame"] * 0.01)


def test_bad_input_is_refused(movie):
    with pytest.raises(InputError, match="drop_policy"):
        TrackerOptions(drop_policy="sometimes")
    with pytest.raises(InputError, match="locate"):
        Tracker(object())
    tracker = Tracker(TruthLocalizer(movie.truth))
    with pytest.raises(InputError, match="2-D frame"):
        tracker.step(np.zeros((2, 3, 4)))
    with pytest.raises(RuntimeError, match="start"):
        tracker.submit(movie.frames[0])


def test_stop_without_drain_discards_the_backlog(movie):
    loc = GatedLocalizer(movie.truth)
    tracker = Tracker(loc).start()
    tracker.submit(movie.frames[0])
    assert loc.entered.wait(10)
    for f in movie.frames[1:8]:
        tracker.submit(f)
    threading.Timer(0.05, loc.gate.set).start()
    stats = tracker.stop(drain=False)
    assert stats.processed == 1 and stats.dropped == 7


class FixedLocalizer:
    """Two bright particles that stay put and one faint false spot per frame, moving."""

    def locate(self, image, frame=0):
        return pd.DataFrame(
            {
                "frame": frame,
                "x": [10.0, 40.0, 5.0 + 7 * frame],
                "y": [10.0, 40.0, 50.0],
                "mass": [900.0, 1100.0, 40.0],
            }
        )


def test_min_mass_drops_faint_detections_before_linking():
    image = np.zeros((64, 64))
    plain = Tracker(FixedLocalizer(), Linker(search_range_px=3.0))
    rows = pd.concat([plain.step(image).positions for _ in range(5)])
    assert rows["particle"].nunique() == 2 + 5  # each faint spot starts a one-frame track
    floored = Tracker(
        FixedLocalizer(), Linker(search_range_px=3.0), options=TrackerOptions(min_mass=100.0)
    )
    rows = pd.concat([floored.step(image).positions for _ in range(5)])
    assert sorted(rows["particle"].unique()) == [0, 1]
    assert (rows["mass"] >= 100).all() and len(rows) == 10
    assert list(rows.groupby("frame").size()) == [2] * 5
    with pytest.raises(InputError, match="min_mass"):
        TrackerOptions(min_mass=float("nan"))
    with pytest.raises(InputError, match="min_mass"):
        TrackerOptions(min_mass="a lot")
