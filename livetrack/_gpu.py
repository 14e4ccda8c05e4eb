"""Whether the GPU backends can run here, and why not: cheap checks for ``backend="auto"``.

``auto`` asks at every start, on every machine, most of them without a GPU. Importing
torch costs a second or two and the base install has none, so the checks first ask the
NVIDIA driver itself (``libcuda``, through ctypes) whether there is a device at all, and
import torch only where there is one. Each check returns None where the backend can run,
else one line saying why not, for the log line of ``auto`` and the error of an explicit
``--backend``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from functools import lru_cache

__all__ = ["cuda_unavailable", "driver_device_count", "load_library", "tensorrt_unavailable"]


def load_library(*names: str) -> ctypes.CDLL | None:
    """Return the first of the shared libraries ``names`` that loads, or None."""
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


@lru_cache(maxsize=1)
def driver_device_count() -> tuple[int, str]:
    """Return the CUDA devices the NVIDIA driver reports, and why 0 where there are none.

    Returns
    -------
    count : int
        Devices ``cuDeviceGetCount`` reports (0 without a driver).
    why : str
        Empty where ``count > 0``; else the driver's absence or its error.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return 0, "CUDA_VISIBLE_DEVICES hides every GPU"
    lib = load_library("libcuda.so.1", "libcuda.so", "nvcuda.dll", "libcuda.dylib")
    if lib is None:
        return 0, "no NVIDIA driver (libcuda not found)"
    try:
        if lib.cuInit(0) != 0:
            return 0, "the NVIDIA driver found no usable GPU (cuInit failed)"
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0, "the NVIDIA driver could not count its GPUs"
    except AttributeError:  # not the driver library after all
        return 0, "no NVIDIA driver (libcuda without cuInit)"
    if count.value < 1:
        return 0, "the NVIDIA driver reports no GPU"
    return count.value, ""


def cuda_unavailable() -> str | None:
    """Return why PyTorch cannot run on a CUDA GPU here, or None where it can.

    The driver is asked first; torch is imported only where it reports a device.
    """
    count, why = driver_device_count()
    if count == 0:
        return f"no CUDA device ({why})"
    if importlib.util.find_spec("torch") is None:
        from livetrack._extras import install_hint

        return f"torch is not installed ({install_hint('torch', 'gpu')})"
    import torch

    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        return (
            f"no CUDA device for torch (torch.cuda.is_available() is False; torch "
            f"{torch.__version__} is {build})"
        )
    return None


def tensorrt_unavailable() -> str | None:
    """Return why the TensorRT backend cannot run here, or None where it can.

    TensorRT needs the CUDA path too: its buffers are torch tensors on the GPU.
    """
    if importlib.util.find_spec("tensorrt") is None:
        return "tensorrt not installed (pip install tensorrt, beside a matching CUDA)"
    why = cuda_unavailable()
    if why is not None:
        return why
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:  # a broken install raises anything from missing libraries
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"tensorrt does not import ({first})"
    return None
