"""Fixed-pattern stripes are measured, removed, and stop costing particles."""

import numpy as np
import pandas as pd
import pytest

import livetrack
from livetrack import evaluate, simulate
from livetrack.infer import AutoLocalizer
from livetrack.localize import remove_stripes, stripe_profiles
from livetrack.model import frame_statistics


@pytest.fixture(scope="module")
def movie():
    return simulate.simulate_movie(n_frames=6, n_particles=60, shape=(192, 192), snr=6, seed=4)


def _striped(movie, amplitude, rng):
    noise = frame_statistics(movie.frames[0])[1]
    columns = rng.normal(0.0, amplitude * noise, size=movie.frames.shape[2])
    rows = rng.normal(0.0, amplitude * noise / 2, size=movie.frames.shape[1])
    return movie.frames.astype(np.float32) + rows[None, :, None] + columns[None, None, :], columns


def test_stripes_are_measured(movie, rng):
    frames, columns = _striped(movie, 2.0, rng)
    _, found = stripe_profiles(frames)
    assert np.corrcoef(found, columns)[0, 1] > 0.9


def test_no_stripes_leaves_the_movie_alone(movie):
    frames, removed = remove_stripes(movie.frames)
    assert frames is movie.frames and not removed
    # A smooth illumination profile across the columns is not a stripe.
    ramp = movie.frames + np.linspace(0, 50, movie.frames.shape[2])[None, None, :]
    assert not remove_stripes(ramp)[1]


def test_particles_found_through_stripes(movie, rng):
    frames, _ = _striped(movie, 2.0, rng)
    plain = evaluate.score(movie.truth, livetrack.locate(movie.frames), gate_px=2).jaccard
    striped = evaluate.score(movie.truth, livetrack.locate(frames), gate_px=2).jaccard
    assert striped >= plain - 0.02


def test_a_live_stream_subtracts_the_stripes_of_its_first_frame(movie, rng):
    frames, _ = _striped(movie, 2.0, rng)
    live = AutoLocalizer()
    tables = [live.locate(f, i) for i, f in enumerate(frames)]
    assert live.auto_plan is not None and live.auto_plan.stripes is not None
    s = evaluate.score(movie.truth, pd.concat(tables, ignore_index=True), gate_px=2)
    assert s.jaccard >= 0.9
