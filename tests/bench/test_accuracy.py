import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from livetrack import bench
from livetrack.bench._localizers import available_localizers
from livetrack.cli import app
from livetrack.localize import TruthLocalizer


def test_suite_covers_the_named_scenes():
    scenes = bench.accuracy_suite()
    groups = {s.group for s in scenes}
    assert groups == {"isolated", "isbi", "illumination", "rings", "wide"}
    assert sorted(s.snr for s in scenes if s.group == "isolated") == [1, 2, 3, 4, 7, 15, 50]
    isbi = [s for s in scenes if s.group == "isbi"]
    assert {s.n_particles for s in isbi} == {100, 500}
    assert sorted({s.snr for s in isbi}) == [1, 2, 4, 7]


def test_truth_replay_scores_perfectly():
    """A localizer that returns the ground truth must get Jaccard 1 and RMSE 0."""
    scenes = [s for s in bench.accuracy_suite(quick=True) if s.group in ("isolated", "rings")]

    def truth_factory(scene, camera):
        movie = scene.simulate(2012 + scenes.index(scene))
        return TruthLocalizer(movie.truth).locate

    rows = bench.run_accuracy(scenes, {"truth": truth_factory})
    for row in rows:
        assert row.jaccard == pytest.approx(1.0)
        assert row.rmse_px == pytest.approx(0.0, abs=1e-9)


def test_skipped_frames_are_located_but_not_scored():
    scenes = [s for s in bench.accuracy_suite(quick=True) if s.name == "isolated spots SNR 4"]
    seen = []

    def late_factory(scene, camera):
        truth = TruthLocalizer(scene.simulate(2012).truth)

        def locate(frame, index):
            seen.append(index)
            found = truth.locate(frame, index)
            return found if index >= 1 else found.iloc[:0]  # blind on frame 0

        return locate

    (all_frames,) = bench.run_accuracy(scenes, {"late": late_factory})
    (later,) = bench.run_accuracy(scenes, {"late": late_factory}, skip_frames=1)
    assert all_frames.jaccard == pytest.approx(0.5, abs=0.05)
    assert later.jaccard == pytest.approx(1.0)
    assert seen == [0, 1, 0, 1]


def test_skip_frames_beyond_the_scenes_is_a_clear_error():
    result = subprocess.run(
        [sys.executable, "-m", "livetrack", "bench", "accuracy", "--quick", "--skip-frames", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "livetrack: error: --skip-frames must be in 0..1, got 2"


def test_classical_rows_are_sane():
    scenes = [s for s in bench.accuracy_suite(quick=True) if s.name.endswith("SNR 50")]
    rows = bench.run_accuracy(scenes, available_localizers(["mle"]))
    (row,) = rows
    assert row.jaccard > 0.95
    # The MLE fit is efficient at high SNR: close to the bound, never below it by much.
    assert 0.8 < row.rmse_over_crlb < 1.5
    assert row.ms_per_frame > 0


def test_rings_get_the_bound_of_their_own_image_model():
    from livetrack.evaluate import crlb_psf

    scenes = [s for s in bench.accuracy_suite(quick=True) if s.group == "rings"][:1]
    (row,) = bench.run_accuracy(scenes, available_localizers(["radial"]))
    truth = scenes[0].simulate(2012).truth
    centred = crlb_psf(scenes[0].psf, truth["amplitude"].median(), 100.0)
    assert row.crlb_px == pytest.approx(np.hypot(*centred), rel=0.1)
    assert row.jaccard > 0.9 and row.rmse_px >= row.crlb_px * 0.8


def test_every_shipped_cnn_runs_on_the_quick_suite():
    from livetrack.model import available_models

    names = [f"cnn:{m}" for m in available_models()]
    if not names:
        pytest.skip("no shipped models")
    scenes = [s for s in bench.accuracy_suite(quick=True) if s.name == "ISBI low density SNR 4"]
    rows = bench.run_accuracy(scenes, available_localizers(names))
    assert len(rows) == len(names)
    spots = [r for r in rows if r.localizer.startswith("cnn:spots")]
    assert spots and all(r.jaccard > 0.8 for r in spots)


def test_cli_writes_table_csv_and_plot(tmp_path):
    result = CliRunner().invoke(
        app, ["bench", "accuracy", "--quick", "-m", "centroid", "-m", "mle", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "| scene |" in result.stdout
    text = (tmp_path / "accuracy.md").read_text()
    n_scenes = len(bench.accuracy_suite(quick=True))
    # Three tables (Jaccard, RMSE, ms), each a row per scene under the same two columns.
    assert text.count("| scene | ") == 3
    assert text.count("| isolated spots SNR 4 |") == 3
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == 3 * (1 + n_scenes)
    assert "| scene | oracle | centroid | mle |" in text
    png = (tmp_path / "accuracy.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    csv = (tmp_path / "accuracy.csv").read_text().splitlines()
    assert len(csv) == 1 + 2 * len(bench.accuracy_suite(quick=True))


def test_unknown_localizer_is_rejected():
    from livetrack._errors import InputError

    with pytest.raises(InputError, match="unknown localizer 'sextractor'"):
        available_localizers(["sextractor"])


def test_temporal_window_localizer_gets_the_whole_stack():
    from livetrack.simulate import GaussianPSF

    scene = bench.Scene(
        name="static faint spots",
        group="isolated",
        snr=1.5,
        psf=GaussianPSF(1.0),
        shape=(96, 96),
        n_particles=15,
        n_frames=5,
        feature_diameter_px=5,
        kwargs={"background_photons": 10.0, "min_separation_px": 10.0},
    )
    names = ["cnn:spots:adaptive", "cnn:spots:adaptive:t5"]
    single, window = bench.run_accuracy([scene], available_localizers(names))
    assert window.localizer == "cnn:spots:adaptive:t5"
    assert window.jaccard > single.jaccard + 0.2  # static particles: averaging is pure gain
