"""An oracle detector: the best Jaccard index any single-frame detector can hope for.

For a spot of known shape, photon count and background, the Neyman-Pearson most powerful
test of "particle here" against "background only" at one location is the Poisson likelihood
ratio ``sum_k n_k log(1 + s_k / b) - sum_k s_k`` (s: expected signal in pixel k). Scanning it
over the pixel grid, keeping local maxima and choosing the threshold with hindsight of the
truth gives a detector no real detector can beat on isolated spots: it knows the PSF, the
photon count and the background exactly, and its threshold is the best one for the scene.
Its Jaccard index puts a detection target in context, as the Cramér-Rao bound does for
localization error: a target above it cannot be met from single frames on that image model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.special import erf

from livetrack._errors import InputError
from livetrack.evaluate._score import score


@dataclass(frozen=True)
class OracleResult:
    """Outcome of :func:`oracle_jaccard`.

    Attributes
    ----------
    jaccard : float
        Best Jaccard index over thresholds.
    threshold : float
        The log-likelihood-ratio threshold that achieves it.
    precision, recall : float
        At that threshold.
    """

    jaccard: float
    threshold: float
    precision: float
    recall: float


def _template(photons: float, sigma_px: float, half: int) -> np.ndarray:
    """Return the expected photons per pixel of a pixel-integrated Gaussian on a pixel."""
    edges = np.arange(-half, half + 2) - 0.5
    e = np.diff(0.5 * (1.0 + erf(edges / (np.sqrt(2.0) * sigma_px))))
    return photons * np.outer(e, e)


def likelihood_ratio_map(
    photons: np.ndarray, psf_sigma_px: float, spot_photons: float, background: float
) -> np.ndarray:
    """Poisson log-likelihood ratio of a spot centred on each pixel versus background only.

    Parameters
    ----------
    photons : numpy.ndarray
        2-D frame in photons.
    psf_sigma_px : float
        Standard deviation of the Gaussian PSF.
    spot_photons : float
        Total photons of one spot.
    background : float
        Background photons per pixel (> 0).

    Returns
    -------
    numpy.ndarray
        Log-likelihood ratio per pixel, same shape as ``photons``.
    """
    if background <= 0 or spot_photons <= 0 or psf_sigma_px <= 0:
        raise InputError("background, spot_photons and psf_sigma_px must all be > 0")
    half = max(2, int(np.ceil(3.0 * psf_sigma_px)))
    s = _template(spot_photons, psf_sigma_px, half)
    weights = np.log1p(s / background)
    return ndimage.correlate(np.asarray(photons, np.float64), weights, mode="constant") - s.sum()


def oracle_jaccard(
    frames_photons: np.ndarray,
    truth: pd.DataFrame,
    psf_sigma_px: float,
    spot_photons: float,
    background: float,
    gate_px: float = 2.0,
    n_thresholds: int = 40,
) -> OracleResult:
    """Jaccard index of the known-PSF likelihood-ratio detector at its best threshold.

    Parameters
    ----------
    frames_photons : numpy.ndarray
        ``(T, H, W)`` frames in photons.
    truth : pandas.DataFrame
        Ground truth (``frame, x, y``; ``visible`` and ``in_frame`` honoured as by
        :func:`score`).
    psf_sigma_px, spot_photons, background : float
        The image model the detector is told (see :func:`likelihood_ratio_map`).
    gate_px : float
        Matching gate.
    n_thresholds : int
        Thresholds tried, spread over the quantiles of the candidate peaks.

    Returns
    -------
    OracleResult
    """
    frames = np.asarray(frames_photons)
    if frames.ndim != 3 or frames.shape[0] == 0:
        raise InputError(f"frames_photons must be a non-empty (T, H, W) stack, got {frames.shape}")
    parts = []
    for t, frame in enumerate(frames):
        llr = likelihood_ratio_map(frame, psf_sigma_px, spot_photons, background)
        peak = (llr == ndimage.maximum_filter(llr, size=3)) & (llr > 0)
        r, c = np.nonzero(peak)
        parts.append(
            pd.DataFrame({"frame": t, "x": c.astype(float), "y": r.astype(float), "llr": llr[r, c]})
        )
    cands = pd.concat(parts, ignore_index=True)
    if cands.empty:
        return OracleResult(0.0, float("nan"), 0.0, 0.0)
    grid = np.unique(np.quantile(cands["llr"], np.linspace(0.0, 0.999, n_thresholds)))
    best = OracleResult(-1.0, float("nan"), 0.0, 0.0)
    for thr in grid:
        s = score(truth, cands[cands["llr"] >= thr], gate_px=gate_px)
        if s.jaccard > best.jaccard:
            best = OracleResult(s.jaccard, float(thr), s.precision, s.recall)
    return best
