"""Model calibration: fine-tune the closest shipped model to the measured conditions.

From a camera calibration and a particle-image calibration, a training recipe is built
whose simulated patches look like the user's movie: the measured particle image (a
Gaussian of the measured width, or the J0 ring with the measured radius, envelope and
polarity), the measured SNR and background ranges, and the camera's read noise, gain and
EM register. The shipped model nearest to those conditions is fine-tuned on it
(:func:`livetrack.train.train`: a progress bar, a checkpoint to resume from), its detection
threshold is recalibrated on the measured conditions, and an accuracy report compares it
with the model it started from, the classical methods and the Cramér-Rao bound on a
simulated movie of the same conditions. The folder is a model usable by name and a
calibration (``calibration.json``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack.calibrate._camera import CameraCalibration
from livetrack.calibrate._psf import ParticleImage
from livetrack.calibrate._store import (
    MODEL_CALIBRATION_FILE,
    CalibrationHeader,
    input_hashes,
    write_calibration,
)

__all__ = [
    "CalibratedModel",
    "calibrate_model",
    "choose_refinement_on_measured",
    "choose_threshold_on_measured",
    "closest_shipped_model",
    "measured_scene",
    "model_recipe",
    "recipe_toml",
    "score_localizers",
]

# The report's movie: frames, size and particles per frame (ISBI-like medium density).
_REPORT_FRAMES = 6
_REPORT_SHAPE = (192, 192)
_REPORT_PARTICLES = 25
_GATE_PX = 2.0
_TYPICAL_EM_GAIN = 150.0
# Thresholds tried on the measured conditions (as training tries them).
_THRESHOLDS = tuple(np.round(np.arange(0.1, 0.951, 0.05), 3))
# The recipe's comment that marks a folder as made by calibrate_model.
_RECIPE_MARK = "built by `livetrack calibrate model`"


@dataclass(frozen=True)
class CalibratedModel:
    """Outcome of :func:`calibrate_model`.

    Attributes
    ----------
    folder : Path
        The model folder (usable as ``--model`` by folder, or by name where it lies on
        the model search path).
    base_model : str
        The shipped model it was fine-tuned from.
    steps : int
        Optimizer steps taken (all sessions).
    seconds : float
        Training wall time (all sessions).
    report : pandas.DataFrame
        Jaccard, RMSE and CRLB per localizer on the measured conditions.
    """

    folder: Path
    base_model: str
    steps: int
    seconds: float
    report: pd.DataFrame


def _log_distance(value: float, low: float, high: float) -> float:
    if low <= value <= high:
        return 0.0
    return abs(math.log(value / (low if value < low else high)))


def closest_shipped_model(psf: ParticleImage) -> str:
    """Return the shipped single-frame model whose training range is nearest the particles.

    Ring and halo particles go to ring models, spots to spot models; among those, the one
    whose training size range is nearest the measured size (log scale), then the one with
    the most training steps.

    Raises
    ------
    InputError
        No shipped model of that kind.
    """
    from livetrack.model import find_models
    from livetrack.train import load_recipe

    ring = psf.ring_radius_px is not None and psf.model != "gaussian"
    best: tuple[float, int, str] | None = None
    for entry in find_models():
        if entry.source != "shipped" or not (entry.folder / "recipe.toml").is_file():
            continue
        try:
            cfg, _ = load_recipe(entry.folder / "recipe.toml")
        except InputError:
            continue
        if cfg.temporal.frames != 1 or (cfg.data.psf == "ring") != ring:
            continue
        if ring:
            assert psf.ring_radius_px is not None
            distance = _log_distance(psf.ring_radius_px, *cfg.data.ring_radius_px)
        else:
            distance = _log_distance(psf.sigma_px, *cfg.data.sigma_px)
        key = (distance, -cfg.optim.steps, entry.name)
        if best is None or key < best:
            best = key
    if best is None:
        kind = "ring" if ring else "spot"
        raise InputError(f"no shipped {kind} model to start from")
    return best[2]


def _photon_stats(psf: ParticleImage, camera: CameraCalibration) -> dict[str, float]:
    """Background (5/50/95 %) and SNR (10/50/90 %) of the particles, in photons."""
    bg: tuple[float, ...] = (psf.background_range[0], psf.background, psf.background_range[1])
    peaks: tuple[float, ...] = psf.peak
    if psf.units != "photons":
        bg = tuple((b - camera.offset_adu) / camera.gain_adu_per_photon for b in bg)
        peaks = tuple(p / camera.gain_adu_per_photon for p in peaks)
    sign = 1.0 if psf.polarity == "bright" else -1.0
    snr = [p / math.sqrt(max(bg[1] + sign * p, 1e-6)) for p in peaks]
    if not math.isnan(psf.snr[1]):
        snr = list(psf.snr)
    return {
        "bg_low": max(float(bg[0]), 0.1),
        "bg": max(float(bg[1]), 0.1),
        "bg_high": max(float(bg[2]), 0.2),
        "snr_low": max(float(snr[0]), 0.5),
        "snr": max(float(snr[1]), 0.6),
        "snr_high": max(float(snr[2]), 0.7),
    }


def measured_profile(psf: ParticleImage) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Return a particle-image calibration's profile as ``ProfilePSF`` takes it.

    Radii from 0 and signed values (a negative centre for dark particles). The measured
    profile is binned from the bins' centres on and normalized to the centre's contrast;
    its first value stands for the centre.
    """
    r = np.asarray(psf.profile_r_px, dtype=np.float64)
    v = np.asarray(psf.profile, dtype=np.float64)
    if r.size < 2:
        raise InputError("the particle calibration has no profile to train on")
    sign = 1.0 if psf.polarity == "bright" else -1.0
    radii = np.concatenate([[0.0], r[r > 0]])
    values = sign * np.concatenate([[v[0]], v[r > 0]])
    return tuple(float(x) for x in radii), tuple(float(x) for x in values)


