"""GPU workers: which GPUs, one worker per GPU seeing only its own; faked where none is.

The choice and the workers' environment are tested everywhere with the GPU enumeration
faked; ``test_gpu_workers_track_on_their_own_gpus`` runs on real GPUs and is skipped,
with the reason, where there are none (on a GPU machine: ``pytest -m gpu tests/batch``).
"""

import logging
import os

import pandas as pd
import pytest

import livetrack
from livetrack import InputError, _gpu
from livetrack.batch import _cluster
from livetrack.batch._cluster import _core_groups, choose_gpus, local_client, visible_gpus

NO_CUDA = _gpu.cuda_unavailable()


@pytest.mark.parametrize(
    ("gpus", "visible", "chosen"),
    [
        ("auto", ["0", "1"], ["0", "1"]),
        ("auto", [], []),
        (None, ["0", "1"], []),
        ("none", ["0"], []),
        (0, ["0"], []),
        ("0", ["0"], []),  # a count: no GPU
        (1, ["0", "1"], ["0"]),
        ("2", ["0", "1", "2"], ["0", "1"]),
        ("0,1", ["0", "1"], ["0", "1"]),
        ("2,", ["0", "1", "2"], ["2"]),  # one id: the trailing comma says it is not a count
        ([1], ["0", "1"], ["1"]),
        (["GPU-ab"], ["GPU-ab", "GPU-cd"], ["GPU-ab"]),
    ],
)
def test_choose_gpus(gpus, visible, chosen):
    assert choose_gpus(gpus, visible) == chosen


@pytest.mark.parametrize(
    ("gpus", "visible", "message"),
    [
        (2, [], "--gpus 2: no NVIDIA driver"),
        (3, ["0", "1"], "--gpus 3: only 2 visible (0, 1)"),
        ("0,1", [], "--gpus 0,1: no NVIDIA driver"),
        ("0,3", ["0", "1"], "--gpus 0,3: no GPU 3 here (visible: 0, 1)"),
        ("0,0", ["0", "1"], "a GPU named twice"),
        ("many", ["0"], "--gpus must be auto, none, a count or GPU ids"),
        (-1, ["0"], "--gpus must be >= 0"),
        (True, ["0"], "gpus must be 'auto'"),
    ],
)
def test_bad_gpus_are_one_line(gpus, visible, message):
    with pytest.raises(InputError) as err:
        choose_gpus(gpus, visible, "no NVIDIA driver (libnvidia-ml not found)")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 3")
    assert visible_gpus() == (["2", "3"], "")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus()[0] == []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(_cluster, "_nvml_count", lambda: (2, ""))
    assert visible_gpus() == (["0", "1"], "")


