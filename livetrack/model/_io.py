"""Saved models: self-describing folders with config.json, weights.pt and model.onnx.

A model is given by folder or by name. A name such as ``"spots"`` is looked up, in order,
in the folders listed in ``LIVETRACK_MODEL_PATH`` (separated by ``os.pathsep``), in the
user-data folder (``platformdirs.user_data_dir("livetrack") / "models"``) and among the
shipped models; the first folder of that name wins. The shipped models live in
``calibration/`` in the repository and install as the package ``livetrack._shipped``, found
with ``importlib.resources``, so an editable and a wheel install resolve names alike.
"""

from __future__ import annotations

import importlib.resources
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livetrack._errors import ModelFileError
from livetrack._extras import require
from livetrack.model._config import (
    FORMAT_NAME,
    FORMAT_VERSION,
    REFINE_MODES,
    ModelSpec,
    NetConfig,
    TemporalConfig,
)
from livetrack.model._normalize import NormalizationConfig

if TYPE_CHECKING:
    from livetrack.model._net import LocalizationNet

#: The package that holds the shipped models (``calibration/`` in the repository).
SHIPPED_PACKAGE = "livetrack._shipped"
#: Environment variable of extra model folders, searched first.
MODEL_PATH_ENV = "LIVETRACK_MODEL_PATH"

ONNX_OPSET = 17


@dataclass(frozen=True)
class ModelDir:
    """A folder searched for named models.

    Attributes
    ----------
    path : Path
        The folder; each model is a subfolder named like the model.
    source : str
        Where the folder comes from: ``"LIVETRACK_MODEL_PATH"``, ``"user"`` or
        ``"shipped"``.
    """

    path: Path
    source: str


@dataclass(frozen=True)
class ModelEntry:
    """A named model found on the search path (see :func:`find_models`).

    Attributes
    ----------
    name : str
        The name it resolves by (its folder's name).
    folder : Path
        Its folder.
    source : str
        The :attr:`ModelDir.source` of the folder it was found in.
    shadowed : bool
        True when a folder earlier on the search path has the same name, so the name
        resolves to that one instead.
    """

    name: str
    folder: Path
    source: str
    shadowed: bool = False


def shipped_models_dir() -> Path | None:
    """Return the folder of the shipped models, or None if this install has none.

    Raises
    ------
    ModelFileError
        If the package is installed somewhere the models are not plain files (a zip).
    """
    try:
        root = importlib.resources.files(SHIPPED_PACKAGE)
    except ModuleNotFoundError:
        return None
    # ONNX Runtime and torch open models by file name: a zipped install cannot serve them.
    if not isinstance(root, Path):
        raise ModelFileError(f"shipped models at {root} are not plain files; install unzipped")
    return root


def user_models_dir() -> Path:
    """Return the user's model folder: ``platformdirs.user_data_dir("livetrack") / "models"``.

    It need not exist; put a model folder there (``<it>/<name>/config.json``) to use it by
    name.
    """
    import platformdirs

    # appauthor=False: on Windows the folder is ...\AppData\Local\livetrack, not
    # ...\livetrack\livetrack.
    return Path(platformdirs.user_data_dir("livetrack", appauthor=False)) / "models"


def model_dirs() -> list[ModelDir]:
    """Return the folders searched for named models, highest priority first."""
    extra = os.environ.get(MODEL_PATH_ENV, "")
    dirs = [ModelDir(Path(p), MODEL_PATH_ENV) for p in extra.split(os.pathsep) if p]
    dirs.append(ModelDir(user_models_dir(), "user"))
    shipped = shipped_models_dir()
    if shipped is not None:
        dirs.append(ModelDir(shipped, "shipped"))
    return dirs


def model_search_path() -> list[Path]:
    """Return the directories searched for named models, highest priority first."""
    return [d.path for d in model_dirs()]


