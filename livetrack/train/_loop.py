"""The training loop: simulate, step, validate, checkpoint, choose the threshold, save."""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livetrack._errors import InputError
from livetrack._extras import require
from livetrack.infer import write_rates
from livetrack.model import ModelSpec, save_model, soft_clip
from livetrack.train._config import TrainConfig
from livetrack.train._data import make_batch
from livetrack.train._validate import (
    choose_threshold,
    corner_profile,
    scene_maps,
    score_scenes,
    summarize,
    validation_scenes,
)

CHECKPOINT = "checkpoint.pt"
LOG = "train_log.csv"


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    spec : ModelSpec
        The saved model (loadable with ``livetrack.model.load_model(spec.folder)``).
    steps : int
        Optimizer steps done.
    seconds : float
        Wall time spent training (all sessions, when resumed).
    first_loss, last_loss : float
        Mean training loss over the first and last 10 % of steps of this session.
    validation : dict
        Per-scene validation metrics at the calibrated threshold.
    """

    spec: ModelSpec
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    validation: dict[str, dict[str, float]]


class _NetBackend:
    """Backend wrapper around the network being trained (eval mode, no grad)."""

    name = "torch"

    def __init__(self, net: Any, device: str) -> None:
        self.net, self.device = net, device

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        self.net.eval()
        with torch.no_grad():
            out = self.net(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()
        self.net.train()
        return out


def _lr_factor(progress: float, warmup: float) -> float:
    if progress < warmup:
        return max(progress / warmup, 1e-3)
    p = (progress - warmup) / max(1.0 - warmup, 1e-9)
    return 0.5 * (1.0 + math.cos(math.pi * min(p, 1.0))) * 0.99 + 0.01


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike[str],
    resume: bool = False,
    recipe_text: str | None = None,
    progress: bool = True,
    device: str | None = None,
) -> TrainResult:
    """Train a model from a recipe and save it as a model folder.

    Parameters
    ----------
    config : TrainConfig
        The recipe.
    out_dir : str or path-like
        Model folder to write (config.json, weights.pt, model.onnx, recipe.toml,
        train_log.csv); the checkpoint lives there while training and is removed at the end.
    resume : bool
        Continue from ``out_dir/checkpoint.pt``.
    recipe_text : str, optional
        Recipe file text to store with the model.
    progress : bool
        Show a tqdm progress bar (loss, validation Jaccard and RMSE).
    device : str, optional
        ``"cpu"``, ``"cuda"``...; CUDA when available by default.

    Returns
    -------
    TrainResult
        The saved model and training statistics.
    """
    torch = require("torch", "training")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch_threads(config.optim.threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    run = _start(config, device)
    if config.optim.init_from and not resume:
        _init_from(run, config.optim.init_from)
    if resume:
        _resume(run, out / CHECKPOINT, config)
    # Detections are refined by a Gaussian fit (spots) or radial symmetry (rings); see
    # livetrack.infer's refinement.
    refine = "gaussian" if config.data.psf == "gaussian" else "radial"
    spec = ModelSpec(name=config.name, net=config.model, refine=refine)
    scenes = validation_scenes(config)
    losses = _optimize(run, config, spec, scenes, out, resume, progress)
    if config.optim.average_with:
        _average_with(run, config.optim.average_with, config.optim.average_weight)
    return _finish(run, config, spec, scenes, out, losses, recipe_text)


@dataclass
class _Run:
    """A training session's state: what a checkpoint saves and resuming restores."""

    config: TrainConfig
    device: str
    net: Any
    fusion: Any  # the TemporalFusion of a model deciding on several frames, else None
    optimizer: Any
    rng: np.random.Generator
    step: int = 0
    seconds_before: float = 0.0  # trained in earlier sessions (resumed)
    t0: float = dataclasses.field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        """Wall time trained so far, all sessions."""
        return self.seconds_before + time.perf_counter() - self.t0

    def localizer(self, spec: ModelSpec) -> Any:
        """Return the network as it is now as a CNN localizer for validation (threshold 0.5)."""
        from livetrack.infer import CNNLocalizer

        if self.fusion is not None:
            spec = dataclasses.replace(spec, temporal=self.fusion.config())
        backend = _NetBackend(self.net, self.device)
        return CNNLocalizer(spec, backend=backend, threshold=0.5, refine=False)


