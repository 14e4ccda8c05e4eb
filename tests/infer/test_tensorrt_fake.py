"""The TensorRT backend's own code driven through a stand-in ``tensorrt`` module, on the CPU.

No GPU or TensorRT is needed: the stand-in builds "engines" that hold the ONNX graph they
were parsed from and runs them with ONNX Runtime, reading and writing the tensors at the
addresses the backend binds (``set_tensor_address``), as TensorRT reads device memory. What
this checks is the backend's side: the TensorRT 10 and 11 ways to FP16, the profile, the
cache, binding torch buffers and getting positions back. What it cannot check is TensorRT
itself; ``tests/infer/test_gpu.py`` does that where TensorRT runs.
"""

import ctypes
import json
import logging
import math
import sys
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from livetrack import _gpu  # noqa: E402
from livetrack.infer import CNNLocalizer, EngineCache  # noqa: E402
from livetrack.model import load_model  # noqa: E402

MAGIC = b"FAKE-ENGINE\n"


def _array_at(address, shape):
    n = int(np.prod(shape))
    return np.ctypeslib.as_array((ctypes.c_float * n).from_address(address)).reshape(shape)


def fake_tensorrt(version, fp16_flag):
    """A stand-in ``tensorrt`` module of the given version; records what the backend asks."""
    trt = ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = {"builds": [], "runs": 0}
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=2: None})
    trt.NetworkDefinitionCreationFlag = SimpleNamespace(STRONGLY_TYPED=5)
    trt.BuilderFlag = SimpleNamespace(FP16=0) if fp16_flag else SimpleNamespace(TF32=1)
    trt.MemoryPoolType = SimpleNamespace(WORKSPACE=0)
    trt.TensorIOMode = SimpleNamespace(INPUT="input", OUTPUT="output")
    trt.DataType = SimpleNamespace(FLOAT="float", HALF="half")

    class Network:
        def __init__(self, flags):
            self.flags, self.graph = flags, None

        def get_input(self, i):
            return SimpleNamespace(name="frames")

    class Parser:
        def __init__(self, network, logger):
            self.network, self.num_errors = network, 0

        def parse(self, graph):
            self.network.graph = graph
            return True

    class Config:
        def __init__(self):
            self.flags, self.profiles = set(), []

        def set_memory_pool_limit(self, pool, size):
            assert size > 0

        def set_flag(self, flag):
            self.flags.add(flag)

        def add_optimization_profile(self, profile):
            self.profiles.append(profile.shapes)

    class Profile:
        def set_shape(self, name, low, opt, high):
            self.shapes = (name, tuple(low), tuple(opt), tuple(high))

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            meta = {
                "strongly_typed": bool(network.flags & (1 << 5)),
                "fp16_flag": 0 in config.flags,
                "profile": config.profiles[0],
            }
            trt.calls["builds"].append(json.loads(json.dumps(meta)))
            header = json.dumps(meta).encode()
            return MAGIC + len(header).to_bytes(4, "little") + header + network.graph

    class Context:
        def __init__(self, engine):
            self.engine, self.addresses, self.shape = engine, {}, None

        def set_input_shape(self, name, shape):
            _, low, _, high = self.engine.meta["profile"]
            self.shape = tuple(shape)
            return all(lo <= s <= hi for lo, s, hi in zip(low, shape, high, strict=True))

        def get_tensor_shape(self, name):
            b, _, h, w = self.shape
            s = self.engine.stride
            return (b, 5, math.ceil(h / s), math.ceil(w / s))

        def set_tensor_address(self, name, address):
            self.addresses[name] = address

        def execute_async_v3(self, stream):
            x = _array_at(self.addresses["frames"], self.shape)
            maps = self.engine.session.run(None, {"frames": np.array(x)})[0]
            # The bound buffer must be what get_tensor_shape said, or this writes past it.
            assert maps.shape == self.get_tensor_shape("maps")
            _array_at(self.addresses["maps"], maps.shape)[...] = maps
            trt.calls["runs"] += 1
            return True

    class Engine:
        num_io_tensors = 2

        def __init__(self, meta, graph):
            self.meta = meta
            self.session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
            probe = np.zeros((1, 1, 32, 32), np.float32)
            self.stride = 32 // self.session.run(None, {"frames": probe})[0].shape[2]

        def get_tensor_name(self, i):
            return ["frames", "maps"][i]

        def get_tensor_mode(self, name):
            return "input" if name == "frames" else "output"

        def get_tensor_dtype(self, name):
            return "float"

        def create_execution_context(self):
            return Context(self)

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            if not data.startswith(MAGIC):
                return None
            n = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")
            meta = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + n])
            return Engine(meta, data[len(MAGIC) + 4 + n :])

    def parser_factory(network, logger):
        return Parser(network, logger)

    trt.Builder, trt.Runtime, trt.OnnxParser = Builder, Runtime, parser_factory
    return trt


@pytest.fixture
def gpu_standin(monkeypatch):
    """A machine where 'tensorrt imports' and torch 'has' an sm_90 GPU (running on the CPU)."""

    def install(version="10.3.0", fp16_flag=True):
        trt = fake_tensorrt(version, fp16_flag)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setattr(_gpu, "tensorrt_unavailable", lambda: None)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Stand-in GPU")
        monkeypatch.setattr(
            torch.cuda, "current_stream", lambda device=None: SimpleNamespace(cuda_stream=0)
        )
        return trt

    return install