def find_models() -> list[ModelEntry]:
    """Return every named model on the search path, in search order.

    A model is a subfolder holding ``config.json``. A name found in two folders is listed
    twice; the later entry is ``shadowed``.
    """
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for d in model_dirs():
        if not d.path.is_dir():
            continue
        for cfg in sorted(d.path.glob("*/config.json")):
            name = cfg.parent.name
            entries.append(ModelEntry(name, cfg.parent, d.source, shadowed=name in seen))
            seen.add(name)
    return entries


def available_models() -> list[str]:
    """Return the names of the models found on the search path."""
    return sorted({e.name for e in find_models()})


def _is_bare_name(text: str) -> bool:
    seps = {os.sep, "/", *([os.altsep] if os.altsep else [])}
    return not any(s in text for s in seps) and text not in ("", ".", "..")


def resolve_model_dir(name_or_folder: str | os.PathLike[str]) -> Path:
    """Return the folder of a model given by folder or by name.

    A path-like, or a string with a path separator, is a folder. A bare name is a folder
    too if the current folder has a model folder of that name; otherwise it is looked up
    on the search path (:func:`model_dirs`), where the first folder of that name wins.

    Raises
    ------
    ModelFileError
        If no such folder exists; the message says where it looked.
    """
    text = os.fspath(name_or_folder)
    path = Path(text)
    if not isinstance(name_or_folder, str) or not _is_bare_name(text):
        if path.is_dir():
            return path
        raise ModelFileError(f"model folder not found: {path}")
    if (path / "config.json").is_file():
        return path
    dirs = model_dirs()
    for d in dirs:
        if (d.path / text).is_dir():
            return d.path / text
    looked = "; ".join(f"{d.source} {d.path}" for d in dirs)
    if not any(d.source == "shipped" for d in dirs):
        looked += "; this install has no shipped models"
    known = ", ".join(available_models()) or "none"
    raise ModelFileError(f"no model named {text!r} (looked in: {looked}; available: {known})")


def _read_config(folder: Path) -> dict[str, Any]:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ModelFileError(f"{folder}: not a livetrack model folder (missing config.json)")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{cfg_path}: unreadable model config ({exc})") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{cfg_path}: not a livetrack model config")
    version = cfg.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{cfg_path}: model format version {version!r}, this livetrack reads version "
            f"{FORMAT_VERSION}; retrain or update livetrack"
        )
    return cfg


def _temporal(raw: dict[str, Any]) -> TemporalConfig:
    return TemporalConfig(
        frames=int(raw.get("frames", 1)),
        weights=tuple(float(w) for w in raw.get("weights", ())),
        bias=float(raw.get("bias", 0.0)),
        neighbour_cap=None if raw.get("neighbour_cap") is None else float(raw["neighbour_cap"]),
        causal=bool(raw.get("causal", False)),
    )