def test_visible_gpus_ask_nvidia_smi_without_nvml(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(_cluster, "_nvml_count", lambda: (0, "no NVIDIA driver (x)"))
    monkeypatch.setattr(_cluster, "_smi_count", lambda: (1, ""))
    assert visible_gpus() == (["0"], "")


def test_visible_gpus_never_initialise_cuda(monkeypatch):
    # The driver process must not start CUDA: NVML or nvidia-smi only, never libcuda/torch.
    import ctypes
    import sys

    loaded = []
    real = ctypes.CDLL

    def recording(name, *args, **kwargs):
        loaded.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(ctypes, "CDLL", recording)
    before = "torch" in sys.modules
    gpus, why = visible_gpus()
    assert isinstance(gpus, list) and (gpus or why)
    assert loaded and all("nvidia-ml" in name or "nvml" in name for name in loaded)
    assert ("torch" in sys.modules) == before


@pytest.mark.parametrize(
    ("cores", "n", "groups"),
    [
        ([0, 1], 2, [[0], [1]]),
        ([0, 1, 2, 3], 2, [[0, 1], [2, 3]]),
        ([0, 1, 2, 3, 4], 2, [[0, 1], [2, 3, 4]]),
        ([0, 1], 3, [[0], [1], [0]]),
        ([], 2, []),
    ],
)
def test_gpu_workers_share_the_cores(cores, n, groups):
    assert _core_groups(cores, n) == groups


def test_explicit_gpus_without_a_gpu_are_an_error(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(_cluster, "visible_gpus", lambda: ([], "no NVIDIA driver (x)"))
    with pytest.raises(InputError, match=r"^--gpus 2: no NVIDIA driver \(x\)$"):
        local_client(gpus=2)


def test_auto_without_a_gpu_logs_one_line_and_starts_cpu_workers(monkeypatch, caplog):
    pytest.importorskip("distributed")
    monkeypatch.setattr(_cluster, "visible_gpus", lambda: ([], "no NVIDIA driver (x)"))
    with caplog.at_level(logging.INFO, logger="livetrack"):
        client = local_client(n_workers=1, gpus="auto")
    try:
        env = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert list(env.values()) == [os.environ.get("CUDA_VISIBLE_DEVICES")]
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    lines = [r.getMessage() for r in caplog.records if "GPU" in r.getMessage()]
    assert lines == ["no NVIDIA GPU (no NVIDIA driver (x)): CPU workers, one per core"]


def test_auto_with_cpu_only_torch_logs_and_starts_cpu_workers(monkeypatch, caplog):
    pytest.importorskip("distributed")
    monkeypatch.setattr(_cluster, "visible_gpus", lambda: (["0"], ""))
    monkeypatch.setattr(_cluster, "_gpu_software_missing", lambda: "torch 9 is a CPU-only build")
    with caplog.at_level(logging.INFO, logger="livetrack"):
        client = local_client(gpus="auto")
    try:
        env = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert set(env.values()) == {os.environ.get("CUDA_VISIBLE_DEVICES")}
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert any("but torch 9 is a CPU-only build" in r.getMessage() for r in caplog.records)
    with pytest.raises(InputError, match=r"^--gpus 1: torch 9 is a CPU-only build$"):
        local_client(gpus=1)


def test_one_worker_per_gpu_each_sees_only_its_own(monkeypatch):
    # Two GPUs faked in the driver: real worker processes start, each with
    # CUDA_VISIBLE_DEVICES naming its GPU alone and pinned to its share of the cores; the
    # CUDA check those workers would fail here is what the real-GPU test below covers.
    pytest.importorskip("distributed")
    monkeypatch.setattr(_cluster, "visible_gpus", lambda: (["0", "1"], ""))
    monkeypatch.setattr(_cluster, "_gpu_software_missing", lambda: None)
    checked = []
    monkeypatch.setattr(_cluster, "_check_gpu_workers", checked.append)
    client = local_client(gpus="auto")

    def view() -> tuple[str | None, list[int]]:  # defined here: pickled by value
        return os.environ.get("CUDA_VISIBLE_DEVICES"), sorted(os.sched_getaffinity(0))

    try:
        views = client.run(view)
        names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
        by_name = {names[a]: v for a, v in views.items()}
        assert sorted(by_name) == [0, 1]
        assert by_name[0][0] == "0" and by_name[1][0] == "1"
        cores = sorted(os.sched_getaffinity(0))
        groups = _core_groups(cores, 2)
        assert [by_name[i][1] for i in (0, 1)] == groups
        info = client.scheduler_info()["workers"].values()
        assert [w["nthreads"] for w in info] == [1, 1]
        assert checked == [client]
        # A worker restarted by its nanny keeps its GPU.
        client.restart()
        views = client.run(view)
        names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
        assert {names[a]: v[0] for a, v in views.items()} == {0: "0", 1: "1"}
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


def test_cpu_workers_get_one_core_each():
    pytest.importorskip("distributed")
    client = local_client(n_workers=1, gpus=None)

    def view() -> list[int]:
        return sorted(os.sched_getaffinity(0))

    try:
        assert list(client.run(view).values()) == [[min(os.sched_getaffinity(0))]]
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


def test_more_workers_than_gpus_is_an_error(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(_cluster, "visible_gpus", lambda: (["0"], ""))
    monkeypatch.setattr(_cluster, "_gpu_software_missing", lambda: None)
    with pytest.raises(InputError, match=r"^2 workers but 1 GPU"):
        local_client(n_workers=2, gpus="auto")


def test_a_gpu_worker_without_cuda_is_one_line(monkeypatch):
    # The workers' own check, on real workers that have no CUDA here.
    pytest.importorskip("distributed")
    if NO_CUDA is None:
        pytest.skip("CUDA runs here")
    monkeypatch.setattr(_cluster, "visible_gpus", lambda: (["0"], ""))
    monkeypatch.setattr(_cluster, "_gpu_software_missing", lambda: None)
    with pytest.raises(InputError, match=r"^the worker on GPU 0 \(tcp://.*\) cannot run CUDA"):
        local_client(gpus="0,")


def test_track_many_keeps_cpu_localizers_on_cpu_workers(tmp_path, monkeypatch):
    from livetrack.batch._locate import LocateSpec
    from livetrack.batch._run import _gpus_for

    assert _gpus_for(LocateSpec(method="centroid"), "auto") is None
    assert _gpus_for(LocateSpec(backend="onnxruntime"), "auto") is None
    assert _gpus_for(LocateSpec(backend="cuda"), "auto") == "auto"
    assert _gpus_for(LocateSpec(), 2) == 2
    with pytest.raises(InputError, match=r"^--gpus asks for GPU workers, but method 'centroid'"):
        _gpus_for(LocateSpec(method="centroid"), 2)
    with pytest.raises(InputError, match=r"but backend 'onnxruntime' runs on the CPU$"):
        livetrack.track_many([tmp_path], tmp_path / "o", backend="onnxruntime", gpus="0,1")


@pytest.mark.gpu
@pytest.mark.skipif(NO_CUDA is not None, reason=f"needs a CUDA GPU: {NO_CUDA}")
def test_gpu_workers_track_on_their_own_gpus(movies, tmp_path):
    pytest.importorskip("distributed")
    paths, stacks = movies
    client = local_client(gpus="auto")
    try:
        n = len(client.scheduler_info()["workers"])
        assert n == len(visible_gpus()[0])

        def device() -> tuple[str | None, str, int]:
            import torch

            from livetrack.infer._localizer import _cached_localizer

            loc = _cached_localizer("spots", "auto")
            return (
                os.environ.get("CUDA_VISIBLE_DEVICES"),
                loc.backend.name,
                torch.cuda.device_count(),
            )

        report = livetrack.track_many(
            paths, tmp_path / "out", client=client, model="spots", chunk_frames=4
        )
        assert report.ok
        seen = client.run(device)
        # Each worker sees one GPU (its own) and holds the model on a GPU backend.
        assert sorted(v[0] for v in seen.values()) == sorted(visible_gpus()[0])
        assert all(v[2] == 1 and v[1] in ("tensorrt", "cuda", "torch") for v in seen.values())
        for path, frames in zip(paths, stacks, strict=True):
            got = pd.read_csv(tmp_path / "out" / f"{path.stem}.csv")
            cpu = livetrack.track(frames, "spots", backend="onnxruntime")
            # The GPU's float arithmetic differs in the last bits: same particles, same places.
            assert abs(len(got) - len(cpu)) <= max(2, len(cpu) // 50)
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
