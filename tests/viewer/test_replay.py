"""`livetrack view` and the ReplayViewer: a recorded movie with its tracks (offscreen Qt)."""

import numpy as np
import pytest

_WHY = "the viewer needs PyQt6, pyqtgraph and pytest-qt (pip install 'livetrack[viewer,dev]')"
pytest.importorskip("PyQt6.QtWidgets", reason=_WHY, exc_type=ImportError)
pytest.importorskip("pyqtgraph", reason=_WHY, exc_type=ImportError)
pytest.importorskip("pytestqt", reason=_WHY, exc_type=ImportError)

import tifffile  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import livetrack  # noqa: E402
from livetrack.cli import app  # noqa: E402
from livetrack.simulate import Dynamics, simulate_movie  # noqa: E402
from livetrack.viewer import PALETTE, ReplayViewer  # noqa: E402
from livetrack.viewer._canvas import MARKER_RGB  # noqa: E402


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    dyn = Dynamics(diffusion_px2=1.0)
    movie = simulate_movie(n_frames=30, shape=(96, 96), n_particles=8, snr=10, seed=5, dynamics=dyn)
    tracks = livetrack.track(movie.frames, method="centroid", search_range_px=6)
    folder = tmp_path_factory.mktemp("recorded")
    tifffile.imwrite(folder / "movie.tif", movie.frames)
    tracks.to_csv(folder / "tracks.csv", index=False)
    return movie.frames, tracks, folder


def _screen(canvas, x, y):
    p = canvas.view_to_widget(float(x), float(y))
    return round(p.x()), round(p.y())


def test_replay_draws_the_frame_chosen_on_the_slider(
    qtbot, keep_widget, recorded, grab, near_colour
):
    frames, tracks, _ = recorded
    viewer = keep_widget(ReplayViewer(frames, tracks, tail_frames=10))
    viewer.resize(900, 600)
    viewer.show()
    qtbot.waitExposed(viewer)
    viewer.slider.setValue(20)
    assert viewer.frame == 20
    pixels = grab(viewer.canvas)
    now = tracks[tracks["frame"] == 20]
    yy, xx = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    for x, y in zip(now["x"], now["y"], strict=True):
        sx, sy = _screen(viewer.canvas, x, y)
        ring = pixels[(np.hypot(xx - sx, yy - sy) >= 3) & (np.hypot(xx - sx, yy - sy) <= 5.5)]
        assert near_colour(ring, MARKER_RGB).mean() > 0.2
    # A track's position 5 frames back is on its tail, in its colour.
    before = tracks[(tracks["frame"] == 15) & tracks["particle"].isin(now["particle"])]
    hits = []
    for x, y, pid in zip(before["x"], before["y"], before["particle"], strict=True):
        sx, sy = _screen(viewer.canvas, x, y)
        patch = pixels[sy - 1 : sy + 2, sx - 1 : sx + 2]
        hits.append(near_colour(patch, PALETTE[int(pid) % len(PALETTE)], 60).any())
    assert len(hits) >= 4 and np.mean(hits) >= 0.75, hits
    assert viewer.panel.fit is not None  # MSD of the tails, fitted


def test_view_command_saves_a_screenshot(recorded, tmp_path):
    _, _, folder = recorded
    out = tmp_path / "view.png"
    args = ["view", str(folder / "movie.tif"), str(folder / "tracks.csv"), "--frame", "12"]
    result = CliRunner().invoke(app, [*args, "--screenshot", str(out)])
    assert result.exit_code == 0, result.output
    assert "screenshot of frame 12 saved" in result.output
    from PyQt6.QtGui import QImage

    image = QImage(str(out))
    assert image.width() >= 800 and image.height() >= 500


def test_view_refuses_tracks_without_positions(recorded, tmp_path):
    _, _, folder = recorded
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(app, ["view", str(folder / "movie.tif"), str(bad)])
    assert result.exit_code != 0
    assert "no frame, x, y column" in str(result.exception)
