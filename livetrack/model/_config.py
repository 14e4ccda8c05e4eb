"""Torch-free description of a saved model: architecture, normalization, decoding."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from livetrack.model._normalize import NormalizationConfig

#: Output channels of the network, in order.
MAP_CHANNELS = ("logit", "dx_px", "dy_px", "log_sigma_x_px", "log_sigma_y_px")

#: Values of ``NetConfig.layout``.
LAYOUTS = ("unet", "dilated")

#: Values of ``ModelSpec.refine``.
REFINE_MODES = ("none", "gaussian", "radial")

#: Identifies a livetrack model folder; bumped when the folder layout or maps change.
FORMAT_NAME = "livetrack-cnn"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class NetConfig:
    """Architecture of :class:`LocalizationNet`.

    Attributes
    ----------
    width_s2 : int
        Channels of the feature maps at stride 2 (the output resolution).
    width_s4 : int
        Channels of the context branch at stride 4.
    depth_s2 : int
        Number of 3x3 conv layers at stride 2 before the context branch.
    depth_s4 : int
        Number of 3x3 conv layers at stride 4 (they set the receptive field).
    stride : int
        Output stride in pixels; fixed at 2 by this architecture.
    input_softclip : float
        Inputs (in noise units) pass through ``c * asinh(x / c)`` with this ``c``; 0 = off.
    layout : str
        ``"unet"``: the stride-2 layers, a context branch at stride 4 and their fusion.
        ``"dilated"``: no context branch; the ``depth_s2`` layers at stride 2 have dilations
        1, 2, 4, ... so the field of view still grows (``width_s4`` and ``depth_s4`` are
        then unused). Half the arithmetic, for the fast model.
    """

    width_s2: int = 16
    width_s4: int = 32
    depth_s2: int = 2
    depth_s4: int = 2
    stride: int = 2
    input_softclip: float = 10.0
    layout: str = "unet"

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")

    def to_dict(self) -> dict:
        """Return the configuration as a JSON-serializable dict."""
        return asdict(self)


@dataclass(frozen=True)
class TemporalConfig:
    """Fusion of detection evidence over neighbouring frames (see ``fuse_logits``).

    Attributes
    ----------
    frames : int
        Number of consecutive frames whose evidence decides a detection; 1 = none. Odd for
        a centred window.
    weights : tuple of float
        Weight of the neighbours' evidence, one per frame distance: ``1 .. frames // 2``
        (each distance has two neighbours, before and after) for a centred window,
        ``1 .. frames - 1`` for a causal one.
    bias : float
        Added to the fused logit.
    neighbour_cap : float or None
        A neighbour's logit counts up to this value: a bright particle next to a cell adds
        no more than a confident detection would, so it does not raise ghost detections
        around itself. None: no cap.
    causal : bool
        The window is the frame and the ``frames - 1`` before it, so a live stream is
        decided as each frame arrives; otherwise it is centred on the frame.
    """

    frames: int = 1
    weights: tuple[float, ...] = ()
    bias: float = 0.0
    neighbour_cap: float | None = None
    causal: bool = False

    def __post_init__(self) -> None:
        if self.causal:
            if self.frames < 2:
                raise ValueError(f"a causal window needs 2 frames or more, got {self.frames}")
        elif self.frames < 1 or self.frames % 2 == 0:
            raise ValueError(f"temporal frames must be a positive odd number, got {self.frames}")
        if len(self.weights) != self.distances:
            raise ValueError(f"temporal weights need {self.distances} value(s)")

    @property
    def distances(self) -> int:
        """Number of frame distances with a weight (see ``weights``)."""
        return self.frames - 1 if self.causal else self.frames // 2

    @property
    def frames_ahead(self) -> int:
        """Later frames a frame's detection waits for (0 for a causal window)."""
        return 0 if self.causal else self.frames // 2

    @property
    def whole_window_index(self) -> int:
        """Index of the frame of a ``frames``-long stack whose window lies inside it."""
        return self.frames - 1 - self.frames_ahead

    def to_dict(self) -> dict:
        """Return the configuration as a JSON-serializable dict."""
        out = {
            "frames": int(self.frames),
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6),
            "neighbour_cap": None if self.neighbour_cap is None else float(self.neighbour_cap),
        }
        if self.causal:
            out["causal"] = True
        return out


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to run a saved model, read from its ``config.json``.

    Attributes
    ----------
    name : str
        Model name (``"spots"``, ``"rings"``, ...).
    net : NetConfig
        Architecture.
    normalization : NormalizationConfig
        Input normalization.
    threshold : float
        Detection score threshold calibrated on validation data.
    mass_radius_px : int
        Half width of the window summed for ``mass``.
    merge_neighbours : bool
        Decode positions as the ``p / sigma^2``-weighted mean over the peak's 3x3 cells.
    refine : str
        ``"none"``; ``"gaussian"``: refine each detection by a Gaussian maximum-likelihood
        fit started at the CNN position (spot models; reaches the Cramér-Rao bound at high
        SNR, where the network's own regression has a floor); ``"radial"``: move it to the
        centre of radial symmetry of the surrounding window (ring models).
    corner_profile : tuple of float
        Detection-score correction near output-cell corners (see
        :func:`livetrack.model.decode_maps`), measured at calibration; empty = none.
    temporal : TemporalConfig
        Detection evidence fused over neighbouring frames; ``frames == 1`` (the default)
        is a single-frame model.
    folder : pathlib.Path or None
        Folder the model was loaded from (None for an unsaved model).
    metadata : dict
        Free-form provenance: recipe, training time, validation numbers.
    """

    name: str
    net: NetConfig = field(default_factory=NetConfig)
    normalization: NormalizationConfig = field(default_factory=NormalizationConfig)
    threshold: float = 0.5
    mass_radius_px: int = 3
    merge_neighbours: bool = True
    refine: str = "none"
    corner_profile: tuple[float, ...] = ()
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    folder: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def for_rings(self) -> bool:
        """Whether the model localizes ring-shaped particles (else spots)."""
        return "ring" in self.name or self.refine == "radial"

    @property
    def stride(self) -> int:
        """Output stride of the maps in pixels."""
        return self.net.stride

    @property
    def weights_path(self) -> Path:
        """Path of the torch state_dict."""
        return self._file("weights.pt")

    @property
    def onnx_path(self) -> Path:
        """Path of the ONNX export."""
        return self._file("model.onnx")

    @property
    def int8_onnx_path(self) -> Path:
        """Path of the optional int8-quantized ONNX export (the fast CPU variant)."""
        return self._file("model.int8.onnx")

    def _file(self, name: str) -> Path:
        if self.folder is None:
            raise ValueError(f"model {self.name!r} has no folder")
        return self.folder / name

    def to_json(self) -> dict[str, Any]:
        """Return the ``config.json`` content."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "net": self.net.to_dict(),
            "normalization": self.normalization.to_dict(),
            "stride": self.stride,
            "threshold": float(self.threshold),
            "mass_radius_px": int(self.mass_radius_px),
            "merge_neighbours": bool(self.merge_neighbours),
            "refine": self.refine,
            "corner_profile": [round(float(v), 4) for v in self.corner_profile],
            "temporal": self.temporal.to_dict(),
            "map_channels": list(MAP_CHANNELS),
            "files": {
                "weights": "weights.pt",
                "onnx": "model.onnx",
                "onnx_int8": "model.int8.onnx",
            },
            "metadata": self.metadata,
        }
