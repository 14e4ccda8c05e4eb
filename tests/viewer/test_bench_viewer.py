"""`livetrack bench live`'s viewer part runs end to end and reports what it measured."""

import json

import pytest

_WHY = "the viewer needs PyQt6 and pyqtgraph (pip install 'livetrack[viewer]')"
pytest.importorskip("PyQt6.QtWidgets", reason=_WHY, exc_type=ImportError)
pytest.importorskip("pyqtgraph", reason=_WHY, exc_type=ImportError)

from typer.testing import CliRunner  # noqa: E402

from livetrack.bench._live import display_rate, kept_up, viewer_markdown  # noqa: E402
from livetrack.cli import app  # noqa: E402


def test_display_rate_counts_frames_drawn_with_many_tracks():
    found = display_rate(n_tracks=200, tail_frames=20, size=128, camera_hz=50, seconds=0.6)
    assert found["frames_fed"] >= 10
    assert 0 < found["display_fps"] <= 60
    assert found["painted_fps"] > 0


def test_bench_live_reports_the_viewer(tmp_path):
    out = tmp_path / "live.json"
    args = ["bench", "live", "-l", "centroid", "--size", "64", "--rates", "20", "--seconds", "0.5"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    entry = json.loads(out.read_text())["viewer"]
    cost = entry["cost"]
    assert set(cost["fps"]) == {"none", "relay", "window"} and cost["fps"]["none"] > 0
    assert [t["config"] for t in cost["trials"]][:3] == ["none", "relay", "window"]
    window = [t for t in cost["trials"] if t["config"] == "window"]
    assert all(t["displayed_frames"] > 0 for t in window)
    assert entry["display"]["n_tracks"] == 1000 and entry["display"]["tail_frames"] == 100
    assert "Live viewer: `centroid` on 64x64" in result.output
    assert "| viewer window drawing (offscreen Qt) |" in result.output
    # Tiny frames at hundreds of Hz: the simulated camera may not hold any rate tried.
    verdicts = ("Target ≤ 10 % cost", "No camera rate tried was sustained")
    assert any(v in result.output for v in verdicts) and "target ≥ 20 fps:" in result.output
    assert viewer_markdown(entry) in result.output


def test_kept_up_ignores_a_slow_camera_but_not_a_growing_backlog():
    ok = {
        "rate_hz": 30.0,
        "camera_fps": 25.0,
        "dropped": 0,
        "lost_in_buffer": 0,
        "backlog_slope_per_s": 0.1,
        "backlog_at_end_of_acquisition": 1,
    }
    assert kept_up(ok)
    assert not kept_up({**ok, "backlog_slope_per_s": 2.0})
    assert not kept_up({**ok, "dropped": 1})
