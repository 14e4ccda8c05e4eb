"""Local Dask clusters for tracking: one worker per core, or one per GPU.

Which GPUs there are is asked of the NVIDIA driver's management library (NVML, through
ctypes; ``nvidia-smi -L`` where it cannot be loaded), never of CUDA: a driver process that
initialised CUDA would hold a context on every GPU and pass a broken CUDA state to forked
children. ``CUDA_VISIBLE_DEVICES`` in the driver's environment restricts the GPUs as CUDA
would. Dask is imported only when a cluster is started.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from livetrack._errors import InputError

__all__ = ["GPU_BACKENDS", "GpuSpec", "choose_gpus", "local_client", "visible_gpus"]

_log = logging.getLogger(__name__)

#: What ``gpus`` may be: "auto", None, a count, or the GPUs themselves.
GpuSpec = str | int | Sequence[int | str] | None
#: Backends that run the CNN on a GPU worker's device ("auto" takes the first of them that
#: runs there).
GPU_BACKENDS = ("auto", "tensorrt", "cuda", "torch")


#: Dask configuration the local cluster (its scheduler, nannies and workers) starts with.
#: Each costs the one-worker cluster in ``benchmarks/batch.py overhead`` (64 frames 256x256,
#: driver and worker on one core), measured against in-process ``locate``:
_WORKER_CONFIG: dict[str, Any] = {
    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536 so that freed memory goes back
    # to the OS at once; setting it turns off glibc's adaptive mmap threshold, so every
    # frame-sized array is mmapped and unmapped: ~32,000 page faults per run and 12 % more
    # CPU in the localizer. glibc's defaults kept the worker within its limit (memory
    # benchmark: peak 0.69 of it, 0.65 with Dask's setting). Unset unless this process's
    # environment sets it (the workers inherit that).
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # The profiler samples the task thread every 10 ms for a dashboard this cluster does
    # not have; the 20 ms event-loop tick and the 0.5 s system monitor wake the worker too.
    # Together: ~300 involuntary context switches per run to ~50, 4 % of wall time.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
}


def _nvml_count() -> tuple[int, str]:
    """GPUs NVML counts (0 and why where it cannot), without touching CUDA."""
    from livetrack._gpu import load_library

    lib = load_library("libnvidia-ml.so.1", "libnvidia-ml.so", "nvml.dll")
    if lib is None:
        return 0, "no NVIDIA driver (libnvidia-ml not found)"
    try:
        init = getattr(lib, "nvmlInit_v2", None) or lib.nvmlInit
        count_fn = getattr(lib, "nvmlDeviceGetCount_v2", None) or lib.nvmlDeviceGetCount
        if init() != 0:
            return 0, "the NVIDIA driver did not start NVML (nvmlInit failed)"
        try:
            count = ctypes.c_uint(0)
            if count_fn(ctypes.byref(count)) != 0:
                return 0, "NVML could not count the GPUs"
        finally:
            lib.nvmlShutdown()
    except AttributeError:  # a library of that name without NVML's functions
        return 0, "no usable NVML in libnvidia-ml"
    return int(count.value), "" if count.value else "the NVIDIA driver reports no GPU"


def _smi_count() -> tuple[int, str]:
    """GPUs ``nvidia-smi -L`` lists (0 and why where it cannot)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0, "no NVIDIA driver (neither libnvidia-ml nor nvidia-smi found)"
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return 0, f"nvidia-smi -L failed ({exc})"
    count = sum(line.startswith("GPU ") for line in out.stdout.splitlines())
    return count, "" if count else "nvidia-smi lists no GPU"


def visible_gpus() -> tuple[list[str], str]:
    """Return the GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` names them.

    Returns
    -------
    gpus : list of str
        ``CUDA_VISIBLE_DEVICES``'s entries where it is set, else ``"0"``, ``"1"``, ... for
        the GPUs the driver counts; empty where there are none.
    why : str
        Empty where there are GPUs; else one phrase saying why not.
    """
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        entries = [e.strip() for e in listed.split(",") if e.strip()]
        # CUDA stops at the first invalid entry; "-1" is the usual way to hide them all.
        if not entries or entries[0].startswith("-"):
            return [], "CUDA_VISIBLE_DEVICES hides every GPU"
        return entries, ""
    count, why = _nvml_count()
    if count == 0 and why.startswith("no NVIDIA driver"):
        count, why = _smi_count()  # NVML library missing from the path: ask the tool
    return [str(i) for i in range(count)], why


