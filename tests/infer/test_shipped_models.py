"""Smoke tests of the shipped models on small seeded scenes (a broken model fails them)."""

import pandas as pd
import pytest

from livetrack.evaluate import score
from livetrack.infer import CNNLocalizer
from livetrack.model import find_models, load_model
from livetrack.simulate import Dynamics, GaussianPSF, RingPSF, cluttered_spots, simulate_movie

# No skip when a model is missing: an install (or a checkout) without its shipped models is
# broken, and these tests say so by failing.
SHIPPED = ("spots", "spots-fast", "spots-t5", "spots-c5", "rings")


def test_every_shipped_model_is_installed():
    shipped = {e.name for e in find_models() if e.source == "shipped"}
    assert set(SHIPPED) <= shipped, f"missing shipped models: {set(SHIPPED) - shipped}"


def scene(psf, snr, n, seed, background=10.0, min_sep=0.0, n_frames=2, diffusion_px2=0.0):
    movie = simulate_movie(
        n_frames=n_frames,
        shape=(128, 128),
        n_particles=n,
        psf=psf,
        snr=snr,
        background_photons=background,
        min_separation_px=min_sep,
        seed=seed,
        **({"dynamics": Dynamics(diffusion_px2=diffusion_px2)} if diffusion_px2 else {}),
    )
    truth = movie.truth[movie.truth["visible"] & movie.truth["in_frame"]]
    return movie.frames, truth


@pytest.mark.parametrize("model", ["spots", "spots-fast"])
def test_spots_model_finds_and_localizes_spots(model):
    frames, truth = scene(GaussianPSF(1.0), 6.0, 25, seed=11)
    pred = CNNLocalizer(model, backend="onnxruntime").locate_stack(frames)
    s = score(truth, pred, gate_px=2.0)
    assert s.jaccard >= 0.9
    assert s.rmse <= 0.25
    assert pred["prob"].between(0, 1).all()
    assert pred["sigma_x"].between(0.005, 1.0).all()


@pytest.mark.parametrize("model", ["spots", "spots-fast"])
def test_spots_models_ignore_rods_blobs_and_burned_in_text(model):
    # Spots among bacteria-like rods, out-of-focus blobs and a label, 8 bits with smoothed
    # noise. Trained on clean frames only the networks took about 22-25 detections per
    # frame here for 12 spots; trained with real-video patches they make about 3 false ones.
    movie = cluttered_spots(n_frames=6, shape=(128, 160), n_particles=12, seed=3)
    pred = CNNLocalizer(model, backend="onnxruntime").locate_stack(movie.frames)
    s = score(movie.truth, pred, gate_px=3.0)
    assert s.recall >= 0.9
    assert (1 - s.precision) * len(pred) / 6 <= 6.0


def test_spots_model_is_indifferent_to_camera_offset_and_gain():
    frames, _ = scene(GaussianPSF(1.5), 8.0, 15, seed=12)
    loc = CNNLocalizer("spots", backend="onnxruntime")
    a = loc.locate(frames[0])
    b = loc.locate(frames[0].astype(float) * 4.0 + 300.0)
    assert len(a) == len(b)
    assert (a[["x", "y"]] - b[["x", "y"]]).abs().to_numpy().max() < 0.02


@pytest.mark.parametrize("model", ["spots", "spots-fast"])
def test_spots_model_backends_agree(model):
    frames, _ = scene(GaussianPSF(1.0), 5.0, 25, seed=13)
    a = CNNLocalizer(model, backend="onnxruntime").locate_stack(frames)
    b = CNNLocalizer(model, backend="torch").locate_stack(frames)
    assert len(a) == len(b) > 0
    assert (a[["x", "y"]] - b[["x", "y"]]).abs().to_numpy().max() < 1e-3


def test_shipped_configs_load():
    spec = load_model("spots")
    assert spec.name == "spots" and 0 < spec.threshold <= 1


@pytest.mark.parametrize("contrast", [1.0, -1.0])
def test_rings_model_on_bright_and_dark_rings(contrast):
    frames, truth = scene(RingPSF(4.0, contrast), 10.0, 6, seed=14, background=100.0, min_sep=24.0)
    pred = CNNLocalizer("rings", backend="onnxruntime").locate_stack(frames)
    s = score(truth, pred, gate_px=2.0)
    assert s.jaccard >= 0.9
    assert s.rmse <= 0.2


@pytest.mark.parametrize("model", ["spots", "spots-fast", "rings"])
def test_shipped_int8_export_tracks_the_fp32_model(model):
    spec = load_model(model)
    assert spec.int8_onnx_path.is_file(), "run `livetrack quantize` and commit the file"
    psf = RingPSF(4.0, 1.0) if spec.for_rings else GaussianPSF(1.0)
    frames, truth = scene(psf, 10.0, 12, seed=15, background=100.0, min_sep=16.0)
    fp32 = CNNLocalizer(model, backend="onnxruntime", refine=False).locate_stack(frames)
    int8 = CNNLocalizer(model, backend="onnxruntime-int8", refine=False).locate_stack(frames)
    s8 = score(truth, int8, gate_px=2.0)
    s32 = score(truth, fp32, gate_px=2.0)
    assert s8.jaccard >= s32.jaccard - 0.05
    assert s8.rmse <= 1.25 * s32.rmse + 0.01


