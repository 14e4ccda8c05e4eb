"""Validation scenes, scoring and the choice of the detection threshold during training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from livetrack.model import decode_maps
from livetrack.train._config import TrainConfig

#: Thresholds tried when choosing the detection threshold.
THRESHOLD_GRID = tuple(np.round(np.arange(0.1, 0.951, 0.05), 3))


@dataclass(frozen=True)
class Scene:
    """One validation movie: frames (T, H, W), visible in-frame truth, label."""

    label: str
    snr: float
    frames: np.ndarray
    truth: pd.DataFrame


def validation_scenes(config: TrainConfig) -> list[Scene]:
    """Simulate the recipe's validation scenes (seeded by ``config.seed + 1``).

    A single-frame model is validated on independent frames; a model that fuses
    neighbouring frames on a movie of Brownian particles (1 px^2 per frame, as the
    benchmark's ISBI-like fields) per scene.
    """
    from livetrack.simulate import PSF, Dynamics, GaussianPSF, ProfilePSF, RingPSF, simulate_movie

    psfs: list[tuple[str, PSF]]

    v = config.validation
    rng = np.random.default_rng(config.seed + 1)
    if config.data.psf == "ring":
        psfs = [
            ("bright", RingPSF(v.ring_radius_px, 1.0)),
            ("dark", RingPSF(v.ring_radius_px, -1.0)),
        ]
    elif config.data.psf == "profile":
        # The measured particle itself, with its own polarity.
        d = config.data
        psfs = [("profile", ProfilePSF(tuple(d.profile_r_px), tuple(d.profile)))]
    else:
        psfs = [("spots", GaussianPSF(v.sigma_px))]
    scenes = []
    densities = [v.particles_per_frame]
    if v.dense_particles_per_frame > 0:
        densities.append(v.dense_particles_per_frame)
    for label, psf in psfs:
        for snr in v.snrs:
            for n in densities:
                if config.temporal.frames > 1:
                    movie = simulate_movie(
                        n_frames=v.frames_per_snr,
                        shape=(v.frame_px, v.frame_px),
                        n_particles=n,
                        psf=psf,
                        snr=float(snr),
                        background_photons=v.background_photons,
                        dynamics=Dynamics(diffusion_px2=1.0),
                        seed=rng,
                    )
                    t = movie.truth[movie.truth["visible"] & movie.truth["in_frame"]]
                    name = f"{label}@{snr:g}" + (f"/n{n}" if len(densities) > 1 else "")
                    scenes.append(Scene(name, float(snr), movie.frames, t.reset_index(drop=True)))
                    continue
                # Independent single-frame movies: static particles would repeat one layout.
                frames, truths = [], []
                for i in range(v.frames_per_snr):
                    movie = simulate_movie(
                        n_frames=1,
                        shape=(v.frame_px, v.frame_px),
                        n_particles=n,
                        psf=psf,
                        snr=float(snr),
                        background_photons=v.background_photons,
                        seed=rng,
                    )
                    t = movie.truth[movie.truth["visible"] & movie.truth["in_frame"]]
                    truths.append(t.assign(frame=i))
                    frames.append(movie.frames[0])
                name = f"{label}@{snr:g}" + (f"/n{n}" if len(densities) > 1 else "")
                truth = pd.concat(truths, ignore_index=True)
                scenes.append(Scene(name, float(snr), np.stack(frames), truth))
    return scenes


def scene_maps(localizer, scenes: list[Scene]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Run ``localizer.predict_maps`` on every scene."""
    return [localizer.predict_maps(s.frames) for s in scenes]


def decode_scene(
    maps: np.ndarray,
    batch: np.ndarray,
    shape: tuple[int, int],
    threshold: float,
    stride: int,
    corner_profile: tuple[float, ...] = (),
) -> pd.DataFrame:
    """Decode the maps of all frames of a scene (mass omitted)."""
    tables = [
        decode_maps(
            maps[i],
            threshold,
            stride,
            shape,
            frame=i,
            merge_neighbours=True,
            corner_profile=corner_profile,
        )
        for i in range(maps.shape[0])
    ]
    return pd.concat(tables, ignore_index=True)


def score_scenes(
    scenes: list[Scene],
    outputs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    threshold: float,
    stride: int,
    gate_px: float,
    corner_profile: tuple[float, ...] = (),
) -> dict[str, dict[str, float]]:
    """Jaccard, RMSE and sigma calibration per scene at one threshold."""
    from livetrack.evaluate import match, score

    results = {}
    for scene, (maps, batch, _) in zip(scenes, outputs, strict=True):
        pred = decode_scene(maps, batch, scene.frames.shape[1:], threshold, stride, corner_profile)
        s = score(scene.truth, pred, gate_px=gate_px)
        z = _normalized_errors(scene.truth, pred, gate_px, match)
        results[scene.label] = {
            "jaccard": float(s.jaccard),
            "rmse_px": float(s.rmse),
            "z_std": float(np.std(z)) if z.size > 2 else float("nan"),
        }
    return results


def _normalized_errors(truth: pd.DataFrame, pred: pd.DataFrame, gate: float, match) -> np.ndarray:
    """Errors divided by the predicted sigma (x and y pooled) for matched pairs."""
    out = []
    for f, t in truth.groupby("frame"):
        p = pred[pred["frame"] == f]
        if len(p) == 0:
            continue
        ti, pi = match(t[["x", "y"]].to_numpy(), p[["x", "y"]].to_numpy(), gate_px=gate)
        tt, pp = t.iloc[ti], p.iloc[pi]
        out.append((pp["x"].to_numpy() - tt["x"].to_numpy()) / pp["sigma_x"].to_numpy())
        out.append((pp["y"].to_numpy() - tt["y"].to_numpy()) / pp["sigma_y"].to_numpy())
    return np.concatenate(out) if out else np.empty(0)


def choose_threshold(
    scenes: list[Scene],
    outputs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    stride: int,
    gate_px: float,
    corner_profile: tuple[float, ...] = (),
) -> tuple[float, dict[str, dict[str, float]]]:
    """Pick the threshold that maximizes the mean Jaccard over the validation scenes.

    Returns
    -------
    threshold : float
        The best threshold of :data:`THRESHOLD_GRID`.
    results : dict
        Per-scene metrics at that threshold.
    """
    best: tuple[float, float, dict[str, dict[str, float]]] = (-1.0, 0.5, {})
    for t in THRESHOLD_GRID:
        res = score_scenes(scenes, outputs, float(t), stride, gate_px, corner_profile)
        mean_j = float(np.mean([r["jaccard"] for r in res.values()]))
        if mean_j > best[0] + 1e-9:
            best = (mean_j, float(t), res)
    return best[1], best[2]


#: Former name of :func:`choose_threshold`, kept for existing scripts.
calibrate_threshold = choose_threshold


def summarize(results: dict[str, dict[str, float]]) -> tuple[float, float]:
    """Mean Jaccard and mean RMSE over scenes."""
    j = float(np.mean([r["jaccard"] for r in results.values()]))
    rm = [r["rmse_px"] for r in results.values() if np.isfinite(r["rmse_px"])]
    return j, float(np.mean(rm)) if rm else float("nan")


def corner_profile(localizer, config: TrainConfig, n_frames: int = 30) -> tuple[float, ...]:
    """Measure the mean detection score of bright, isolated particles vs cell-corner distance.

    Particles at SNR 8-30 on a jittered grid (no overlaps), PSFs drawn from the training
    range; frames seeded by ``config.seed + 2``. Returns one mean per bin of
    :data:`livetrack.model.CORNER_BINS` (1.0 where a bin is empty).
    """
    from livetrack.evaluate import match
    from livetrack.model import CORNER_BINS, corner_distance
    from livetrack.simulate import Camera, GaussianPSF, photons_for_snr, render_frame

    rng = np.random.default_rng(config.seed + 2)
    camera = Camera()
    dist, scores = [], []
    gx, gy = np.meshgrid(np.arange(20.0, 236.0, 30.0), np.arange(20.0, 236.0, 30.0))
    for _ in range(n_frames):
        psf = GaussianPSF(float(rng.uniform(0.8, 2.0)))
        x = gx.ravel() + rng.uniform(-3.0, 3.0, gx.size)
        y = gy.ravel() + rng.uniform(-3.0, 3.0, gx.size)
        amp = photons_for_snr(rng.uniform(8.0, 30.0, x.size), 10.0, psf)
        # A model fusing K frames sees K noisy frames of the (still) particles.
        k = localizer.spec.temporal.frames
        stack = np.stack(
            [render_frame((256, 256), x, y, amp, psf, 10.0, None, camera, rng) for _ in range(k)]
        )
        maps, _, _ = localizer.predict_maps(stack)
        pred = decode_maps(
            maps[localizer.spec.temporal.whole_window_index],
            0.02,
            localizer.spec.stride,
            (256, 256),
            merge_neighbours=True,
        )
        ti, pi = match(np.column_stack([x, y]), pred[["x", "y"]].to_numpy(), gate_px=2.0)
        s = np.zeros(x.size)
        s[ti] = pred["prob"].to_numpy()[pi]
        dist.append(corner_distance(x, y, localizer.spec.stride))
        scores.append(s)
    d, sc = np.concatenate(dist), np.concatenate(scores)
    idx = np.searchsorted(np.asarray(CORNER_BINS), d, side="right")
    return tuple(
        float(np.clip(sc[idx == b].mean(), 0.05, 1.0)) if (idx == b).any() else 1.0
        for b in range(len(CORNER_BINS))
    )
