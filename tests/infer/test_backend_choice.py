"""Which backend runs: auto's choice and its line, and one-line errors for what cannot run."""

import ctypes
import dataclasses
import logging
import subprocess
import sys

import numpy as np
import pytest

from livetrack import _gpu, registry
from livetrack._errors import InputError
from livetrack.cli import main

NO_GPU = "no CUDA device (no NVIDIA driver (libcuda not found))"
NO_TRT = "tensorrt not installed (pip install tensorrt, beside a matching CUDA)"


@pytest.fixture
def machine(monkeypatch):
    """Set what the GPU checks report: ``machine(cuda=..., tensorrt=...)`` (None: it runs)."""

    def set_(cuda=NO_GPU, tensorrt=NO_TRT):
        monkeypatch.setattr(_gpu, "cuda_unavailable", lambda: cuda)
        monkeypatch.setattr(_gpu, "tensorrt_unavailable", lambda: tensorrt or cuda)

    set_()
    monkeypatch.setattr(registry, "_LOGGED", set())
    return set_


def test_the_gpu_backends_are_registered_and_named():
    assert {"tensorrt", "cuda"} <= set(registry.backend_names())
    assert registry.AUTO_ORDER == ("tensorrt", "cuda", "onnxruntime", "torch")
    assert registry.parse_localizer("cnn:spots:cuda:fast").backend == "cuda"
    assert registry.parse_localizer("auto:tensorrt").backend == "tensorrt"


def test_without_a_gpu_auto_takes_onnxruntime_and_says_why(machine):
    name, why = registry.choose_backend()
    assert name == "onnxruntime"
    assert why == f"backend 'onnxruntime': {NO_TRT}; cuda: {NO_GPU}"


def test_with_a_gpu_but_no_tensorrt_auto_takes_cuda(machine):
    machine(cuda=None)
    assert registry.choose_backend() == ("cuda", f"backend 'cuda': {NO_TRT}")


def test_with_tensorrt_auto_takes_it_first(machine):
    machine(cuda=None, tensorrt=None)
    assert registry.choose_backend() == ("tensorrt", "backend 'tensorrt': the first choice of auto")


def test_nothing_that_runs_is_one_line(machine, monkeypatch):
    for name in ("onnxruntime", "torch"):
        entry = dataclasses.replace(registry._BACKENDS[name], why_not=lambda: "gone")
        monkeypatch.setitem(registry._BACKENDS, name, entry)
    with pytest.raises(InputError, match="no inference backend can run here: tensorrt not"):
        registry.choose_backend()


def test_auto_logs_its_choice_once(machine, caplog):
    from livetrack.model import load_model

    spec = load_model("spots")
    with caplog.at_level(logging.INFO, logger="livetrack"):
        first = registry.make_backend(spec, "auto")
        registry.make_backend(spec, "auto")
    assert first.name == "onnxruntime"
    lines = [r.getMessage() for r in caplog.records if "backend 'onnxruntime'" in r.getMessage()]
    assert lines == [f"backend 'onnxruntime': {NO_TRT}; cuda: {NO_GPU}"]


def test_auto_moves_on_when_a_gpu_backend_fails_to_start(machine, monkeypatch, caplog):
    from livetrack.model import load_model

    machine(cuda=None)

    def broken(spec):
        raise RuntimeError("CUDA error: out of memory\nmore detail")

    monkeypatch.setitem(
        registry._BACKENDS, "cuda", dataclasses.replace(registry._BACKENDS["cuda"], factory=broken)
    )
    with caplog.at_level(logging.INFO, logger="livetrack"):
        backend = registry.make_backend(load_model("spots"), "auto")
    assert backend.name == "onnxruntime"
    assert "backend 'cuda' failed to start (CUDA error: out of memory); trying the next" in (
        caplog.text
    )
    assert f"backend 'onnxruntime': {NO_TRT}; cuda: failed to start" in caplog.text


