"""Simulated microscopy movies with ground truth.

Split by physics, as in DECODE: particle image models (:class:`GaussianPSF`,
:class:`AiryPSF`, and :class:`RingPSF` for microspheres in brightfield / holography as in
DeepTrack, Helgadottir et al., Optica 6, 506 (2019)), a camera model (shot, EM and read
noise, gain, offset, quantization), inhomogeneous and unsteady illumination, particle
dynamics with persistent ids, the ISBI 2012 SNR definition (Chenouard et al., Nat Methods
11, 281 (2014)), and movie I/O (TIFF + ground-truth CSV + metadata JSON). What happens to
real video after the camera comes as separate degradations (:func:`add_correlated_noise`,
:func:`quantize_8bit`, :func:`h264_roundtrip`, :func:`block_compress`), what is in real
frames beside the particles comes as distractors (:func:`blob_photons`, :func:`rod_photons`,
:func:`draw_overlay`), and :data:`LOOKALIKES` chains all of these
into scenes that look like real videos of microspheres and colloids, with ground truth.

Positions follow trackpy's convention: ``x`` is the column, ``y`` the row, and the centre
of pixel ``(row 0, col 0)`` is ``(0, 0)``.

Examples
--------
>>> from livetrack.simulate import GaussianPSF, simulate_movie
>>> movie = simulate_movie(n_frames=2, shape=(64, 64), n_particles=5, snr=4.0, seed=0)
>>> movie.frames.shape, movie.frames.dtype.name
((2, 64, 64), 'uint16')
>>> sorted(movie.truth.columns)[:4]
['amplitude', 'background', 'frame', 'in_frame']
"""

from livetrack.simulate._camera import Camera
from livetrack.simulate._degrade import add_correlated_noise, h264_roundtrip, quantize_8bit
from livetrack.simulate._distractors import (
    blob_photons,
    block_compress,
    draw_overlay,
    rod_photons,
)
from livetrack.simulate._dynamics import Dynamics, ParticleState
from livetrack.simulate._illumination import Illumination, IlluminationState
from livetrack.simulate._io import read_movie, write_movie
from livetrack.simulate._lookalike import (
    LOOKALIKES,
    DarkPSF,
    brightfield_rings,
    cluttered_spots,
    compressed_spheres,
    dark_colloids,
    lookalike_movie,
)
from livetrack.simulate._movie import TRUTH_COLUMNS, Movie, render_frame, simulate_movie
from livetrack.simulate._psf import PSF, AiryPSF, GaussianPSF, ProfilePSF, RingPSF
from livetrack.simulate._snr import photons_for_snr, snr_of

__all__ = [
    "LOOKALIKES",
    "PSF",
    "TRUTH_COLUMNS",
    "AiryPSF",
    "Camera",
    "DarkPSF",
    "Dynamics",
    "GaussianPSF",
    "Illumination",
    "IlluminationState",
    "Movie",
    "ParticleState",
    "ProfilePSF",
    "RingPSF",
    "add_correlated_noise",
    "blob_photons",
    "block_compress",
    "brightfield_rings",
    "cluttered_spots",
    "compressed_spheres",
    "dark_colloids",
    "draw_overlay",
    "h264_roundtrip",
    "lookalike_movie",
    "photons_for_snr",
    "quantize_8bit",
    "read_movie",
    "render_frame",
    "rod_photons",
    "simulate_movie",
    "snr_of",
    "write_movie",
]