def test_adaptive_threshold_finds_more_faint_spots_and_keeps_every_bright_one():
    frames, truth = scene(GaussianPSF(1.0), 2.0, 60, seed=16, min_sep=8.0)
    frames = frames.repeat(1, axis=0)
    fixed = CNNLocalizer("spots", backend="onnxruntime", refine=False)
    adaptive = CNNLocalizer("spots", backend="onnxruntime", refine=False, threshold="adaptive")
    faint_fixed = score(truth, fixed.locate_stack(frames), gate_px=2.0)
    faint_adaptive = score(truth, adaptive.locate_stack(frames), gate_px=2.0)
    assert faint_adaptive.recall > faint_fixed.recall + 0.1
    assert faint_adaptive.jaccard > faint_fixed.jaccard
    # Bright spots: the rule may raise the threshold above their clutter, never drop one.
    bright, bright_truth = scene(GaussianPSF(1.0), 8.0, 25, seed=17)
    a = score(bright_truth, fixed.locate_stack(bright), gate_px=2.0)
    b = score(bright_truth, adaptive.locate_stack(bright), gate_px=2.0)
    assert b.tp == a.tp and b.precision >= a.precision


def test_bad_threshold_text_is_a_clear_error():
    with pytest.raises(ValueError, match="'adaptive'"):
        CNNLocalizer("spots", threshold="auto")


def test_temporal_window_finds_faint_slow_particles_single_frames_miss():
    # Static particles: averaging frames is pure gain.
    frames, truth = scene(GaussianPSF(1.0), 1.5, 30, seed=18, min_sep=8.0, n_frames=6)
    loc = CNNLocalizer("spots", backend="onnxruntime", threshold="adaptive")
    single = score(truth, loc.locate_stack(frames), gate_px=2.0)
    window = score(truth, loc.locate_stack(frames, temporal_window=5), gate_px=2.0)
    assert window.jaccard > single.jaccard + 0.2
    with pytest.raises(ValueError, match="odd"):
        loc.locate_stack(frames, temporal_window=2)


def test_temporal_window_takes_positions_from_each_frame():
    # Bright Brownian particles: their 5-frame average sits ~1 px from where each frame
    # has them, so positions must come from the frame's own maps.
    frames, truth = scene(
        GaussianPSF(1.0), 8.0, 20, seed=21, min_sep=10.0, n_frames=6, diffusion_px2=2.0
    )
    loc = CNNLocalizer("spots", backend="onnxruntime", refine=False)
    single = score(truth, loc.locate_stack(frames), gate_px=2.0)
    window = score(truth, loc.locate_stack(frames, temporal_window=5), gate_px=2.0)
    assert window.rmse < 1.5 * single.rmse
    assert window.recall > 0.9


def test_spots_t5_finds_faint_moving_particles_single_frames_miss():
    frames, truth = scene(
        GaussianPSF(1.0), 2.0, 30, seed=19, min_sep=8.0, n_frames=6, diffusion_px2=1.0
    )
    single = CNNLocalizer("spots", backend="onnxruntime", refine=False, threshold="adaptive")
    fused = CNNLocalizer("spots-t5", backend="onnxruntime", refine=False, threshold="adaptive")
    s1 = score(truth, single.locate_stack(frames), gate_px=2.0)
    s3 = score(truth, fused.locate_stack(frames), gate_px=2.0)
    assert s3.jaccard > s1.jaccard + 0.1
    # Bright moving particles at the calibrated threshold: fusing neighbours costs little
    # (a particle that just left the frame or the 2 px gate is sometimes still reported).
    bright, bright_truth = scene(
        GaussianPSF(1.0), 7.0, 20, seed=20, min_sep=8.0, n_frames=4, diffusion_px2=1.0
    )
    calibrated = CNNLocalizer("spots-t5", backend="onnxruntime", refine=False)
    sb = score(bright_truth, calibrated.locate_stack(bright), gate_px=2.0)
    sb1 = score(bright_truth, single.locate_stack(bright), gate_px=2.0)
    assert sb.jaccard >= max(0.9, sb1.jaccard - 0.06) and sb.rmse < 0.2
    # The adaptive threshold goes somewhat too low here (see calibration/spots-t5/README.md).
    assert score(bright_truth, fused.locate_stack(bright), gate_px=2.0).jaccard > 0.85


def test_spots_c5_tracks_faint_particles_live_frame_by_frame():
    from livetrack.pipeline import Tracker

    frames, truth = scene(
        GaussianPSF(1.0), 2.0, 30, seed=19, min_sep=8.0, n_frames=10, diffusion_px2=1.0
    )
    later = truth[truth["frame"] >= 4]  # frames with their 4 earlier ones
    single = CNNLocalizer("spots", backend="onnxruntime", refine=False, threshold="adaptive")
    causal = CNNLocalizer("spots-c5", backend="onnxruntime", refine=False, threshold="adaptive")
    assert causal.frames_ahead == 0
    found = single.locate_stack(frames)
    s1 = score(later, found[found["frame"] >= 4], gate_px=2.0)
    tracker = Tracker(causal)
    live = [r.positions for r in tracker.run(frames)]
    streamed = pd.concat(live, ignore_index=True)
    s5 = score(later, streamed[streamed["frame"] >= 4], gate_px=2.0)
    assert s5.jaccard > s1.jaccard + 0.07  # 0.80 against 0.68 when written
    # Bright particles at the calibrated threshold, from the stream's first frame on.
    bright, bright_truth = scene(
        GaussianPSF(1.0), 7.0, 20, seed=20, min_sep=8.0, n_frames=6, diffusion_px2=1.0
    )
    calibrated = CNNLocalizer("spots-c5", backend="onnxruntime", refine=False)
    sb = score(bright_truth, calibrated.locate_stack(bright), gate_px=2.0)
    assert sb.jaccard > 0.9 and sb.rmse < 0.2
