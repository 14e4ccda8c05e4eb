"""Simulated training patches with domain randomization, and their target maps.

Each patch draws its own PSF, background, illumination field, camera and particle count, so
the network never sees the same imaging conditions twice; positions are continuous and
extend past the patch border so that cut spots are learned too. Patches go through the same
:func:`livetrack.model.normalize_frame` as frames at inference time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from livetrack.model import CORRELATED_NOISE_RATIO, frame_statistics, scale_noise
from livetrack.train._config import DataConfig, TemporalTrainConfig
from livetrack.train._realism import degrade, distractor_photons, draw_realism


@dataclass(frozen=True)
class Batch:
    """A batch of normalized patches and their targets at the output stride.

    Attributes
    ----------
    images : numpy.ndarray
        ``(B, 1, P, P)`` float32 normalized patches (``B * K`` for a ``K``-frame window,
        sequence after sequence).
    det : numpy.ndarray
        ``(B, h, w)`` float32: 1 in the cell that owns a particle centre, else 0 (or the
        particle spread over the 2x2 cells around it, with soft targets).
    offset : numpy.ndarray
        ``(B, 2, h, w)`` float32 target (dx, dy) in pixels from each cell centre to the
        nearest particle owning a cell within one cell of it.
    weight : numpy.ndarray
        ``(B, h, w)`` float32 weight of the offset loss (1 owning cell, ``neighbour_weight``
        around it, 0 elsewhere).
    truth : list of numpy.ndarray
        Per patch ``(N, 2)`` true (x, y) of the particles centred inside the patch.
    """

    images: np.ndarray
    det: np.ndarray
    offset: np.ndarray
    weight: np.ndarray
    truth: list[np.ndarray]


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _draw_psf(cfg: DataConfig, rng: np.random.Generator) -> Any:
    from livetrack.simulate import AiryPSF, GaussianPSF, ProfilePSF, RingPSF

    if cfg.psf == "profile":
        scale = float(rng.uniform(*cfg.profile_scale))
        return ProfilePSF(tuple(cfg.profile_r_px), tuple(cfg.profile), scale=scale)
    if cfg.psf != "ring" and cfg.halo_fraction > 0 and rng.random() < cfg.halo_fraction:
        # A large sphere binned to the network's scale: J0's core under a tight envelope
        # leaves a dark halo 0.08-0.24 of the core deep, as microspheres in brightfield show.
        radius = float(rng.uniform(3.0, 7.0))
        envelope = radius * float(rng.uniform(0.55, 1.0))
        return RingPSF(radius_px=radius, contrast=1.0, envelope_px=envelope, supersample=2)
    if cfg.psf == "ring":
        radius = float(rng.uniform(*cfg.ring_radius_px))
        envelope = radius * float(rng.uniform(*cfg.ring_envelope_ratio))
        contrast = -1.0 if rng.random() < cfg.dark_ring_fraction else 1.0
        return RingPSF(radius_px=radius, contrast=contrast, envelope_px=envelope, supersample=2)
    sigma = float(rng.uniform(*cfg.sigma_px))
    if rng.random() < cfg.airy_fraction:
        # An Airy spot's core matches a Gaussian of sigma ~ 0.42 * radius (Zhang 2007).
        return AiryPSF(radius_px=sigma / 0.42, supersample=3)
    return GaussianPSF(sigma_px=sigma)


def _draw_camera(cfg: DataConfig, rng: np.random.Generator) -> Any:
    from livetrack.simulate import Camera

    em = float(rng.uniform(50.0, 300.0)) if rng.random() < cfg.em_fraction else None
    return Camera(
        quantum_efficiency=1.0,
        gain_adu_per_e=_log_uniform(rng, *cfg.camera_gain_log) / (em or 1.0) ** 0.5,
        offset_adu=float(rng.uniform(*cfg.camera_offset_adu)),
        read_noise_e=float(rng.uniform(*cfg.read_noise_e)),
        em_gain=em,
        bit_depth=16,
    )


def _draw_snr(cfg: DataConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    low = rng.uniform(*cfg.snr_low, size=n)
    lo, hi = cfg.snr
    high = np.exp(rng.uniform(math.log(lo), math.log(hi), size=n))
    return np.where(rng.random(n) < cfg.snr_low_fraction, low, high)


def _illumination_field(
    cfg: DataConfig, rng: np.random.Generator, p: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multiplier and relative background texture of one patch."""
    ratio = float(rng.uniform(*cfg.illumination_ratio))
    # A patch is a small piece of a frame: the frame-wide field looks like a gradient here.
    coords = (np.arange(p) - (p - 1) / 2) / p
    angle = rng.uniform(0, 2 * math.pi)
    ramp = math.cos(angle) * coords[None, :] + math.sin(angle) * coords[:, None]
    mult = 1.0 + (ratio - 1.0) * (ramp - ramp.min()) / max(np.ptp(ramp), 1e-9)
    mult *= float(rng.uniform(0.5, 2.0)) / mult.mean()
    if cfg.flicker_std > 0:
        mult *= max(0.1, 1.0 + cfg.flicker_std * rng.standard_normal())
    texture = np.ones((p, p))
    strength = float(rng.uniform(*cfg.structured_background))
    if strength > 0:
        from scipy import ndimage

        noise = ndimage.gaussian_filter(rng.standard_normal((p, p)), rng.uniform(3, 12))
        texture = np.maximum(0.0, 1.0 + strength * noise / max(noise.std(), 1e-9))
    return mult, texture


