"""Run localizers over the benchmark scenes and score them against ground truth."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from livetrack import evaluate
from livetrack.bench._scenes import Scene
from livetrack.simulate import GaussianPSF, Movie, ProfilePSF, RingPSF

__all__ = ["AccuracyRow", "run_accuracy"]

# A factory gets the scene (for its feature size and camera) and returns a
# callable that localizes one frame.
LocalizerFactory = Callable[[Scene, object], Callable[[np.ndarray, int], pd.DataFrame]]


@dataclass(frozen=True)
class AccuracyRow:
    """One (scene, localizer) result of the accuracy benchmark."""

    scene: str
    group: str
    snr: float
    localizer: str
    jaccard: float
    precision: float
    recall: float
    rmse_px: float
    crlb_px: float
    ms_per_frame: float
    jaccard_oracle: float = float("nan")

    @property
    def rmse_over_crlb(self) -> float:
        """RMSE divided by the Cramér–Rao bound (NaN where no bound applies)."""
        return self.rmse_px / self.crlb_px if self.crlb_px > 0 else float("nan")


def scene_crlb_px(scene: Scene, truth: pd.DataFrame, camera: object) -> float:
    """Root of the summed x and y CRLB variances, averaged over the true particles.

    Defined on a flat background: the pixel-integrated Gaussian bound for Gaussian spots,
    the numerical bound of the scene's own image model for rings (shot noise only); NaN
    under uneven illumination, whose local photon counts the scene does not fix.
    """
    if "illumination" in scene.kwargs:
        return float("nan")
    visible = truth[truth["visible"]] if "visible" in truth else truth
    if visible.empty:
        return float("nan")
    background = float(scene.kwargs.get("background_photons", 10.0))
    if isinstance(scene.psf, RingPSF | ProfilePSF):
        sample = visible.iloc[:: max(1, len(visible) // 40)]
        var = [
            sum(s * s for s in evaluate.crlb_psf(scene.psf, a, background, x0=x % 1.0, y0=y % 1.0))
            for a, x, y in zip(sample["amplitude"], sample["x"], sample["y"], strict=True)
        ]
        return float(np.sqrt(np.mean(var)))
    if not isinstance(scene.psf, GaussianPSF):
        return float("nan")
    # The bound depends on where the particle sits within its pixel.
    std = evaluate.crlb_gaussian_params(
        visible["amplitude"].to_numpy(),
        background,
        scene.psf.sigma_px,
        read_noise_e=getattr(camera, "read_noise_e", 0.0),
        em_gain=getattr(camera, "em_gain", None),
        x0=visible["x"].to_numpy() % 1.0,
        y0=visible["y"].to_numpy() % 1.0,
    )
    return float(np.sqrt(np.mean(np.asarray(std["x"]) ** 2 + np.asarray(std["y"]) ** 2)))


def _oracle_jaccard(scene: Scene, movie: Movie, gate_px: float) -> float:
    """Jaccard of the known-PSF likelihood-ratio detector (see ``evaluate.oracle_jaccard``).

    Defined where the CRLB is: Gaussian spots on a flat background, one photon count.
    """
    truth = movie.truth
    if not isinstance(scene.psf, GaussianPSF) or "illumination" in scene.kwargs:
        return float("nan")
    camera = movie.camera
    assert camera is not None  # every scene of the suite is imaged through its camera
    photons = np.stack([camera.to_photons(f) for f in movie.frames])
    visible = truth[truth["visible"]] if "visible" in truth else truth
    if visible.empty:
        return float("nan")
    result = evaluate.oracle_jaccard(
        photons,
        truth,
        scene.psf.sigma_px,
        float(visible["amplitude"].median()),
        float(scene.kwargs.get("background_photons", 10.0)),
        gate_px=gate_px,
    )
    return result.jaccard


def run_accuracy(
    scenes: Sequence[Scene],
    localizers: dict[str, LocalizerFactory],
    seed: int = 2012,
    gate_px: float = 2.0,
    progress: Callable[[str], None] | None = None,
    skip_frames: int = 0,
) -> list[AccuracyRow]:
    """Simulate every scene once and score every localizer on it.

    Parameters
    ----------
    scenes
        The scenes, e.g. from :func:`livetrack.bench.accuracy_suite`.
    localizers
        Name to factory; each factory builds a per-frame localizer for a scene.
    seed
        Base seed; scene ``i`` uses ``seed + i`` so the suite is reproducible.
    gate_px
        Matching gate for :func:`livetrack.evaluate.score`.
    progress
        Called with a short message before each (scene, localizer) run.
    skip_frames
        Score only frames ``skip_frames`` and later (every frame is still located, in
        order): a causal model's first frames lack the earlier frames it fuses.

    Returns
    -------
    list of AccuracyRow
    """
    rows: list[AccuracyRow] = []
    for index, scene in enumerate(scenes):
        movie = scene.simulate(seed + index)
        crlb = scene_crlb_px(scene, movie.truth, movie.camera)
        oracle = _oracle_jaccard(scene, movie, gate_px)
        for name, factory in localizers.items():
            if progress is not None:
                progress(f"{scene.name} · {name}")
            locate = factory(scene, movie.camera)
            pred, seconds = _locate_all(locate, movie.frames)
            result = evaluate.score(
                movie.truth[movie.truth["frame"] >= skip_frames],
                pred[pred["frame"] >= skip_frames],
                gate_px=gate_px,
            )
            rows.append(
                AccuracyRow(
                    scene=scene.name,
                    group=scene.group,
                    snr=scene.snr,
                    localizer=name,
                    jaccard=result.jaccard,
                    precision=result.precision,
                    recall=result.recall,
                    rmse_px=result.rmse,
                    crlb_px=crlb,
                    ms_per_frame=1e3 * seconds / len(movie.frames),
                    jaccard_oracle=oracle,
                )
            )
    return rows


def _locate_all(
    locate: Callable[[np.ndarray, int], pd.DataFrame], frames: Iterable[np.ndarray]
) -> tuple[pd.DataFrame, float]:
    """Localize each frame, timing only the localizer calls.

    A localizer with a ``stack`` attribute (one that uses neighbouring frames) gets the
    whole stack at once.
    """
    stack_locate = getattr(locate, "stack", None)
    if stack_locate is not None:
        start = time.perf_counter()
        found = stack_locate(np.asarray(frames))
        return found, time.perf_counter() - start
    parts = []
    elapsed = 0.0
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        found = locate(frame, i)
        elapsed += time.perf_counter() - start
        parts.append(found)
    return pd.concat(parts, ignore_index=True), elapsed
