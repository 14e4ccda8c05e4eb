"""The fixed, seeded scenes of the accuracy benchmark.

Each scene is a recipe for :func:`livetrack.simulate.simulate_movie`; together
they are the suite the issues name: isolated spots over a range of SNR, ISBI-like
fields at two densities, uneven and flickering illumination, ring-shaped
microsphere images and wide spots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from livetrack import simulate as sim

__all__ = ["Scene", "accuracy_suite"]

# ISBI 2012 (Chenouard et al. 2014) used a flat background of 10 photons.
_ISBI_BACKGROUND = 10.0
_CAMERA = sim.Camera(gain_adu_per_e=1.0, offset_adu=100.0, read_noise_e=1.0, bit_depth=16)


@dataclass(frozen=True)
class Scene:
    """One benchmark scene: what to simulate and how to score it.

    Attributes
    ----------
    name
        Row label in the report.
    group
        ``"isolated"``, ``"isbi"``, ``"illumination"``, ``"rings"`` or ``"wide"``.
    snr
        Requested SNR (ISBI definition) of every particle.
    psf
        The particle image model.
    shape
        Frame shape (rows, columns).
    n_particles
        Particles per frame.
    n_frames
        Frames simulated.
    feature_diameter_px
        The feature size handed to the classical localizers (odd integer), as a
        user would tune it for this kind of particle.
    kwargs
        Further arguments for :func:`livetrack.simulate.simulate_movie`.
    """

    name: str
    group: str
    snr: float
    psf: Any
    shape: tuple[int, int]
    n_particles: int
    n_frames: int
    feature_diameter_px: int
    kwargs: dict[str, Any] = field(default_factory=dict)

    def simulate(self, seed: int) -> sim.Movie:
        """Simulate this scene with a fixed seed."""
        return sim.simulate_movie(
            n_frames=self.n_frames,
            shape=self.shape,
            n_particles=self.n_particles,
            psf=self.psf,
            snr=self.snr,
            camera=_CAMERA,
            seed=seed,
            **self.kwargs,
        )


def accuracy_suite(quick: bool = False) -> list[Scene]:
    """Return the scenes of ``livetrack bench accuracy``.

    Parameters
    ----------
    quick
        Fewer frames and smaller fields, for a demo or a smoke test; the same
        kinds of scenes.

    Returns
    -------
    list of Scene
    """
    # Two frames at least: a model fusing neighbouring frames needs a neighbour.
    frames = 2 if quick else 10
    field_shape = (256, 256) if quick else (512, 512)
    area_scale = (field_shape[0] * field_shape[1]) / (512 * 512)
    gauss1 = sim.GaussianPSF(sigma_px=1.0)
    isolated: dict[str, Any] = {
        "shape": (128, 128) if quick else (256, 256),
        "n": 25 if quick else 100,
    }
    brownian = sim.Dynamics(diffusion_px2=1.0)
    scenes: list[Scene] = []
    for snr in (1, 2, 3, 4, 7, 15, 50):
        scenes.append(
            Scene(
                name=f"isolated spots SNR {snr}",
                group="isolated",
                snr=float(snr),
                psf=sim.GaussianPSF(sigma_px=1.3),
                shape=isolated["shape"],
                n_particles=isolated["n"],
                n_frames=frames,
                feature_diameter_px=7,
                kwargs={
                    "background_photons": _ISBI_BACKGROUND,
                    "min_separation_px": 12.0,
                    "margin_px": -6.0,
                },
            )
        )
    for density, per_512 in (("low", 100), ("high", 500)):
        for snr in (1, 2, 4, 7):
            scenes.append(
                Scene(
                    name=f"ISBI {density} density SNR {snr}",
                    group="isbi",
                    snr=float(snr),
                    psf=gauss1,
                    shape=field_shape,
                    n_particles=max(1, round(per_512 * area_scale)),
                    n_frames=frames,
                    feature_diameter_px=5,
                    kwargs={"background_photons": _ISBI_BACKGROUND, "dynamics": brownian},
                )
            )
    scenes.append(
        Scene(
            name="uneven + flickering SNR 4",
            group="illumination",
            snr=4.0,
            psf=gauss1,
            shape=field_shape,
            n_particles=max(1, round(100 * area_scale)),
            n_frames=max(frames, 2),
            feature_diameter_px=5,
            kwargs={
                "background_photons": _ISBI_BACKGROUND,
                "dynamics": brownian,
                "illumination": sim.Illumination(
                    ratio=3.0, hotspot_weight=0.5, flicker_std=0.2, drift_per_frame=-0.01
                ),
            },
        )
    )
    ring_kwargs = {"background_photons": 100.0, "min_separation_px": 24.0, "margin_px": -12.0}
    for snr in (10, 3):
        for contrast, label in ((1.0, "bright"), (-1.0, "dark")):
            scenes.append(
                Scene(
                    name=f"rings {label}-centred SNR {snr}",
                    group="rings",
                    snr=float(snr),
                    psf=sim.RingPSF(radius_px=4.0, contrast=contrast),
                    shape=isolated["shape"],
                    n_particles=max(1, isolated["n"] // 4),
                    n_frames=frames,
                    feature_diameter_px=11,
                    kwargs=ring_kwargs,
                )
            )
    # Rings unlike the training model's: larger, with tighter fringes (a longer wavelength
    # relative to the size, more fringes under the envelope), and a defocused sphere's
    # Fresnel-like pattern, dark-centred with fringes closing in, as an empirical profile.
    fresnel_r = np.linspace(0.0, 14.0, 57)
    fresnel = -np.cos(np.pi * (fresnel_r / 3.2) ** 2) * np.exp(-fresnel_r / 6.0)
    for label, psf, diameter in (
        ("rings radius 6 px SNR 10", sim.RingPSF(radius_px=6.0), 15),
        ("rings tight fringes SNR 10", sim.RingPSF(radius_px=3.0, envelope_px=7.0), 9),
        (
            "defocused sphere (Fresnel-like) SNR 10",
            sim.ProfilePSF(tuple(fresnel_r), tuple(fresnel)),
            11,
        ),
    ):
        scenes.append(
            Scene(
                name=label,
                group="rings",
                snr=10.0,
                psf=psf,
                shape=isolated["shape"],
                n_particles=max(1, isolated["n"] // 4),
                n_frames=frames,
                feature_diameter_px=diameter,
                kwargs={**ring_kwargs, "min_separation_px": 32.0, "margin_px": -16.0},
            )
        )
    scenes.append(
        Scene(
            name="wide spots (sigma 2) SNR 4",
            group="wide",
            snr=4.0,
            psf=sim.GaussianPSF(sigma_px=2.0),
            shape=isolated["shape"],
            n_particles=isolated["n"],
            n_frames=frames,
            feature_diameter_px=11,
            kwargs={
                "background_photons": _ISBI_BACKGROUND,
                "min_separation_px": 16.0,
                "margin_px": -8.0,
            },
        )
    )
    return scenes
