import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile
from typer.testing import CliRunner

from livetrack._errors import InputError
from livetrack.cli import app


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livetrack", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("command", [[], ["track"], ["locate"], ["bench"], ["bench", "accuracy"]])
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
        (
            lambda p: tifffile.imwrite(
                p, np.zeros((2, 8, 8, 5), np.uint8), photometric="minisblack"
            ),
            "3-D stack",
        ),
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
    args = ["track", str(movie_tif[0]), "-o", str(out), "--model", "spots"]
    args += ["--threshold", "adaptive"]
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
    args = ["track", str(path), "-o", str(out), "--model", "spots"]
    args += ["--backend", "onnxruntime-int8", "--no-refine"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    from livetrack.evaluate import score

    assert score(movie.truth, pd.read_csv(out)).jaccard >= 0.9


# --- inputs as they come from microscopes, and the classical options -------------------


def score_jaccard(truth: pd.DataFrame, table: pd.DataFrame) -> float:
    from livetrack.evaluate import score

    return score(truth, table).jaccard


def invoke(*args: str):
    """Run the CLI in this process (fast, and monkeypatches reach it)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def test_invert_finds_dark_spots(movie_tif, tmp_path):
    _, movie = movie_tif
    dark = (movie.frames.max() + 100 - movie.frames).astype(np.uint16)  # dark on bright
    path = tmp_path / "dark.tif"
    tifffile.imwrite(path, dark, photometric="minisblack")
    inverted, plain = tmp_path / "inverted.csv", tmp_path / "plain.csv"
    result = invoke("locate", path, "-o", inverted, "--method", "centroid", "--invert")
    assert result.exit_code == 0, result.output
    assert score_jaccard(movie.truth, pd.read_csv(inverted)) > 0.9
    result = invoke("locate", path, "-o", plain, "--method", "centroid")
    assert result.exit_code == 0, result.output
    assert score_jaccard(movie.truth, pd.read_csv(plain)) < 0.2


def test_high_minmass_drops_every_feature(movie_tif, tmp_path):
    out = tmp_path / "none.csv"
    args = ["--method", "radial", "--minmass", "1e12"]
    result = invoke("locate", movie_tif[0], "-o", out, *args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 0 and {"frame", "x", "y", "mass"} <= set(table.columns)


def test_large_separation_keeps_one_of_a_close_pair(tmp_path):
    frame = np.full((40, 60), 100.0)
    rows, cols = np.indices(frame.shape)
    for x in (22.0, 32.0):  # 10 px apart
        frame += 400 * np.exp(-((rows - 20) ** 2 + (cols - x) ** 2) / (2 * 1.5**2))
    path = tmp_path / "pair.tif"
    tifffile.imwrite(path, frame.astype(np.float32))
    counts = {}
    for separation in ("5", "15"):
        out = tmp_path / f"sep{separation}.csv"
        args = ["--method", "centroid", "--separation", separation]
        result = invoke("locate", path, "-o", out, *args)
        assert result.exit_code == 0, result.output
        counts[separation] = len(pd.read_csv(out))
    assert counts == {"5": 2, "15": 1}


def test_classical_options_reach_the_localizer(monkeypatch, movie_tif, tmp_path):
    import livetrack.localize

    seen = {}

    def spy(frames, method="centroid", **options):
        seen.update(method=method, **options)
        return pd.DataFrame({"frame": [0], "x": [1.0], "y": [2.0], "mass": [3.0]})

    monkeypatch.setattr(livetrack.localize, "locate", spy)
    args = ["--method", "radial", "--diameter", "9", "--minmass", "5", "--separation", "4"]
    result = invoke("locate", movie_tif[0], "-o", tmp_path / "o.csv", *args, "--invert")
    assert result.exit_code == 0, result.output
    assert seen == {
        "method": "radial",
        "diameter_px": 9,
        "minmass": 5.0,
        "separation_px": 4.0,
        "polarity": "dark",
    }


def test_cnn_gets_the_model_unchanged_and_hints_only_when_given(monkeypatch, movie_tif, tmp_path):
    import livetrack.infer

    calls = []

    def spy(frame_or_stack, model="spots", backend="auto", **options):
        calls.append({"model": model, **options})
        return pd.DataFrame({"frame": [0], "x": [1.0], "y": [2.0], "mass": [3.0]})

    monkeypatch.setattr(livetrack.infer, "locate", spy)
    out = tmp_path / "o.csv"
    assert invoke("locate", movie_tif[0], "-o", out).exit_code == 0
    assert invoke("locate", movie_tif[0], "-o", out, "--diameter", "17", "--invert").exit_code == 0
    assert invoke("track", movie_tif[0], "-o", out, "--model", "rings").exit_code == 0
    assert calls == [
        {"model": "auto"},
        {"model": "auto", "diameter_px": 17, "invert": True},
        {"model": "rings"},
    ]


def test_option_the_cnn_does_not_take_is_one_line_error(monkeypatch, movie_tif, tmp_path):
    import livetrack.infer

    def cnn_without_hints(frame_or_stack, model="spots", backend="auto", threshold=None):
        raise AssertionError("not reached")

    monkeypatch.setattr(livetrack.infer, "locate", cnn_without_hints)
    result = invoke("locate", movie_tif[0], "-o", tmp_path / "o.csv", "--invert")
    assert isinstance(result.exception, InputError)
    assert str(result.exception) == "unknown option(s) ['invert'] for the CNN; valid: ['threshold']"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--minmass", "10"],
            "--minmass applies to the classical methods; add --method or drop it",
        ),
        (["--separation", "4"], "--separation applies to the classical methods"),
        (["--method", "centroid", "--no-refine"], "--no-refine applies to the CNN"),
    ],
)
def test_options_of_the_other_localizer_are_one_line_errors(movie_tif, tmp_path, args, message):
    result = run_cli("locate", str(movie_tif[0]), "-o", str(tmp_path / "o.csv"), *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livetrack: error: ") and message in lines[0]


def test_track_an_mp4_end_to_end(movie_tif, tmp_path):
    _, movie = movie_tif
    frames = movie.frames.astype(float)
    grey = ((frames - frames.min()) / np.ptp(frames) * 200 + 20).astype(np.uint8)
    path = tmp_path / "movie.mp4"  # 64 x 64: a multiple of 16, so not resized
    iio.imwrite(path, grey, plugin="FFMPEG", fps=10, codec="libx264", quality=8)
    out = tmp_path / "tracks.csv"
    result = invoke("track", path, "-o", out, "--method", "centroid")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert {"frame", "x", "y", "particle"} <= set(table.columns)
    assert score_jaccard(movie.truth, table) > 0.9


@pytest.mark.parametrize("as_glob", [False, True])
def test_locate_a_png_folder_end_to_end(movie_tif, tmp_path, as_glob):
    _, movie = movie_tif
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(movie.frames):
        iio.imwrite(folder / f"img{t}.png", frame)  # 16-bit PNG, exact
    source = str(folder / "img*.png") if as_glob else str(folder)
    out = tmp_path / "positions.csv"
    result = invoke("locate", source, "-o", out, "--method", "centroid")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert "particle" not in table and sorted(table["frame"].unique()) == [0, 1, 2]
    assert score_jaccard(movie.truth, table) > 0.9
