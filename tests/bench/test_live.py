"""`livetrack bench live` and `livetrack bench speed` run end to end and report what they claim."""

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from livetrack._errors import InputError
from livetrack.bench import SpeedResult, speed_markdown
from livetrack.bench._live import live_markdown, sustained
from livetrack.cli import app


def test_bench_live_reports_throughput_latency_and_soak(tmp_path):
    out = tmp_path / "live.json"
    args = ["bench", "live", "-l", "centroid", "--size", "96", "--rates", "20", "--seconds", "1"]
    soak = ["--soak", "1000", "--soak-rate", "1000", "--no-viewer"]  # tests/viewer: the viewer
    result = CliRunner().invoke(app, [*args, *soak, "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    entry = report["results"]["centroid"]
    assert entry["throughput"]["frames"] == 200
    assert entry["throughput"]["fps"] > 20
    trial = entry["trials"][0]
    assert trial["rate_hz"] == 20 and trial["frames"] >= 15
    assert trial["latency_median_ms"] <= trial["latency_p99_ms"]
    assert entry["soak"]["frames"] == 1000 and len(entry["soak"]["blocks"]) == 1
    table = result.output
    assert "| centroid | " in table and "throughput fps" in table


def test_sustained_needs_zero_drops_and_a_flat_backlog():
    ok = {
        "rate_hz": 30.0,
        "camera_fps": 29.8,
        "dropped": 0,
        "lost_in_buffer": 0,
        "backlog_slope_per_s": 0.1,
        "backlog_at_end_of_acquisition": 1,
    }
    assert sustained(ok)
    assert not sustained({**ok, "dropped": 1})
    assert not sustained({**ok, "backlog_slope_per_s": 3.0})
    assert not sustained({**ok, "camera_fps": 20.0})


def test_live_markdown_gives_ratios_to_the_centroid():
    def entry(name, fps):
        best = {"rate_hz": 30.0, "latency_median_ms": 10.0, "latency_p99_ms": 20.0}
        return {"localizer": name, "throughput": {"fps": fps}, "sustained": best}

    report = {
        "results": {"cnn:spots": entry("cnn:spots", 50.0), "centroid": entry("centroid", 100.0)}
    }
    table = live_markdown(report)
    assert "| cnn:spots | 50.0 | 0.50 | 30 | 10.0 | 20.0 |" in table


def test_speed_markdown_gives_speedup_over_trackpy():
    nan = float("nan")
    rows = [
        SpeedResult("cnn:spots/onnxruntime", 10.0, 12.0, 1.0, 8.0, 1.0, 150.0, 5, 99.0),
        SpeedResult("trackpy.locate(numba)", 25.0, 30.0, nan, nan, nan, 260.0, 5, 100.0),
    ]
    table = speed_markdown(rows)
    assert "| cnn:spots/onnxruntime | 10.0 | 12.0 | 1.0 | 8.0 | 1.0 | 2.50× |" in table
    assert "| trackpy.locate(numba) | 25.0 | 30.0 | – | – | – | 1.00× |" in table
    assert np.isfinite(rows[0].median_ms)


def test_bench_speed_runs_the_cnn_beside_trackpy(tmp_path):
    args = ["bench", "speed", "--frames", "3", "--rounds", "1", "-b", "onnxruntime-int8"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "speed.md").read_text()
    assert "cnn:spots/onnxruntime-int8" in text
    assert "cnn:spots-fast/onnxruntime-int8" in text
    assert "trackpy" in text


def test_speed_rounds_time_every_method_again_and_merge():
    from livetrack.bench import measure_speed

    results = measure_speed(
        model=("spots",),
        backends=("onnxruntime",),
        n_frames=2,
        include_trackpy=False,
        isolate=False,
        refine_modes=(False,),
        rounds=2,
    )
    assert [r.method for r in results] == ["cnn:spots/onnxruntime (fast)"]
    assert results[0].n_frames == 4 and results[0].median_ms > 0


def test_bench_speed_refuses_zero_rounds():
    result = subprocess.run(
        [sys.executable, "-m", "livetrack", "bench", "speed", "--rounds", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "livetrack: error: --rounds must be >= 1, got 0"


def test_live_localizers_come_from_the_registry():
    from livetrack.bench._live import make_localizer
    from livetrack.infer import CNNLocalizer
    from livetrack.localize import CentroidLocalizer

    assert isinstance(make_localizer("centroid"), CentroidLocalizer)
    fast = make_localizer("cnn:spots:int8:fast")
    assert isinstance(fast, CNNLocalizer)
    assert (fast.backend.name, fast.refine) == ("onnxruntime-int8", False)
    with pytest.raises(InputError, match="live tracking has no future frames"):
        make_localizer("cnn:spots:t3")
