"""Run trained CNN localizers: backends (ONNX Runtime, PyTorch), the localizer, ``locate``."""

from livetrack.infer._auto import AutoChoice, AutoLocalizer, choose_auto
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
from livetrack.infer._doubles import NullBackend
from livetrack.infer._localizer import CNNLocalizer, locate
from livetrack.infer._normalize import InputNormalizer
from livetrack.infer._rates import write_rates

__all__ = [
    "AUTO_ORDER",
    "AutoChoice",
    "AutoLocalizer",
    "Backend",
    "CNNLocalizer",
    "InputNormalizer",
    "NullBackend",
    "OnnxRuntimeBackend",
    "TorchBackend",
    "backend_names",
    "choose_auto",
    "default_threads",
    "locate",
    "make_backend",
    "register_backend",
    "write_rates",
]
