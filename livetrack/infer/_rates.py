"""What the adaptive threshold knows of a model's false detections, measured on simulations.

``threshold="adaptive"`` splits a batch's detections into expected false and true ones. The
false ones are of two kinds, each measured per model and backend on seeded simulated
frames: background peaks, per pixel (:func:`measure_null_rates`), and the faint false peaks
that particles raise around them, per confident detection and by brightness
(:func:`measure_clutter`).

Measuring takes seconds, so it is done when a model is trained or calibrated and stored in
its folder (``rates.json``, :func:`write_rates`); a localizer reads them from there
(:func:`null_rates`, :func:`clutter_rates`) and measures only for a folder without them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import ModelFileError
from livetrack.infer._decoding import ADAPTIVE_LOWEST
from livetrack.model import ModelSpec, frame_statistics, load_model

log = logging.getLogger("livetrack.infer")

#: Score grid of the null and clutter rates.
THRESHOLDS = np.linspace(0.0, 1.0, 101)
#: Score above which a detection is confident (``adaptive_threshold``'s default).
CONFIDENT = 0.8
# SNRs of the movies the clutter around particles is measured on.
_CLUTTER_SNRS = (3.0, 5.0, 10.0, 20.0)

#: File in a model folder that holds the rates, per backend.
RATES_FILE = "rates.json"
#: Version of the measurement. Bump it when :func:`measure_null_rates`,
#: :func:`measure_clutter` or the decoding they rest on change, so that stored rates made
#: the old way are measured again instead of used.
RATES_VERSION = 1
_FORMAT = "livetrack-rates"
# Backends that compute what another one stores (the same fp32 network): they reuse its
# rates. A backend of other numerics (int8, TensorRT fp16) has its own or is measured.
_SAME_RATES_AS = {"torch": "onnxruntime"}
# What the measurements depend on in config.json (the threshold and the metadata do not).
_MEASURED_CONFIG = (
    *("net", "normalization", "mass_radius_px", "merge_neighbours"),
    *("refine", "corner_profile", "temporal"),
)
# Stale rates files already reported.
_WARNED: set[tuple[str, str]] = set()
# Rates per (model folder, model name, backend), read or measured once per process.
_NULL_RATES: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
_CLUTTER: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
# Held while a model's rates are read or measured, so two threads measure them once;
# re-entrant: measuring the clutter reads the null rates.
_CACHE_LOCK = threading.RLock()


def measure_null_rates(loc: Any, lowest: float) -> tuple[np.ndarray, np.ndarray]:
    """Measure the background peaks per pixel of ``loc`` scoring at least each threshold.

    Seeded Poisson backgrounds of 3 to 1000 photons per pixel plus 1 e- of read noise,
    2 megapixels in all (for a model fusing neighbouring frames, each the frame of a stack
    whose whole window is inside), decoded down to ``lowest``.
    """
    rng = np.random.default_rng(20121)
    scores, area = [], 0
    k = loc.temporal_frames
    for level in (3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 10.0, 100.0):
        # No camera delivers exact integers, and integer frames made the background
        # statistics (and so the rates) subtly off.
        frames = rng.poisson(level, (k, 512, 512)).astype(np.float32)
        frames += rng.normal(0.0, 1.0, frames.shape).astype(np.float32)
        # The frames are photons already: no camera conversion.
        batch, _ = loc._normalize(frames, camera=None)
        maps = loc._run(batch, frames.shape[1:])
        c = loc.spec.temporal.whole_window_index
        scores.append(loc._decoder.decode(maps[c], batch[c, 0], 0, lowest)["prob"])
        area += frames[0].size
    all_scores = np.concatenate(scores)
    rate = (all_scores[None, :] >= THRESHOLDS[:, None]).sum(axis=1) / area
    return THRESHOLDS, rate


def measure_clutter(loc: Any, lowest: float) -> tuple[np.ndarray, np.ndarray]:
    """Measure the false detections of ``loc`` around particles, by brightness.

    See :meth:`CNNLocalizer.clutter_rates`.
    """
    from livetrack import evaluate
    from livetrack import simulate as sim

    thresholds, null = loc.null_rates()
    camera = sim.Camera(read_noise_e=1.0)
    probe = type(loc)(
        model=loc.spec, backend=loc.backend, threshold=lowest, camera=camera, refine=False
    )
    # A causal model's first frames lack earlier ones: they are not counted.
    skip = loc.spec.temporal.distances if loc.spec.temporal.causal else 0
    levels, curves = [], []
    for snr in _CLUTTER_SNRS:
        false = np.zeros(thresholds.size)
        masses, area = [], 0
        for seed in range(2):
            # Ring models see rings of both polarities, spot models spots.
            psf = (
                sim.RingPSF(radius_px=4.0, contrast=1.0 - 2.0 * seed)
                if loc.spec.for_rings
                else sim.GaussianPSF(sigma_px=1.0)
            )
            movie = sim.simulate_movie(
                n_frames=max(4, loc.temporal_frames + 1) + skip,
                shape=(256, 256),
                n_particles=40,
                psf=psf,
                snr=snr,
                background_photons=10.0,
                camera=camera,
                dynamics=sim.Dynamics(diffusion_px2=1.0),
                seed=20122 + seed,
            )
            frames = np.asarray(movie.frames)
            found = probe.locate_stack(frames)
            found = found[found["frame"] >= skip].reset_index(drop=True)
            truth = movie.truth[movie.truth["frame"] >= skip]
            frames = frames[skip:]
            prob = found["prob"].to_numpy()
            for i, t in enumerate(thresholds):
                if t >= lowest:
                    false[i] += evaluate.score(truth, found[prob >= t]).fp
            noise = np.array([frame_statistics(camera.to_photons(f))[1] for f in frames])
            conf = prob >= CONFIDENT
            frame_of = found["frame"].to_numpy()[conf] - skip
            masses.append(found["mass"].to_numpy()[conf] / noise[frame_of])
            area += frames[0].size * len(frames)
        false[thresholds < lowest] = false[np.searchsorted(thresholds, lowest)]
        mass = np.concatenate(masses)
        clutter = np.maximum(false - null * area, 0.0) / max(mass.size, 1)
        # Monotone like a survival count, despite the noise of the subtraction.
        curves.append(np.minimum.accumulate(clutter))
        levels.append(float(np.median(mass)) if mass.size else np.nan)
    keep = np.isfinite(levels)
    order = np.argsort(np.asarray(levels)[keep])
    return np.asarray(levels)[keep][order], np.asarray(curves)[keep][order]


def clutter_curve(levels: np.ndarray, rates: np.ndarray, tables: list[pd.DataFrame]) -> np.ndarray:
    """Return the clutter per confident detection for a batch, by threshold.

    Clutter grows with the particles' brightness: the measured levels are interpolated
    (in log mass) at the batch's median confident ``mass``, in units of the frame noise.
    """
    mass = np.concatenate([t["mass"].to_numpy()[t["prob"].to_numpy() >= CONFIDENT] for t in tables])
    mass = mass[np.isfinite(mass)]
    if mass.size == 0:
        return rates[0]
    where = np.log(max(float(np.median(mass)), 1e-9))
    return np.array([np.interp(where, np.log(levels), col) for col in rates.T])


@dataclass(frozen=True)
class ModelRates:
    """The rates of one model on one backend (see :class:`CNNLocalizer`'s methods).

    Attributes
    ----------
    thresholds : numpy.ndarray
        The score grid, :data:`THRESHOLDS`.
    null : numpy.ndarray
        Background peaks per pixel scoring at least each threshold.
    clutter_mass : numpy.ndarray
        ``(L,)`` median confident mass of each clutter level, in units of frame noise.
    clutter : numpy.ndarray
        ``(L, len(thresholds))`` false detections per confident one.
    """

    thresholds: np.ndarray
    null: np.ndarray
    clutter_mass: np.ndarray
    clutter: np.ndarray


def rates_key(backend_name: str) -> str:
    """Return the name under which ``backend_name``'s rates are stored."""
    return _SAME_RATES_AS.get(backend_name, backend_name)


def fingerprint(spec: ModelSpec, backend_name: str, lowest: float) -> str:
    """Identify what the rates of ``spec`` on ``backend_name`` were measured from.

    The hash covers the network file the backend runs (``model.int8.onnx`` for
    ``onnxruntime-int8``, else ``model.onnx``: the torch backend's weights are exported
    there), the parts of ``config.json`` the measurement depends on, the lowest threshold
    and :data:`RATES_VERSION`. Stored rates whose fingerprint differs are stale.
    """
    key = rates_key(backend_name)
    path = spec.int8_onnx_path if key == "onnxruntime-int8" else spec.onnx_path
    config = spec.to_json()
    described = {k: config[k] for k in _MEASURED_CONFIG}
    described.update(for_rings=spec.for_rings, lowest=lowest, version=RATES_VERSION)
    h = hashlib.sha256(path.read_bytes())
    h.update(json.dumps(described, sort_keys=True).encode())
    return "sha256:" + h.hexdigest()


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable rates file ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
        raise ModelFileError(f"{path}: not a livetrack rates file")
    return raw


def _parse(path: Path, entry: Any) -> ModelRates:
    try:
        rates = ModelRates(
            thresholds=THRESHOLDS.copy(),
            null=np.asarray(entry["null_per_px"], dtype=np.float64),
            clutter_mass=np.asarray(entry["clutter_mass"], dtype=np.float64),
            clutter=np.asarray(entry["clutter_per_confident"], dtype=np.float64),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid rates ({exc})") from None
    n = THRESHOLDS.size
    if rates.null.shape != (n,) or rates.clutter.shape != (rates.clutter_mass.size, n):
        raise ModelFileError(f"{path}: invalid rates (arrays of the wrong shape)")
    return rates


def stored_rates(spec: ModelSpec, backend_name: str, lowest: float) -> ModelRates | None:
    """Return the rates stored in the model's folder for ``backend_name``, if current.

    Returns
    -------
    ModelRates or None
        None when the model has no folder, the folder no rates file, the file no entry for
        the backend, or an entry measured from other files or another measurement (logged
        as a warning: ``livetrack models rates <model>`` measures them again).

    Raises
    ------
    ModelFileError
        A rates file that cannot be read or is damaged.
    """
    if spec.folder is None or not (spec.folder / RATES_FILE).is_file():
        return None
    path = spec.folder / RATES_FILE
    raw = _read(path)
    entry = raw.get("backends", {}).get(rates_key(backend_name))
    if entry is None:
        return None
    if entry.get("fingerprint") != fingerprint(spec, backend_name, lowest):
        # Once per file and backend: null_rates and clutter_rates both ask.
        warned = (os.fspath(path), rates_key(backend_name))
        if warned in _WARNED:
            return None
        _WARNED.add(warned)
        log.warning(
            "%s: the %s rates were measured for other model files or another livetrack; "
            "measuring them now (store them with `livetrack models rates %s`)",
            path,
            rates_key(backend_name),
            spec.folder,
        )
        return None
    if raw.get("thresholds") != THRESHOLDS.tolist():
        return None
    return _parse(path, entry)


def rate_key(loc: Any) -> tuple[str, str, str]:
    """Return the key of ``loc``'s rates in the per-process caches."""
    return (os.fspath(loc.spec.folder or ""), loc.spec.name, loc.backend.name)


def cached_null_rates(loc: Any, lowest: float) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`null_rates`, read or measured once per model and backend in a process."""
    key = rate_key(loc)
    with _CACHE_LOCK:
        if key not in _NULL_RATES:
            _NULL_RATES[key] = null_rates(loc, lowest)
        return _NULL_RATES[key]


def cached_clutter_rates(loc: Any, lowest: float) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`clutter_rates`, read or measured once per model and backend in a process."""
    key = rate_key(loc)
    with _CACHE_LOCK:
        if key not in _CLUTTER:
            _CLUTTER[key] = clutter_rates(loc, lowest)
        return _CLUTTER[key]


def null_rates(loc: Any, lowest: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the null rates of ``loc``: stored in its model's folder, else measured."""
    stored = stored_rates(loc.spec, loc.backend.name, lowest)
    if stored is not None:
        return stored.thresholds, stored.null
    return measure_null_rates(loc, lowest)


def clutter_rates(loc: Any, lowest: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the clutter rates of ``loc``: stored in its model's folder, else measured."""
    stored = stored_rates(loc.spec, loc.backend.name, lowest)
    if stored is not None:
        return stored.clutter_mass, stored.clutter
    return measure_clutter(loc, lowest)


def measure_rates(spec: ModelSpec, backend: str, lowest: float | None = None) -> ModelRates:
    """Measure the null and clutter rates of ``spec`` on ``backend`` (seconds).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    backend : str
        A backend name (``"onnxruntime"``, ``"onnxruntime-int8"``, ...).
    lowest : float, optional
        Lowest threshold of the adaptive rule; the localizer's by default.
    """
    from livetrack.infer._localizer import CNNLocalizer

    lowest = ADAPTIVE_LOWEST if lowest is None else lowest
    loc = CNNLocalizer(spec, backend=backend, threshold="adaptive")
    thresholds, null = measure_null_rates(loc, lowest)
    # The clutter measurement subtracts these null rates: hand it the fresh ones, not
    # stored ones this call is about to replace.
    loc._null = (thresholds, null)
    mass, clutter = measure_clutter(loc, lowest)
    return ModelRates(thresholds, null, mass, clutter)


def write_rates(
    model: str | os.PathLike[str] | ModelSpec, backends: tuple[str, ...] | None = None
) -> Path:
    """Measure a model's rates and store them in its folder (``rates.json``).

    Parameters
    ----------
    model : str, path-like or ModelSpec
        Model name or folder.
    backends : tuple of str, optional
        Backends to measure; default ``onnxruntime`` and, where the folder has the int8
        export, ``onnxruntime-int8``. Entries of other backends already in the file are
        kept while they are current.

    Returns
    -------
    pathlib.Path
        The rates file.
    """
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    if spec.folder is None:
        raise ModelFileError(f"model {spec.name!r} has no folder to store its rates in")
    if backends is None:
        backends = ("onnxruntime",)
        if spec.int8_onnx_path.is_file():
            backends += ("onnxruntime-int8",)
    path = spec.folder / RATES_FILE
    kept: dict[str, Any] = {}
    if path.is_file():
        old = _read(path).get("backends", {})
        for name, entry in old.items():
            if name not in backends and stored_rates(spec, name, ADAPTIVE_LOWEST) is not None:
                kept[name] = entry
    for name in backends:
        rates = measure_rates(spec, name, ADAPTIVE_LOWEST)
        kept[rates_key(name)] = {
            "fingerprint": fingerprint(spec, name, ADAPTIVE_LOWEST),
            "null_per_px": rates.null.tolist(),
            "clutter_mass": rates.clutter_mass.tolist(),
            "clutter_per_confident": rates.clutter.tolist(),
        }
    content = {
        "format": _FORMAT,
        "version": RATES_VERSION,
        "model": spec.name,
        "lowest": ADAPTIVE_LOWEST,
        "thresholds": THRESHOLDS.tolist(),
        "backends": dict(sorted(kept.items())),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(_dumps(content), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _dumps(content: dict[str, Any]) -> str:
    # One line per array, not per number: the file stays short and its diffs readable.
    def block(d: dict[str, Any], indent: str) -> str:
        items = []
        for k, v in d.items():
            text = block(v, indent + "  ") if isinstance(v, dict) else json.dumps(v)
            items.append(f"{indent}  {json.dumps(k)}: {text}")
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"

    return block(content, "") + "\n"