def load_model(name_or_folder: str | os.PathLike[str]) -> ModelSpec:
    """Read a saved model's description (weights are loaded by the inference backend).

    Parameters
    ----------
    name_or_folder : str or path-like
        ``"spots"``, ``"rings"``, another name on the search path, or a model folder.

    Returns
    -------
    ModelSpec
        The model's architecture, normalization, threshold and file locations.

    Raises
    ------
    ModelFileError
        A missing folder or file, an unreadable config, or another format version.
    """
    folder = resolve_model_dir(name_or_folder)
    cfg = _read_config(folder)
    try:
        spec = ModelSpec(
            name=str(cfg["name"]),
            net=NetConfig(**cfg["net"]),
            normalization=NormalizationConfig(**cfg["normalization"]),
            threshold=float(cfg["threshold"]),
            mass_radius_px=int(cfg.get("mass_radius_px", 3)),
            merge_neighbours=bool(cfg.get("merge_neighbours", True)),
            refine=str(cfg.get("refine", "none")),
            corner_profile=tuple(float(v) for v in cfg.get("corner_profile", ())),
            temporal=_temporal(cfg.get("temporal", {})),
            folder=folder,
            metadata=dict(cfg.get("metadata", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{folder / 'config.json'}: invalid model config ({exc})") from None
    if not 0.0 < spec.threshold <= 1.0:
        raise ModelFileError(f"{folder / 'config.json'}: threshold must be in (0, 1]")
    if spec.refine not in REFINE_MODES:
        raise ModelFileError(f"{folder / 'config.json'}: unknown refine mode {spec.refine!r}")
    for path in (spec.weights_path, spec.onnx_path):
        if not path.is_file():
            raise ModelFileError(f"{folder}: missing model file {path.name}")
    return spec


def load_net(spec: ModelSpec, device: str = "cpu") -> LocalizationNet:
    """Build the network of ``spec`` and load its weights, in eval mode.

    Raises
    ------
    ModelFileError
        Weights that are corrupt or do not match the architecture.
    """
    torch = require("torch", "the torch backend")

    from livetrack.model._net import LocalizationNet

    net = LocalizationNet(spec.net)
    try:
        state = torch.load(spec.weights_path, map_location=device, weights_only=True)
        net.load_state_dict(state)
    except FileNotFoundError:
        raise ModelFileError(f"{spec.folder}: missing model file weights.pt") from None
    except Exception as exc:  # torch raises many types for a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{spec.weights_path}: corrupt or incompatible weights ({first})"
        ) from None
    return net.to(device).eval()


def export_onnx(net: LocalizationNet, path: str | os.PathLike[str]) -> None:
    """Export ``net`` to ONNX with dynamic batch, height and width (opset 17).

    BatchNorm layers are folded into the convolutions by the exporter (eval mode), so the
    graph holds only Conv, ConvTranspose, Relu, Add and Slice nodes. Inputs must have H and W
    divisible by ``LocalizationNet.PAD_MULTIPLE`` (the inference code pads them).
    """
    import warnings

    torch = require("torch", "ONNX export")

    from livetrack.model._net import PaddedInputNet, fold_batchnorm

    net = net.eval().cpu()
    m = net.PAD_MULTIPLE
    dummy = torch.zeros(1, 1, 16 * m, 16 * m)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of one that needs onnxscript;
        # its output for this plain conv graph is what we want.
        warnings.simplefilter("ignore", DeprecationWarning)
        _export(torch, PaddedInputNet(fold_batchnorm(net)).eval(), dummy, path)


def _export(torch: Any, net: Any, dummy: Any, path: str | os.PathLike[str]) -> None:
    torch.onnx.export(
        net,
        (dummy,),
        os.fspath(path),
        opset_version=ONNX_OPSET,
        input_names=["frames"],
        output_names=["maps"],
        dynamic_axes={
            "frames": {0: "batch", 2: "height", 3: "width"},
            "maps": {0: "batch", 2: "map_height", 3: "map_width"},
        },
        do_constant_folding=True,
        dynamo=False,
    )


def save_model(
    net: LocalizationNet,
    spec: ModelSpec,
    folder: str | os.PathLike[str],
    recipe_text: str | None = None,
) -> ModelSpec:
    """Write a model folder: config.json, weights.pt, model.onnx (and recipe.toml).

    Parameters
    ----------
    net : LocalizationNet
        Trained network (moved to the CPU for saving).
    spec : ModelSpec
        Description to write; its ``folder`` is replaced by ``folder``.
    folder : str or path-like
        Destination, created if needed; existing files are overwritten.
    recipe_text : str, optional
        The training recipe (TOML) to store beside the model.

    Returns
    -------
    ModelSpec
        The spec as it will be loaded back.
    """
    import dataclasses

    torch = require("torch", "saving a model")

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    spec = dataclasses.replace(spec, folder=out)
    net = net.eval().cpu()
    torch.save(net.state_dict(), spec.weights_path)
    export_onnx(net, spec.onnx_path)
    if recipe_text is not None:
        (out / "recipe.toml").write_text(recipe_text, encoding="utf-8")
    (out / "config.json").write_text(json.dumps(spec.to_json(), indent=2) + "\n", encoding="utf-8")
    return spec
