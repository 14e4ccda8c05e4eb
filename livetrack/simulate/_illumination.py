"""Illumination: smooth inhomogeneous field, flicker, slow drift and structured background."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from livetrack._errors import InputError


@dataclass(frozen=True)
class Illumination:
    """Spatial and temporal illumination of the sample.

    The image of frame ``t`` is ``M_t(r, c) * (B(r, c) + particles)`` where the multiplier
    ``M_t = g_t * F`` combines a static smooth field ``F`` (mean 1, ``max F / min F =
    ratio``; a linear gradient blended with a Gaussian hotspot, direction and hotspot
    position drawn at random) with a global factor ``g_t = (1 + drift_per_frame)**t * f_t``
    where ``f_t`` is independent frame-to-frame flicker (Gamma-distributed, mean 1, standard
    deviation ``flicker_std``). In fluorescence the excitation scales both the particles and
    the base background, so the same multiplier applies to both. The base background
    ``B = b0 * max(0, 1 + structured_background * S)`` has an optional static texture ``S``
    (Gaussian-smoothed white noise of unit standard deviation, correlation length
    ``structure_scale_px``), e.g. out-of-focus cell autofluorescence.

    Parameters
    ----------
    ratio : float
        Max/min ratio of the smooth field across the frame, in [1, 10]; 1 = uniform.
    hotspot_weight : float
        Blend of the field shape: 0 = pure linear gradient, 1 = pure Gaussian hotspot.
    hotspot_sigma_frac : float
        Hotspot standard deviation as a fraction of the larger frame side.
    flicker_std : float
        Relative standard deviation of the frame-to-frame global intensity, in [0, 1).
    drift_per_frame : float
        Relative change of the global intensity per frame (e.g. -0.01 for 1 % bleaching).
    structured_background : float
        Relative standard deviation of the static background texture (>= 0).
    structure_scale_px : float
        Correlation length of the texture in pixels.
    """

    ratio: float = 1.0
    hotspot_weight: float = 0.5
    hotspot_sigma_frac: float = 0.35
    flicker_std: float = 0.0
    drift_per_frame: float = 0.0
    structured_background: float = 0.0
    structure_scale_px: float = 16.0

    def __post_init__(self) -> None:
        checks = (
            ("ratio", self.ratio, 1.0, 10.0),
            ("hotspot_weight", self.hotspot_weight, 0.0, 1.0),
            ("hotspot_sigma_frac", self.hotspot_sigma_frac, 0.01, 10.0),
            ("flicker_std", self.flicker_std, 0.0, 0.99),
            ("drift_per_frame", self.drift_per_frame, -0.5, 1.0),
            ("structured_background", self.structured_background, 0.0, 10.0),
            ("structure_scale_px", self.structure_scale_px, 0.5, 1e4),
        )
        for name, value, low, high in checks:
            if not isinstance(value, int | float) or not low <= value <= high:
                raise InputError(f"{name} must be a number in [{low}, {high}], got {value!r}")

    def start(self, shape: tuple[int, int], rng: np.random.Generator) -> IlluminationState:
        """Draw the static parts (field, texture) and the flicker seed for one movie.

        Parameters
        ----------
        shape : tuple of int
            Frame ``(height, width)``.
        rng : np.random.Generator
            Source of randomness.

        Returns
        -------
        IlluminationState
            Random-access per-frame multiplier and background.
        """
        if len(shape) != 2 or min(shape) < 1:
            raise InputError(f"shape must be (height, width) with positive sizes, got {shape!r}")
        field_ = self._smooth_field(shape, rng)
        texture = None
        if self.structured_background > 0:
            noise = rng.standard_normal(shape)
            smooth = ndimage.gaussian_filter(noise, self.structure_scale_px, mode="wrap")
            spread = smooth.std()
            smooth = (smooth - smooth.mean()) / spread if spread > 0 else smooth * 0.0
            texture = np.maximum(0.0, 1.0 + self.structured_background * smooth)
        seed = int(rng.integers(2**63))
        return IlluminationState(self, field_, texture, seed)

    def _smooth_field(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        h, w = shape
        if self.ratio == 1.0 or h * w == 1:
            return np.ones(shape)
        rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
        angle = rng.uniform(0, 2 * math.pi)
        gradient = math.cos(angle) * cols + math.sin(angle) * rows
        cy, cx = rng.uniform(0.2, 0.8) * (h - 1), rng.uniform(0.2, 0.8) * (w - 1)
        sigma = self.hotspot_sigma_frac * max(h, w)
        hotspot = np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (2 * sigma**2))
        shape_ = (1 - self.hotspot_weight) * _unit(gradient) + self.hotspot_weight * _unit(hotspot)
        field_ = 1.0 + (self.ratio - 1.0) * _unit(shape_)  # exactly min 1, max ratio
        return field_ / field_.mean()


def _unit(a: np.ndarray) -> np.ndarray:
    span = a.max() - a.min()
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


@dataclass
class IlluminationState:
    """Illumination of one movie; per-frame values are reproducible in any order.

    Parameters
    ----------
    illumination : Illumination
        The parameters.
    field : np.ndarray
        Static smooth multiplier, mean 1, shape ``(H, W)``.
    texture : np.ndarray or None
        Static relative background structure ``max(0, 1 + s * S)``, or ``None``.
    seed : int
        Seed of the per-frame flicker.
    """

    illumination: Illumination
    field: np.ndarray
    texture: np.ndarray | None
    seed: int
    _cache: dict[int, float] = dataclasses.field(default_factory=dict, repr=False)

    def global_factor(self, frame: int) -> float:
        """Flicker and drift factor ``g_t`` of one frame."""
        if frame not in self._cache:
            ill = self.illumination
            flicker = 1.0
            if ill.flicker_std > 0:
                k = 1.0 / ill.flicker_std**2
                flicker = float(np.random.default_rng([self.seed, frame]).gamma(k, 1.0 / k))
            self._cache[frame] = (1.0 + ill.drift_per_frame) ** frame * flicker
        return self._cache[frame]

    def multiplier(self, frame: int) -> np.ndarray:
        """Illumination multiplier ``M_t`` of one frame, shape ``(H, W)``."""
        return self.field * self.global_factor(frame)

    def background(self, frame: int, base_photons: float) -> np.ndarray:
        """Return the expected background photons ``M_t * B`` of one frame, shape ``(H, W)``."""
        if not (np.isfinite(base_photons) and base_photons >= 0):
            raise InputError(f"base_photons must be finite and >= 0, got {base_photons!r}")
        bg = self.multiplier(frame) * base_photons
        if self.texture is not None:
            bg *= self.texture
        return bg
