import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tifffile
from typer.testing import CliRunner

from livetrack.cli import app


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livetrack", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("command", [[], ["track"], ["bench"], ["bench", "accuracy"]])
def test_help_on_every_command(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.fixture
def movie_tif(tmp_path):
    from livetrack import simulate

    movie = simulate.simulate_movie(
        n_frames=3,
        shape=(64, 64),
        n_particles=6,
        snr=20,
        min_separation_px=10,
        dynamics=simulate.Dynamics(diffusion_px2=0.2),
        seed=3,
    )
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, movie.frames, photometric="minisblack")
    return path, movie


def test_track_with_classical_method_writes_linked_positions(movie_tif, tmp_path):
    path, movie = movie_tif
    out = tmp_path / "out" / "tracks.csv"
    result = run_cli("track", str(path), "-o", str(out), "--method", "radial")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert {"frame", "x", "y", "mass", "particle"} <= set(table.columns)
    from livetrack.evaluate import score

    assert score(movie.truth, table).jaccard > 0.9


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("hello"), "not a readable TIFF"),
        (lambda p: tifffile.imwrite(p, np.zeros((2, 8, 8, 3), np.uint8)), "3-D stack"),
        (lambda p: tifffile.imwrite(p, np.zeros((4, 4), np.complex64)), "real-valued"),
        (
            lambda p: tifffile.imwrite(p, np.full((2, 8, 8), np.nan, np.float32)),
            "NaN",
        ),
    ],
)
def test_track_bad_input_is_one_line_error(tmp_path, make, message):
    path = tmp_path / "bad.tif"
    make(path)
    result = run_cli("track", str(path), "-o", str(tmp_path / "o.csv"), "--method", "centroid")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("livetrack: error:")
    assert message in lines[0]
    assert not (tmp_path / "o.csv").exists()


def test_unknown_method_is_one_line_error(movie_tif, tmp_path):
    path, _ = movie_tif
    result = run_cli("track", str(path), "-o", str(tmp_path / "o.csv"), "--method", "magic")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "livetrack: error: unknown method 'magic'; choose from centroid, radial, mle"
    )


def test_track_with_adaptive_threshold_and_temporal_window(movie_tif, tmp_path):
    out = tmp_path / "t.csv"
    args = ["track", str(movie_tif[0]), "-o", str(out), "--threshold", "adaptive"]
    result = CliRunner().invoke(app, [*args, "--temporal-window", "3"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert {"frame", "x", "y", "particle"} <= set(table.columns) and len(table) > 0


def test_track_bad_threshold_is_one_line_error(movie_tif, tmp_path):
    result = run_cli("track", str(movie_tif[0]), "-o", str(tmp_path / "t.csv"), "--threshold", "x")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "livetrack: error: --threshold must be a number in (0, 1] or 'adaptive', got 'x'"
    ]


def test_track_fast_path_int8_without_refinement(movie_tif, tmp_path):
    path, movie = movie_tif
    out = tmp_path / "fast.csv"
    args = ["track", str(path), "-o", str(out), "--backend", "onnxruntime-int8", "--no-refine"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    from livetrack.evaluate import score

    assert score(movie.truth, pd.read_csv(out)).jaccard >= 0.9
