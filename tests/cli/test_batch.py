"""livetrack track over several movies: a local cluster, a `dask scheduler` + `dask worker`."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import tifffile

pytest.importorskip("distributed")


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livetrack", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def movie_folder(tmp_path):
    from livetrack import simulate

    folder = tmp_path / "screen"
    folder.mkdir()
    for i in range(2):
        movie = simulate.simulate_movie(
            n_frames=12, shape=(64, 64), n_particles=5, snr=8, min_separation_px=8, seed=i
        )
        tifffile.imwrite(folder / f"well{i}.tif", movie.frames, photometric="minisblack")
    (folder / "truncated.tif").write_bytes((folder / "well0.tif").read_bytes()[:300])
    return folder


def _dask(*args: str) -> subprocess.Popen:
    dask = Path(sys.executable).with_name("dask")
    return subprocess.Popen(
        [str(dask), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.fixture
def scheduler_address(tmp_path):
    """A scheduler and one worker started from the command line, as on a cluster's nodes."""
    from distributed import Client

    file = tmp_path / "scheduler.json"
    procs = [_dask("scheduler", "--scheduler-file", str(file), "--port", "0", "--no-dashboard")]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        procs.append(
            _dask(
                "worker",
                "--scheduler-file",
                str(file),
                "--nthreads",
                "1",
                "--no-dashboard",
                "--no-nanny",
            )
        )
        address = json.loads(file.read_text())["address"]
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)


def test_track_folder_on_a_scheduler_started_from_the_command_line(
    movie_folder, tmp_path, scheduler_address
):
    out = tmp_path / "out"
    result = run_cli(
        "track", str(movie_folder), "-o", str(out), "--model", "spots",
        "--chunk-frames", "4", "--scheduler", scheduler_address,
    )  # fmt: skip
    # The truncated file fails alone, in one line, and the exit code says so.
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "truncated.tif" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "2 movies tracked, 0 already done, 1 failed" in result.stderr
    table = pd.read_csv(out / "well0.csv")
    assert {"frame", "x", "y", "mass", "particle"} <= set(table.columns)
    assert sorted(table["frame"].unique()) == list(range(12))


def test_track_several_movies_on_the_default_local_cluster(movie_folder, tmp_path):
    out = tmp_path / "out"
    movies = [str(movie_folder / "well0.tif"), str(movie_folder / "well1.tif")]
    args = ["track", *movies, "-o", str(out), "--model", "spots", "--workers", "2"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "well0.csv", "well1.csv"]
    rerun = run_cli(*args)
    assert rerun.returncode == 0 and "0 movies tracked, 2 already done" in rerun.stderr


def test_unreachable_scheduler_is_one_line(movie_folder, tmp_path):
    result = run_cli(
        "track", str(movie_folder), "-o", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9",
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("livetrack: error: cannot reach")


def test_gpus_asked_for_without_them_is_one_line(movie_folder, tmp_path):
    from livetrack.batch import visible_gpus

    if len(visible_gpus()[0]) >= 99:
        pytest.skip("99 GPUs here")
    result = run_cli(
        "track", str(movie_folder), "-o", str(tmp_path / "o"), "--model", "spots",
        "--gpus", "99", timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livetrack: error: --gpus 99: "), result.stderr


def test_gpus_auto_without_a_gpu_says_so_in_one_line(movie_folder, tmp_path):
    from livetrack.batch import visible_gpus

    if visible_gpus()[0]:
        pytest.skip("GPUs here: auto takes them")
    movies = [str(movie_folder / "well0.tif"), str(movie_folder / "well1.tif")]
    result = run_cli(
        "track", *movies, "-o", str(tmp_path / "o"), "--model", "spots", "--workers", "1",
        "--gpus", "auto",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "GPU" in line]
    assert len(said) == 1 and said[0].startswith("livetrack: no NVIDIA GPU (")
    assert said[0].endswith("): CPU workers, one per core")


def test_gpus_with_a_scheduler_or_one_movie_is_one_line(movie_folder, tmp_path):
    result = run_cli(
        "track", str(movie_folder), "-o", str(tmp_path / "o"), "--gpus", "1",
        "--scheduler", "tcp://127.0.0.1:9", timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("livetrack: error: --gpus starts")
    one = run_cli(
        "track", str(movie_folder / "well0.tif"), "-o", str(tmp_path / "t.csv"), "--gpus", "1",
        timeout=60,
    )  # fmt: skip
    assert one.returncode == 1
    assert one.stderr.strip().splitlines()[-1].startswith("livetrack: error: --gpus applies")
