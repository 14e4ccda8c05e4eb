"""Training recipes: a TOML file read into frozen dataclasses.

A recipe has the tables ``[model]``, ``[data]``, ``[optim]``, ``[validation]`` and
``[temporal]``, plus top-level ``name`` and ``seed``; every key is optional and defaults to
the ``spots`` recipe.
Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livetrack._errors import InputError
from livetrack.model import NetConfig


@dataclass(frozen=True)
class DataConfig:
    """Domain randomization of the simulated training patches.

    Ranges are ``(low, high)``; ``*_log`` ranges are sampled log-uniformly.

    Attributes
    ----------
    patch_px : int
        Side of the square training patches (a multiple of 4).
    psf : str
        ``"gaussian"`` (fluorescent spots, optionally mixed with Airy spots), ``"ring"``
        (brightfield/holographic microspheres) or ``"profile"`` (a measured radial profile,
        ``profile_r_px`` / ``profile``, as ``livetrack calibrate psf`` reports it).
    sigma_px : tuple of float
        Gaussian PSF standard deviation range.
    airy_fraction : float
        Fraction of spot patches rendered with an Airy PSF of the matching width.
    ring_radius_px : tuple of float
        Ring radius range (``psf = "ring"``).
    ring_envelope_ratio : tuple of float
        Envelope sigma / ring radius range.
    dark_ring_fraction : float
        Fraction of ring patches with a dark centre.
    snr : tuple of float
        ISBI SNR range; a fraction ``snr_low_fraction`` of particles is drawn uniformly in
        ``snr_low`` (where accuracy is hardest) and the rest log-uniformly in ``snr``.
    snr_low : tuple of float
        Uniform range of the low-SNR particles.
    snr_low_fraction : float
        Fraction of low-SNR particles.
    background_photons_log : tuple of float
        Base background (photons per pixel), log-uniform.
    particles_per_patch : tuple of float
        Range of the mean particle count per patch (Poisson); 8 per 64x64 is ~500 per 512x512.
    dense_fraction : float
        Fraction of patches drawn with up to ``3 x`` the upper particle count, so that
        particles overlap.
    outside_px : float
        Particles are placed up to this far outside the patch so that the net sees spots cut
        by the border; only centres inside the patch are targets.
    illumination_ratio : tuple of float
        Max/min ratio range of the smooth illumination field.
    structured_background : tuple of float
        Relative background texture range.
    flicker_std : float
        Relative frame-level intensity jitter (normalization makes it irrelevant, kept for
        completeness of the domain).
    camera_offset_adu : tuple of float
        Camera offset range.
    camera_gain_log : tuple of float
        ADU per electron, log-uniform.
    read_noise_e : tuple of float
        Read noise range in electrons.
    em_fraction : float
        Fraction of patches from an EMCCD (EM gain 50--300).
    norm_jitter : float
        Relative jitter applied to the normalization scale (robustness to its estimate).
    profile_r_px, profile : tuple of float
        The measured profile (``psf = "profile"``): radii from 0 (px) and the signed value
        at each, the centre's magnitude 1 (negative for dark-centred particles).
    profile_scale : tuple of float
        Range of the stretch of the profile's radii (particles a little larger or smaller
        than the measured average).
    halo_fraction : float
        Fraction of spot patches whose particles are large spheres seen at the network's
        scale (binned, as ``--model auto`` shows them): a bright core inside a faint dark
        halo (:class:`livetrack.simulate.RingPSF` with a tight envelope, core sigma
        about 1.1--2.6 px).
    realism_fraction : float
        Fraction of patches (sequences) that look like real video rather than a camera's
        raw counts: out-of-focus blobs and elongated distractors (never labelled), camera
        smoothing, correlated noise, block compression, 8-bit conversion with an unknown
        gain (saturating bright centres), burned-in text and scale bars. Each is drawn
        independently (see ``livetrack.train._realism``). Such patches are normalized as
        ``--model auto`` normalizes such video: by the noise at the particles' scale where
        it exceeds the pixel noise by 25 %.
    """

    patch_px: int = 64
    psf: str = "gaussian"
    sigma_px: tuple[float, float] = (0.7, 3.0)
    airy_fraction: float = 0.1
    ring_radius_px: tuple[float, float] = (2.5, 8.0)
    ring_envelope_ratio: tuple[float, float] = (1.0, 2.0)
    dark_ring_fraction: float = 0.5
    snr: tuple[float, float] = (1.0, 100.0)
    snr_low: tuple[float, float] = (1.0, 6.0)
    snr_low_fraction: float = 0.5
    background_photons_log: tuple[float, float] = (1.0, 300.0)
    particles_per_patch: tuple[float, float] = (0.5, 10.0)
    dense_fraction: float = 0.15
    outside_px: float = 4.0
    illumination_ratio: tuple[float, float] = (1.0, 3.0)
    structured_background: tuple[float, float] = (0.0, 0.3)
    flicker_std: float = 0.2
    camera_offset_adu: tuple[float, float] = (0.0, 1000.0)
    camera_gain_log: tuple[float, float] = (0.3, 5.0)
    read_noise_e: tuple[float, float] = (0.0, 3.0)
    em_fraction: float = 0.1
    norm_jitter: float = 0.1
    profile_r_px: tuple[float, ...] = ()
    profile: tuple[float, ...] = ()
    profile_scale: tuple[float, float] = (0.95, 1.05)
    halo_fraction: float = 0.0
    realism_fraction: float = 0.0


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer, schedule and loss weights.

    Attributes
    ----------
    steps : int
        Optimizer steps (the cosine schedule spans them).
    batch_size : int
        Patches per step.
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW weight decay.
    warmup_steps : int
        Linear warm-up steps.
    time_budget_min : float or None
        If set, the schedule also advances with wall time so that training anneals and
        stops within this many minutes even on a slower or busier machine.
    det_weight : float
        Weight of the detection (BCE) loss.
    pos_weight : float
        BCE weight of the positive cells relative to background cells.
    neighbour_weight : float
        Weight of the offset loss on the 8 cells around the owning cell (so whichever cell
        wins the peak has a trained offset).
    threads : int
        torch CPU threads.
    checkpoint_every : int
        Steps between checkpoints (and validation).
    init_from : str or None
        Model name or folder whose weights start the training (same architecture), e.g.
        ``"spots"`` to fine-tune a related model; None starts from random weights.
    soft_detection_targets : bool
        Spread each particle's detection target over the 2x2 cells around it (see
        ``livetrack.train._data.target_maps``) instead of one owning cell.
    average_with : str or None
        Model name or folder (same architecture) whose weights the trained ones are
        averaged with before the threshold is calibrated, as WiSE-FT does (Wortsman et al.,
        CVPR 2022): a fine-tuned network averaged with the one it came from keeps more of
        that one's accuracy on its own data and most of what fine-tuning added.
    average_weight : float
        Share of the trained weights in that average (the rest is ``average_with``'s).
    """

    steps: int = 4000
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    time_budget_min: float | None = None
    det_weight: float = 1.0
    pos_weight: float = 1.0
    neighbour_weight: float = 0.5
    threads: int = 2
    checkpoint_every: int = 250
    init_from: str | None = None
    soft_detection_targets: bool = False
    average_with: str | None = None
    average_weight: float = 1.0