def model_recipe(
    psf: ParticleImage,
    camera: CameraCalibration,
    *,
    name: str = "calibrated",
    base_model: str | None = None,
    steps: int = 6000,
    time_budget_min: float | None = 20.0,
    threads: int = 2,
    seed: int = 20261129,
    quick: bool = False,
) -> Any:
    """Build the fine-tuning recipe for the measured conditions.

    Parameters
    ----------
    psf : ParticleImage
        The particles' measured image.
    camera : CameraCalibration
        The camera's calibration.
    name : str
        The new model's name.
    base_model : str, optional
        Model to fine-tune; default :func:`closest_shipped_model`.
    steps : int
        Optimizer steps (6,000 took 10.4 min on 2 idle Xeon cores for sigma-3.5 px spots on
        an EMCCD, and beat the shipped model and MLE on the movie calibrated on).
    time_budget_min : float or None
        Anneal and stop within this many minutes.
    threads : int
        torch CPU threads.
    seed : int
        Seed of the training data.
    quick : bool
        Small validation scenes and batches (for tests).

    Returns
    -------
    livetrack.train.TrainConfig
    """
    from livetrack.model import load_model
    from livetrack.train import TrainConfig, load_recipe

    base = base_model or closest_shipped_model(psf)
    spec = load_model(base)
    assert spec.folder is not None
    recipe = spec.folder / "recipe.toml"
    cfg = load_recipe(recipe)[0] if recipe.is_file() else TrainConfig(model=spec.net)
    stats = _photon_stats(psf, camera)
    gain = camera.gain_adu_per_photon
    read_e = camera.read_noise_adu / gain
    em = camera.excess_noise_factor > 1.0
    # A typical EM gain: the training draws 50--300 (its middle, by the log).
    em_gain = _TYPICAL_EM_GAIN if em else 1.0
    em_root = em_gain**0.5
    snr_lo, snr_hi = 0.7 * stats["snr_low"], 1.5 * stats["snr_high"]
    data: dict[str, Any] = {
        "snr": (snr_lo, snr_hi),
        "snr_low": (snr_lo, max(stats["snr"], snr_lo + 0.5)),
        "snr_low_fraction": 0.5,
        "background_photons_log": (0.7 * stats["bg_low"], 1.4 * stats["bg_high"]),
        "illumination_ratio": (
            1.0,
            max(1.0, float(np.nan_to_num(psf.illumination_ratio, nan=1.0))),
        ),
        "camera_offset_adu": (camera.offset_adu, camera.offset_adu),
        # EM patches divide the ADU per electron by sqrt(EM gain); the product is what
        # the camera measured.
        "camera_gain_log": (0.8 * gain / em_root, 1.25 * gain / em_root),
        # An EM register divides the read noise by the EM gain: the training draws it in
        # electrons before the register, so it is scaled up by a typical gain.
        "read_noise_e": (0.8 * read_e * em_gain, 1.2 * read_e * em_gain),
        "em_fraction": 1.0 if em else 0.0,
    }
    for realism in ("halo_fraction", "realism_fraction"):
        # The measured movie is raw camera counts: none of the real-video degradations.
        if hasattr(cfg.data, realism):
            data[realism] = 0.0
    validation: dict[str, Any] = {
        "background_photons": stats["bg"],
        "snrs": tuple(sorted({round(max(stats["snr_low"], 1.5), 2), round(stats["snr"], 2)})),
    }
    if psf.model == "profile":
        # No model fits: the particles are trained as they were measured.
        radii, values = measured_profile(psf)
        data.update(psf="profile", profile_r_px=radii, profile=values, profile_scale=(0.95, 1.05))
    elif psf.model == "gaussian" or psf.ring_radius_px is None:
        s = psf.sigma_px
        data.update(psf="gaussian", sigma_px=(0.9 * s, 1.1 * s), airy_fraction=0.0)
        validation["sigma_px"] = s
    else:
        r = float(psf.ring_radius_px)
        env = psf.ring_envelope_px if psf.ring_envelope_px is not None else 1.5 * r
        ratio = env / r
        data.update(
            psf="ring",
            ring_radius_px=(0.9 * r, 1.1 * r),
            ring_envelope_ratio=(0.85 * ratio, 1.15 * ratio),
            dark_ring_fraction=0.0 if psf.polarity == "bright" else 1.0,
        )
        validation["ring_radius_px"] = r
    if quick:
        data["patch_px"] = 32
        validation.update(
            frame_px=64,
            frames_per_snr=1,
            particles_per_frame=4,
            dense_particles_per_frame=0,
            corner_frames=0,
        )
    checkpoint = max(5, steps // 10)
    optim: dict[str, Any] = {
        "steps": int(steps),
        "lr": 1e-3,
        "warmup_steps": max(1, min(50, steps // 10)),
        "time_budget_min": time_budget_min,
        "threads": int(threads),
        "checkpoint_every": checkpoint,
        "init_from": base,
        # The shipped recipe's own average refers to the runs that made the shipped model;
        # a calibration starts from the shipped model itself.
        "average_with": None,
        "average_weight": 1.0,
    }
    if quick:
        optim["batch_size"] = 4
    return dataclasses.replace(
        cfg,
        name=name,
        seed=seed,
        model=spec.net,
        data=dataclasses.replace(cfg.data, **data),
        optim=dataclasses.replace(cfg.optim, **optim),
        validation=dataclasses.replace(cfg.validation, **validation),
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def recipe_toml(config: Any, comment: str = "") -> str:
    """Write a recipe as TOML (``livetrack train`` reads it back to the same recipe).

    Parameters
    ----------
    config : livetrack.train.TrainConfig
        The recipe.
    comment : str
        Lines put first as TOML comments.
    """
    raw = config.to_dict()
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"name = {_toml_value(raw.pop('name'))}", f"seed = {raw.pop('seed')}"]
    for table, values in raw.items():
        lines.append(f"\n[{table}]")
        # None is every key's "unset" default; TOML has no null, so it is left out.
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def _sim_camera(camera: CameraCalibration) -> Any:
    """Return a simulator camera with the calibration's response."""
    from livetrack.simulate import Camera

    em = camera.excess_noise_factor > 1.0
    em_gain = _TYPICAL_EM_GAIN if em else None
    per_e = camera.gain_adu_per_photon / (em_gain or 1.0)
    return Camera(
        gain_adu_per_e=per_e,
        offset_adu=max(camera.offset_adu, 0.0),
        # The simulator adds read noise after the EM register, in electrons.
        read_noise_e=camera.read_noise_adu / per_e,
        em_gain=em_gain,
    )


def measured_scene(
    psf: ParticleImage,
    camera: CameraCalibration,
    *,
    seed: int = 2012,
    n_frames: int = _REPORT_FRAMES,
    shape: tuple[int, int] = _REPORT_SHAPE,
    n_particles: int = _REPORT_PARTICLES,
) -> tuple[Any, Any]:
    """Simulate a movie of the measured conditions with ground truth.

    Returns
    -------
    movie : livetrack.simulate.Movie
    psf_model : livetrack.simulate.PSF
        The particle image it was rendered with.
    """
    from livetrack.simulate import GaussianPSF, ProfilePSF, RingPSF, simulate_movie

    stats = _photon_stats(psf, camera)
    if psf.model == "profile":
        image: Any = ProfilePSF(*measured_profile(psf))
        size = psf.ring_radius_px if psf.ring_radius_px is not None else 0.0
        separation = max(4.0 * psf.sigma_px, 2.5 * size)
    elif psf.model == "gaussian" or psf.ring_radius_px is None:
        image = GaussianPSF(psf.sigma_px)
        separation = 4.0 * psf.sigma_px
    else:
        contrast = 1.0 if psf.polarity == "bright" else -1.0
        image = RingPSF(float(psf.ring_radius_px), contrast, psf.ring_envelope_px)
        separation = 2.5 * float(psf.ring_radius_px)
    movie = simulate_movie(
        n_frames=n_frames,
        shape=shape,
        n_particles=n_particles,
        psf=image,
        # The measured particles are the bright isolated ones: fainter ones exist too.
        snr=(max(1.0, 0.5 * stats["snr_low"]), stats["snr_high"]),
        background_photons=stats["bg"],
        camera=_sim_camera(camera),
        min_separation_px=separation,
        seed=seed,
    )
    return movie, image


def _crlb_px(psf_model: Any, truth: pd.DataFrame, background: float, camera: Any) -> float:
    """Root of the summed x and y CRLB variances, averaged over the visible particles."""
    from livetrack.evaluate import crlb_gaussian_params, crlb_psf
    from livetrack.simulate import GaussianPSF

    visible = truth[truth["visible"] & truth["in_frame"]]
    if visible.empty:
        return float("nan")
    if isinstance(psf_model, GaussianPSF):
        std = crlb_gaussian_params(
            visible["amplitude"].to_numpy(),
            background,
            psf_model.sigma_px,
            read_noise_e=camera.read_noise_e,
            em_gain=camera.em_gain,
            x0=visible["x"].to_numpy() % 1.0,
            y0=visible["y"].to_numpy() % 1.0,
        )
        return float(np.sqrt(np.mean(np.asarray(std["x"]) ** 2 + np.asarray(std["y"]) ** 2)))
    sample = visible.iloc[:: max(1, len(visible) // 30)]
    var = [
        sum(s * s for s in crlb_psf(psf_model, abs(a), background, x0=x % 1.0, y0=y % 1.0))
        for a, x, y in zip(sample["amplitude"], sample["x"], sample["y"], strict=True)
    ]
    return float(np.sqrt(np.mean(var)))


def score_localizers(
    movie: Any,
    psf: ParticleImage,
    camera: CameraCalibration,
    models: dict[str, str | os.PathLike[str]],
    *,
    classical: tuple[str, ...] = ("centroid", "radial", "mle"),
    gate_px: float = _GATE_PX,
) -> pd.DataFrame:
    """Jaccard and RMSE of CNN models and classical methods on a movie with ground truth.

    The classical methods get the feature diameter and polarity that the particle-image
    calibration measured (what a careful user would set); every localizer gets the camera.

    Parameters
    ----------
    movie : livetrack.simulate.Movie
        Frames and truth.
    psf : ParticleImage
        The measured particle image (for the classical methods' settings).
    camera : CameraCalibration
        The camera calibration, given to every localizer.
    models : dict of str to model
        Row label to model name or folder.
    classical : tuple of str
        Classical methods to include.
    gate_px : float
        Matching gate.

    Returns
    -------
    pandas.DataFrame
        Columns ``localizer, jaccard, rmse_px, tp, fp, fn``.
    """
    from livetrack.evaluate import score
    from livetrack.registry import make_localizer

    truth = movie.truth
    rows = []
    for label, model in models.items():
        loc: Any = make_localizer(
            "cnn", model=os.fspath(model), backend="onnxruntime", camera=camera
        )
        pred = loc.locate_stack(movie.frames)
        s = score(truth, pred, gate_px=gate_px)
        rows.append((label, s))
    size = psf.ring_radius_px if psf.model != "gaussian" and psf.ring_radius_px else None
    diameter = int(2 * round(2.0 * psf.sigma_px if size is None else 1.2 * size) + 1)
    ring = size is not None
    for method in classical:
        polarity = "abs" if ring and method != "mle" else psf.polarity
        if method == "mle" and psf.polarity == "dark":
            continue  # the Gaussian fit models bright spots only
        try:
            loc = make_localizer(method, diameter_px=diameter, camera=camera, polarity=polarity)
        except InputError:
            continue
        pred = pd.concat(
            [loc.locate(f, frame=i) for i, f in enumerate(movie.frames)], ignore_index=True
        )
        rows.append((method, score(truth, pred, gate_px=gate_px)))
    return pd.DataFrame(
        [
            {
                "localizer": label,
                "jaccard": float(s.jaccard),
                "rmse_px": float(s.rmse),
                "tp": int(s.tp),
                "fp": int(s.fp),
                "fn": int(s.fn),
            }
            for label, s in rows
        ]
    )


def _report_markdown(
    name: str,
    base: str,
    table: pd.DataFrame,
    crlb: float,
    psf: ParticleImage,
    steps: int,
    seconds: float,
) -> str:
    lines = [
        f"# Calibrated model `{name}`",
        "",
        f"Fine-tuned from the shipped `{base}` for {steps} steps ({seconds / 60:.1f} min) on "
        f"the measured conditions: {psf.describe()}.",
        "",
        f"Simulated movie of those conditions ({_REPORT_FRAMES} frames, "
        f"{_REPORT_SHAPE[1]}x{_REPORT_SHAPE[0]}, {_REPORT_PARTICLES} particles, seed 2012), "
        f"{_GATE_PX:g} px gate. CRLB (root of the x and y variances, mean over particles): "
        f"{crlb:.3f} px.",
        "",
        "| localizer | Jaccard | RMSE (px) | RMSE / CRLB | TP | FP | FN |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        ratio = r.rmse_px / crlb if crlb > 0 else float("nan")
        lines.append(
            f"| {r.localizer} | {r.jaccard:.3f} | {r.rmse_px:.3f} | {ratio:.2f} | "
            f"{r.tp} | {r.fp} | {r.fn} |"
        )
    return "\n".join(lines) + "\n"


def refine_size(psf: ParticleImage) -> dict[str, float]:
    """Return the refinement window (and starting width) that fits the measured particles."""
    if psf.model == "gaussian" or psf.ring_radius_px is None:
        return {"half_px": max(4, math.ceil(3.0 * psf.sigma_px)), "sigma_px": psf.sigma_px}
    return {"half_px": max(6, math.ceil(1.2 * float(psf.ring_radius_px)))}


def choose_threshold_on_measured(
    folder: str | os.PathLike[str],
    psf: ParticleImage,
    camera: CameraCalibration,
    seeds: tuple[int, ...] = (101, 102),
) -> float:
    """Choose a model's detection threshold on movies of the measured conditions.

    Training chooses it on the recipe's validation scenes, which have no camera; an EM
    register's excess noise, or the camera's read noise, changes how far background
    peaks reach. Here the threshold that maximizes the mean Jaccard on simulated movies
    of the measured particles *through the measured camera* replaces it in the model's
    ``config.json`` (the one it had is kept in its metadata).

    Parameters
    ----------
    folder : path-like
        The model folder.
    psf, camera
        The measured conditions.
    seeds : tuple of int
        One movie per seed (none the report's).

    Returns
    -------
    float
        The threshold chosen (the middle one where several score the best).
    """
    from livetrack.evaluate import score
    from livetrack.infer import CNNLocalizer
    from livetrack.model import decode_maps

    loc = CNNLocalizer(os.fspath(folder), backend="onnxruntime", camera=camera, refine=False)
    spec = loc.spec
    scenes = []
    for seed in seeds:
        movie, _ = measured_scene(psf, camera, seed=seed, n_frames=4)
        maps, _, _ = loc.predict_maps(movie.frames)
        scenes.append((movie, maps))
    means = []
    for t in _THRESHOLDS:
        jaccards = []
        for movie, maps in scenes:
            tables = [
                decode_maps(
                    maps[i],
                    float(t),
                    spec.stride,
                    movie.frames.shape[1:],
                    frame=i,
                    merge_neighbours=True,
                    corner_profile=spec.corner_profile,
                )
                for i in range(len(maps))
            ]
            pred = pd.concat(tables, ignore_index=True)
            jaccards.append(score(movie.truth, pred, gate_px=_GATE_PX).jaccard)
        means.append(float(np.mean(jaccards)))
    # Where several thresholds score the best, the middle one leaves most margin both ways.
    tied = [float(t) for t, m in zip(_THRESHOLDS, means, strict=True) if m >= max(means) - 1e-9]
    best = (max(means), tied[len(tied) // 2])
    path = Path(folder) / "config.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    meta = raw.setdefault("metadata", {})
    meta.setdefault("threshold_recipe_validation", raw.get("threshold"))
    meta["threshold_measured_conditions"] = {"threshold": best[1], "mean_jaccard": best[0]}
    raw["threshold"] = best[1]
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    return best[1]


def choose_refinement_on_measured(
    folder: str | os.PathLike[str],
    psf: ParticleImage,
    camera: CameraCalibration,
    seeds: tuple[int, ...] = (101, 102),
) -> dict[str, Any]:
    """Choose how a model's positions are refined, on movies of the measured conditions.

    A fit's window suits some particle images and not others (radial symmetry over a
    large ring's fringes, a Gaussian window narrower than a wide spot); the network's own
    positions may be better still. The refinements tried are none, the model's with its
    default window and with a window sized to the measured particles
    (:func:`refine_size`); the one with the lowest RMSE on simulated movies of the
    measured particles through the measured camera is written to the model's
    ``config.json``.

    Returns
    -------
    dict
        ``{"mode": ..., "size": {...}, "rmse_px": {candidate: rmse}}``.
    """
    from livetrack.evaluate import score
    from livetrack.infer import CNNLocalizer

    path = Path(folder) / "config.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    # The refinement training chose, kept so that choosing again starts from it.
    mode = raw.setdefault("metadata", {}).setdefault("refine_trained", raw["refine"])
    if mode == "none":
        mode = "radial" if psf.model == "ring" else "gaussian"
    candidates: dict[str, tuple[str, dict[str, float]]] = {
        "none": ("none", {}),
        f"{mode}": (mode, {}),
        f"{mode}, measured size": (mode, refine_size(psf)),
    }
    movies = [measured_scene(psf, camera, seed=seed, n_frames=4)[0] for seed in seeds]
    rmse: dict[str, float] = {}
    for label, (refine_mode, size) in candidates.items():
        raw["refine"] = refine_mode
        raw.setdefault("metadata", {})["refine"] = size
        path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
        loc = CNNLocalizer(os.fspath(folder), backend="onnxruntime", camera=camera)
        errors = [score(m.truth, loc.locate_stack(m.frames), gate_px=_GATE_PX) for m in movies]
        squares = sum(e.rmse**2 * e.tp for e in errors)
        rmse[label] = float(np.sqrt(squares / max(sum(e.tp for e in errors), 1)))
    best = min(rmse, key=lambda k: rmse[k])
    raw["refine"], size = candidates[best]
    raw["metadata"]["refine"] = size
    raw["metadata"]["refinement_measured_conditions"] = rmse
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    return {"mode": raw["refine"], "size": size, "rmse_px": rmse}


def _ours(folder: Path) -> bool:
    """Whether a folder holds a (maybe unfinished) calibrated model, safe to overwrite."""
    if (folder / MODEL_CALIBRATION_FILE).is_file():
        return True
    recipe = folder / "recipe.toml"
    try:
        return recipe.is_file() and _RECIPE_MARK in recipe.read_text(encoding="utf-8")[:500]
    except (OSError, UnicodeDecodeError):
        return False


def _resolve_out(out: str | os.PathLike[str]) -> Path:
    """Return the model folder: a bare name goes to the user's model folder (usable by name)."""
    from livetrack.model import user_models_dir

    text = os.fspath(out)
    if os.sep not in text and "/" not in text and not text.startswith("."):
        return user_models_dir() / text
    return Path(out)


def calibrate_model(
    camera: CameraCalibration,
    psf: ParticleImage,
    out: str | os.PathLike[str],
    *,
    base_model: str | None = None,
    steps: int = 6000,
    time_budget_min: float | None = 20.0,
    threads: int = 2,
    resume: bool = False,
    progress: bool = True,
    quick: bool = False,
    inputs: tuple[str | os.PathLike[str], ...] = (),
) -> CalibratedModel:
    """Fine-tune the closest shipped model to the measured conditions and report on it.

    Parameters
    ----------
    camera : CameraCalibration
        The camera's calibration.
    psf : ParticleImage
        The particles' measured image.
    out : str or path-like
        The model folder; a bare name is put in the user's model folder (usable by name).
    base_model : str, optional
        Model to start from; default :func:`closest_shipped_model`.
    steps : int
        Optimizer steps (6,000 took 10.4 min on 2 idle Xeon cores for sigma-3.5 px spots on
        an EMCCD, and beat the shipped model and MLE on the movie calibrated on).
    time_budget_min : float or None
        Anneal and stop within this many minutes of training.
    threads : int
        torch CPU threads.
    resume : bool
        Continue an interrupted run from the folder's checkpoint (same inputs and options).
    progress : bool
        Show the progress bar.
    quick : bool
        Tiny batches and validation scenes (tests).
    inputs : tuple of path
        The calibration files, hashed into the header.

    Returns
    -------
    CalibratedModel

    Raises
    ------
    InputError
        A camera calibration that does not fit the particle one (frame size, pixel type),
        no checkpoint to resume from, or a folder holding something else.
    """
    from livetrack.train import train

    folder = _resolve_out(out)
    if camera.header is not None and psf.header is not None:
        cam_shape, psf_shape = camera.header.frame_shape, psf.header.frame_shape
        if cam_shape is not None and psf_shape is not None and cam_shape != psf_shape:
            raise InputError(
                f"the camera calibration is for {cam_shape[1]}x{cam_shape[0]} frames, the "
                f"particle calibration's movie was {psf_shape[1]}x{psf_shape[0]}"
            )
        if camera.header.pixel_type != psf.header.pixel_type:
            raise InputError(
                f"the camera calibration is for {camera.header.pixel_type} pixels, the "
                f"particle calibration's movie had {psf.header.pixel_type}"
            )
    if not resume and folder.exists() and any(folder.iterdir()) and not _ours(folder):
        raise InputError(f"{folder} exists and is not a calibrated model; choose another -o")
    name = folder.name
    config = model_recipe(
        psf,
        camera,
        name=name,
        base_model=base_model,
        steps=steps,
        time_budget_min=time_budget_min,
        threads=threads,
        quick=quick,
    )
    base = str(config.optim.init_from)
    text = recipe_toml(
        config,
        f"Recipe of the calibrated model `{name}`, built by `livetrack calibrate model` "
        f"from the measured camera and particles;\nfine-tunes the shipped `{base}`.",
    )
    result = train(config, folder, resume=resume, recipe_text=text, progress=progress)
    threshold = choose_threshold_on_measured(folder, psf, camera)
    refinement = choose_refinement_on_measured(folder, psf, camera)
    movie, image = measured_scene(psf, camera)
    table = score_localizers(movie, psf, camera, {name: folder, f"{base} (shipped)": base})
    crlb = _crlb_px(image, movie.truth, _photon_stats(psf, camera)["bg"], camera)
    table["crlb_px"] = crlb
    (folder / "calibration_report.csv").write_text(table.to_csv(index=False), encoding="utf-8")
    markdown = _report_markdown(name, base, table, crlb, psf, result.steps, result.seconds)
    (folder / "calibration_report.md").write_text(markdown, encoding="utf-8")
    frame_shape = psf.header.frame_shape if psf.header else None
    pixel_type = psf.header.pixel_type if psf.header else None
    header = CalibrationHeader(
        "model",
        inputs=input_hashes(inputs) if inputs else {},
        frame_shape=frame_shape,
        pixel_type=pixel_type,
    )
    body = {
        "name": name,
        "base_model": base,
        "train_steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "threshold": threshold,
        "threshold_recipe_validation": result.spec.threshold,
        "refinement": refinement,
        "camera": camera.to_json(),
        "psf": {k: v for k, v in psf.to_json().items() if k not in ("profile", "profile_r_px")},
        "report": table.to_dict(orient="records"),
    }
    write_calibration(folder / MODEL_CALIBRATION_FILE, header, body)
    return CalibratedModel(folder, base, result.steps, result.seconds, table)
