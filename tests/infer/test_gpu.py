"""The GPU backends on a GPU: agreement with the CPU reference, caching, graphs, memory.

Skipped, with the reason, where there is no CUDA GPU for torch or TensorRT does not import.
``benchmarks/gpu_check.sh`` runs them (with ``bench speed``) in one go on a GPU machine.
"""

import logging

import numpy as np
import pytest
from scipy.spatial import cKDTree

from livetrack import _gpu
from livetrack.infer import CNNLocalizer, EngineCache
from livetrack.model import load_model

NO_CUDA = _gpu.cuda_unavailable()
NO_TRT = _gpu.tensorrt_unavailable()
needs_cuda = pytest.mark.skipif(NO_CUDA is not None, reason=f"needs a CUDA GPU: {NO_CUDA}")
needs_tensorrt = pytest.mark.skipif(NO_TRT is not None, reason=f"needs TensorRT: {NO_TRT}")
pytestmark = pytest.mark.gpu


def _scene(size, n_frames=3, seed=0):
    from livetrack.simulate import Dynamics, GaussianPSF, simulate_movie

    movie = simulate_movie(
        n_frames=n_frames,
        shape=(size, size),
        n_particles=size * size // 2600,
        psf=GaussianPSF(1.0),
        snr=4.0,
        dynamics=Dynamics(diffusion_px2=1.0),
        seed=seed,
    )
    return movie.frames


def _agree(got, ref, tol_px=0.01):
    """Same detections (all but a borderline few), positions within ``tol_px`` (median, p99)."""
    # A detection at the threshold may fall either side of it in FP16 (about 1 in 70 on
    # the CPU's FP16 runs): the counts agree to 1 %.
    assert len(ref) > 50
    assert abs(len(got) - len(ref)) <= max(2, 0.01 * len(ref))
    for frame in np.unique(ref["frame"]):
        a = ref[ref.frame == frame][["x", "y"]].to_numpy()
        b = got[got.frame == frame][["x", "y"]].to_numpy()
        dist, _ = cKDTree(b).query(a)
        matched = dist[dist < 0.5]
        assert len(matched) >= len(a) - max(2, 0.01 * len(a))
        assert np.median(matched) < tol_px / 5
        assert np.percentile(matched, 99) < tol_px


@needs_cuda
@pytest.mark.parametrize("size", [512, 2048])
def test_cuda_agrees_with_the_cpu_reference(size):
    from livetrack.infer import CudaBackend

    spec = load_model("spots")
    frames = _scene(size)
    ref = CNNLocalizer(spec, backend="onnxruntime", refine=False).locate_stack(frames)
    backend = CudaBackend(spec)
    assert backend.graphs and backend.fp16 in (True, False)
    loc = CNNLocalizer(spec, backend=backend, refine=False, batch_size=1)
    assert loc._on_device() is backend.pipeline
    got = loc.locate_stack(frames)
    _agree(got, ref)
    # The graph replayed for later frames gives the first frame's result again.
    again = loc.locate(frames[0], frame=0)
    np.testing.assert_allclose(
        again[["x", "y"]].to_numpy(), got[got.frame == 0][["x", "y"]].to_numpy(), atol=1e-4
    )


@needs_cuda
def test_cuda_refined_path_brings_maps_back():
    from livetrack.infer import CudaBackend

    spec = load_model("spots")
    frames = _scene(256, n_frames=2)
    ref = CNNLocalizer(spec, backend="onnxruntime").locate_stack(frames)
    got = CNNLocalizer(spec, backend=CudaBackend(spec)).locate_stack(frames)
    assert abs(len(got) - len(ref)) <= 2


@needs_cuda
def test_a_2048_stream_needs_under_1_gb():
    import torch

    from livetrack.infer import CudaBackend

    spec = load_model("spots")
    frames = _scene(2048, n_frames=2)
    torch.cuda.reset_peak_memory_stats()
    loc = CNNLocalizer(spec, backend=CudaBackend(spec), refine=False, batch_size=1)
    for i, frame in enumerate(frames):
        loc.locate(frame, frame=i)
    assert torch.cuda.max_memory_allocated() < 1 << 30


@needs_tensorrt
@pytest.mark.parametrize("size", [512, 2048])
def test_tensorrt_agrees_with_the_cpu_reference(size, tmp_path):
    from livetrack.infer import TensorRTBackend

    spec = load_model("spots")
    frames = _scene(size)
    ref = CNNLocalizer(spec, backend="onnxruntime", refine=False).locate_stack(frames)
    backend = TensorRTBackend(spec, frame_shape=(size, size), cache=EngineCache(tmp_path))
    loc = CNNLocalizer(spec, backend=backend, refine=False, batch_size=1)
    _agree(loc.locate_stack(frames), ref)
    # Batched (throughput mode) too: the profile takes up to 8 frames.
    _agree(
        CNNLocalizer(spec, backend=backend, refine=False, batch_size=3).locate_stack(frames), ref
    )


@needs_tensorrt
def test_the_second_start_loads_the_cached_engine(tmp_path, caplog):
    from livetrack.infer import TensorRTBackend

    spec = load_model("spots-fast")
    cache = EngineCache(tmp_path)
    with caplog.at_level(logging.INFO, logger="livetrack"):
        TensorRTBackend(spec, frame_shape=(512, 512), cache=cache)
    assert "building a TensorRT" in caplog.text
    assert len(list(tmp_path.glob("*.engine"))) == 1
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="livetrack"):
        backend = TensorRTBackend(spec, frame_shape=(512, 512), cache=cache)
    assert "building" not in caplog.text
    out = CNNLocalizer(spec, backend=backend, refine=False).locate(_scene(512, 1)[0])
    assert len(out) > 50
    # A damaged file is rebuilt, not loaded.
    path = next(tmp_path.glob("*.engine"))
    path.write_bytes(path.read_bytes()[:-100])
    with caplog.at_level(logging.INFO, logger="livetrack"):
        TensorRTBackend(spec, frame_shape=(512, 512), cache=cache)
    assert "rebuilding" in caplog.text


@needs_cuda
def test_auto_takes_a_gpu_backend():
    from livetrack import registry

    name, why = registry.choose_backend()
    assert name in ("tensorrt", "cuda"), why