def _start(config: TrainConfig, device: str) -> _Run:
    """Seed, build the network (and the fusion of a temporal model) and the optimizer."""
    import torch

    from livetrack.model import LocalizationNet, TemporalFusion

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = LocalizationNet(config.model).to(device)
    frames = config.temporal.frames
    # Neighbours start at half weight, and the bias offsets the evidence of two
    # background neighbours; both are learned with the net.
    fusion = None
    if frames > 1:
        fusion = TemporalFusion(
            frames, 0.5, 3.0, config.temporal.neighbour_cap, config.temporal.causal
        ).to(device)
    groups: list[dict[str, Any]] = [{"params": net.parameters()}]
    if fusion is not None:
        groups.append({"params": fusion.parameters(), "weight_decay": 0.0})
    opt = config.optim
    optimizer = torch.optim.AdamW(groups, lr=opt.lr, weight_decay=opt.weight_decay)
    return _Run(config, device, net, fusion, optimizer, rng)


def _init_from(run: _Run, model: str) -> None:
    """Start from another trained model's weights (same architecture)."""
    from livetrack.model import load_model, load_net

    start = load_model(model)
    if start.net != run.config.model:
        raise InputError(f"optim.init_from: {model!r} has another architecture")
    run.net.load_state_dict(load_net(start, device=run.device).state_dict())


def _average_with(run: _Run, model: str, weight: float) -> None:
    """Average the trained weights with another model's: ``weight`` of the trained ones."""
    from livetrack.model import load_model, load_net

    other = load_model(model)
    if other.net != run.config.model:
        raise InputError(f"optim.average_with: {model!r} has another architecture")
    theirs = load_net(other, device=run.device).state_dict()
    mine = run.net.state_dict()
    # Counters (BatchNorm's batches seen) are not weights: the trained ones stay.
    mixed = {
        k: weight * v + (1.0 - weight) * theirs[k] if v.is_floating_point() else v
        for k, v in mine.items()
    }
    run.net.load_state_dict(mixed)


