import json

import numpy as np
import pytest
import tifffile

from livetrack._errors import InputError
from livetrack.simulate import (
    AiryPSF,
    Camera,
    Dynamics,
    Illumination,
    RingPSF,
    read_movie,
    simulate_movie,
    write_movie,
)
from livetrack.simulate._io import movie_paths


def small_movie(**kwargs):
    base = {
        "n_frames": 3,
        "shape": (24, 20),
        "n_particles": 6,
        "dynamics": Dynamics(diffusion_px2=0.5, blink_off_prob=0.2),
        "seed": 1,
    }
    return simulate_movie(**{**base, **kwargs})


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"camera": None, "psf": AiryPSF(1.5)},
        {
            "psf": RingPSF(3.0, -1.0),
            "camera": Camera(em_gain=50.0, gain_adu_per_e=0.5, bit_depth=8, offset_adu=20.0),
            "illumination": Illumination(ratio=2.0, flicker_std=0.1),
            "background_photons": 80.0,
        },
        {"n_particles": 0},
        {"n_frames": 1},
    ],
)
def test_round_trip(kwargs, tmp_path):
    movie = small_movie(**kwargs)
    written = write_movie(movie, tmp_path / "movie.tif")
    tiff, csv, meta = movie_paths(written)
    assert tiff.is_file()
    assert csv.name == "movie.truth.csv"
    assert meta.name == "movie.meta.json"
    header = csv.read_text().splitlines()[0].split(",")
    assert header[:7] == ["frame", "particle", "x", "y", "amplitude", "snr", "visible"]
    again = read_movie(tiff)
    assert again == movie
    assert again.frames.dtype == movie.frames.dtype
    np.testing.assert_array_equal(again.truth["x"].to_numpy(), movie.truth["x"].to_numpy())


def test_tiff_is_a_plain_stack(tmp_path):
    movie = small_movie()
    write_movie(movie, tmp_path / "m.tiff")
    data = tifffile.imread(tmp_path / "m.tiff")
    np.testing.assert_array_equal(data, movie.frames)


def written(tmp_path):
    path = tmp_path / "movie.tif"
    write_movie(small_movie(), path)
    return movie_paths(path)


def assert_one_line_input_error(path, match):
    with pytest.raises(InputError, match=match) as info:
        read_movie(path)
    assert "\n" not in str(info.value)


def test_missing_files(tmp_path):
    assert_one_line_input_error(tmp_path / "nothing.tif", "no such file")
    tiff, csv, meta = written(tmp_path)
    csv.unlink()
    assert_one_line_input_error(tiff, "ground-truth")
    tiff, csv, meta = written(tmp_path)
    meta.unlink()
    assert_one_line_input_error(tiff, "metadata")


def test_wrong_dimensionality(tmp_path):
    tiff, _, _ = written(tmp_path)
    tifffile.imwrite(tiff, np.zeros((2, 3, 4, 5), dtype=np.uint16), photometric="minisblack")
    assert_one_line_input_error(tiff, "expected a 2-D frame or a 3-D stack")


def test_non_numeric_dtype(tmp_path):
    tiff, _, _ = written(tmp_path)
    tifffile.imwrite(tiff, np.zeros((3, 4, 5), dtype=np.complex64), photometric="minisblack")
    assert_one_line_input_error(tiff, "real-valued")


def test_empty_or_corrupt_file(tmp_path):
    tiff, _, _ = written(tmp_path)
    tiff.write_bytes(b"")
    assert_one_line_input_error(tiff, "not a readable TIFF")
    tiff.write_bytes(b"this is not a tiff")
    assert_one_line_input_error(tiff, "not a readable TIFF")


def test_dtype_must_match_camera(tmp_path):
    tiff, _, _ = written(tmp_path)
    tifffile.imwrite(tiff, np.zeros((3, 24, 20), dtype=np.float32), photometric="minisblack")
    assert_one_line_input_error(tiff, "does not match the camera")


def test_bad_truth(tmp_path):
    tiff, csv, _ = written(tmp_path)
    csv.write_text("frame,particle\n0,1\n")
    assert_one_line_input_error(tiff, "missing ground-truth columns")
    csv.write_text(
        "frame,particle,x,y,amplitude,snr,visible,in_frame,background\n0,a,b,c,d,e,f,g,h\n"
    )
    assert_one_line_input_error(tiff, "non-numeric")
    csv.write_text(
        "frame,particle,x,y,amplitude,snr,visible,in_frame,background\n9,1,1,1,1,1,True,True,1\n"
    )
    assert_one_line_input_error(tiff, "frame numbers outside")
    csv.write_text("")
    assert_one_line_input_error(tiff, "not a readable CSV")


def test_bad_metadata(tmp_path):
    tiff, _, meta = written(tmp_path)
    meta.write_text("{not json")
    assert_one_line_input_error(tiff, "not valid JSON")
    meta.write_text("[1, 2]")
    assert_one_line_input_error(tiff, "JSON object")
    meta.write_text(json.dumps({"psf": {"type": "MysteryPSF"}}))
    assert_one_line_input_error(tiff, "unknown psf")
    meta.write_text(json.dumps({"psf": {"type": "GaussianPSF", "sigma_px": -1.0}}))
    assert_one_line_input_error(tiff, "sigma_px")
    meta.write_text(json.dumps({"psf": {"type": "GaussianPSF", "width": 1.0}}))
    assert_one_line_input_error(tiff, "bad psf parameters")


def test_write_needs_tiff_suffix_and_existing_directory(tmp_path):
    movie = small_movie()
    with pytest.raises(InputError, match=r"\.tif"):
        write_movie(movie, tmp_path / "movie.png")
    with pytest.raises(InputError, match="no such directory"):
        write_movie(movie, tmp_path / "missing" / "movie.tif")
