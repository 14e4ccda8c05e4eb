import numpy as np
import pytest

from livetrack._errors import InputError
from livetrack.calibrate import CameraCalibration, calibrate_psf, load_psf
from livetrack.simulate import Camera, GaussianPSF, RingPSF, simulate_movie

CAMERA = Camera(offset_adu=100.0, read_noise_e=1.0)
CALIBRATION = CameraCalibration(gain_adu_per_photon=1.0, offset_adu=100.0, read_noise_adu=1.0)


def _spots(sigma: float, n_particles: int = 20, snr=(8.0, 20.0), seed: int = 1):
    return simulate_movie(
        n_frames=5,
        shape=(128, 128),
        n_particles=n_particles,
        psf=GaussianPSF(sigma),
        snr=snr,
        background_photons=20.0,
        camera=CAMERA,
        min_separation_px=4 * sigma,
        seed=seed,
    )


@pytest.mark.parametrize("sigma", [1.0, 1.6, 2.5, 3.5])
def test_spot_width_within_5_percent(sigma):
    cal = calibrate_psf(_spots(sigma).frames, camera=CALIBRATION)
    assert cal.model == "gaussian" and cal.polarity == "bright"
    assert cal.sigma_px == pytest.approx(sigma, rel=0.05)
    assert cal.units == "photons" and cal.background == pytest.approx(20.0, rel=0.1)
    # ISBI SNR of the particles' brightest pixel: within the simulated 8-20 (sub-pixel
    # positions put some photons beside the peak pixel, so it reads a little low).
    assert 5.0 < cal.snr[1] < 20.0
    assert cal.illumination_ratio == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize(
    ("radius", "contrast", "envelope"),
    [(4.0, 1.0, None), (6.0, -1.0, None), (8.0, 1.0, 8.0), (5.0, -0.7, 10.0)],
)
def test_ring_radius_within_3_percent_and_polarity(radius, contrast, envelope):
    movie = simulate_movie(
        n_frames=5,
        shape=(160, 160),
        n_particles=10,
        psf=RingPSF(radius, contrast, envelope),
        snr=(10.0, 20.0),
        background_photons=100.0,
        min_separation_px=30,
        seed=2,
    )
    cal = calibrate_psf(movie.frames)
    assert cal.model == "ring"
    assert cal.polarity == ("bright" if contrast > 0 else "dark")
    assert cal.ring_radius_px == pytest.approx(radius, rel=0.03)
    true_envelope = envelope or 1.5 * radius
    assert cal.ring_envelope_px == pytest.approx(true_envelope, rel=0.1)
    assert cal.ring_contrast < -0.2
    assert cal.units == "adu" and np.isnan(cal.snr[1])


def test_too_few_particles_is_one_line():
    movie = _spots(2.0, n_particles=1)
    with pytest.raises(InputError, match="too few particles") as info:
        calibrate_psf(movie.frames[:2], camera=CALIBRATION)
    assert "\n" not in str(info.value)


def test_empty_movie_is_refused(rng):
    noise = CAMERA.expose(np.full((3, 64, 64), 20.0), rng)
    with pytest.raises(InputError, match=r"no particles|too few particles"):
        calibrate_psf(noise)


def test_saturated_movie_is_refused():
    movie = _spots(1.5, n_particles=40)
    frames = movie.frames.copy()
    frames[:, :, :40] = np.iinfo(frames.dtype).max
    with pytest.raises(InputError, match="saturated"):
        calibrate_psf(frames)


def test_clipped_particles_are_left_out():
    movie = _spots(1.5, n_particles=30)
    frames = movie.frames.copy()
    cut = np.percentile(frames, 99.9)
    frames = np.minimum(frames, cut).astype(frames.dtype)
    frames[frames >= cut] = np.iinfo(frames.dtype).max
    cal = calibrate_psf(frames, camera=CALIBRATION)
    assert cal.sigma_px == pytest.approx(1.5, rel=0.05)  # the flat-topped ones do not vote


def test_camera_of_another_frame_size_is_refused(tmp_path, rng):
    from livetrack.calibrate import calibrate_camera, load_camera

    stacks = [CAMERA.expose(np.full((20, 32, 32), p), rng) for p in (0.0, 100.0)]
    camera = load_camera(calibrate_camera(stacks).save(tmp_path / "camera.json"))
    with pytest.raises(InputError, match="for 32x32 frames, got 128x128"):
        calibrate_psf(_spots(1.5).frames, camera=camera)


def test_save_load_round_trip(tmp_path):
    cal = calibrate_psf(_spots(2.0).frames, camera=CALIBRATION)
    back = load_psf(cal.save(tmp_path / "psf.json"))
    assert back.sigma_px == cal.sigma_px and back.profile == cal.profile
    assert back.header.frame_shape == (128, 128) and back.header.kind == "psf"
    assert back.describe().startswith("gaussian bright, sigma 1.9")
