"""The shared localizer and one CNNLocalizer serve several threads at once."""

import threading

import numpy as np
import pandas as pd

from livetrack import simulate
from livetrack.infer import CNNLocalizer, _localizer, locate


def _in_threads(n, work):
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # reported below, with the thread's index
            errors.append((i, exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_threads_asking_at_once_share_one_localizer(monkeypatch):
    monkeypatch.setattr(_localizer, "_SHARED", {})
    got = _in_threads(6, lambda i: _localizer._cached_localizer("spots", "onnxruntime"))
    assert all(loc is got[0] for loc in got)
    assert list(_localizer._SHARED) == [("spots", "onnxruntime")]


def test_the_shared_cache_keeps_the_most_recent(monkeypatch):
    monkeypatch.setattr(_localizer, "_SHARED", {})
    monkeypatch.setattr(_localizer, "_SHARED_MAX", 2)
    first = _localizer._cached_localizer("spots", "onnxruntime")
    _localizer._cached_localizer("spots-fast", "onnxruntime")
    assert _localizer._cached_localizer("spots", "onnxruntime") is first  # now most recent
    _localizer._cached_localizer("rings", "onnxruntime")
    assert list(_localizer._SHARED) == [("spots", "onnxruntime"), ("rings", "onnxruntime")]


def _movies(n):
    return [
        simulate.simulate_movie(n_frames=3, shape=(64 + 8 * i, 72), n_particles=6, snr=6, seed=i)
        for i in range(n)
    ]


def test_locate_from_threads_equals_locate_in_turn():
    movies = _movies(4)
    alone = [locate(m.frames, model="spots", backend="onnxruntime") for m in movies]
    together = _in_threads(
        4, lambda i: locate(movies[i].frames, model="spots", backend="onnxruntime")
    )
    for a, b in zip(alone, together, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_one_localizer_shared_by_threads_keeps_their_inputs_apart():
    # Frames of one shape, one per backend call: with one network-input buffer for all
    # threads, one thread's frame was overwritten by another's while it ran (12 mismatches
    # in 15 runs here).
    movies = [
        simulate.simulate_movie(n_frames=8, shape=(96, 96), n_particles=8, snr=6, seed=i)
        for i in range(3)
    ]
    loc = CNNLocalizer("spots", backend="onnxruntime", batch_size=1)
    alone = [loc.locate_stack(m.frames) for m in movies]
    for _ in range(3):
        together = _in_threads(3, lambda i: loc.locate_stack(movies[i].frames))
        for a, b in zip(alone, together, strict=True):
            pd.testing.assert_frame_equal(a, b)
    assert np.isfinite(alone[0]["x"]).all()
