"""The calibrate commands as a user runs them: files in, one line out on bad input."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tifffile

from livetrack.simulate import Camera, GaussianPSF, simulate_movie

CAMERA = Camera(gain_adu_per_e=2.0, offset_adu=100.0, read_noise_e=1.5)


def run_cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livetrack", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


@pytest.fixture
def env(tmp_path):
    import os

    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "user-data")}


@pytest.fixture
def stacks(tmp_path, rng):
    paths = []
    for photons in (0.0, 30.0, 120.0, 400.0):
        path = tmp_path / f"level{int(photons)}.tif"
        tifffile.imwrite(
            path, CAMERA.expose(np.full((40, 64, 64), photons), rng), photometric="minisblack"
        )
        paths.append(str(path))
    return paths


@pytest.fixture
def movie(tmp_path):
    m = simulate_movie(
        n_frames=8,
        shape=(64, 64),
        n_particles=14,
        psf=GaussianPSF(1.5),
        snr=(10.0, 20.0),
        background_photons=20.0,
        camera=CAMERA,
        min_separation_px=8,
        seed=5,
    )
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, m.frames, photometric="minisblack")
    return str(path), m


def test_camera_psf_track_and_list(stacks, movie, tmp_path, env):
    out = run_cli("calibrate", "camera", *stacks, "-o", str(tmp_path / "camera.json"), env=env)
    assert out.returncode == 0, out.stderr
    cam = json.loads((tmp_path / "camera.json").read_text())
    assert cam["gain_adu_per_photon"] == pytest.approx(2.0, rel=0.05)
    assert abs(cam["offset_adu"] - 100.0) < 1.0 and cam["frame_shape"] == [64, 64]

    out = run_cli("calibrate", "psf", movie[0], "--camera", str(tmp_path / "camera.json"), env=env)
    assert out.returncode == 0, out.stderr
    assert "gaussian bright, sigma 1." in out.stdout
    psf = json.loads(
        (tmp_path / "user-data" / "livetrack" / "calibrations" / "psf.json").read_text()
    )
    assert psf["units"] == "photons" and psf["sigma_px"] == pytest.approx(1.5, rel=0.05)

    csv = tmp_path / "tracks.csv"
    args = ("track", movie[0], "-o", str(csv), "--method", "centroid", "--diameter", "7")
    out = run_cli(*args, "--camera", str(tmp_path / "camera.json"), env=env)
    assert out.returncode == 0, out.stderr
    in_photons = pd.read_csv(csv)["mass"].median()
    out = run_cli(*args, env=env)
    in_adu = pd.read_csv(csv)["mass"].median()
    assert in_adu / in_photons == pytest.approx(2.0, rel=0.1)  # the gain, ADU per photon

    out = run_cli("calibrations", env=env)
    assert out.returncode == 0 and "psf" in out.stdout
    out = run_cli("calibrations", str(tmp_path), env=env)
    assert "camera.json" in out.stdout and "gain 1.99" in out.stdout


def test_stage_on_the_simulated_microscope(tmp_path, env):
    out = run_cli(
        "calibrate",
        "stage",
        "--pixel-size",
        "0.13",
        "--rotation",
        "3",
        "--flip",
        "-o",
        str(tmp_path / "stage.json"),
        env=env,
    )
    assert out.returncode == 0, out.stderr
    stage = json.loads((tmp_path / "stage.json").read_text())
    assert stage["flipped"] and abs(stage["rotation_deg"] - 3.0) < 0.5
    assert stage["pixel_size_um"] == pytest.approx(0.13, rel=0.01)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (lambda s, m, t: ["calibrate", "camera", s[0]], "at least one lit stack"),
        (lambda s, m, t: ["calibrate", "camera", s[0], s[0]], "one light level only"),
        (lambda s, m, t: ["calibrate", "psf", s[0]], "no particles|too few particles"),
        (
            lambda s, m, t: ["calibrate", "psf", m, "--camera", str(t / "movie.tif")],
            "not a livetrack calibration",
        ),
    ],
    ids=["one-stack", "one-level", "no-particles", "wrong-file"],
)
def test_bad_input_is_one_line(args, message, stacks, movie, tmp_path, env):
    out = run_cli(*args(stacks, movie[0], tmp_path), env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livetrack: error:"), out.stderr
    import re

    assert re.search(message, lines[0])


def test_track_refuses_a_camera_of_another_frame_size(stacks, tmp_path, rng, env):
    big = tmp_path / "big.tif"
    tifffile.imwrite(big, CAMERA.expose(np.full((2, 80, 80), 20.0), rng), photometric="minisblack")
    out = run_cli("calibrate", "camera", *stacks, "-o", str(tmp_path / "camera.json"), env=env)
    assert out.returncode == 0, out.stderr
    out = run_cli(
        "track",
        str(big),
        "-o",
        str(tmp_path / "t.csv"),
        "--camera",
        str(tmp_path / "camera.json"),
        env=env,
    )
    assert out.returncode == 1
    cal = tmp_path / "camera.json"
    expected = f"livetrack: error: camera calibration {cal} is for 64x64 frames, got 80x80"
    assert out.stderr.strip() == expected
    assert not (tmp_path / "t.csv").exists()


def test_demo_refuses_a_camera_of_another_frame_size(stacks, tmp_path, env):
    out = run_cli("calibrate", "camera", *stacks, "-o", str(tmp_path / "camera.json"), env=env)
    assert out.returncode == 0, out.stderr
    demo = (
        "demo",
        "--headless",
        "-n",
        "2",
        "--size",
        "96",
        "--no-adapt",
        "-o",
        str(tmp_path / "d"),
    )
    out = run_cli(*demo, "--camera", str(tmp_path / "camera.json"), env=env)
    assert out.returncode == 1
    assert out.stderr.strip().endswith("is for 64x64 frames, got 96x96")


def test_track_adds_micrometre_columns_from_a_stage_calibration(tmp_path, env):
    from livetrack.calibrate import CalibrationHeader, StageCalibration
    from livetrack.feedback import StageTransform

    m = simulate_movie(n_frames=2, shape=(48, 48), n_particles=5, snr=20, seed=1)
    tifffile.imwrite(tmp_path / "m.tif", m.frames, photometric="minisblack")
    transform = StageTransform.from_pixel_size(0.5, rotation_deg=90.0)
    header = CalibrationHeader("stage", frame_shape=(48, 48), pixel_type="uint16")
    StageCalibration(transform, header=header).save(tmp_path / "stage.json")
    out = run_cli(
        "locate",
        str(tmp_path / "m.tif"),
        "-o",
        str(tmp_path / "p.csv"),
        "--method",
        "centroid",
        "--diameter",
        "5",
        "--stage",
        str(tmp_path / "stage.json"),
        env=env,
    )
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(table["x_um"], -0.5 * table["y"], atol=1e-9)
    np.testing.assert_allclose(table["y_um"], 0.5 * table["x"], atol=1e-9)