def _describe(gpus: GpuSpec) -> str:
    if isinstance(gpus, (str, int)) or gpus is None:
        return str(gpus)
    return ",".join(str(g) for g in gpus)


def choose_gpus(gpus: GpuSpec, visible: Sequence[str], why: str = "") -> list[str]:
    """Return the GPUs to start workers on, from ``gpus`` and those ``visible``.

    Parameters
    ----------
    gpus : "auto", None, int, str or sequence
        ``"auto"``: every visible GPU (none where there are none); None, ``0`` or
        ``"none"``: none (CPU workers); an int ``N`` (or ``"N"``): the first N visible;
        ``"0,2"`` or ``[0, 2]``: those GPUs (as ``CUDA_VISIBLE_DEVICES`` names them).
    visible : sequence of str
        The GPUs there are (:func:`visible_gpus`).
    why : str
        Why there are none, for the error where ``gpus`` asks for some.

    Returns
    -------
    list of str
        The chosen GPUs (empty: CPU workers).

    Raises
    ------
    InputError
        A malformed ``gpus``, or GPUs asked for that are not there.
    """
    if gpus is None:
        return []
    if isinstance(gpus, str):
        text = gpus.strip().lower()
        if text == "auto":
            return list(visible)
        if text in ("none", "cpu"):
            return []
        if "," in text:
            wanted: list[str] = [e.strip() for e in gpus.split(",") if e.strip()]
        elif text.isdigit():
            return choose_gpus(int(text), visible, why)
        else:
            raise InputError(
                f"--gpus must be auto, none, a count or GPU ids like 0,1; got {gpus!r}"
            )
    elif isinstance(gpus, bool):  # a bool is an int to Python, never a GPU count
        raise InputError(f"gpus must be 'auto', None, a count or GPU ids; got {gpus!r}")
    elif isinstance(gpus, int):
        if gpus < 0:
            raise InputError(f"--gpus must be >= 0, got {gpus}")
        if gpus == 0:
            return []
        if len(visible) < gpus:
            have = f"only {len(visible)} visible ({', '.join(visible)})" if visible else why
            raise InputError(f"--gpus {gpus}: {have or 'no NVIDIA GPU visible'}")
        return list(visible[:gpus])
    else:
        wanted = [str(g).strip() for g in gpus]
    if len(set(wanted)) != len(wanted):
        raise InputError(f"--gpus {_describe(gpus)}: a GPU named twice")
    if not visible:
        raise InputError(f"--gpus {_describe(gpus)}: {why or 'no NVIDIA GPU visible'}")
    missing = [w for w in wanted if w not in visible]
    if missing:
        raise InputError(
            f"--gpus {_describe(gpus)}: no GPU {', '.join(missing)} here "
            f"(visible: {', '.join(visible)})"
        )
    return wanted


