"""``livetrack demo`` times its inference paths at start and keeps up with its camera."""

import pytest
import typer
from typer.testing import CliRunner

from livetrack._errors import InputError
from livetrack.cli._demo import register
from livetrack.cli._demo_adapt import PathTiming, choose_plan, path_options
from livetrack.record import read_tracks

LABELS = ["accurate", "int8", "spots-fast", "int8 fast", "spots-fast int8 fast"]


def _fake(ms: dict[str, float | None]):
    """Return ``measure(i)`` from fake times, and the list of the paths it was asked for."""
    asked: list[str] = []

    def measure(i: int) -> PathTiming | None:
        label = LABELS[i]
        asked.append(label)
        t = ms[label]
        return None if t is None else PathTiming(label, t, setup_ms=200.0)

    return measure, asked


def test_keeps_the_accurate_path_when_it_keeps_up_and_times_nothing_else():
    measure, asked = _fake(dict.fromkeys(LABELS, 20.0))
    plan = choose_plan(len(LABELS), measure, 25.0, overhead_ms=7.0)  # 1.2 x 27 <= 40
    assert asked == ["accurate"]
    assert (plan.chosen, plan.label, plan.rate_hz, plan.rate_lowered) == (0, "accurate", 25, False)
    assert plan.line() == (
        "demo: 25 fps needs 1.2 x (path + 7.0 ms camera simulation) <= 40.0 ms a frame; "
        "accurate 20.0 ms/frame (first frame 200 ms): yes -> accurate path at 25 fps"
    )
    assert plan.status() == "accurate path (measured: keeps up)"


def test_takes_the_most_accurate_path_that_keeps_up():
    ms = {"accurate": 31.0, "int8": 30.0, "spots-fast": 12.0, "int8 fast": 10.0}
    measure, asked = _fake({**ms, "spots-fast int8 fast": 6.0})
    plan = choose_plan(len(LABELS), measure, 25.0, overhead_ms=7.0)
    assert asked == ["accurate", "int8", "spots-fast"]  # the faster ones are not needed
    assert (plan.label, plan.rate_hz) == ("spots-fast", 25.0)
    line = plan.line()
    assert "accurate 31.0 ms/frame (first frame 200 ms): no; int8 30.0 ms/frame" in line
    assert line.endswith(
        "spots-fast 12.0 ms/frame (first frame 200 ms): yes -> spots-fast path at 25 fps"
    )
    assert plan.status() == "spots-fast path (measured: accurate too slow)"


def test_lowers_the_rate_to_what_the_fastest_path_sustains():
    # Nothing fits 10 ms a frame; the fastest is not the last offered here.
    ms = {"accurate": 40.0, "int8": 30.0, "spots-fast": 9.0, "int8 fast": 11.0}
    measure, asked = _fake({**ms, "spots-fast int8 fast": None})  # does not apply
    plan = choose_plan(len(LABELS), measure, 100.0, overhead_ms=1.0)
    assert asked == LABELS
    assert plan.label == "spots-fast" and plan.rate_lowered
    # 1.2 x (9 + 1) = 12 ms a frame: 83.3 fps, and the chosen path keeps up with it.
    assert plan.exposure_ms == 12.0 and plan.rate_hz == pytest.approx(1000 / 12)
    assert plan.keeps_up(plan.timings[2], plan.rate_hz)
    assert not plan.keeps_up(plan.timings[2])
    assert plan.line().endswith(
        "-> none keeps up: camera lowered to 83.3 fps (exposure 12 ms) with spots-fast"
    )
    assert "spots-fast int8 fast" not in plan.line()  # not measured, not listed
    assert plan.status() == "spots-fast path, camera lowered to 83.3 fps (measured)"


def test_the_window_takes_its_share_of_each_frame():
    measure, _ = _fake(dict.fromkeys(LABELS, 26.0))
    alone = choose_plan(1, measure, 25.0, overhead_ms=7.0)  # 39.6 <= 40
    beside = choose_plan(1, measure, 25.0, overhead_ms=7.0, share=0.9)  # 39.6 > 36
    assert not alone.rate_lowered and beside.rate_lowered
    assert beside.exposure_ms == 44.0 and "(10 % left to the window)" in beside.line()


def test_refuses_nonsense():
    measure, _ = _fake(dict.fromkeys(LABELS, None))
    with pytest.raises(InputError, match="could be measured"):
        choose_plan(2, measure, 25.0)
    with pytest.raises(InputError):
        choose_plan(0, measure, 25.0)


def test_path_ladders():
    auto = path_options("auto", "auto")
    assert [o.label for o in auto] == LABELS
    assert [(o.name, o.model) for o in auto][::2] == [
        ("auto", None),
        ("auto", "spots-fast"),
        ("auto:int8:fast", "spots-fast"),
    ]
    named = path_options("cnn", "spots-c5")
    assert [(o.label, o.name, o.model) for o in named] == [
        ("accurate", "cnn", "spots-c5"),
        ("spots-c5 int8", "cnn:int8", "spots-c5"),
        ("spots-c5 int8 fast", "cnn:int8:fast", "spots-c5"),
    ]
    assert [o.name for o in path_options("cnn:spots:int8:fast", "auto")] == ["cnn:spots:int8:fast"]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


SMALL = ["--size", "64", "--particles", "20", "--localizer", "centroid", "--headless"]


def test_the_demo_prints_what_it_measured_and_chose(tmp_path):
    out = tmp_path / "run"
    args = ["demo", "--frames", "20", "--exposure-ms", "20", "--out", str(out), *SMALL]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "demo: 50 fps needs 1.2 x (path + " in result.output
    assert "-> centroid path at 50 fps" in result.output
    assert "frames 20 tracked of 20 acquired (0 dropped, 0 failed)" in result.output
    settings = read_tracks(out).attrs["header"]["settings"]
    assert (
        settings["path"] == "centroid path (measured: keeps up)" and settings["exposure_ms"] == 20.0
    )


def test_the_demo_lowers_a_rate_nothing_keeps_up_with(tmp_path):
    out = tmp_path / "run"
    # 10,000 fps: not even the centroid on 64 x 64 frames keeps up.
    args = ["demo", "--frames", "20", "--exposure-ms", "0.1", "--out", str(out), *SMALL]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "none keeps up: camera lowered to" in result.output
    assert "frames 20 tracked of 20 acquired (0 dropped, 0 failed)" in result.output
    settings = read_tracks(out).attrs["header"]["settings"]
    assert settings["exposure_ms"] >= 1.0 and settings["requested_exposure_ms"] == 0.1


def test_no_adapt_runs_as_given(tmp_path):
    out = tmp_path / "run"
    args = ["demo", "--frames", "5", "--exposure-ms", "0.5", "--out", str(out), "--no-adapt"]
    result = CliRunner().invoke(_app(), [*args, *SMALL])
    assert result.exit_code == 0, result.output
    assert "needs 1.2 x" not in result.output and "at 2000 fps" in result.output
    assert read_tracks(out).attrs["header"]["settings"]["path"] == "as given (--no-adapt)"
