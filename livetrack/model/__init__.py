"""The CNN localizer: network, input normalization, decoding, saved-model folders.

Importing this package does not import torch; :class:`LocalizationNet`, :func:`load_net`,
:func:`export_onnx` and :func:`save_model` import it when first used.
"""

from typing import Any

from livetrack.model._config import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAP_CHANNELS,
    REFINE_MODES,
    ModelSpec,
    NetConfig,
    TemporalConfig,
)
from livetrack.model._decode import (
    COLUMNS,
    CORNER_BINS,
    adaptive_threshold,
    corner_distance,
    decode_maps,
    empty_table,
    find_peaks,
    window_sums,
)
from livetrack.model._fp16 import export_fp16_onnx, fp16_onnx
from livetrack.model._io import (
    ModelDir,
    ModelEntry,
    available_models,
    export_onnx,
    find_models,
    load_model,
    load_net,
    model_dirs,
    model_search_path,
    resolve_model_dir,
    save_model,
    shipped_models_dir,
    user_models_dir,
)
from livetrack.model._normalize import (
    CORRELATED_NOISE_RATIO,
    NormalizationConfig,
    frame_statistics,
    normalize_frame,
    pad_batch,
    scale_noise,
    soft_clip,
)
from livetrack.model._temporal import CausalStream, fuse_logits, neighbour_indices

__all__ = [
    "COLUMNS",
    "CORNER_BINS",
    "CORRELATED_NOISE_RATIO",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAP_CHANNELS",
    "REFINE_MODES",
    "CausalStream",
    "LocalizationNet",
    "ModelDir",
    "ModelEntry",
    "ModelSpec",
    "NetConfig",
    "NormalizationConfig",
    "TemporalConfig",
    "TemporalFusion",
    "adaptive_threshold",
    "available_models",
    "corner_distance",
    "count_parameters",
    "decode_maps",
    "empty_table",
    "export_fp16_onnx",
    "export_onnx",
    "find_models",
    "find_peaks",
    "floor_log_sigma",
    "fold_batchnorm",
    "fp16_onnx",
    "frame_statistics",
    "fuse_logits",
    "load_model",
    "load_net",
    "model_dirs",
    "model_search_path",
    "neighbour_indices",
    "normalize_frame",
    "pad_batch",
    "quantize_model",
    "resolve_model_dir",
    "save_model",
    "scale_noise",
    "shipped_models_dir",
    "soft_clip",
    "user_models_dir",
    "window_sums",
]


def __getattr__(name: str) -> Any:
    if name == "quantize_model":
        from livetrack.model._quantize import quantize_model

        return quantize_model
    # The network needs torch; keep `import livetrack.model` light for ONNX-only use.
    if name in (
        "LocalizationNet",
        "TemporalFusion",
        "count_parameters",
        "floor_log_sigma",
        "fold_batchnorm",
    ):
        from livetrack.model import _net

        return getattr(_net, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