def _core_groups(cores: Sequence[int], n: int) -> list[list[int]]:
    """Split ``cores`` into ``n`` contiguous groups (a core each, shared, where n > cores)."""
    if not cores:
        return []
    if n >= len(cores):
        return [[cores[i % len(cores)]] for i in range(n)]
    return [list(cores[i * len(cores) // n : (i + 1) * len(cores) // n]) for i in range(n)]


def _worker_gpu() -> tuple[str | None, str | None]:
    """Run on a GPU worker: its ``CUDA_VISIBLE_DEVICES`` and why CUDA cannot run, if not."""
    from livetrack import _gpu

    return os.environ.get("CUDA_VISIBLE_DEVICES"), _gpu.cuda_unavailable()


def _check_gpu_workers(client: Any) -> None:
    """Raise InputError unless every GPU worker can run CUDA on its own GPU."""
    for address, (device, why) in sorted(client.run(_worker_gpu).items()):
        if why is not None:
            raise InputError(f"the worker on GPU {device} ({address}) cannot run CUDA: {why}")


def local_client(
    n_workers: int | None = None,
    memory_limit: str | int | None = None,
    gpus: GpuSpec = "auto",
) -> Any:
    """Start a ``distributed.LocalCluster`` for tracking and return a client of it.

    CPU workers (``gpus`` None, or ``"auto"`` where there is no GPU): one single-threaded
    worker process per core, each pinned to its own core and holding its own model and
    inference session. GPU workers, as dask-cuda's ``LocalCUDACluster`` starts them: one
    single-threaded worker process per GPU, each seeing only its own GPU
    (``CUDA_VISIBLE_DEVICES``) and pinned to its share of the cores, so each loads the
    model once, on its GPU (``backend="auto"`` then takes TensorRT or CUDA). No dashboard.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; the usable cores (CPU) or the chosen GPUs by default. With GPU
        workers, at most one per GPU: the first ``n_workers`` GPUs are used.
    memory_limit : str or int, optional
        Memory limit per worker (``"2GiB"``, bytes); Dask's default share of the RAM if None.
    gpus : "auto", None, int, str or sequence, optional
        The GPUs to start workers on (see :func:`choose_gpus`): ``"auto"`` every visible
        NVIDIA GPU, CPU workers (and one log line) where there is none or where torch
        cannot use one; None or ``"none"``: CPU workers.

    Returns
    -------
    distributed.Client
        Closing it (``client.close()``; ``with`` works too) leaves its cluster running:
        close ``client.cluster`` too.

    Raises
    ------
    InputError
        GPUs asked for that are not there or that torch cannot use (an explicit count or
        list), more workers than GPUs, or a GPU worker that cannot run CUDA.
    """
    with _needs_dask():
        import dask
        from distributed import Client, LocalCluster

    if n_workers is not None and n_workers < 1:
        raise InputError(f"n_workers must be >= 1, got {n_workers}")
    devices: list[str] = []
    if gpus is not None:
        visible, why = visible_gpus()
        devices = choose_gpus(gpus, visible, why)
        auto = isinstance(gpus, str) and gpus.strip().lower() == "auto"
        if not devices and auto:
            _log.info("no NVIDIA GPU (%s): CPU workers, one per core", why or "none visible")
        if devices and n_workers is not None:
            if n_workers > len(devices):
                raise InputError(
                    f"{n_workers} workers but {len(devices)} GPU(s): GPU workers are one per "
                    "GPU (--gpus none for CPU workers)"
                )
            devices = devices[:n_workers]
        missing = _gpu_software_missing() if devices else None
        if missing is not None:
            if not auto:
                raise InputError(f"--gpus {_describe(gpus)}: {missing}")
            _log.info("GPUs %s but %s: CPU workers, one per core", ",".join(devices), missing)
            devices = []
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    n = len(devices) or n_workers or max(1, len(cores) or os.cpu_count() or 1)
    # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536 so that freed memory goes
    # back to the OS at once. Setting it turns off glibc's adaptive mmap threshold: every
    # frame-sized array is then mmapped and unmapped, ~32,000 page faults per 64 frames of
    # 256x256 and 12 % more CPU in the localizer (benchmarks/batch.py overhead). glibc's
    # defaults keep our workers within their limit (the memory benchmark), so the local
    # cluster leaves the variable unset unless this process's environment sets it.
    limit = memory_limit if memory_limit is not None else "auto"
    # No dashboard, and the scheduler's small HTTP server (metrics) on a free port: on its
    # default 8787 a second cluster on the machine starts with a warning.
    quiet: dict[str, Any] = {
        "dashboard_address": None,
        "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
    }
    with dask.config.set(_WORKER_CONFIG):
        if devices:
            from livetrack.batch._plugin import GPUCluster

            cluster: Any = GPUCluster(devices, memory_limit=limit, **quiet)
        else:
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                memory_limit=limit,
                **quiet,
            )
    try:
        client = Client(cluster)
        client.wait_for_workers(n)
        if cores and (devices or n <= len(cores)):
            from livetrack.batch._plugin import PinToCore

            # A CPU worker gets one core (its ONNX Runtime one thread), as many workers as
            # asked; a GPU worker its share of them, for reading and decoding beside the GPU.
            groups = _core_groups(cores, n) if devices else [[c] for c in cores[:n]]
            client.register_plugin(PinToCore(groups))
        if devices:
            _check_gpu_workers(client)
    except BaseException:
        cluster.close()
        raise
    return client


def _gpu_software_missing() -> str | None:
    """Why this install cannot run a model on a GPU (no torch, CPU-only torch), or None.

    Asked in the driver before any worker starts, without initialising CUDA (importing
    torch does not); the workers then check their own GPU (:func:`_check_gpu_workers`).
    """
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        from livetrack._extras import install_hint

        return f"torch is not installed ({install_hint('torch', 'gpu')})"
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return None


def _needs_dask() -> Any:
    from livetrack._extras import needs_extra

    return needs_extra("tracking on a Dask cluster (livetrack track with several movies)")
