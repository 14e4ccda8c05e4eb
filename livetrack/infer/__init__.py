"""Run trained CNN localizers: backends (TensorRT, CUDA, ONNX Runtime, PyTorch), ``locate``."""

from livetrack.infer._auto import (
    PLAN_FRAMES,
    AutoChoice,
    AutoLocalizer,
    AutoPlan,
    choose_auto,
    plan_frames,
)
from livetrack.infer._backends import (
    AUTO_ORDER,
    Backend,
    OnnxRuntimeBackend,
    TorchBackend,
    backend_names,
    default_threads,
    make_backend,
    register_backend,
)
from livetrack.infer._cuda import CudaBackend
from livetrack.infer._device_pipeline import DevicePipeline
from livetrack.infer._doubles import NullBackend
from livetrack.infer._engine_cache import EngineCache, EngineKey
from livetrack.infer._localizer import CNNLocalizer, locate
from livetrack.infer._normalize import InputNormalizer
from livetrack.infer._rates import write_rates
from livetrack.infer._tensorrt import TensorRTBackend

__all__ = [
    "AUTO_ORDER",
    "PLAN_FRAMES",
    "AutoChoice",
    "AutoLocalizer",
    "AutoPlan",
    "Backend",
    "CNNLocalizer",
    "CudaBackend",
    "DevicePipeline",
    "EngineCache",
    "EngineKey",
    "InputNormalizer",
    "NullBackend",
    "OnnxRuntimeBackend",
    "TensorRTBackend",
    "TorchBackend",
    "backend_names",
    "choose_auto",
    "default_threads",
    "locate",
    "make_backend",
    "plan_frames",
    "register_backend",
    "write_rates",
]
