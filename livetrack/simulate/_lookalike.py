"""Simulated look-alikes of real microscope videos, with ground truth.

Real videos have no ground truth, so subpixel accuracy can only be measured on simulations.
These three scenes copy what the real videos of issue 12 show, built from the simulator's
own parts: particle profiles (:class:`RingPSF`, :class:`GaussianPSF` and :class:`DarkPSF`
for particles darker than the background), the :class:`Camera` for shot noise, the
:class:`Dynamics` for Brownian motion, then the degradations of :mod:`._degrade` (correlated
noise, 8-bit quantization with a gain the localizers are not told, an H.264 round trip).

- :func:`compressed_spheres`: large microspheres as in DeepTrack Example 3, a bright core
  about 19 px across in a dark halo on grey, 8-bit, H.264-compressed.
- :func:`brightfield_rings`: brightfield microspheres about 14 px across, a bright centre
  inside a dark ring, 8-bit with smoothed camera noise.
- :func:`dark_colloids`: 1 µm colloids in brightfield, dark spots 3-4 px across on a bright,
  slightly uneven background, many per frame, 8-bit with smoothed noise.
- :func:`cluttered_spots`: fluorescent spots among things that are not them: bacteria-like
  rods, out-of-focus blobs and a burned-in timestamp, 8-bit with smoothed noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from livetrack._errors import InputError
from livetrack.simulate._camera import Camera
from livetrack.simulate._degrade import add_correlated_noise, h264_roundtrip, quantize_8bit
from livetrack.simulate._distractors import blob_photons, draw_overlay, rod_photons
from livetrack.simulate._dynamics import Dynamics
from livetrack.simulate._illumination import Illumination
from livetrack.simulate._movie import Movie, simulate_movie
from livetrack.simulate._psf import GaussianPSF, RingPSF

__all__ = [
    "LOOKALIKES",
    "DarkPSF",
    "brightfield_rings",
    "cluttered_spots",
    "compressed_spheres",
    "dark_colloids",
    "lookalike_movie",
]

# A camera that only adds shot noise: its output is photon counts, which the degradations
# below then scale to 8 bits with their own gain. 16 bits leave the bright backgrounds room.
_PHOTON_CAMERA = Camera(gain_adu_per_e=1.0, offset_adu=0.0, read_noise_e=0.0, bit_depth=16)


@dataclass(frozen=True)
class DarkPSF:
    """A bright profile taken away from the background: particles darker than their surround.

    Absorbing particles in brightfield (colloids, cells) appear as dips in a bright
    background. The dip has the shape of ``psf``; an amplitude ``A`` removes what ``psf``
    would add for ``A``. Expected photons are floored at zero by the renderer.

    Parameters
    ----------
    psf
        The shape of the dip, e.g. ``GaussianPSF(1.1)``.
    """

    psf: GaussianPSF = GaussianPSF(1.0)  # noqa: RUF009 - frozen dataclass, safe as a default

    @property
    def half_width_px(self) -> int:
        """Half width of the render window, that of ``psf``."""
        return self.psf.half_width_px

    def render(
        self, shape: tuple[int, int], x: ArrayLike, y: ArrayLike, amplitude: ArrayLike
    ) -> np.ndarray:
        """Render the (negative) modulation of every particle; see ``psf.render``."""
        return -self.psf.render(shape, x, y, amplitude)

    def peak_per_amplitude(self) -> float:
        """Signed centre-pixel value per unit amplitude: negative, a dark centre."""
        return -self.psf.peak_per_amplitude()


def _check_frames(n_frames: int, shape: tuple[int, int], n_particles: int) -> None:
    if isinstance(n_frames, bool) or not isinstance(n_frames, int | np.integer) or n_frames < 1:
        raise InputError(f"n_frames must be a positive integer, got {n_frames!r}")
    if isinstance(n_particles, bool) or not isinstance(n_particles, int | np.integer):
        raise InputError(f"n_particles must be a non-negative integer, got {n_particles!r}")
    if len(shape) != 2 or min(shape) < 16:
        raise InputError(f"shape must be (height, width) of at least 16 px, got {shape!r}")


def _finish(
    movie: Movie,
    rng: np.random.Generator,
    generator: str,
    noise: dict[str, float],
    gain: float,
    crf: int | None = None,
) -> Movie:
    """Degrade the simulated frames as a real 8-bit video and pair them with the truth.

    Correlated noise (``noise``: ``std`` and ``length_px``), 8 bits at ``gain``, then an
    H.264 round trip at ``crf`` if given; 8-bit frames have no camera model.
    """
    frames = add_correlated_noise(movie.frames, noise["std"], noise["length_px"], rng)
    frames = quantize_8bit(frames, gain)
    degradations: dict[str, Any] = {
        "correlated_noise": noise,
        "quantize_8bit": {"gain": gain, "offset": 0.0},
    }
    if crf is not None:
        frames = h264_roundtrip(frames, crf=crf)
        degradations["crf"] = crf
    metadata = {**movie.metadata, "generator": generator, "degradations": degradations}
    return Movie(frames=frames, truth=movie.truth, camera=None, psf=movie.psf, metadata=metadata)


def compressed_spheres(
    n_frames: int = 20,
    shape: tuple[int, int] = (320, 320),
    n_particles: int = 8,
    seed: int = 0,
    gain: float = 0.08,
    crf: int = 30,
) -> Movie:
    """Large microspheres as in DeepTrack Example 3: 8-bit, H.264-compressed.

    The profile is DeepTrack's ring model (:class:`RingPSF`) with the first dark ring at
    15 px: a bright core 19 px across (to the first zero of J0) inside a dark halo about
    43 px across, its depth a fifth of the core's height, as in the real video. 400
    photons of background (Poisson), noise smoothed over 1 px, then 8 bits with the
    background near grey level 32 and the cores near 100, and x264 at ``crf``.

    Parameters
    ----------
    n_frames, shape, n_particles
        Movie length, frame (height, width) and spheres in the frame.
    seed
        Seed of every random step.
    gain
        Grey levels per photon of the 8-bit conversion (not told to the localizers).
    crf
        x264 constant rate factor of the compression.

    Returns
    -------
    Movie
        uint8 frames; truth as :func:`simulate_movie` gives it, every sphere centred at least
        its core radius inside the frame.
    """
    _check_frames(n_frames, shape, n_particles)
    rng = np.random.default_rng(seed)
    psf = RingPSF(radius_px=15.0, contrast=1.0, envelope_px=12.0)
    background = 400.0
    movie = simulate_movie(
        n_frames=n_frames,
        shape=(int(shape[0]), int(shape[1])),
        n_particles=n_particles,
        psf=psf,
        amplitude=(800.0, 900.0),  # cores 2.0-2.3x the background above it
        background_photons=background,
        camera=_PHOTON_CAMERA,
        dynamics=Dynamics(diffusion_px2=0.5),
        margin_px=-10.0,
        min_separation_px=36.0,
        seed=rng,
    )
    noise = {"std": 10.0, "length_px": 1.0}
    return _finish(movie, rng, "livetrack.simulate.compressed_spheres", noise, gain, crf)


def brightfield_rings(
    n_frames: int = 20,
    shape: tuple[int, int] = (192, 192),
    n_particles: int = 6,
    seed: int = 0,
    gain: float = 0.12,
) -> Movie:
    """Brightfield microspheres about 14 px across: a bright centre inside a dark ring.

    :class:`RingPSF` with its dark ring at 5 px (outer edge at the second zero of J0, 14 px
    across) and the centre 40 % above a background of 1200 photons; noise smoothed over
    0.8 px as camera binning or denoising leaves it; 8 bits with the background near 144.

    Parameters
    ----------
    n_frames, shape, n_particles
        Movie length, frame (height, width) and spheres in the frame.
    seed
        Seed of every random step.
    gain
        Grey levels per photon of the 8-bit conversion.

    Returns
    -------
    Movie
        uint8 frames and truth; every sphere centred at least 7 px inside the frame.
    """
    _check_frames(n_frames, shape, n_particles)
    rng = np.random.default_rng(seed)
    psf = RingPSF(radius_px=5.0, contrast=1.0, envelope_px=5.0)
    movie = simulate_movie(
        n_frames=n_frames,
        shape=(int(shape[0]), int(shape[1])),
        n_particles=n_particles,
        psf=psf,
        amplitude=(440.0, 520.0),  # centre 0.37-0.43 x the background
        background_photons=1200.0,
        camera=_PHOTON_CAMERA,
        dynamics=Dynamics(diffusion_px2=0.3),
        margin_px=-7.0,
        min_separation_px=20.0,
        seed=rng,
    )
    noise = {"std": 25.0, "length_px": 0.8}
    return _finish(movie, rng, "livetrack.simulate.brightfield_rings", noise, gain)


def dark_colloids(
    n_frames: int = 20,
    shape: tuple[int, int] = (256, 256),
    n_particles: int = 150,
    seed: int = 0,
    gain: float = 0.1,
) -> Movie:
    """Dark 1 µm colloids on a bright background: many dark spots 3-4 px across.

    :class:`DarkPSF` of a Gaussian with sigma 1.1 px, each dip 25-50 % of a background of
    2000 photons that varies by 1.3x across the frame; noise smoothed over 0.7 px; 8 bits
    with the background near 200.

    Parameters
    ----------
    n_frames, shape, n_particles
        Movie length, frame (height, width) and colloids in the frame.
    seed
        Seed of every random step.
    gain
        Grey levels per photon of the 8-bit conversion.

    Returns
    -------
    Movie
        uint8 frames and truth; colloids at least 6 px apart when placed, centred at least
        2 px inside the frame.
    """
    _check_frames(n_frames, shape, n_particles)
    rng = np.random.default_rng(seed)
    spot = GaussianPSF(sigma_px=1.1)
    psf = DarkPSF(spot)
    background = 2000.0
    depth = np.array([0.25, 0.5]) * background / spot.peak_per_amplitude()
    movie = simulate_movie(
        n_frames=n_frames,
        shape=(int(shape[0]), int(shape[1])),
        n_particles=n_particles,
        psf=psf,
        amplitude=(float(depth[0]), float(depth[1])),
        background_photons=background,
        camera=_PHOTON_CAMERA,
        illumination=Illumination(ratio=1.3),
        dynamics=Dynamics(diffusion_px2=0.2),
        margin_px=-2.0,
        min_separation_px=6.0,
        seed=rng,
    )
    noise = {"std": 30.0, "length_px": 0.7}
    return _finish(movie, rng, "livetrack.simulate.dark_colloids", noise, gain)


def cluttered_spots(
    n_frames: int = 20,
    shape: tuple[int, int] = (256, 256),
    n_particles: int = 30,
    seed: int = 0,
    gain: float = 0.8,
) -> Movie:
    """Fluorescent spots among rods, out-of-focus blobs and a burned-in timestamp.

    Spots of sigma 1.3 px at ISBI SNR 4-15 over 50 photons of background diffuse between
    14 bacteria-like rods (long/short sigma up to 8 / 1.6 px, peaks up to 150 photons, as
    bright as the brightest spots), 6 wide out-of-focus blobs (sigma 4-10 px) and a text
    label with a frame counter burned in at white; noise smoothed over 0.8 px; 8 bits with
    the background near grey level 40. Only the spots are particles.

    Parameters
    ----------
    n_frames, shape, n_particles
        Movie length, frame (height, width) and spots in the frame.
    seed
        Seed of every random step.
    gain
        Grey levels per photon of the 8-bit conversion.

    Returns
    -------
    Movie
        uint8 frames and the spots' truth; spots at least 8 px apart when placed, centred at
        least 2 px inside the frame.
    """
    _check_frames(n_frames, shape, n_particles)
    rng = np.random.default_rng(seed)
    h, w = int(shape[0]), int(shape[1])
    background = 50.0
    movie = simulate_movie(
        n_frames=n_frames,
        shape=(h, w),
        n_particles=n_particles,
        psf=GaussianPSF(sigma_px=1.3),
        snr=(4.0, 15.0),
        background_photons=background,
        camera=None,
        dynamics=Dynamics(diffusion_px2=0.3),
        margin_px=-2.0,
        min_separation_px=8.0,
        seed=rng,
    )
    # Rods and blobs stay put (stuck to the glass, or too slow to matter over the movie).
    clutter = rod_photons((h, w), rng, 14, peak_photons=(15.0, 150.0))
    clutter += blob_photons((h, w), rng, 6, peak_photons=(5.0, 60.0))
    photons = rng.poisson(np.asarray(movie.frames) + clutter[None]).astype(np.float64)
    noisy = Movie(
        frames=photons,
        truth=movie.truth,
        camera=None,
        psf=movie.psf,
        metadata={**movie.metadata, "clutter": {"rods": 14, "blobs": 6}},
    )
    noise = {"std": 4.0, "length_px": 0.8}
    out = _finish(noisy, rng, "livetrack.simulate.cluttered_spots", noise, gain)
    frames = np.array(out.frames)
    label_seed = int(rng.integers(2**31))
    covered = np.zeros(frames.shape, bool)
    box = (slice(0, min(h, 24)), slice(0, min(w, 96)))
    for t in range(n_frames):
        # The same label every frame, its counter changing: as acquisition software stamps.
        flags = np.zeros((box[0].stop, box[1].stop))
        flags = draw_overlay(flags, np.random.default_rng(label_seed), 1.0)
        flags[14:] = draw_overlay(flags[14:], np.random.default_rng([label_seed, t]), 1.0)
        covered[t][box] = flags > 0
    frames[covered] = 255
    # A spot under the label cannot be seen: it is not in the truth of that frame.
    hidden = ndimage.binary_dilation(covered, iterations=2, axes=(1, 2))
    truth = out.truth
    t_idx = truth["frame"].to_numpy()
    rows = np.clip(np.rint(truth["y"].to_numpy()).astype(int), 0, h - 1)
    cols = np.clip(np.rint(truth["x"].to_numpy()).astype(int), 0, w - 1)
    truth = truth[~hidden[t_idx, rows, cols]].reset_index(drop=True)
    return Movie(frames=frames, truth=truth, camera=None, psf=out.psf, metadata=out.metadata)


#: The look-alike generators by name, in the order of the benchmark.
LOOKALIKES = {
    "compressed spheres": compressed_spheres,
    "brightfield rings": brightfield_rings,
    "dark colloids": dark_colloids,
    "cluttered spots": cluttered_spots,
}


def lookalike_movie(kind: str, **kwargs: Any) -> Movie:
    """Make the look-alike ``kind`` (a key of :data:`LOOKALIKES`) with ``kwargs``.

    Raises
    ------
    InputError
        An unknown kind.
    """
    try:
        make = LOOKALIKES[kind]
    except KeyError:
        raise InputError(f"unknown look-alike {kind!r}; choose from {sorted(LOOKALIKES)}") from None
    return make(**kwargs)
