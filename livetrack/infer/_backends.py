"""Inference engines behind one small protocol.

A backend runs the network on a normalized, soft-clipped, padded float32 batch ``(B, 1, H, W)``
and returns
the raw maps ``(B, 5, ceil(H / stride), ceil(W / stride))`` as float32 numpy. Normalization
and decoding happen outside, in numpy, so every backend sees and returns the same arrays.
New engines (TensorRT) register a factory with :func:`livetrack.registry.register_backend`;
the registry (re-exported here) turns names into backends.
"""

from __future__ import annotations

import os

import numpy as np

from livetrack._errors import InputError, ModelFileError
from livetrack._extras import require
from livetrack.model import ModelSpec, load_net
from livetrack.protocols import InferenceBackend
from livetrack.registry import (
    AUTO_ORDER,
    backend_names,
    make_backend,
    register_backend,
)

__all__ = [
    "AUTO_ORDER",
    "Backend",
    "OnnxRuntimeBackend",
    "TorchBackend",
    "backend_names",
    "default_threads",
    "make_backend",
    "register_backend",
]


#: The engine protocol under its name in this package (one definition, in livetrack.protocols).
Backend = InferenceBackend


def default_threads() -> int:
    """Threads for CPU inference: the cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU (the fast default without a GPU).

    Parameters
    ----------
    spec : ModelSpec
        Loaded model; its ``model.onnx`` is used.
    threads : int, optional
        Intra-op threads; defaults to the usable cores.
    precision : {"fp32", "int8"}
        ``"int8"`` runs the model's quantized export ``model.int8.onnx`` (made by
        ``livetrack quantize``): 1.2-1.8x faster on CPUs with VNNI, positions within a few
        hundredths of a pixel of fp32 before refinement.
    """

    name = "onnxruntime"

    def __init__(
        self, spec: ModelSpec, threads: int | None = None, precision: str = "fp32"
    ) -> None:
        import onnxruntime as ort

        if precision not in ("fp32", "int8"):
            raise InputError(f"precision must be 'fp32' or 'int8', got {precision!r}")
        path = spec.onnx_path
        if precision == "int8":
            path = spec.int8_onnx_path
            if not path.is_file():
                raise ModelFileError(
                    f"model {spec.name!r} has no int8 export ({path.name}); "
                    f"run `livetrack quantize {spec.folder}`"
                )
            self.name = "onnxruntime-int8"

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: on a shared or busy CPU (acquisition,
        # linking and display threads of the live pipeline) spinning made inference ~1.7x
        # slower in our measurements and starves the other threads.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                os.fspath(path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"{path}: corrupt or unsupported ONNX file ({first})") from None
        self._input = self._session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run the ONNX graph on ``batch``."""
        return self._session.run(None, {self._input: batch})[0]


class TorchBackend:
    """PyTorch on the CPU or a CUDA GPU.

    Parameters
    ----------
    spec : ModelSpec
        Loaded model; its ``weights.pt`` is used.
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; defaults to CUDA when available.
    threads : int, optional
        If given, sets torch's CPU thread count (process-wide ``torch.set_num_threads``).
        On a busy machine one thread can be much faster than several.
    """

    name = "torch"

    def __init__(
        self, spec: ModelSpec, device: str | None = None, threads: int | None = None
    ) -> None:
        torch = require("torch", "the torch backend")

        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"torch backend: device {device!r} requested but CUDA is unavailable")
        self.device = device
        self._torch = torch
        self._net = load_net(spec, device=device)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on ``batch``."""
        torch = self._torch
        with torch.inference_mode():
            out = self._net(torch.from_numpy(batch).to(self.device))
        return out.float().cpu().numpy()
