"""What the adaptive threshold knows of a model's false detections, measured on simulations.

``threshold="adaptive"`` splits a batch's detections into expected false and true ones. The
false ones are of two kinds, each measured once per model (and backend) on seeded simulated
frames: background peaks, per pixel (:func:`measure_null_rates`), and the faint false peaks
that particles raise around them, per confident detection and by brightness
(:func:`measure_clutter`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from livetrack.model import frame_statistics

#: Score grid of the null and clutter rates.
THRESHOLDS = np.linspace(0.0, 1.0, 101)
#: Score above which a detection is confident (``adaptive_threshold``'s default).
CONFIDENT = 0.8
# SNRs of the movies the clutter around particles is measured on.
_CLUTTER_SNRS = (3.0, 5.0, 10.0, 20.0)


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
        batch, _ = loc._prepare(frames, camera=None)
        maps = loc._run(batch, frames.shape[1:])
        c = loc.spec.temporal.whole_window_index
        scores.append(loc._decode(maps[c], batch[c, 0], 0, lowest)["prob"])
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
