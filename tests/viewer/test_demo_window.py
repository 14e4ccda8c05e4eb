"""`livetrack demo` with its window (offscreen Qt), and headless where there is no display."""

import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from livetrack.cli._demo import register

SMALL = ["--size", "64", "--particles", "20", "--exposure-ms", "5", "--localizer", "centroid"]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def _qt():
    why = "the viewer needs PyQt6 and pyqtgraph (pip install 'livetrack[viewer]')"
    pytest.importorskip("PyQt6.QtWidgets", reason=why, exc_type=ImportError)
    pytest.importorskip("pyqtgraph", reason=why, exc_type=ImportError)


def test_demo_window_tracks_recenters_and_saves_a_screenshot(tmp_path):
    _qt()
    from PyQt6.QtGui import QImage

    shot = tmp_path / "demo.png"
    args = ["demo", "--frames", "40", "--out", str(tmp_path / "run"), "--recenter", *SMALL]
    result = CliRunner().invoke(_app(), [*args, "--screenshot", str(shot)])
    assert result.exit_code == 0, result.output
    assert "frames 40 tracked of 40 acquired (0 dropped, 0 failed)" in result.output
    assert "follow particle" in result.output and f"screenshot saved to {shot}" in result.output
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 500


def test_no_display_means_headless(tmp_path, monkeypatch):
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    if sys.platform not in ("linux",):
        pytest.skip("macOS and Windows always have a display")
    args = ["demo", "--frames", "5", "--out", str(tmp_path), *SMALL]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "no display: running headless" in result.output
    assert "frames 5 tracked of 5 acquired" in result.output


def test_screenshot_needs_the_window(tmp_path):
    args = ["demo", "--headless", "--screenshot", str(tmp_path / "x.png"), *SMALL]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code != 0
    assert "drop --headless" in str(result.exception)
    result = CliRunner().invoke(_app(), ["demo", "--screenshot", str(tmp_path / "x.jpg"), *SMALL])
    assert "must name a .png file" in str(result.exception)


CODE = """
import sys
sys.modules["PyQt6"] = None  # as if the viewer extra were not installed
from livetrack.cli import main
main(sys.argv[1:])
"""


def test_without_the_viewer_extra_the_demo_runs_headless(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    args = ["demo", "--frames", "5", "--out", str(tmp_path), *SMALL]
    out = subprocess.run(
        [sys.executable, "-c", CODE, *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "the live viewer cannot start" in out.stdout and "livetrack[viewer]" in out.stdout
    assert "frames 5 tracked of 5 acquired" in out.stdout
