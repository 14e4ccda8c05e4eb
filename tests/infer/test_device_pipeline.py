"""The GPU backends' normalization and decoding, written in torch, run here on the CPU device.

They are the same code that runs on a GPU (only the device differs), so their agreement with
the numpy reference is checked everywhere: statistics exactly, positions to far below the
0.01 px the GPU backends promise, the same detections.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livetrack.infer import CNNLocalizer, CudaBackend  # noqa: E402
from livetrack.infer._device_decode import DeviceDecoder, find_peaks_torch  # noqa: E402
from livetrack.infer._device_normalize import (  # noqa: E402
    DeviceNormalizer,
    as_float_frames,
    frame_statistics_torch,
)
from livetrack.model import decode_maps, find_peaks, frame_statistics, load_model  # noqa: E402

NUMERIC = ["x", "y", "prob", "sigma_x", "sigma_y", "mass"]


def benchmark_frames(shape, n_frames, n_particles):
    from livetrack.simulate import GaussianPSF, simulate_movie

    movie = simulate_movie(
        n_frames=n_frames,
        shape=shape,
        n_particles=n_particles,
        psf=GaussianPSF(1.0),
        snr=4.0,
        seed=3,
    )
    return movie.frames


def _frames(kind, rng):
    if kind == "uint16 camera":
        return rng.poisson(100.0, size=(3, 70, 90)).astype(np.uint16) + np.uint16(400)
    if kind == "uint16 large counts":
        return rng.integers(30000, 65535, size=(2, 80, 64)).astype(np.uint16)
    if kind == "uint8 with gradient":
        ramp = np.linspace(0, 60, 96)[None, None, :]
        return (rng.poisson(20.0, size=(2, 64, 96)) + ramp).astype(np.uint8)
    if kind == "float32":
        return rng.normal(5.0, 2.0, size=(2, 128, 128)).astype(np.float32)
    if kind == "small odd":
        return rng.poisson(5.0, size=(2, 13, 17)).astype(np.uint16)
    if kind == "nearly empty counts":
        return (rng.random((2, 64, 64)) < 0.01).astype(np.uint16)
    if kind == "constant":
        return np.full((1, 40, 40), 7, np.uint16)
    if kind == "one column":
        return rng.poisson(50.0, size=(2, 64, 1)).astype(np.uint16)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "uint16 camera",
        "uint16 large counts",
        "uint8 with gradient",
        "float32",
        "small odd",
        "nearly empty counts",
        "constant",
        "one column",
    ],
)
@pytest.mark.parametrize("subsample", [1, 4])
def test_statistics_match_numpy(kind, subsample, rng):
    stack = _frames(kind, rng)
    unsigned16 = stack.dtype == np.uint16
    src = torch.from_numpy(stack.view(np.int16) if unsigned16 else stack)
    frames = as_float_frames(src, unsigned16)
    bg, noise = frame_statistics_torch(frames, subsample, integer=stack.dtype.kind in "iu")
    for i, frame in enumerate(stack):
        ref_bg, ref_noise = frame_statistics(frame, subsample)
        assert bg[i].item() == pytest.approx(ref_bg, rel=1e-6, abs=1e-6)
        assert noise[i].item() == pytest.approx(ref_noise, rel=1e-5)


def test_normalized_batch_matches_numpy(rng):
    from livetrack.infer import InputNormalizer

    spec = load_model("spots")
    stack = _frames("uint16 camera", rng)
    ref_batch, ref_noise = InputNormalizer(spec).normalize(stack)
    norm = DeviceNormalizer(spec)
    batch, noise = norm.normalize(as_float_frames(torch.from_numpy(stack.view(np.int16)), True))
    assert batch.shape == ref_batch.shape  # padded to the network's multiple
    np.testing.assert_array_equal(batch.numpy(), ref_batch)
    np.testing.assert_allclose(noise.numpy(), ref_noise, rtol=1e-12)
    from livetrack.model import soft_clip

    np.testing.assert_allclose(
        norm.network_input(batch).numpy(),
        soft_clip(ref_batch, spec.net.input_softclip),
        rtol=1e-6,
        atol=1e-6,
    )


def test_peaks_match_numpy_with_plateaus(rng):
    # Quantized logits make plateaus, where only the first cell in raster order is a peak.
    logit = np.round(rng.normal(-3.0, 3.0, size=(3, 40, 50)), 0).astype(np.float32)
    got = find_peaks_torch(torch.from_numpy(logit), 0.01).numpy()
    for t in range(3):
        rows, cols = find_peaks(logit[t], 0.01)
        mine = got[got[:, 0] == t]
        np.testing.assert_array_equal(mine[:, 1], rows)
        np.testing.assert_array_equal(mine[:, 2], cols)


@pytest.mark.parametrize("model", ["spots", "spots-fast", "rings"])
@pytest.mark.parametrize("threshold", [0.05, 0.5])
def test_decoding_matches_numpy(model, threshold):
    # The real network's maps of simulated frames (merging, the corner profile and the
    # border cut all take part), decoded both ways.
    spec = load_model(model)
    loc = CNNLocalizer(spec, backend="onnxruntime", refine=False)
    frames = benchmark_frames((90, 130), n_frames=2, n_particles=40)
    maps, batch, noise = loc.predict_maps(frames)
    h, w = frames.shape[1:]
    rows = (
        DeviceDecoder(spec)
        .decode(
            torch.from_numpy(maps),
            torch.from_numpy(batch),
            torch.from_numpy(noise),
            (h, w),
            threshold,
        )
        .numpy()
    )
    for t in range(len(frames)):
        ref = decode_maps(
            maps[t],
            threshold,
            spec.stride,
            (h, w),
            image=batch[t, 0, :h, :w],
            mass_radius_px=spec.mass_radius_px,
            merge_neighbours=spec.merge_neighbours,
            corner_profile=spec.corner_profile,
        )
        mine = rows[rows[:, 0] == t]
        assert len(ref) > 5
        assert len(mine) == len(ref)
        got = np.column_stack([mine[:, 1:6], mine[:, 6] / noise[t]])
        np.testing.assert_allclose(got, ref[NUMERIC].to_numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("model", ["spots", "rings"])
def test_pipeline_on_cpu_matches_the_cpu_localizer(model):
    # Host uint16 frames -> positions through the CUDA backend's path, on the CPU device,
    # against the CNNLocalizer's numpy normalization and decoding of the same network.
    spec = load_model(model)
    frames = benchmark_frames((100, 150), n_frames=3, n_particles=50)
    assert frames.dtype == np.uint16
    ref = CNNLocalizer(spec, backend="torch", refine=False).locate_stack(frames, first_frame=7)
    backend = CudaBackend(spec, device="cpu")
    assert not backend.fp16 and not backend.graphs
    loc = CNNLocalizer(spec, backend=backend, refine=False)
    assert loc._on_device() is backend.pipeline
    got = loc.locate_stack(frames, first_frame=7)
    assert len(ref) > 20
    assert list(got.columns) == list(ref.columns)
    np.testing.assert_array_equal(got["frame"].to_numpy(), ref["frame"].to_numpy())
    assert np.abs(got[["x", "y"]].to_numpy() - ref[["x", "y"]].to_numpy()).max() < 1e-3
    np.testing.assert_allclose(got[NUMERIC].to_numpy(), ref[NUMERIC].to_numpy(), atol=1e-3)
    # One frame at a time, as the live tracker calls it.
    one = loc.locate(frames[1], frame=8)
    np.testing.assert_allclose(one[["x", "y"]], ref[ref.frame == 8][["x", "y"]], atol=1e-3)


def test_pipeline_is_left_where_a_step_needs_the_host():
    spec = load_model("spots")
    backend = CudaBackend(spec, device="cpu")
    assert CNNLocalizer(spec, backend=backend, refine=True)._on_device() is None
    assert CNNLocalizer(spec, backend=backend, refine=False, threshold="adaptive")._on_device() is (
        None
    )
    assert CNNLocalizer(spec, backend=backend, refine=False, noise_scale_px=1.5)._on_device() is (
        None
    )
    # The refined path still runs on that backend: the maps come back through `run`.
    frames = benchmark_frames((64, 64), n_frames=1, n_particles=10)
    ref = CNNLocalizer(spec, backend="torch").locate(frames[0])
    got = CNNLocalizer(spec, backend=backend).locate(frames[0])
    np.testing.assert_allclose(got[["x", "y"]], ref[["x", "y"]], atol=1e-4)


def test_frames_without_particles_give_an_empty_table():
    spec = load_model("spots")
    loc = CNNLocalizer(spec, backend=CudaBackend(spec, device="cpu"), refine=False)
    out = loc.locate(np.full((64, 64), 100, np.uint16))
    assert len(out) == 0
    assert list(out.columns) == ["frame", "x", "y", "prob", "sigma_x", "sigma_y", "mass"]


def test_the_fp16_network_agrees_within_a_hundredth_of_a_pixel():
    # The CUDA backend's half-precision weights and activations, run by torch on the CPU.
    from scipy.spatial import cKDTree

    spec = load_model("spots-fast")
    frames = benchmark_frames((128, 128), n_frames=2, n_particles=40)
    ref = CNNLocalizer(spec, backend="onnxruntime", refine=False).locate_stack(frames)
    backend = CudaBackend(spec, device="cpu", fp16=True)
    assert next(backend._net.parameters()).dtype == torch.float16
    got = CNNLocalizer(spec, backend=backend, refine=False).locate_stack(frames)
    # A detection at the threshold may fall either side of it in half precision.
    assert len(ref) > 20 and abs(len(got) - len(ref)) <= 1
    dist, _ = cKDTree(got[["x", "y"]].to_numpy()).query(ref[["x", "y"]].to_numpy())
    matched = dist[dist < 0.5]
    assert len(matched) >= len(ref) - 1
    assert np.median(matched) < 0.002
    assert matched.max() < 0.01