def _scale_px(psf: Any) -> float:
    """Return the Gaussian sigma that ``--model auto`` measures for a particle image model."""
    from livetrack.simulate import AiryPSF, ProfilePSF, RingPSF

    if isinstance(psf, ProfilePSF):
        # A Gaussian of the same half width at half maximum.
        r = np.linspace(0.0, psf.r_px[-1] * psf.scale, 400)
        v = np.abs(psf.profile(r))
        half = r[np.argmax(v < 0.5 * v[0])] if np.any(v < 0.5 * v[0]) else r[-1]
        return float(max(half / 1.1774, 0.5))
    if isinstance(psf, RingPSF):
        return 0.37 * psf.radius_px  # J0's core: 1 - (3.83 r / R)^2 / 4 ~ exp(-r^2 / 2s^2)
    if isinstance(psf, AiryPSF):
        return 0.42 * psf.radius_px
    return float(psf.sigma_px)


def simulate_patch(cfg: DataConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one raw camera patch.

    Returns
    -------
    image : numpy.ndarray
        ``(P, P)`` camera image (uint16 ADU) converted to float32.
    xy : numpy.ndarray
        ``(N, 2)`` (x, y) of the particles whose centre is inside the patch.
    """
    images, xys = simulate_sequence(cfg, rng, frames=1)
    return images[0], xys[0]


def simulate_sequence(
    cfg: DataConfig,
    rng: np.random.Generator,
    frames: int,
    diffusion_px2: tuple[float, float] = (0.01, 3.0),
    static_fraction: float = 0.2,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Simulate ``frames`` consecutive raw camera patches of diffusing particles.

    The imaging conditions are drawn once per sequence; each frame has its own flicker
    and noise. The particles are placed in the centre frame and diffuse from there with
    a coefficient drawn log-uniformly in ``diffusion_px2`` (px^2 per frame), or stay put
    in a fraction ``static_fraction`` of sequences.

    Returns
    -------
    images : numpy.ndarray
        ``(frames, P, P)`` camera images converted to float32.
    xys : list of numpy.ndarray
        Per frame ``(N, 2)`` (x, y) of the particles whose centre is inside the patch.
    """
    images, xys, _ = _simulate(cfg, rng, frames, diffusion_px2, static_fraction)
    return images, xys


def _simulate(
    cfg: DataConfig,
    rng: np.random.Generator,
    frames: int,
    diffusion_px2: tuple[float, float] = (0.01, 3.0),
    static_fraction: float = 0.2,
) -> tuple[np.ndarray, list[np.ndarray], float | None]:
    """Simulate as :func:`simulate_sequence` does, plus the particles' scale.

    The scale is returned (else None) where the sequence looks like real video: its noise
    is then normalized at that scale, as ``--model auto`` does.
    """
    from livetrack.simulate import photons_for_snr, render_frame

    p = cfg.patch_px
    psf = _draw_psf(cfg, rng)
    mean_n = float(rng.uniform(*cfg.particles_per_patch))
    if rng.random() < cfg.dense_fraction:
        mean_n *= float(rng.uniform(1.0, 3.0))
    # Moving particles enter and leave: the margin grows with the window.
    outside = cfg.outside_px + (4.0 if frames > 1 else 0.0)
    area = (p + 2 * outside) ** 2 / p**2
    n = int(rng.poisson(mean_n * area))
    lo, hi = -0.5 - outside, p - 0.5 + outside
    x = rng.uniform(lo, hi, size=n)
    y = rng.uniform(lo, hi, size=n)
    bg = _log_uniform(rng, *cfg.background_photons_log)
    amp = np.asarray(photons_for_snr(_draw_snr(cfg, rng, n), bg, psf), dtype=np.float64)
    mult, texture = _illumination_field(cfg, rng, p)
    realism = None
    background = bg * texture
    if cfg.realism_fraction > 0 and rng.random() < cfg.realism_fraction:
        realism = draw_realism(rng, p)
        background = background + distractor_photons(realism, rng, p, bg)
    camera = _draw_camera(cfg, rng)
    still = frames == 1 or rng.random() < static_fraction
    step = 0.0 if still else math.sqrt(2.0 * _log_uniform(rng, *diffusion_px2))
    c = frames // 2
    xs, ys = [np.empty(0)] * frames, [np.empty(0)] * frames
    xs[c], ys[c] = x, y
    for d in range(1, max(c, frames - 1 - c) + 1):
        for sign in (-1, 1):
            if not 0 <= c + sign * d < frames:  # an even window has one more frame after
                continue
            prev = c + sign * (d - 1)
            xs[c + sign * d] = xs[prev] + step * rng.standard_normal(n)
            ys[c + sign * d] = ys[prev] + step * rng.standard_normal(n)
    images = np.empty((frames, p, p), np.float32)
    xys = []
    for k in range(frames):
        m = mult
        if frames > 1:
            # The patch's own flicker is in ``mult``; the frames flicker around it.
            m = mult * max(0.1, 1.0 + 0.5 * cfg.flicker_std * float(rng.standard_normal()))
        images[k] = render_frame((p, p), xs[k], ys[k], amp, psf, background, m, camera, rng)
        inside = (xs[k] >= -0.5) & (xs[k] < p - 0.5) & (ys[k] >= -0.5) & (ys[k] < p - 0.5)
        xys.append(np.column_stack([xs[k][inside], ys[k][inside]]))
    if realism is None:
        return images, xys, None
    images, covered = degrade(images, realism, rng, frame_statistics(images[c], 1)[1])
    if covered.any():
        # A particle under burned-in text cannot be seen: it is no target there.
        near = ndimage.binary_dilation(covered, iterations=2)
        for k, xy in enumerate(xys):
            ij = np.clip(np.rint(xy[:, ::-1]).astype(int), 0, p - 1)
            xys[k] = xy[~near[ij[:, 0], ij[:, 1]]]
    return images, xys, _scale_px(psf)


def _video_noise(image: np.ndarray, pixel_noise: float, scale_px: float) -> float:
    """Return the noise ``--model auto`` divides a video frame by.

    That is the noise at the particles' scale where it exceeds the pixel noise by
    :data:`CORRELATED_NOISE_RATIO` (spatially correlated noise), else the pixel noise.
    """
    correlated = scale_noise(image, scale_px) > CORRELATED_NOISE_RATIO * pixel_noise
    return frame_statistics(image, 4, scale_px)[1] if correlated else pixel_noise


def target_maps(
    xy: np.ndarray,
    shape: tuple[int, int],
    stride: int,
    neighbour_weight: float,
    soft: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the detection, offset and weight maps for particle centres ``xy`` in a patch.

    Parameters
    ----------
    xy : numpy.ndarray
        ``(N, 2)`` particle (x, y) inside the patch.
    shape : tuple of int
        Map shape ``(h, w)``.
    stride : int
        Output stride in pixels.
    neighbour_weight : float
        Offset-loss weight of the 8 cells around each owning cell.
    soft : bool
        Spread each particle's detection target bilinearly over the 2x2 cells whose
        centres surround it (weights summing to 1, capped at 1 per cell) instead of 1 in
        the owning cell: a particle on a cell corner is then a quarter in each of four
        cells, which decoding sums, rather than a coin toss the network cannot win.

    Returns
    -------
    det, offset, weight : numpy.ndarray
        See :class:`Batch`.
    """
    h, w = shape
    det = np.zeros((h, w), np.float32)
    offset = np.zeros((2, h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    best = np.full((h, w), np.inf)
    centre = (stride - 1) / 2.0
    for x, y in xy:
        ci = math.floor((y + 0.5) / stride)
        cj = math.floor((x + 0.5) / stride)
        ci, cj = min(max(ci, 0), h - 1), min(max(cj, 0), w - 1)
        if soft:
            u, v = (x + 0.5) / stride - 0.5, (y + 0.5) / stride - 0.5
            j0, i0 = math.floor(u), math.floor(v)
            fu, fv = u - j0, v - i0
            for di, wi in ((0, 1.0 - fv), (1, fv)):
                for dj, wj in ((0, 1.0 - fu), (1, fu)):
                    i, j = i0 + di, j0 + dj
                    if 0 <= i < h and 0 <= j < w:
                        det[i, j] = min(1.0, det[i, j] + wi * wj)
        else:
            det[ci, cj] = 1.0
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                i, j = ci + di, cj + dj
                if not (0 <= i < h and 0 <= j < w):
                    continue
                dx, dy = x - (j * stride + centre), y - (i * stride + centre)
                d2 = dx * dx + dy * dy
                # Each cell regresses to the nearest particle; owning cells always win.
                own = di == 0 and dj == 0
                rank = d2 - (1e6 if own else 0.0)
                if rank < best[i, j]:
                    best[i, j] = rank
                    offset[0, i, j], offset[1, i, j] = dx, dy
                    weight[i, j] = 1.0 if own else neighbour_weight
    return det, offset, weight


def make_batch(
    cfg: DataConfig,
    rng: np.random.Generator,
    batch_size: int,
    stride: int,
    neighbour_weight: float,
    temporal: TemporalTrainConfig | None = None,
    soft_targets: bool = False,
) -> Batch:
    """Simulate, normalize and label a batch of training patches.

    With a ``temporal`` window of ``K > 1`` frames the batch holds ``batch_size``
    sequences of ``K`` consecutive patches, flattened sequence by sequence
    (``batch_size * K`` patches), each normalized and labelled on its own.
    """
    temporal = temporal or TemporalTrainConfig()
    frames = temporal.frames
    p = cfg.patch_px
    h = w = -(-p // stride)
    n = batch_size * frames
    images = np.empty((n, 1, p, p), np.float32)
    det = np.empty((n, h, w), np.float32)
    offset = np.empty((n, 2, h, w), np.float32)
    weight = np.empty((n, h, w), np.float32)
    truth = []
    for b in range(batch_size):
        sequence, xys, scale = _simulate(
            cfg, rng, frames, temporal.diffusion_px2, temporal.static_fraction
        )
        for k, (image, xy) in enumerate(zip(sequence, xys, strict=True)):
            i = b * frames + k
            bg, noise = frame_statistics(image)
            if scale is not None:
                noise = _video_noise(image, noise, scale)
            jitter = 1.0 + cfg.norm_jitter * float(rng.uniform(-1.0, 1.0))
            images[i, 0] = (image - bg) / (noise * jitter)
            det[i], offset[i], weight[i] = target_maps(
                xy, (h, w), stride, neighbour_weight, soft_targets
            )
            truth.append(xy)
    return Batch(images, det, offset, weight, truth)
