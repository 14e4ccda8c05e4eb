import numpy as np
import pytest

from livetrack._errors import InputError
from livetrack.calibrate import CalibrationHeader, CameraCalibration, PhotonLocalizer
from livetrack.localize import make_localizer
from livetrack.simulate import Camera, GaussianPSF, simulate_movie


def test_a_wrapped_localizer_sees_photons_and_refuses_another_camera():
    camera = Camera(gain_adu_per_e=4.0, offset_adu=200.0, read_noise_e=1.0)
    movie = simulate_movie(
        n_frames=3,
        shape=(64, 64),
        n_particles=8,
        psf=GaussianPSF(1.5),
        snr=15.0,
        background_photons=10.0,
        camera=camera,
        min_separation_px=8,
        seed=2,
    )
    header = CalibrationHeader("camera", frame_shape=(64, 64), pixel_type="uint16")
    cal = CameraCalibration(4.0, 200.0, 4.0, header=header)
    inner = make_localizer("centroid", diameter_px=7)
    wrapped = PhotonLocalizer(inner, cal)
    in_photons = wrapped.locate_stack(movie.frames)
    expected = inner.locate(cal.to_photons(movie.frames[0]), 0)
    np.testing.assert_allclose(
        in_photons[in_photons["frame"] == 0]["mass"].to_numpy(), expected["mass"].to_numpy()
    )
    assert sorted(in_photons["frame"].unique()) == [0, 1, 2]
    other = PhotonLocalizer(inner, cal)
    with pytest.raises(InputError, match="for 64x64 frames, got 32x32"):
        other.locate(np.zeros((32, 32), np.uint16) + 200)
    with pytest.raises(InputError, match="CameraCalibration"):
        PhotonLocalizer(inner, camera)


def test_a_caller_that_checked_the_camera_may_skip_the_first_frame_check():
    header = CalibrationHeader("camera", frame_shape=(64, 64), pixel_type="uint16")
    cal = CameraCalibration(2.0, 100.0, 2.0, header=header)
    wrapped = PhotonLocalizer(make_localizer("centroid", diameter_px=7), cal, check=False)
    assert wrapped.locate(np.full((32, 32), 100, np.uint16)).empty  # a small test image
