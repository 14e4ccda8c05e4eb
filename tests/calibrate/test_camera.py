import numpy as np
import pytest

from livetrack._errors import InputError
from livetrack.calibrate import CameraCalibration, calibrate_camera, load_camera
from livetrack.simulate import Camera

from .conftest import light_levels

PHOTONS = (0, 20, 80, 300, 1000)


@pytest.mark.parametrize(
    ("camera", "em"),
    [
        (
            Camera(quantum_efficiency=0.8, gain_adu_per_e=2.2, offset_adu=100.5, read_noise_e=1.6),
            False,
        ),
        (Camera(gain_adu_per_e=0.45, offset_adu=1000.0, read_noise_e=2.5), False),
        (Camera(gain_adu_per_e=0.05, offset_adu=200.0, read_noise_e=40.0, em_gain=100.0), True),
    ],
    ids=["ccd", "scmos-global", "emccd"],
)
def test_gain_offset_read_noise_recovered(camera, em, rng):
    photons = (0, 2, 10, 40, 100) if em else PHOTONS
    cal = calibrate_camera(light_levels(camera, photons, 100, (64, 64), rng), em=em)
    # Photon transfer sees detected photons: the quantum efficiency is not in the gain.
    true_gain = camera.gain_adu_per_e * (camera.em_gain or 1.0)
    true_read = camera.read_noise_e * camera.gain_adu_per_e
    assert cal.gain_adu_per_photon == pytest.approx(true_gain, rel=0.05)
    assert cal.read_noise_adu == pytest.approx(true_read, rel=0.05)
    assert abs(cal.offset_adu - camera.offset_adu) < 1.0
    assert not cal.per_pixel
    assert (cal.em_gain is not None) == em


def _scmos(rng, shape=(16, 16), frames=3000, photons=(0, 50, 200, 600, 1500)):
    """An sCMOS-like camera whose every pixel has its own gain, offset and read noise."""
    gain = rng.uniform(1.5, 2.5, shape)
    offset = rng.uniform(95.0, 110.0, shape)
    read = rng.uniform(1.0, 3.0, shape)
    stacks = []
    for p in photons:
        electrons = rng.poisson(p, (frames, *shape)).astype(float)
        adu = electrons * gain + offset + read * rng.standard_normal((frames, *shape))
        stacks.append(np.clip(np.rint(adu), 0, 65535).astype(np.uint16))
    return stacks, gain, offset, read


def test_per_pixel_maps_of_an_scmos_camera(rng):
    stacks, gain, offset, read = _scmos(rng)
    cal = calibrate_camera(stacks)
    assert cal.per_pixel  # chosen automatically: the gains differ beyond the noise
    gain_err = np.abs(cal.gain_map / gain - 1)
    read_err = np.abs(cal.read_noise_map / read - 1)
    # 3000 frames per level: a pixel's variance is known to 2.6 %, its gain to about 1 %.
    assert np.mean(gain_err < 0.05) >= 0.99 and np.median(gain_err) < 0.015
    assert np.mean(read_err < 0.05) >= 0.99
    assert np.abs(cal.offset_map - offset).max() < 1.0
    photons = cal.to_photons(stacks[2][:50]).mean()
    assert photons == pytest.approx(200, rel=0.02)


def test_uniform_camera_keeps_no_maps_and_maps_can_be_forced(rng):
    camera = Camera(gain_adu_per_e=2.0, offset_adu=100.0, read_noise_e=1.5)
    stacks = light_levels(camera, PHOTONS, 50, (32, 32), rng)
    assert not calibrate_camera(stacks).per_pixel
    forced = calibrate_camera(stacks, per_pixel=True)
    assert forced.per_pixel and forced.gain_map.shape == (32, 32)


def test_one_unevenly_lit_movie_and_dark_frames(rng):
    camera = Camera(gain_adu_per_e=1.7, offset_adu=300.0, read_noise_e=2.0)
    yy, xx = np.mgrid[0:64, 0:64]
    field = 20.0 + 800.0 * np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / (2 * 20.0**2))
    dark = camera.expose(np.zeros((100, 64, 64)), rng)
    lit = camera.expose(np.broadcast_to(field, (100, 64, 64)), rng)
    cal = calibrate_camera([lit, dark])
    assert cal.gain_adu_per_photon == pytest.approx(1.7, rel=0.05)
    assert abs(cal.offset_adu - 300.0) < 1.0
    assert len(cal.levels) > 5  # the pixels of one movie give many levels


def test_save_load_round_trip_with_maps(tmp_path, rng):
    stacks, *_ = _scmos(rng, frames=200)
    cal = calibrate_camera(stacks, per_pixel=True)
    path = cal.save(tmp_path / "camera.json")
    assert (tmp_path / "camera.npz").is_file()
    back = load_camera(path)
    assert back.gain_adu_per_photon == cal.gain_adu_per_photon
    np.testing.assert_array_equal(back.gain_map, cal.gain_map)
    assert back.header.frame_shape == (16, 16) and back.header.pixel_type == "uint16"
    assert len(back.header.inputs) == len(stacks)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda cam, rng: light_levels(cam, (0,), 20, (32, 32), rng), "at least one lit stack"),
        (lambda cam, rng: light_levels(cam, (0, 0.01), 20, (32, 32), rng), "one light level only"),
        (lambda cam, rng: light_levels(cam, (0, 70000), 5, (32, 32), rng), "saturated"),
        (
            lambda cam, rng: [
                cam.expose(np.zeros((5, 32, 32)), rng),
                cam.expose(np.ones((5, 16, 16)), rng),
            ],
            "one camera and setting",
        ),
    ],
    ids=["one-stack", "one-level", "saturated", "two-cameras"],
)
def test_bad_input_is_one_line(make, message, rng):
    camera = Camera(gain_adu_per_e=1.0, offset_adu=100.0, read_noise_e=1.0)
    with pytest.raises(InputError, match=message) as info:
        calibrate_camera(make(camera, rng))
    assert "\n" not in str(info.value)


def test_clipped_dark_frames_are_refused(rng):
    camera = Camera(gain_adu_per_e=1.0, offset_adu=0.0, read_noise_e=2.0)
    with pytest.raises(InputError, match="clipped at 0"):
        calibrate_camera(light_levels(camera, (0, 100), 10, (32, 32), rng))


def test_frames_of_another_camera_are_refused(tmp_path, rng):
    camera = Camera(gain_adu_per_e=2.0, offset_adu=500.0, read_noise_e=1.0)
    cal = load_camera(
        calibrate_camera(light_levels(camera, (0, 100), 20, (32, 32), rng)).save(tmp_path / "c")
    )
    with pytest.raises(InputError, match="for 32x32 frames, got 64x48"):
        cal.check(np.zeros((2, 48, 64), np.uint16))
    with pytest.raises(InputError, match="for uint16 pixels, got uint8"):
        cal.check(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(InputError, match="below its offset"):
        cal.check(np.full((2, 32, 32), 100, np.uint16))
    cal.check(camera.expose(np.full((2, 32, 32), 10.0), rng))


def test_calibration_converts_to_photons():
    cal = CameraCalibration(gain_adu_per_photon=2.0, offset_adu=100.0, read_noise_adu=3.0)
    np.testing.assert_allclose(cal.to_photons(np.array([[100, 120]], np.uint16)), [[0.0, 10.0]])
    assert cal.read_noise_e == pytest.approx(1.5)
    with pytest.raises(InputError):
        CameraCalibration(gain_adu_per_photon=0.0, offset_adu=0.0, read_noise_adu=1.0)
