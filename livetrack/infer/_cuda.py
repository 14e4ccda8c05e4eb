"""The CUDA backend without TensorRT: PyTorch on the GPU, FP16, one CUDA graph per frame size.

A live stream sends frames of one size, so the network's kernels are captured once per
batch shape into a CUDA graph and replayed: a replay costs one launch instead of one per
layer, which is what small frames are bound by. Normalization and decoding run on the GPU
too (:class:`~livetrack.infer._device_pipeline.DevicePipeline`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from livetrack._errors import InputError
from livetrack._extras import require
from livetrack.infer._device_pipeline import DevicePipeline
from livetrack.model import ModelSpec, load_net

# Batch shapes whose CUDA graphs are kept (each holds its input, output and activations).
_GRAPHS_KEPT = 4
# Plain runs before a capture: cuDNN picks its kernels and the allocator settles first.
_WARMUP_RUNS = 3


def fp16_capable(torch: Any, device: Any) -> bool:
    """Whether the GPU runs FP16 fast: compute capability 7.0 (tensor cores) or later."""
    major, _ = torch.cuda.get_device_capability(device)
    return bool(major >= 7)


class CudaBackend:
    """PyTorch on a CUDA GPU with FP16 weights and CUDA graphs.

    Parameters
    ----------
    spec : ModelSpec
        Loaded model; its ``weights.pt`` is used.
    device : str
        ``"cuda"`` or ``"cuda:N"``; ``"cpu"`` runs the same path (float32, no graphs) on the
        CPU, which is how it is tested where there is no GPU.
    fp16 : bool, optional
        Half-precision weights and activations; default: on a GPU of compute capability
        7.0 or later.
    graphs : bool, optional
        Capture the network into a CUDA graph per batch shape; default: on a GPU.

    Attributes
    ----------
    pipeline : DevicePipeline
        Frames to positions on the device (:class:`~livetrack.infer.CNNLocalizer` uses it
        where no step needs the host).
    """

    name = "cuda"

    def __init__(
        self,
        spec: ModelSpec,
        device: str = "cuda",
        fp16: bool | None = None,
        graphs: bool | None = None,
    ) -> None:
        torch = require("torch", "the cuda backend", "gpu")
        if device.startswith("cuda"):
            from livetrack._gpu import cuda_unavailable

            why = cuda_unavailable()
            if why is not None:
                raise InputError(f"backend 'cuda' cannot run here: {why}")
        self._torch = torch
        on_gpu = device.startswith("cuda")
        self.fp16 = (on_gpu and fp16_capable(torch, device)) if fp16 is None else bool(fp16)
        self.graphs = on_gpu if graphs is None else bool(graphs) and on_gpu
        from livetrack.model import fold_batchnorm

        # BatchNorm folded into the convolutions (in float32, before any rounding to FP16),
        # as in the ONNX export: fewer kernels per frame, the graph TensorRT runs.
        net = fold_batchnorm(load_net(spec, device=device))
        self._net = net.half() if self.fp16 else net
        self.pipeline = DevicePipeline(spec, self._network, device)
        self.device = str(self.pipeline.device)
        if on_gpu:
            self.device = f"{self.device}, {torch.cuda.get_device_name(self.pipeline.device)}"
        # Touched only under the pipeline's lock.
        self._captured: OrderedDict[tuple[int, ...], tuple[Any, Any, Any]] = OrderedDict()

    def __repr__(self) -> str:
        return f"CudaBackend(device={self.device!r}, fp16={self.fp16}, graphs={self.graphs})"

    def _forward(self, x: Any) -> Any:
        return self._net(x.half() if self.fp16 else x)

    def _network(self, x: Any) -> Any:
        """Run the network on a device batch (the pipeline's stream is the current one)."""
        if not self.graphs:
            return self._forward(x)
        key = tuple(x.shape)
        entry = self._captured.get(key)
        if entry is None:
            entry = self._capture(x)
            self._captured[key] = entry
            while len(self._captured) > _GRAPHS_KEPT:
                self._captured.popitem(last=False)
        else:
            self._captured.move_to_end(key)
        graph, static_in, static_out = entry
        static_in.copy_(x)
        graph.replay()
        # The next replay overwrites the output: the caller decodes it before that, under
        # the pipeline's lock, on the same stream.
        return static_out

    def _capture(self, x: Any) -> tuple[Any, Any, Any]:
        """Capture the network for ``x``'s shape into a CUDA graph on the current stream."""
        torch = self._torch
        stream = torch.cuda.current_stream(x.device)
        static_in = x.clone()
        for _ in range(_WARMUP_RUNS):
            self._forward(static_in)
        stream.synchronize()
        graph = torch.cuda.CUDAGraph()
        # Capture on a side stream (as torch requires), joined to the pipeline's stream.
        side = torch.cuda.Stream(x.device)
        side.wait_stream(stream)
        with torch.cuda.graph(graph, stream=side):
            static_out = self._forward(static_in)
        stream.wait_stream(side)
        return graph, static_in, static_out

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on a normalized host ``batch``; the maps come back as float32."""
        return self.pipeline.run_maps(batch)
