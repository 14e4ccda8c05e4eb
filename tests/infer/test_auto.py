"""model='auto': scale, polarity and noise model chosen from the data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import livetrack
from livetrack import evaluate, simulate
from livetrack._errors import InputError
from livetrack.infer import AutoLocalizer, CNNLocalizer, _auto, _recover, choose_auto
from livetrack.infer._auto import clutter_cut, null_level, strength_cut

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"


def _jaccard(movie, table, gate=3.0):
    return evaluate.score(movie.truth, table, gate_px=gate)


@pytest.fixture(scope="module")
def spheres():
    return simulate.compressed_spheres(n_frames=4, shape=(256, 256), n_particles=6, seed=4)


@pytest.fixture(scope="module")
def colloids():
    return simulate.dark_colloids(n_frames=3, seed=5)


@pytest.fixture(scope="module")
def dense_faint():
    """ISBI-like high density at SNR 2: 125 Brownian spots on 256 x 256, 10 frames."""
    return simulate.simulate_movie(
        n_frames=10,
        n_particles=125,
        shape=(256, 256),
        snr=2,
        seed=22,
        background_photons=10.0,
        dynamics=simulate.Dynamics(diffusion_px2=1.0),
    )


@pytest.fixture(scope="module")
def spots():
    return simulate.simulate_movie(n_frames=3, n_particles=60, shape=(192, 192), snr=5, seed=6)


def test_clutter_cut_finds_a_clear_gap_only():
    assert clutter_cut(np.array([0.2, 1.5, 2.0, 40.0, 45.0])) == pytest.approx(2.0)
    # A continuum of faint particles has no gap.
    assert clutter_cut(np.linspace(1.0, 30.0, 50)) == -np.inf
    # A gap above strong detections is not clutter (bright aggregates beside particles).
    assert clutter_cut(np.array([20.0, 22.0, 200.0])) == -np.inf
    assert clutter_cut(np.array([5.0])) == -np.inf


def test_strength_cut_floor_follows_the_scene():
    bright = np.r_[np.full(20, 50.0), [0.5, 2.5]]
    assert strength_cut(bright) >= 2.5
    faint = np.linspace(0.5, 5.0, 40)  # SNR 2 scene: keep what is not at the noise level
    assert strength_cut(faint) == pytest.approx(0.2 * np.percentile(faint, 75))
    assert (faint > strength_cut(faint)).mean() >= 0.9
    assert strength_cut(np.array([])) == -np.inf


def test_null_level_is_the_noise_extreme_or_its_extrapolation(rng):
    z = rng.exponential(1.0, size=400)
    # 20 frames or more: the strongest noise detection.
    assert null_level(z, 40) == pytest.approx(z.max())
    # One frame: extrapolated beyond what the frame showed, to one in 20 frames.
    one = null_level(z[:20], 1)
    assert one >= z[:20].max()
    assert one == pytest.approx(
        np.sort(z[:20])[-10]
        + np.log(9 / 0.05) * np.mean(np.sort(z[:20])[-9:] - np.sort(z[:20])[-10])
    )
    assert null_level(np.array([]), 5) == -np.inf


def test_brightfield_rings_in_smoothed_noise_keep_no_noise_peaks():
    movie = simulate.brightfield_rings(n_frames=10, seed=2)
    s = _jaccard(movie, livetrack.locate(movie.frames))
    assert s.recall >= 0.98
    assert s.fp <= 1


def test_white_noise_spots_run_as_they_are(spots):
    choice = choose_auto(spots.frames)
    assert (choice.polarity, choice.bin_factor, choice.noise_scale_px) == ("bright", 1, None)
    assert "frames as they are" in choice.line()


def test_large_compressed_spheres_are_binned_with_correlated_noise(spheres):
    choice = choose_auto(spheres.frames)
    assert choice.polarity == "bright"
    assert choice.bin_factor >= 3
    assert f"binned {choice.bin_factor}x{choice.bin_factor}" in choice.line()


def test_dark_colloids_are_inverted(colloids):
    assert choose_auto(colloids.frames).polarity == "dark"


def test_hints_replace_the_measurement(spots):
    choice = choose_auto(spots.frames, diameter_px=24, invert=True)
    assert (choice.polarity, choice.sigma_px, choice.bin_factor) == ("dark", 6.0, 4)
    assert not choice.measured
    with pytest.raises(InputError, match="diameter"):
        choose_auto(spots.frames, diameter_px=-3)


def test_spheres_found_and_nothing_else(spheres):
    table = livetrack.locate(spheres.frames)
    s = _jaccard(spheres, table)
    assert s.recall >= 0.98
    assert s.precision >= 0.98
    assert s.rmse < 1.0


def test_dark_colloids_found(colloids):
    s = _jaccard(colloids, livetrack.locate(colloids.frames))
    assert s.jaccard >= 0.9


def test_white_noise_result_is_the_models(spots):
    auto = livetrack.locate(spots.frames)
    plain = CNNLocalizer("spots").locate_stack(spots.frames)
    # Same network, same input: auto only may drop insignificant clutter.
    merged = auto.merge(plain, on=["frame", "x", "y"], how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert len(auto) >= 0.98 * len(plain)


def test_live_stream_matches_the_stack(spheres):
    live = AutoLocalizer()
    tables = [live.locate(f, i) for i, f in enumerate(spheres.frames)]
    assert live.choice is not None and live.choice.bin_factor >= 3
    s = _jaccard(spheres, pd.concat(tables, ignore_index=True))
    assert s.jaccard >= 0.95
    with pytest.raises(InputError, match="one frame"):
        live.locate(spheres.frames[:2])


def test_hints_are_for_auto_only(spots):
    with pytest.raises(InputError, match="hints for model 'auto'"):
        livetrack.locate(spots.frames, "spots", invert=True)


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real videos not found at {REALDATA}")
def test_real_video_smoke():
    from livetrack._stack import read_stack

    frames = read_stack(REALDATA / "deeptrack_example2.mp4")[:10]
    ref = pd.read_csv(REALDATA / "deeptrack_example2_ref.csv")
    table = livetrack.locate(frames)
    assert table.groupby("frame").size().reindex(range(10), fill_value=0).eq(1).all()
    for t in range(10):
        r = ref[ref.frame == t][["x", "y"]].to_numpy()[0]
        p = table[table.frame == t][["x", "y"]].to_numpy()[0]
        assert np.hypot(*(r - p)) < 1.5


def test_faint_movies_are_decided_on_five_frames():
    faint = simulate.simulate_movie(n_frames=6, n_particles=40, shape=(128, 128), snr=2, seed=8)
    auto = AutoLocalizer()
    table = auto.locate_stack(faint.frames)
    assert (auto.choice.model, auto.choice.threshold) == ("spots-t5", "tracks")
    assert "5 consecutive frames and on their trajectories" in auto.choice.line()
    single = CNNLocalizer("spots").locate_stack(faint.frames)
    assert _jaccard(faint, table, 2.0).jaccard > _jaccard(faint, single, 2.0).jaccard + 0.2


def test_faint_movies_keep_weak_detections_on_their_trajectories():
    # The same network with the adaptive threshold decides each frame alone.
    faint = simulate.simulate_movie(
        n_frames=10, n_particles=30, shape=(256, 256), snr=2, seed=11, background_photons=10.0
    )
    table = AutoLocalizer().locate_stack(faint.frames)
    frames_alone = CNNLocalizer("spots-t5", threshold="adaptive").locate_stack(faint.frames)
    along, alone = _jaccard(faint, table, 2.0), _jaccard(faint, frames_alone, 2.0)
    assert along.jaccard > alone.jaccard + 0.03
    assert along.precision > 0.95


def test_movies_past_the_networks_reach_are_decided_on_path_evidence():
    # SNR 1, dense: the network's trajectories keep few; path evidence over nine frames
    # finds more than they do and decides (prob NaN: no network score).
    faint = simulate.simulate_movie(
        n_frames=10, n_particles=120, shape=(192, 192), snr=1, seed=13, background_photons=10.0
    )
    table = AutoLocalizer().locate_stack(faint.frames)
    assert len(table) and table["prob"].isna().all()
    network = CNNLocalizer("spots-t5", threshold="adaptive").locate_stack(faint.frames)
    along, alone = _jaccard(faint, table, 2.0), _jaccard(faint, network, 2.0)
    assert along.jaccard > alone.jaccard + 0.1


def test_particles_the_networks_trajectories_miss_are_recovered_from_path_evidence(
    monkeypatch, dense_faint
):
    # The network merges close pairs and misses particles in single frames; path-evidence
    # peaks in the trajectories' gaps, and those standing alone with their own frame's
    # evidence, add particles (prob NaN).
    faint = dense_faint
    table = AutoLocalizer().locate_stack(faint.frames)
    monkeypatch.setattr(_auto, "recover_missed", lambda kept, *_: kept)
    network = AutoLocalizer().locate_stack(faint.frames)
    added = table[table["prob"].isna()]
    assert len(added) > 10 and network["prob"].notna().all()
    assert _jaccard(faint, added, 2.0).precision > 0.7
    assert _jaccard(faint, table, 2.0).jaccard > _jaccard(faint, network, 2.0).jaccard + 0.005


def test_faint_live_streams_run_the_causal_model_on_trajectories():
    faint = simulate.simulate_movie(
        n_frames=10, n_particles=30, shape=(256, 256), snr=2, seed=11, background_photons=10.0
    )
    live = AutoLocalizer()
    tables = [live.locate(f, t) for t, f in enumerate(faint.frames)]
    assert (live.choice.model, live.choice.threshold) == ("spots-c5", "tracks")
    single = CNNLocalizer("spots")
    alone = [single.locate(f, t) for t, f in enumerate(faint.frames)]
    # The first four frames are the single-frame network's, exactly.
    for t in range(4):
        pd.testing.assert_frame_equal(tables[t], alone[t])
    truth = faint.truth[faint.truth["frame"] >= 4]
    along = evaluate.score(truth, pd.concat(tables[4:], ignore_index=True), gate_px=2.0)
    frames_alone = evaluate.score(truth, pd.concat(alone[4:], ignore_index=True), gate_px=2.0)
    assert along.recall > frames_alone.recall + 0.3 and along.precision > 0.9


def test_faint_live_streams_recover_lone_particles_from_causal_path_evidence(
    monkeypatch, dense_faint
):
    # The same scene frame by frame: from frame 4 on, path evidence over each frame and the
    # four before it adds particles the trajectories miss.
    faint = dense_faint

    def stream():
        live = AutoLocalizer()
        return pd.concat([live.locate(f, t) for t, f in enumerate(faint.frames)])

    found = stream()
    monkeypatch.setattr(_recover.LiveRecovery, "step", lambda self, n, f, k: _recover._no_peaks())
    kept = stream()
    added = found[found["prob"].isna()]
    assert len(added) > 10 and added["frame"].min() >= 4 and kept["prob"].notna().all()
    truth = faint.truth[faint.truth["frame"] >= 4]
    assert evaluate.score(truth, added, gate_px=2.0).precision > 0.8
    along = evaluate.score(truth, found[found["frame"] >= 4], gate_px=2.0)
    assert (
        along.jaccard > evaluate.score(truth, kept[kept["frame"] >= 4], gate_px=2.0).jaccard + 0.01
    )


def test_bright_movies_and_live_streams_stay_single_frame(spots):
    auto = AutoLocalizer()
    auto.locate_stack(spots.frames[:5].repeat(2, axis=0))
    assert auto.choice.model == "spots" and auto.choice.strength > 5
    live = AutoLocalizer()
    live.locate(spots.frames[0])
    # A live stream measures the strength on its first frame.
    assert live.choice.model == "spots" and live.choice.strength > 5


@pytest.mark.parametrize("dark_centre", [False, True])
def test_small_rings_run_the_ring_model_uninverted(dark_centre):
    psf = simulate.RingPSF(radius_px=4.0, contrast=-1.0 if dark_centre else 1.0)
    movie = simulate.simulate_movie(
        n_frames=2,
        n_particles=10,
        shape=(160, 160),
        snr=10,
        psf=psf,
        seed=9,
        background_photons=100.0,
        min_separation_px=24.0,
    )
    choice = choose_auto(movie.frames)
    assert choice.model == "rings"
    assert choice.network_polarity == "bright"
    assert choice.ring_contrast <= -0.2
    assert "rings: a lobe of opposite contrast" in choice.line()
    assert _jaccard(movie, livetrack.locate(movie.frames), 2.0).jaccard >= 0.95
