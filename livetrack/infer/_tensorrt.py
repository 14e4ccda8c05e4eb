"""The TensorRT backend: an engine built from the model's ONNX graph, cached on disk.

Precision: FP16 on GPUs of compute capability 7.0 or later, else FP32; an FP16 build that
fails falls back to FP32. TensorRT 10 takes FP16 as a builder flag on the float graph;
TensorRT 11 builds strongly typed networks only (no flag), so there the network is parsed
from the FP16 export (:func:`livetrack.model.fp16_onnx`) and typed by it. Which line is
installed is read from ``tensorrt.__version__`` and from whether ``BuilderFlag.FP16`` still
exists.

Shapes: one optimization profile per engine, from a single 32 x 32 frame up to eight frames
of 2048 x 2048 (a full sCMOS frame; its ROIs are smaller and fit) or of the largest frame
seen, tuned (``opt``) for the camera's frame at batch 1, the live case (:func:`shape_profile`).
A larger frame builds (or loads) another engine.

Buffers: the engine reads and writes torch tensors on the GPU (``set_tensor_address``) and
runs with ``execute_async_v3`` on the pipeline's CUDA stream; normalization and decoding
run there too (:class:`~livetrack.infer._device_pipeline.DevicePipeline`).
"""

from __future__ import annotations

import hashlib
import logging
from types import ModuleType
from typing import Any

import numpy as np

from livetrack._errors import InputError, LivetrackError, ModelFileError
from livetrack.infer._device_pipeline import DevicePipeline
from livetrack.infer._engine_cache import EngineCache, EngineKey, ShapeProfile
from livetrack.model import ModelSpec, fp16_onnx

_log = logging.getLogger("livetrack")

# Smallest frame side an engine takes (a small ROI), and the largest batch it is built for.
MIN_SIDE_PX = 32
MAX_BATCH = 8
# Every engine takes frames up to a full sCMOS frame, so a camera's ROIs need no rebuild; a
# warm-up's tiny frame tunes the engine for the usual camera size instead of for itself.
FULL_FRAME_PX = 2048
TYPICAL_PX = 512
# Scratch memory TensorRT may use while choosing kernels.
_WORKSPACE_BYTES = 1 << 30


def tensorrt_major(trt: ModuleType) -> int:
    """Return the major version of an imported ``tensorrt`` (0 where unreadable)."""
    try:
        return int(str(trt.__version__).split(".")[0])
    except (AttributeError, ValueError):
        return 0


def fp16_mode(trt: ModuleType) -> str:
    """How this TensorRT is asked for FP16: ``"flag"`` (TensorRT 10) or ``"typed"`` (11 on).

    ``"typed"``: a strongly typed network parsed from the FP16 graph, the only way in
    TensorRT 11, which dropped ``BuilderFlag.FP16``; ``"flag"``: the float graph with the
    builder's FP16 flag, TensorRT 10's way, kept there since it lets TensorRT keep a layer in
    FP32 where FP16 would be slower.
    """
    flag = getattr(getattr(trt, "BuilderFlag", None), "FP16", None)
    if tensorrt_major(trt) >= 11 or flag is None:
        return "typed"
    return "flag"


def shape_profile(
    batch_shape: tuple[int, ...], previous: ShapeProfile | None = None, max_batch: int = MAX_BATCH
) -> ShapeProfile:
    """Return the optimization profile that covers ``batch_shape`` (and ``previous``).

    Parameters
    ----------
    batch_shape : tuple of int
        ``(B, 1, H, W)`` input shape to run.
    previous : tuple, optional
        The profile of the engine in use; the new one covers what it covered.
    max_batch : int
        Largest batch of the profile (at least ``B``).

    Returns
    -------
    tuple
        ``(min, opt, max)`` shapes ``(B, 1, H, W)``. ``max`` covers a full sCMOS frame
        (2048 x 2048) or the shape, whichever is larger; ``opt`` is one frame of the shape,
        or of 512 x 512 for a shape smaller than 256 px a side (a warm-up, not the camera).
    """
    b, c, h, w = (int(v) for v in batch_shape)
    top_b, top_h, top_w = max(b, max_batch), max(h, FULL_FRAME_PX), max(w, FULL_FRAME_PX)
    if previous is not None:
        _, _, top = previous
        top_b, top_h, top_w = max(top_b, top[0]), max(top_h, top[2]), max(top_w, top[3])
    opt = (1, c, h, w) if max(h, w) >= 256 else (1, c, TYPICAL_PX, TYPICAL_PX)
    low = (1, c, min(MIN_SIDE_PX, h), min(MIN_SIDE_PX, w))
    return low, opt, (top_b, c, top_h, top_w)


