"""What real microscope video adds to a camera's raw counts, drawn for training patches.

The simulator renders what a camera records. Videos from papers and other labs have been
through more: distractors beside the particles, smoothing by the camera or a denoiser, noise
correlated over neighbouring pixels, compression blocks, an 8-bit conversion with a gain
nobody recorded (which saturates bright centres) and burned-in text. A :class:`Realism` is
drawn once per training sequence, so every frame of a temporal window shares it, as the
frames of a video share their processing; which steps it takes is random and independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from livetrack.simulate import (
    add_correlated_noise,
    blob_photons,
    block_compress,
    draw_overlay,
    quantize_8bit,
    rod_photons,
)

# Per 64x64 patch: about one out-of-focus blob and one rod where a patch has them.
_BLOBS_PER_4096_PX = 1.0
_RODS_PER_4096_PX = 1.5


@dataclass(frozen=True)
class Realism:
    """One draw of real-video processing for a training sequence.

    Attributes
    ----------
    blobs, rods : int
        Out-of-focus blobs and elongated distractors rendered into the background.
    smooth_px : float
        Gaussian smoothing of the camera image (demosaicing, denoising, binning); 0 none.
    extra_noise : float
        Standard deviation of added correlated noise relative to the frame's pixel noise.
    extra_noise_px : float
        Correlation length of that noise.
    compress_step : float
        Block-compression step relative to the pixel noise; 0 none.
    bits8 : bool
        Convert to 8 bits with a gain that puts the pixel noise at ``grey_noise`` levels
        and the background at ``grey_background``.
    grey_noise, grey_background : float
        See ``bits8``.
    overlay_seed : int or None
        Seed of a burned-in text label or scale bar, the same in every frame; None none.
    """

    blobs: int
    rods: int
    smooth_px: float
    extra_noise: float
    extra_noise_px: float
    compress_step: float
    bits8: bool
    grey_noise: float
    grey_background: float
    overlay_seed: int | None


def draw_realism(rng: np.random.Generator, patch_px: int) -> Realism:
    """Draw which real-video steps a sequence takes, each independently."""
    area = patch_px * patch_px / 4096.0
    return Realism(
        blobs=int(rng.poisson(_BLOBS_PER_4096_PX * area)) if rng.random() < 0.5 else 0,
        rods=int(rng.poisson(_RODS_PER_4096_PX * area)) if rng.random() < 0.5 else 0,
        smooth_px=float(rng.uniform(0.4, 1.0)) if rng.random() < 0.4 else 0.0,
        extra_noise=float(rng.uniform(0.5, 2.0)) if rng.random() < 0.4 else 0.0,
        extra_noise_px=float(rng.uniform(0.7, 2.0)),
        compress_step=float(rng.uniform(0.5, 2.5)) if rng.random() < 0.3 else 0.0,
        bits8=bool(rng.random() < 0.6),
        grey_noise=float(math.exp(rng.uniform(math.log(0.7), math.log(6.0)))),
        grey_background=float(rng.uniform(10.0, 180.0)),
        overlay_seed=int(rng.integers(2**31)) if rng.random() < 0.25 else None,
    )


def distractor_photons(
    realism: Realism, rng: np.random.Generator, patch_px: int, background: float
) -> np.ndarray:
    """Render the sequence's blobs and rods in photons, their heights set by the background.

    Their peaks span what the particles' SNR range gives above such a background, so the
    network must tell them apart by shape, not by brightness.
    """
    shape = (patch_px, patch_px)
    noise = math.sqrt(max(background, 1.0))
    out = np.zeros(shape)
    if realism.blobs:
        out += blob_photons(shape, rng, realism.blobs, peak_photons=(1.0 * noise, 15.0 * noise))
    if realism.rods:
        out += rod_photons(shape, rng, realism.rods, peak_photons=(2.0 * noise, 40.0 * noise))
    return out


def degrade(
    images: np.ndarray, realism: Realism, rng: np.random.Generator, pixel_noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the sequence's post-camera steps to its ``(T, P, P)`` camera frames.

    Parameters
    ----------
    images
        Camera frames (ADU), one sequence.
    realism
        The sequence's draw.
    rng
        Source of the added noise.
    pixel_noise
        The raw frames' pixel noise (ADU), which the relative settings refer to.

    Returns
    -------
    frames : numpy.ndarray
        ``(T, P, P)`` float32 frames as the video would hold them.
    covered : numpy.ndarray
        ``(P, P)`` bool: the pixels a burned-in overlay hides (the same in every frame).
    """
    out = images.astype(np.float64)
    noise = max(pixel_noise, 1e-6)
    if realism.smooth_px > 0:
        out = ndimage.gaussian_filter(out, (0.0, realism.smooth_px, realism.smooth_px))
    if realism.extra_noise > 0:
        out = add_correlated_noise(out, realism.extra_noise * noise, realism.extra_noise_px, rng)
    if realism.compress_step > 0:
        out = np.stack([block_compress(f, realism.compress_step * noise) for f in out])
    if realism.bits8:
        # The gain is whatever made the video look right to its author; only its effect
        # on the grey levels matters here.
        total = math.hypot(noise, realism.extra_noise * noise)
        gain = realism.grey_noise / total
        offset = realism.grey_background - gain * float(np.median(out))
        out = quantize_8bit(out, gain, offset).astype(np.float64)
    covered = np.zeros(out.shape[1:], bool)
    if realism.overlay_seed is not None:
        level = 255.0 if realism.bits8 else float(out.max())
        flag = np.full(out.shape[1:], np.nan)
        covered = ~np.isnan(draw_overlay(flag, np.random.default_rng(realism.overlay_seed), 0.0))
        out[:, covered] = level
    return out.astype(np.float32), covered
