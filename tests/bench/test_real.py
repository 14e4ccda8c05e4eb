import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from livetrack import InputError, bench
from livetrack.bench._real import USER_PARAMS, border_distance
from livetrack.cli import app


def _positions(rows):
    return pd.DataFrame(rows, columns=["frame", "x", "y"])


# Frame 0: two hits (1 px and 3 px off), one false detection in the middle and one
# unmatched detection 1.5 px from the border. Frame 1: a hit 0.5 px off and a detection
# 5 px from its particle (a miss and a false detection 4.5 px from the border). Frame 2:
# nothing in either.
REFERENCE = _positions([(0, 10, 10), (0, 30, 30), (1, 10, 10), (1, 30, 30)])
FOUND = _positions([(0, 11, 10), (0, 30, 33), (0, 20, 20), (0, 1, 20), (1, 10, 10.5), (1, 35, 30)])


def test_scores_of_a_known_case():
    s = bench.score_real(
        REFERENCE, FOUND, shape=(40, 40), n_frames=3, gate_px=4.0, border_margin_px=3.0
    )
    assert s.recall == pytest.approx(3 / 4)
    assert s.false_per_frame == pytest.approx(2 / 3)
    assert s.median_distance_px == pytest.approx(1.0)
    assert s.found_per_frame == pytest.approx(6 / 3)
    assert s.reference_per_frame == pytest.approx(4 / 3)
    assert math.isnan(s.jaccard) and math.isnan(s.rmse_px)


def test_border_margin_and_gate_move_the_counts():
    # A margin beyond 4.5 px spares the detection near the right edge too.
    wide = bench.score_real(
        REFERENCE, FOUND, shape=(40, 40), n_frames=3, gate_px=4.0, border_margin_px=5.0
    )
    assert wide.false_per_frame == pytest.approx(1 / 3)
    # With a 1 px margin the detection 1.5 px from the border is false too.
    edge = bench.score_real(
        REFERENCE, FOUND, shape=(40, 40), n_frames=3, gate_px=4.0, border_margin_px=1.0
    )
    assert edge.false_per_frame == pytest.approx(3 / 3)
    # A 6 px gate matches the 5 px pair: every particle found, one false detection left.
    loose = bench.score_real(
        REFERENCE, FOUND, shape=(40, 40), n_frames=3, gate_px=6.0, border_margin_px=3.0
    )
    assert loose.recall == pytest.approx(1.0)
    assert loose.false_per_frame == pytest.approx(1 / 3)
    assert loose.median_distance_px == pytest.approx(2.0)  # of 1, 3, 0.5, 5


def test_matching_is_one_to_one_and_optimal():
    # Greedy nearest-first would give the 0.5 px pair to particle A and leave B unmatched.
    reference = _positions([(0, 10.0, 10.0), (0, 13.0, 10.0)])
    found = _positions([(0, 11.5, 10.0), (0, 8.0, 10.0)])
    s = bench.score_real(reference, found, shape=(40, 40), n_frames=1, gate_px=2.0)
    assert s.recall == pytest.approx(1.0)
    assert s.false_per_frame == 0.0


def test_without_a_reference_only_counts():
    s = bench.score_real(None, FOUND, shape=(40, 40), n_frames=3)
    assert s.found_per_frame == pytest.approx(2.0)
    assert math.isnan(s.recall) and math.isnan(s.false_per_frame)
    nothing = bench.score_real(REFERENCE, pd.DataFrame(), shape=(40, 40), n_frames=3)
    assert nothing.recall == 0.0 and nothing.found_per_frame == 0.0


def test_border_distance_uses_the_image_area():
    d = border_distance(np.array([0.0, 19.5, 5.0]), np.array([5.0, 10.0, 10.0]), (20, 40))
    np.testing.assert_allclose(d, [0.5, 9.5, 5.5])


def test_truth_replay_scores_perfectly_on_the_lookalikes():
    sources = bench.lookalike_sources(n_frames=2)
    assert [s.name for s in sources] == [
        "compressed spheres",
        "brightfield rings",
        "dark colloids",
        "cluttered spots",
    ]

    def truth(source):
        return lambda frames: source.truth[source.truth["frame"] < len(frames)]

    rows = bench.run_real(sources, {"truth": truth})
    for row in rows:
        assert row.score.recall == pytest.approx(1.0)
        assert row.score.jaccard == pytest.approx(1.0)
        assert row.score.rmse_px == pytest.approx(0.0, abs=1e-12)
        assert row.score.false_per_frame == 0.0
    table = bench.real_markdown(rows)
    assert "| dark colloids, simulated (2 frames, 256×256) | recall (4 px) | 1.000 |" in table
    assert "RMSE, px" in table


def test_a_failing_localizer_is_reported_not_fatal():
    frames = np.zeros((2, 32, 32), dtype=np.uint8)
    source = bench.Source("tiny", "real", frames, USER_PARAMS["deeptrack_example2"], REFERENCE)

    def broken(source):
        def locate(frames):
            raise RuntimeError("boom")

        return locate

    rows = bench.run_real([source], {"broken": broken, "none": lambda s: None})
    assert rows[0].note == "failed: RuntimeError: boom"
    assert rows[1].note == "no parameters"
    table = bench.real_markdown(rows)
    assert "| failed | n/a |" in table
    assert "broken on tiny: failed: RuntimeError: boom" in table


def test_localizer_names_reuse_the_accuracy_bench_parsing():
    names = list(bench.real_localizers(["cnn:spots:int8", "mle", "radial"]))
    assert names == ["defaults", "trackpy", "centroid", "radial", "cnn:spots:int8", "mle"]
    with pytest.raises(InputError, match="unknown localizer"):
        bench.real_localizers(["nonsense"])


def test_realdata_folder_from_option_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVETRACK_REALDATA", str(tmp_path))
    assert bench.find_realdata() == tmp_path
    assert bench.find_realdata(tmp_path / ".") == tmp_path / "."
    with pytest.raises(InputError, match="--data"):
        bench.find_realdata(tmp_path / "absent")
    monkeypatch.setenv("LIVETRACK_REALDATA", str(tmp_path / "absent"))
    with pytest.raises(InputError, match="LIVETRACK_REALDATA"):
        bench.find_realdata()


def _realdata():
    folder = bench.find_realdata()
    if folder is None or not (folder / "deeptrack_example2.mp4").is_file():
        pytest.skip(
            "real videos absent: no ../shared/realdata beside the repository and "
            "LIVETRACK_REALDATA unset"
        )
    return folder


def test_real_suite_runs_on_one_real_video(tmp_path):
    folder = _realdata()
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "bench", "real", "--data", str(folder), "--video", "deeptrack_example2",
            "--frames", "3", "--no-simulated", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| video | metric | defaults | trackpy | centroid | radial |" in result.output
    table = pd.read_csv(out / "real.csv").set_index("localizer")
    assert list(table.index) == ["defaults", "trackpy", "centroid", "radial"]
    assert (table["frames"] == 3).all() and (table["reference_per_frame"] == 1.0).all()
    assert table["note"].isna().all()
    # The reference was made with trackpy and these settings; centroid shares the method.
    for name in ("trackpy", "centroid"):
        assert table.loc[name, "recall"] == 1.0
        assert table.loc[name, "false_per_frame"] == 0.0
        assert table.loc[name, "median_distance_px"] < 1.0
    assert (out / "real.md").read_text().startswith("| video | metric |")