def _resume(run: _Run, path: Path, config: TrainConfig) -> None:
    """Restore a session from its checkpoint: weights, optimizer, random states, step."""
    import torch

    if not path.is_file():
        raise InputError(f"--resume: no checkpoint at {path}")
    ckpt = torch.load(path, map_location=run.device, weights_only=False)
    if ckpt["config"] != config.to_dict():
        raise InputError(f"--resume: {path} was made with a different recipe")
    run.net.load_state_dict(ckpt["net"])
    if run.fusion is not None:
        run.fusion.load_state_dict(ckpt["fusion"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.rng.bit_generator.state = ckpt["rng"]
    torch.set_rng_state(ckpt["torch_rng"])
    run.step, run.seconds_before = int(ckpt["step"]), float(ckpt["seconds"])


def _optimize(
    run: _Run,
    config: TrainConfig,
    spec: ModelSpec,
    scenes: list,
    out: Path,
    resume: bool,
    progress: bool,
) -> list[float]:
    """Take optimizer steps until the step count or the time budget is reached.

    Every ``checkpoint_every`` steps the network is validated, a line is logged and a
    checkpoint is saved. Returns this session's losses, one per step.
    """
    from tqdm import tqdm

    opt = config.optim
    budget_s = opt.time_budget_min * 60.0 if opt.time_budget_min else None
    log_new = not (resume and (out / LOG).is_file())
    log_file = (out / LOG).open("w" if log_new else "a", newline="", encoding="utf-8")
    log = csv.writer(log_file)
    if log_new:
        log.writerow(["step", "seconds", "lr", "loss", "det", "nll", "val_jaccard", "val_rmse_px"])
    losses: list[float] = []
    bar = tqdm(total=opt.steps, initial=run.step, disable=not progress, dynamic_ncols=True)
    run.t0 = time.perf_counter()
    run.net.train()
    val_j, val_rmse = float("nan"), float("nan")
    run_loss = None
    try:
        while True:
            frac = run.step / opt.steps
            if budget_s is not None:
                frac = max(frac, run.seconds / budget_s)
            if frac >= 1.0:
                break
            lr = opt.lr * _lr_factor(frac, opt.warmup_steps / opt.steps)
            loss, parts = _step(run, config, lr)
            losses.append(loss)
            run_loss = loss if run_loss is None else 0.98 * run_loss + 0.02 * loss
            if run.step % opt.checkpoint_every == 0:
                outputs = scene_maps(run.localizer(spec), scenes)
                stride, gate = config.model.stride, config.validation.gate_px
                val_j, val_rmse = summarize(score_scenes(scenes, outputs, 0.5, stride, gate))
                values = [run.seconds, lr, loss, parts["det"], parts["nll"], val_j, val_rmse]
                log.writerow([run.step, *(f"{v:.4g}" for v in values)])
                log_file.flush()
                _save_checkpoint(out / CHECKPOINT, run)
            bar.set_postfix(loss=f"{run_loss:.3f}", val_J=f"{val_j:.3f}", rmse=f"{val_rmse:.3f}")
            bar.update(1)
    finally:
        bar.close()
        log_file.close()
    return losses


def _step(run: _Run, config: TrainConfig, lr: float) -> tuple[float, dict[str, float]]:
    """Draw a simulated batch and take one optimizer step at ``lr``; return its loss."""
    import torch

    from livetrack.train._loss import fused_detection_loss, localization_loss

    opt, temporal, net, fusion = config.optim, config.temporal, run.net, run.fusion
    for g in run.optimizer.param_groups:
        g["lr"] = lr
    b = make_batch(
        config.data,
        run.rng,
        opt.batch_size,
        config.model.stride,
        opt.neighbour_weight,
        temporal,
        opt.soft_detection_targets,
    )
    soft_clip(b.images, net.config.input_softclip, out=b.images)
    images, det, offset, weight = (
        torch.from_numpy(a).to(run.device) for a in (b.images, b.det, b.offset, b.weight)
    )
    maps = net(images)
    det_weight = opt.det_weight * (temporal.frame_det_weight if fusion is not None else 1.0)
    loss, parts = localization_loss(
        maps, det, offset, weight, det_weight=det_weight, pos_weight=opt.pos_weight
    )
    if fusion is not None:
        # Every frame keeps its own loss; the fused logit of each sequence's centre
        # (causal: last) frame learns to decide detections from the whole window.
        logits = maps[:, 0].reshape(-1, temporal.frames, *maps.shape[-2:])
        target = det.reshape(-1, temporal.frames, *maps.shape[-2:])[:, fusion.target]
        loss = loss + temporal.fused_weight * fused_detection_loss(fusion(logits), target)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
    run.optimizer.step()
    run.step += 1
    return loss.item(), parts


def _finish(
    run: _Run,
    config: TrainConfig,
    spec: ModelSpec,
    scenes: list,
    out: Path,
    losses: list[float],
    recipe_text: str | None,
) -> TrainResult:
    """Calibrate the threshold, save the model folder with its rates, drop the checkpoint."""
    seconds = run.seconds
    localizer = run.localizer(spec)
    profile = _corner_profile(localizer, config)
    stride, gate = config.model.stride, config.validation.gate_px
    threshold, results = _best_threshold(localizer, scenes, stride, gate, profile)
    metadata = {
        "recipe": config.name,
        "train_steps": run.step,
        "train_seconds": round(seconds, 1),
        "train_device": run.device,
        "validation_threshold_grid_best": threshold,
        "validation": results,
    }
    spec = dataclasses.replace(
        localizer.spec, threshold=threshold, corner_profile=profile, metadata=metadata
    )
    spec = save_model(run.net, spec, out, recipe_text=recipe_text)
    # Stored now so that a live Tracker built with this model need not measure them. The
    # int8 export comes later (`livetrack quantize`); `livetrack models rates` adds its rates.
    write_rates(spec, ("onnxruntime",))
    (out / CHECKPOINT).unlink(missing_ok=True)
    n = max(1, len(losses) // 10)
    return TrainResult(
        spec=spec,
        steps=run.step,
        seconds=seconds,
        first_loss=float(np.mean(losses[:n])) if losses else float("nan"),
        last_loss=float(np.mean(losses[-n:])) if losses else float("nan"),
        validation=results,
    )


def _best_threshold(
    localizer: Any, scenes: list, stride: int, gate: float, profile: tuple[float, ...] = ()
) -> tuple[float, dict[str, dict[str, float]]]:
    outputs = scene_maps(localizer, scenes)
    return choose_threshold(scenes, outputs, stride, gate, profile)


def _corner_profile(localizer: Any, config: TrainConfig) -> tuple[float, ...]:
    # Only spot models: the measurement renders Gaussian spots.
    n = config.validation.corner_frames
    return corner_profile(localizer, config, n) if config.data.psf == "gaussian" and n else ()


def recalibrate_thresholds(config: TrainConfig, model_dir: str | os.PathLike[str]) -> ModelSpec:
    """Choose a trained model's detection threshold anew on the recipe's validation scenes.

    Also its corner profile and the adaptive threshold's rates. Not
    :mod:`livetrack.calibrate`, which measures the user's camera, particles and stage.

    The threshold and the validation metrics in ``config.json`` are replaced; the weights
    are untouched.

    Parameters
    ----------
    config : TrainConfig
        The recipe (its ``[validation]`` table defines the scenes).
    model_dir : str or path-like
        The model folder.

    Returns
    -------
    ModelSpec
        The updated model description.
    """
    import json

    from livetrack.infer import CNNLocalizer
    from livetrack.model import load_model, load_net

    require("torch", "threshold recalibration")
    spec = load_model(model_dir)
    net = load_net(spec)
    torch_threads(config.optim.threads)
    scenes = validation_scenes(config)
    localizer = CNNLocalizer(spec, backend=_NetBackend(net, "cpu"), threshold=0.5, refine=False)
    profile = _corner_profile(localizer, config)
    threshold, results = _best_threshold(
        localizer, scenes, spec.stride, config.validation.gate_px, profile
    )
    metadata = {**spec.metadata, "validation_threshold_grid_best": threshold}
    metadata["validation"] = results
    spec = dataclasses.replace(spec, threshold=threshold, corner_profile=profile, metadata=metadata)
    assert spec.folder is not None  # loaded specs have folders
    path = spec.folder / "config.json"
    path.write_text(json.dumps(spec.to_json(), indent=2) + "\n", encoding="utf-8")
    # The rates depend on the corner profile just measured: store them anew.
    write_rates(spec)
    return spec


#: Former name of :func:`recalibrate_thresholds`, kept for existing scripts.
calibrate = recalibrate_thresholds


def torch_threads(n: int) -> None:
    """Limit torch's CPU threads (training shares small machines)."""
    import torch

    torch.set_num_threads(max(1, n))


def _save_checkpoint(path: Path, run: _Run) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "net": run.net.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "rng": run.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "step": run.step,
            "seconds": run.seconds,
            "config": run.config.to_dict(),
            "fusion": None if run.fusion is None else run.fusion.state_dict(),
        },
        tmp,
    )
    os.replace(tmp, path)
