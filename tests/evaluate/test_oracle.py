"""The likelihood-ratio oracle: peaks on spots, perfect when easy, chance-level when hopeless."""

import numpy as np
import pandas as pd
import pytest

from livetrack._errors import InputError
from livetrack.evaluate import likelihood_ratio_map, oracle_jaccard
from livetrack.simulate import GaussianPSF, simulate_movie


def movie(snr, n_frames=2, seed=0):
    return simulate_movie(
        n_frames=n_frames,
        shape=(96, 96),
        n_particles=12,
        psf=GaussianPSF(1.0),
        snr=snr,
        background_photons=10.0,
        min_separation_px=10.0,
        seed=seed,
    )


def photons(m):
    return np.stack([m.camera.to_photons(f) for f in m.frames])


def test_ratio_peaks_at_the_spot():
    img = np.full((21, 21), 10.0)
    img[10, 7] += 200.0
    llr = likelihood_ratio_map(img, 1.0, 200.0, 10.0)
    assert np.unravel_index(np.argmax(llr), llr.shape) == (10, 7)
    assert llr[0, 20] < 0  # background only: the spot hypothesis loses


def test_oracle_is_perfect_at_high_snr_and_poor_at_snr_half():
    easy = movie(20.0)
    res = oracle_jaccard(photons(easy), easy.truth, 1.0, easy.truth["amplitude"].median(), 10.0)
    assert res.jaccard == pytest.approx(1.0)
    hard = movie(0.5, seed=1)
    low = oracle_jaccard(photons(hard), hard.truth, 1.0, hard.truth["amplitude"].median(), 10.0)
    assert low.jaccard < 0.3
    assert 0 <= low.precision <= 1 and 0 <= low.recall <= 1


def test_oracle_orders_with_snr():
    js = []
    for snr in (1.0, 2.0, 4.0):
        m = movie(snr, n_frames=3, seed=2)
        js.append(
            oracle_jaccard(photons(m), m.truth, 1.0, m.truth["amplitude"].median(), 10.0).jaccard
        )
    assert js[0] < js[1] < js[2]


def test_bad_inputs_are_clear_errors():
    with pytest.raises(InputError, match="must all be > 0"):
        likelihood_ratio_map(np.zeros((5, 5)), 1.0, 10.0, 0.0)
    with pytest.raises(InputError, match="non-empty"):
        oracle_jaccard(np.zeros((0, 5, 5)), pd.DataFrame(columns=["frame", "x", "y"]), 1, 1, 1)