@pytest.mark.parametrize(
    ("name", "why"), [("cuda", NO_GPU), ("tensorrt", NO_TRT)], ids=["cuda", "tensorrt"]
)
def test_asked_by_name_where_it_cannot_run_is_one_line(machine, name, why):
    from livetrack.infer import CNNLocalizer

    with pytest.raises(InputError) as info:
        CNNLocalizer("spots", backend=name)
    assert str(info.value) == f"backend {name!r} cannot run here: {why}"


@pytest.fixture
def movie(tmp_path):
    import tifffile

    frames = np.random.default_rng(0).poisson(10.0, size=(2, 32, 32)).astype(np.uint16)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, frames)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["locate", "{movie}", "-o", "{out}"],
        ["track", "{movie}", "-o", "{out}"],
        ["demo", "--headless", "-n", "2", "-o", "{out}"],
        ["bench", "speed", "--frames", "1"],
        ["bench", "live", "--no-viewer"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_every_inferring_command_says_why_and_exits_1(machine, movie, tmp_path, args, capsys):
    out = tmp_path / "out.csv"
    args = [a.format(movie=movie, out=out) for a in args]
    with pytest.raises(SystemExit) as info:
        main([*args, "--backend", "cuda"])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"livetrack: error: backend 'cuda' cannot run here: {NO_GPU}"]
    assert not out.exists()


def test_the_demo_paths_take_the_backend():
    from livetrack.cli._demo_adapt import path_options

    assert {o.backend for o in path_options("auto", "auto", "cuda")} == {"cuda"}
    assert [o.backend for o in path_options("centroid", "auto")] == ["auto"]
    int8 = next(o for o in path_options("cnn", "spots", "cuda") if o.name == "cnn:int8")
    # A path that names its backend keeps it: int8 is ONNX Runtime's.
    assert registry.parse_localizer(int8.name).backend == "onnxruntime-int8"


def test_the_command_line_needs_no_monkeypatching_to_say_why(movie, tmp_path):
    # A fresh process on this machine, as a user runs it: one line, no traceback.
    why = _gpu.tensorrt_unavailable()
    if why is None:
        pytest.skip("tensorrt runs here")
    code = (
        "from livetrack.cli import main; main(['locate', {!r}, '-o', {!r}, '--model', 'spots', "
        "'--backend', 'tensorrt'])".format(str(movie), str(tmp_path / "out.csv"))
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"livetrack: error: backend 'tensorrt' cannot run here: {why}"
    ]


def test_the_driver_check_needs_no_torch(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    _gpu.driver_device_count.cache_clear()

    def no_library(name):
        raise OSError(name)

    monkeypatch.setattr(ctypes, "CDLL", no_library)
    try:
        assert _gpu.driver_device_count() == (0, "no NVIDIA driver (libcuda not found)")
        assert _gpu.cuda_unavailable() == NO_GPU
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
        _gpu.driver_device_count.cache_clear()
        assert _gpu.cuda_unavailable() == "no CUDA device (CUDA_VISIBLE_DEVICES hides every GPU)"
    finally:
        _gpu.driver_device_count.cache_clear()


def test_a_driver_with_a_gpu_asks_torch(monkeypatch):
    torch = pytest.importorskip("torch")

    class Driver:
        def cuInit(self, flags):
            return 0

        def cuDeviceGetCount(self, count):
            ctypes.cast(count, ctypes.POINTER(ctypes.c_int)).contents.value = 2
            return 0

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: Driver())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _gpu.driver_device_count.cache_clear()
    try:
        assert _gpu.driver_device_count() == (2, "")
        why = _gpu.cuda_unavailable()
        assert why is not None and "torch.cuda.is_available() is False" in why
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        assert _gpu.cuda_unavailable() is None
    finally:
        _gpu.driver_device_count.cache_clear()


def test_tensorrt_missing_is_named_before_the_gpu(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorrt" else real(name, *a)
    )
    assert _gpu.tensorrt_unavailable() == NO_TRT