def _frames():
    from livetrack.simulate import GaussianPSF, simulate_movie

    movie = simulate_movie(
        n_frames=2, shape=(120, 150), n_particles=40, psf=GaussianPSF(1.0), snr=6.0, seed=2
    )
    return movie.frames


@pytest.mark.parametrize(
    ("version", "fp16_flag", "typed"),
    [("10.3.0", True, False), ("11.0.0", False, True)],
    ids=["TensorRT 10: builder flag", "TensorRT 11: FP16 graph"],
)
def test_engine_built_cached_and_run_on_bound_buffers(
    gpu_standin, tmp_path, caplog, version, fp16_flag, typed
):
    from livetrack.infer import TensorRTBackend

    trt = gpu_standin(version, fp16_flag)
    spec = load_model("spots")
    cache = EngineCache(tmp_path)
    with caplog.at_level(logging.INFO, logger="livetrack"):
        backend = TensorRTBackend(spec, frame_shape=(300, 350), cache=cache, device="cpu")
    assert backend.precision == "fp16"
    assert "building a TensorRT fp16 engine of model 'spots' on Stand-in GPU (sm_90)" in (
        caplog.text
    )
    [build] = trt.calls["builds"]
    assert build["strongly_typed"] is typed and build["fp16_flag"] is not typed
    assert build["profile"] == ["frames", [1, 1, 32, 32], [1, 1, 300, 352], [8, 1, 2048, 2048]]

    frames = _frames()
    ref = CNNLocalizer(spec, backend="onnxruntime", refine=False).locate_stack(frames)
    loc = CNNLocalizer(spec, backend=backend, refine=False)
    assert loc.on_device
    got = loc.locate_stack(frames)
    assert trt.calls["runs"] == 1  # both frames in one batch, positions back as one table
    assert len(got) == len(ref) > 20
    tol = 0.05 if typed else 1e-4  # the FP16 graph ran in half precision
    np.testing.assert_allclose(got[["x", "y"]], ref[["x", "y"]], atol=tol)
    # The refined path brings the maps back through the same engine.
    refined = CNNLocalizer(spec, backend=backend).locate(frames[0])
    # (refinement may split a detection into two particles: compare refined with refined)
    on_cpu = CNNLocalizer(spec, backend="onnxruntime").locate(frames[0])
    assert len(refined) == len(on_cpu) >= len(ref[ref.frame == 0])
    np.testing.assert_allclose(refined[["x", "y"]], on_cpu[["x", "y"]], atol=max(tol, 1e-3))

    # The next start loads the engine: no second build.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="livetrack"):
        TensorRTBackend(spec, frame_shape=(300, 350), cache=cache, device="cpu")
    assert len(trt.calls["builds"]) == 1 and "building" not in caplog.text


def test_a_larger_frame_builds_an_engine_covering_both(gpu_standin, tmp_path):
    from livetrack.infer import TensorRTBackend

    trt = gpu_standin()
    spec = load_model("spots-fast")
    backend = TensorRTBackend(spec, cache=EngineCache(tmp_path), device="cpu")
    assert trt.calls["builds"] == []  # no frame size given: built at the first frame
    loc = CNNLocalizer(spec, backend=backend, refine=False)
    loc.locate(np.zeros((64, 64), np.uint16) + 100)
    assert trt.calls["builds"][0]["profile"][2] == [1, 1, 512, 512]  # a warm-up: tuned for 512
    loc.locate(np.zeros((40, 2200), np.uint16) + 100)
    profile = trt.calls["builds"][-1]["profile"]
    assert len(trt.calls["builds"]) == 2
    assert profile[3] == [8, 1, 2048, 2200] and profile[2] == [1, 1, 40, 2200]


def test_without_fast_fp16_the_engine_is_fp32(gpu_standin, tmp_path, monkeypatch):
    from livetrack.infer import TensorRTBackend

    trt = gpu_standin("11.0.0", False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (6, 1))
    backend = TensorRTBackend(
        load_model("spots-fast"), frame_shape=(64, 64), cache=EngineCache(tmp_path), device="cpu"
    )
    assert backend.precision == "fp32"
    [build] = trt.calls["builds"]
    assert not build["strongly_typed"] and not build["fp16_flag"]


def test_a_failed_fp16_build_falls_back_to_fp32(gpu_standin, tmp_path, caplog):
    from livetrack.infer import TensorRTBackend

    trt = gpu_standin("11.0.0", False)
    real_builder = trt.Builder

    class FailingTyped(real_builder):
        def build_serialized_network(self, network, config):
            if network.flags:
                return None  # TensorRT's way of saying the build failed
            return super().build_serialized_network(network, config)

    trt.Builder = FailingTyped
    with caplog.at_level(logging.WARNING, logger="livetrack"):
        backend = TensorRTBackend(
            load_model("spots-fast"),
            frame_shape=(64, 64),
            cache=EngineCache(tmp_path),
            device="cpu",
        )
    assert backend.precision == "fp32"
    assert "FP16 engine failed" in caplog.text