def covers(profile: ShapeProfile, shape: tuple[int, ...]) -> bool:
    """Whether ``shape`` lies within the profile's min and max."""
    low, _, high = profile
    return all(lo <= s <= hi for lo, s, hi in zip(low, shape, high, strict=True))


class TensorRTBackend:
    """A TensorRT engine of the model on an NVIDIA GPU.

    Parameters
    ----------
    spec : ModelSpec
        Loaded model; its ``model.onnx`` is used.
    frame_shape : tuple of int, optional
        The camera's full frame ``(H, W)``: the engine is built now for it (padded to the
        network's multiple); default: at the first frame.
    precision : {"auto", "fp16", "fp32"}
        ``"auto"``: FP16 where the GPU runs it fast (compute capability >= 7.0).
    cache : EngineCache, optional
        Where serialized engines are kept; default: the user cache folder.
    device : str
        The CUDA device.

    Attributes
    ----------
    pipeline : DevicePipeline
        Frames to positions on the GPU.
    precision : str
        The precision of the engine in use (``"fp16"`` or ``"fp32"``).
    """

    name = "tensorrt"

    def __init__(
        self,
        spec: ModelSpec,
        frame_shape: tuple[int, int] | None = None,
        precision: str = "auto",
        cache: EngineCache | None = None,
        device: str = "cuda",
    ) -> None:
        from livetrack._gpu import tensorrt_unavailable

        if precision not in ("auto", "fp16", "fp32"):
            raise InputError(f"precision must be 'auto', 'fp16' or 'fp32', got {precision!r}")
        why = tensorrt_unavailable()
        if why is not None:
            raise InputError(f"backend 'tensorrt' cannot run here: {why}")
        import tensorrt as trt
        import torch

        from livetrack.infer._cuda import fp16_capable

        self._trt = trt
        self._torch = torch
        self.spec = spec
        self.cache = cache or EngineCache()
        self.pipeline = DevicePipeline(spec, self._network, device)
        dev = self.pipeline.device
        major, minor = torch.cuda.get_device_capability(dev)
        self._gpu = f"{torch.cuda.get_device_name(dev)} (sm_{major}{minor})"
        self.device = f"{dev}, {torch.cuda.get_device_name(dev)}"
        if precision == "auto":
            precision = "fp16" if fp16_capable(torch, dev) else "fp32"
        self.precision = precision
        try:
            self._onnx = spec.onnx_path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"{spec.onnx_path}: cannot read the ONNX graph ({exc})") from None
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._profile: ShapeProfile | None = None
        self._engine: Any = None
        self._context: Any = None
        self._outputs: dict[tuple[int, ...], Any] = {}
        if frame_shape is not None:
            m = spec.normalization.pad_multiple
            h, w = (int(v) + (-int(v)) % m for v in frame_shape)
            self._ensure_engine((1, 1, h, w))

    def __repr__(self) -> str:
        return f"TensorRTBackend(device={self.device!r}, precision={self.precision!r})"

    # -- engines ---------------------------------------------------------------------

    def _key(self, profile: ShapeProfile, precision: str, graph: bytes) -> EngineKey:
        return EngineKey(
            model_sha256=hashlib.sha256(graph).hexdigest(),
            gpu=self._gpu,
            tensorrt=str(self._trt.__version__),
            profile=profile,
            precision=precision,
        )

    def _ensure_engine(self, shape: tuple[int, ...]) -> None:
        """Have an engine whose profile covers ``shape`` (load, build, or keep the current)."""
        if self._profile is not None and covers(self._profile, shape):
            return
        profile = shape_profile(shape, self._profile)
        engine = None
        if self.precision == "fp16":
            try:
                engine = self._load_or_build(profile, "fp16")
            except LivetrackError as exc:
                _log.warning("TensorRT FP16 engine failed (%s); building FP32 instead", exc)
                self.precision = "fp32"
        if engine is None:
            engine = self._load_or_build(profile, "fp32")
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise LivetrackError("TensorRT could not create an execution context (GPU memory?)")
        self._profile = profile
        self._outputs.clear()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        mode = self._trt.TensorIOMode.INPUT
        self._input = next(n for n in names if engine.get_tensor_mode(n) == mode)
        self._output = next(n for n in names if engine.get_tensor_mode(n) != mode)

    def _load_or_build(self, profile: ShapeProfile, precision: str) -> Any:
        mode = fp16_mode(self._trt) if precision == "fp16" else "fp32"
        graph = fp16_onnx(self._onnx) if mode == "typed" else self._onnx
        key = self._key(profile, f"{precision}-{mode}", graph)
        _, _, top = profile
        what = (
            f"a TensorRT {precision} engine of model {self.spec.name!r} on {self._gpu} for "
            f"frames up to {top[3]}x{top[2]}, batches up to {top[0]} (TensorRT "
            f"{self._trt.__version__}; takes a minute or so)"
        )
        return self.cache.load_or_build(
            key, lambda: self._build(graph, profile, mode), self._deserialize, what
        )

    def _deserialize(self, data: bytes) -> Any:
        return self._runtime.deserialize_cuda_engine(data)

    def _build(self, graph: bytes, profile: ShapeProfile, mode: str) -> bytes:
        """Build a serialized engine from an ONNX graph (``mode``: flag, typed or fp32)."""
        trt = self._trt
        builder = trt.Builder(self._logger)
        flags = 0
        if mode == "typed":
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
        if explicit is not None and tensorrt_major(trt) < 10:
            flags |= 1 << int(explicit)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(graph):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelFileError(f"TensorRT cannot parse {self.spec.onnx_path} ({errors})")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, _WORKSPACE_BYTES)
        if mode == "flag":
            config.set_flag(trt.BuilderFlag.FP16)
        opt_profile = builder.create_optimization_profile()
        low, opt, high = profile
        opt_profile.set_shape(network.get_input(0).name, low, opt, high)
        config.add_optimization_profile(opt_profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise LivetrackError(f"TensorRT could not build the {mode} engine (see its log above)")
        return bytes(serialized)

    # -- running ---------------------------------------------------------------------

    def _network(self, x: Any) -> Any:
        """Run the engine on a float32 device batch, on the current (the pipeline's) stream."""
        torch = self._torch
        shape = tuple(int(v) for v in x.shape)
        self._ensure_engine(shape)
        engine, context = self._engine, self._context
        if not context.set_input_shape(self._input, shape):
            raise InputError(f"TensorRT engine refuses the input shape {shape}")
        x = x.contiguous()
        in_dtype = _torch_dtype(torch, self._trt, engine.get_tensor_dtype(self._input))
        if x.dtype != in_dtype:
            x = x.to(in_dtype)
        out_shape = tuple(int(v) for v in context.get_tensor_shape(self._output))
        out = self._outputs.get(out_shape)
        if out is None:
            out_dtype = _torch_dtype(torch, self._trt, engine.get_tensor_dtype(self._output))
            out = torch.empty(out_shape, dtype=out_dtype, device=x.device)
            self._outputs = {out_shape: out}
        context.set_tensor_address(self._input, x.data_ptr())
        context.set_tensor_address(self._output, out.data_ptr())
        stream = torch.cuda.current_stream(x.device)
        if not context.execute_async_v3(stream.cuda_stream):
            raise LivetrackError("TensorRT failed to run the engine")
        return out

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run the engine on a normalized host ``batch``; the maps come back as float32."""
        return self.pipeline.run_maps(batch)


def _torch_dtype(torch: Any, trt: Any, dtype: Any) -> Any:
    """Return the torch dtype of a TensorRT tensor type (engine I/O: float32 or float16)."""
    if dtype == trt.DataType.HALF:
        return torch.float16
    if dtype == trt.DataType.FLOAT:
        return torch.float32
    raise LivetrackError(f"unexpected TensorRT tensor type {dtype}")