@dataclass(frozen=True)
class ValidationConfig:
    """Validation scenes (benchmark-like fields) used for the progress bar and threshold.

    Attributes
    ----------
    frame_px : int
        Side of the square validation frames.
    frames_per_snr : int
        Frames per SNR value.
    snrs : tuple of float
        SNR values of the validation scenes.
    particles_per_frame : int
        Particles per frame.
    dense_particles_per_frame : int
        If > 0, every SNR is also validated at this density (the threshold is calibrated on
        both, so it suits sparse and crowded fields).
    sigma_px : float
        PSF width of spot scenes (ring scenes use ``ring_radius_px``).
    ring_radius_px : float
        Ring radius of ring scenes.
    background_photons : float
        Background per pixel.
    gate_px : float
        Matching gate for Jaccard and RMSE.
    corner_frames : int
        256x256 frames of bright, isolated spots used to measure the detection-score
        profile near output-cell corners (spot models; 0 = no correction).
    """

    frame_px: int = 128
    frames_per_snr: int = 2
    snrs: tuple[float, ...] = (2.0, 4.0, 10.0)
    particles_per_frame: int = 15
    dense_particles_per_frame: int = 0
    sigma_px: float = 1.0
    ring_radius_px: float = 4.0
    background_photons: float = 10.0
    gate_px: float = 2.0
    corner_frames: int = 30


@dataclass(frozen=True)
class TemporalTrainConfig:
    """Training of a model that fuses detection evidence over neighbouring frames.

    Attributes
    ----------
    frames : int
        Window length (odd unless ``causal``); 1 trains a single-frame model.
    diffusion_px2 : tuple of float
        Range (log-uniform) of the particles' diffusion coefficient, px^2 per frame, of
        the simulated training sequences.
    static_fraction : float
        Fraction of sequences whose particles do not move.
    fused_weight : float
        Weight of the fused detection loss beside every frame's own loss.
    frame_det_weight : float
        Weight of every frame's own detection loss relative to ``optim.det_weight``; below
        1 the per-frame logits are freer to become evidence that adds up over frames.
    neighbour_cap : float or None
        Cap on a neighbour's logit in the fusion (``livetrack.model.TemporalConfig``).
    causal : bool
        Decide each frame from it and the ``frames - 1`` before it (a model for live
        tracking) instead of a window centred on it.
    """

    frames: int = 1
    diffusion_px2: tuple[float, float] = (0.01, 3.0)
    static_fraction: float = 0.2
    fused_weight: float = 1.0
    frame_det_weight: float = 1.0
    neighbour_cap: float | None = None
    causal: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """A whole training recipe.

    Attributes
    ----------
    name : str
        Model name written to config.json.
    seed : int
        Seed of the data stream and of the weights.
    model : NetConfig
        Architecture.
    data : DataConfig
        Training data randomization.
    optim : OptimConfig
        Optimization.
    validation : ValidationConfig
        Validation scenes.
    temporal : TemporalTrainConfig
        Fusion over neighbouring frames (off by default).
    """

    name: str = "spots"
    seed: int = 0
    model: NetConfig = field(default_factory=NetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    temporal: TemporalTrainConfig = field(default_factory=TemporalTrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Return the recipe as nested dicts (JSON/TOML-friendly)."""
        return dataclasses.asdict(self)


def _build(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise InputError(f"recipe: [{where}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise InputError(f"recipe: unknown key(s) in [{where}]: {', '.join(unknown)}")
    kwargs = {}
    for key, value in table.items():
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list | tuple):
                raise InputError(f"recipe: [{where}] {key} must be a list")
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from parsed TOML.

    Raises
    ------
    InputError
        Unknown tables or keys, or values of the wrong kind.
    """
    tables = {"model": NetConfig, "data": DataConfig, "optim": OptimConfig}
    tables["validation"] = ValidationConfig
    tables["temporal"] = TemporalTrainConfig
    unknown = sorted(set(raw) - {*tables, "name", "seed"})
    if unknown:
        raise InputError(f"recipe: unknown key(s): {', '.join(unknown)}")
    parts = {k: _build(cls, raw.get(k, {}), k) for k, cls in tables.items()}
    cfg = TrainConfig(name=str(raw.get("name", "spots")), seed=int(raw.get("seed", 0)), **parts)
    if cfg.data.patch_px % 4 or cfg.data.patch_px < 16:
        raise InputError("recipe: data.patch_px must be a multiple of 4 and >= 16")
    if cfg.data.psf not in ("gaussian", "ring", "profile"):
        raise InputError(
            f"recipe: data.psf must be 'gaussian', 'ring' or 'profile', got {cfg.data.psf!r}"
        )
    if cfg.data.psf == "profile":
        from livetrack.simulate import ProfilePSF

        try:
            ProfilePSF(tuple(cfg.data.profile_r_px), tuple(cfg.data.profile))
        except InputError as exc:
            raise InputError(f"recipe: data.profile_r_px / data.profile: {exc}") from None
    if cfg.temporal.causal and cfg.temporal.frames < 2:
        raise InputError("recipe: a causal temporal window needs temporal.frames >= 2")
    if not cfg.temporal.causal and (cfg.temporal.frames < 1 or cfg.temporal.frames % 2 == 0):
        raise InputError("recipe: temporal.frames must be a positive odd number")
    if cfg.temporal.frames > 1 and cfg.validation.frames_per_snr < 2:
        raise InputError("recipe: a temporal model needs validation.frames_per_snr >= 2")
    if cfg.optim.steps < 1 or cfg.optim.batch_size < 1:
        raise InputError("recipe: optim.steps and optim.batch_size must be >= 1")
    if not 0.0 <= cfg.optim.average_weight <= 1.0:
        raise InputError("recipe: optim.average_weight must be between 0 and 1")
    return cfg


def load_recipe(path: str | os.PathLike[str]) -> tuple[TrainConfig, str]:
    """Read a TOML recipe.

    Returns
    -------
    config : TrainConfig
        The parsed recipe.
    text : str
        The file's text (stored beside the trained model).

    Raises
    ------
    InputError
        A missing or malformed file.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read recipe {p}: {exc.strerror or exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: invalid TOML ({exc})") from None
    try:
        return config_from_dict(raw), text
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise InputError(f"{p}: {exc}") from None
        raise InputError(f"{p}: invalid recipe ({exc})") from None
