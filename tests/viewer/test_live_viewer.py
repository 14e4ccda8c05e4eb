"""The live viewer on a simulated stream, checked on the pixels it draws (offscreen Qt)."""

import numpy as np
import pandas as pd
import pytest

_WHY = "the viewer needs PyQt6, pyqtgraph and pytest-qt (pip install 'livetrack[viewer,dev]')"
pytest.importorskip("PyQt6.QtWidgets", reason=_WHY, exc_type=ImportError)
pytest.importorskip("pyqtgraph", reason=_WHY, exc_type=ImportError)
pytest.importorskip("pytestqt", reason=_WHY, exc_type=ImportError)

from PyQt6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PyQt6.QtGui import QMouseEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from livetrack.link import Linker  # noqa: E402
from livetrack.localize import CentroidLocalizer  # noqa: E402
from livetrack.pipeline import FrameResult, Tracker  # noqa: E402
from livetrack.simulate import Dynamics, simulate_movie  # noqa: E402
from livetrack.viewer import PALETTE, LiveViewer, ViewerOptions, describe_localizer  # noqa: E402
from livetrack.viewer._canvas import (  # noqa: E402
    MARKER_RGB,
    REGION_FIRED_RGB,
    REGION_RGB,
    TARGET_RGB,
)


@pytest.fixture(scope="module")
def movie():
    dyn = Dynamics(diffusion_px2=1.0)
    return simulate_movie(
        n_frames=60, shape=(128, 128), n_particles=10, snr=10, seed=3, dynamics=dyn
    )


def _tracker(**kw) -> Tracker:
    return Tracker(CentroidLocalizer(), Linker(search_range_px=6, memory=2), **kw)


def _viewer(qtbot, keep, tracker=None, **kw) -> LiveViewer:
    viewer = keep(LiveViewer(tracker, **kw))
    viewer.resize(1000, 640)
    viewer.show()
    qtbot.waitExposed(viewer)
    return viewer


def _feed(qtbot, viewer, tracker, frames) -> None:
    """Track ``frames`` on the tracker's worker and wait until the viewer has them all."""
    start = viewer.relay.received
    with tracker:
        for frame in frames:
            tracker.submit(frame)
    qtbot.waitUntil(lambda: viewer.relay.received == start + len(frames), timeout=20_000)
    viewer.refresh()


def _screen(viewer, x, y) -> tuple[int, int]:
    p = viewer.canvas.view_to_widget(float(x), float(y))
    return round(p.x()), round(p.y())


def _ring(pixels, centre, r_in, r_out):
    yy, xx = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    d = np.hypot(xx - centre[0], yy - centre[1])
    return pixels[(d >= r_in) & (d <= r_out)]


def test_markers_and_tails_are_drawn_at_the_tracked_positions(
    qtbot, keep_widget, movie, grab, near_colour
):
    tracker = _tracker()
    viewer = _viewer(qtbot, keep_widget, tracker, options=ViewerOptions(tail_frames=20))
    _feed(qtbot, viewer, tracker, movie.frames)
    last = tracker.last_result.positions
    assert viewer.displayed_frames >= 1 and viewer.tails.last_frame == len(movie.frames) - 1
    pixels = grab(viewer.canvas)
    # Every marker: a green ring of 9 screen px around the tracked position.
    hits = [
        near_colour(_ring(pixels, _screen(viewer, x, y), 3.0, 5.5), MARKER_RGB).mean()
        for x, y in zip(last["x"], last["y"], strict=True)
    ]
    assert len(hits) >= 5 and min(hits) > 0.2, hits
    # ... and no such ring where no particle is.
    gx, gy = np.meshgrid(np.arange(8, 121, 4.0), np.arange(8, 121, 4.0))
    far = np.hypot(
        gx.ravel()[:, None] - last["x"].to_numpy(), gy.ravel()[:, None] - last["y"].to_numpy()
    )
    i = int(np.argmax(far.min(axis=1)))
    empty = _ring(pixels, _screen(viewer, gx.ravel()[i], gy.ravel()[i]), 3.0, 5.5)
    assert near_colour(empty, MARKER_RGB).mean() == 0
    # Tails: the older positions of each track lie on a line of that track's colour.
    ids, xs, ys = viewer.tails.ordered()
    now = [np.array(_screen(viewer, x, y)) for x, y in zip(last["x"], last["y"], strict=True)]
    checked = found = 0
    for pid, tx, ty in zip(ids, xs, ys, strict=True):
        for x, y in zip(tx[:-3], ty[:-3], strict=True):
            if not np.isfinite(x):
                continue
            sx, sy = _screen(viewer, x, y)
            if min(np.hypot(*(p - (sx, sy))) for p in now) < 8:
                continue  # under a marker
            patch = pixels[sy - 1 : sy + 2, sx - 1 : sx + 2]
            checked += 1
            found += near_colour(patch, PALETTE[int(pid) % len(PALETTE)], 60).any()
    assert checked >= 50 and found / checked > 0.8, (found, checked)
    stats = tracker.stats()
    assert stats.callback_errors == 0 and stats.slow_callbacks == 0


def _click(qtbot, viewer, x, y) -> None:
    qtbot.mouseClick(
        viewer.canvas.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(*_screen(viewer, x, y))
    )


def _drag(viewer, a, b) -> None:
    """Press at image position ``a``, move in steps, release at ``b`` (left button)."""
    port = viewer.canvas.viewport()
    pa, pb = np.array(_screen(viewer, *a), float), np.array(_screen(viewer, *b), float)
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mods = Qt.KeyboardModifier.NoModifier

    def send(kind, p, button, buttons):
        pt = QPointF(*p)
        ev = QMouseEvent(kind, pt, port.mapToGlobal(pt), button, buttons, mods)
        QApplication.sendEvent(port, ev)

    send(QMouseEvent.Type.MouseButtonPress, pa, left, left)
    for t in np.linspace(0.1, 1.0, 8):
        send(QMouseEvent.Type.MouseMove, pa + t * (pb - pa), none, left)
    send(QMouseEvent.Type.MouseButtonRelease, pb, left, none)


def test_dragging_a_rectangle_arms_a_region_trigger(qtbot, keep_widget, movie, grab, near_colour):
    events = []
    tracker = _tracker()
    viewer = _viewer(qtbot, keep_widget, tracker, region_action=events.append)
    _feed(qtbot, viewer, tracker, movie.frames[:10])
    with qtbot.waitSignal(viewer.regionArmed, timeout=2000) as armed:
        _drag(viewer, (20.0, 30.0), (90.0, 80.0))
    trigger = armed.args[0]
    assert viewer.region_trigger is trigger
    assert viewer.region == pytest.approx((20.0, 30.0, 90.0, 80.0), abs=0.5)
    # The trigger acts on the frames tracked from now on (on the worker).
    tracker2 = _tracker()
    viewer.attach(tracker2)
    _feed(qtbot, viewer, tracker2, movie.frames[10:])
    inside = [
        e for e in events if e.kind == "enter" and 19.5 <= e.x <= 90.5 and 29.5 <= e.y <= 80.5
    ]
    assert trigger.events == len(events) > 0 and len(inside) == sum(
        e.kind == "enter" for e in events
    )
    # The dashed rectangle is drawn where it was dragged.
    pixels = grab(viewer.canvas)
    x0, y0 = _screen(viewer, *viewer.region[:2])
    x1, y1 = _screen(viewer, *viewer.region[2:])
    edge = np.concatenate(
        [
            pixels[y0 - 1 : y0 + 2, x0:x1].reshape(-1, 3),
            pixels[y0:y1, x1 - 1 : x1 + 2].reshape(-1, 3),
        ]
    )
    # Cyan when armed, magenta for half a second after a particle crossed it.
    drawn = near_colour(edge, REGION_RGB, 60) | near_colour(edge, REGION_FIRED_RGB, 60)
    assert drawn.mean() > 0.3
    viewer.clear_region()
    assert viewer.region_trigger is None


def test_pausing_freezes_the_display_not_tracking(qtbot, keep_widget, movie):
    tracker = _tracker()
    viewer = _viewer(qtbot, keep_widget, tracker)
    _feed(qtbot, viewer, tracker, movie.frames[:10])
    shown = viewer.displayed_frames
    viewer.set_paused(True)
    tracker2 = _tracker()
    viewer.attach(tracker2)
    _feed(qtbot, viewer, tracker2, movie.frames[10:30])
    assert viewer.displayed_frames == shown
    assert tracker2.stats().processed == 20 and viewer.tails.last_frame == 19
    viewer.set_paused(False)
    assert viewer.displayed_frames == shown + 1


def test_a_slow_display_skips_frames_but_keeps_every_position(qtbot, keep_widget, movie):
    tracker = _tracker()
    viewer = _viewer(
        qtbot, keep_widget, tracker, options=ViewerOptions(max_display_fps=4, tail_frames=60)
    )
    _feed(qtbot, viewer, tracker, movie.frames)
    assert viewer.displayed_frames < len(movie.frames) / 2
    _, xs, _ = viewer.tails.ordered()
    assert viewer.tails.last_frame == len(movie.frames) - 1
    # The window spans the whole run: every detection is in a tail and counted in a length.
    assert int(np.isfinite(xs).sum()) == int(viewer.lengths.lengths().sum()) > 0


def _result(frame, x, y, sigma):
    df = pd.DataFrame(
        {
            "frame": frame,
            "x": x,
            "y": y,
            "particle": np.arange(len(x)),
            "sigma_x": sigma[0],
            "sigma_y": sigma[1],
        }
    )
    image = np.zeros((64, 64), np.uint16)  # black, where a white ellipse stands out
    return FrameResult(frame, 0.0, df, 0.0, 0.0, image=image)


def test_uncertainty_ellipses_come_from_the_sigmas(qtbot, keep_widget, grab, near_colour):
    options = ViewerOptions(show_ellipses=True, ellipse_sigmas=3.0)
    viewer = _viewer(qtbot, keep_widget, options=options)
    viewer.relay(_result(0, [20.0, 44.0], [32.0, 32.0], (2.0, 1.0)))
    viewer.refresh()
    pixels = grab(viewer.canvas)
    scale = viewer.canvas.view_to_widget(1, 0).x() - viewer.canvas.view_to_widget(0, 0).x()
    cx, cy = _screen(viewer, 20.0, 32.0)
    white = (255, 255, 255)
    # 3 sigma: 6 px across x, 3 px along y.
    rx, ry = round(6 * scale), round(3 * scale)
    assert near_colour(pixels[cy - 1 : cy + 2, cx + rx - 1 : cx + rx + 2], white, 60).any()
    assert near_colour(pixels[cy + ry - 1 : cy + ry + 2, cx - 1 : cx + 2], white, 60).any()
    assert not near_colour(pixels[cy - 1 : cy + 2, cx + rx + 4 : cx + rx + 7], white, 60).any()


def test_status_names_the_localizer_and_counts(qtbot, keep_widget, movie):
    tracker = _tracker()
    viewer = _viewer(qtbot, keep_widget, tracker)
    _feed(qtbot, viewer, tracker, movie.frames[:5])
    viewer.update_status()
    text = viewer.status_label.text()
    for part in ("camera", "tracked", "backlog 0", "dropped 0", "latency", "p99", "particles"):
        assert part in text
    assert "CentroidLocalizer on numpy (CPU)" in text
    assert describe_localizer(CentroidLocalizer()) == "CentroidLocalizer on numpy (CPU)"


def test_status_note_stays_whole_at_the_right(qtbot, keep_widget, movie):
    # The demo's note (the inference path it chose) sits beside the statistics, which
    # wrap onto a second line where the window is narrow; the window does not widen.
    tracker = _tracker()
    note = "spots-fast int8 fast path (measured: accurate too slow)"
    viewer = _viewer(qtbot, keep_widget, tracker, status_note=note)  # 1000 px wide
    _feed(qtbot, viewer, tracker, movie.frames[:3])
    viewer.update_status()
    qtbot.wait(50)
    assert viewer.note_label.isVisible() and viewer.note_label.text() == f"·  {note}"
    assert "CentroidLocalizer on numpy (CPU)" in viewer.status_label.text()
    assert viewer.width() == 1000
    viewer.status_note = None
    viewer.update_status()
    assert not viewer.note_label.isVisible()


def test_clicking_a_particle_makes_it_the_recenter_target(qtbot, keep_widget, grab, near_colour):
    import threading

    from livetrack.acquire import run_continuous, simulated_core
    from livetrack.feedback import Recenter
    from livetrack.pipeline import TrackerOptions

    core = simulated_core(
        shape=(128, 128), n_particles=20, exposure_ms=20, seed=2, diffusion_um2_per_frame=0.001
    )
    options = TrackerOptions(pixel_size_um=core.getPixelSizeUm())
    # The stage moves a quarter of the offset per frame: the whole field jumps by up to ~11 px,
    # which the linker (it knows nothing of stage moves) must bridge to keep the clicked id.
    tracker = Tracker(CentroidLocalizer(), Linker(search_range_px=16, memory=3), options=options)
    recenter = Recenter(core, gain=0.25, lost_after_frames=20)
    viewer = _viewer(qtbot, keep_widget, tracker, recenter=recenter)
    stop = threading.Event()
    acquisition = threading.Thread(
        target=run_continuous, args=(core, tracker), kwargs={"stop_event": stop}, daemon=True
    )
    acquisition.start()
    try:
        qtbot.waitUntil(lambda: viewer.displayed_frames >= 10, timeout=20_000)
        # The field drifts while it is shown (on a busy machine, by the time the tenth frame
        # is drawn): wait for a frame with an isolated particle to click, a few at most.
        for _ in range(10):
            viewer.set_paused(True)  # click on what is on screen, while tracking goes on
            shown = viewer.shown
            x, y, ids = shown["x"], shown["y"], shown["particle"]
            tx, ty = recenter.target_px
            apart = np.hypot(x[:, None] - x, y[:, None] - y) + 1e9 * np.eye(x.size)
            off = np.hypot(x - tx, y - ty)
            ok = (off > 8) & (off < 45) & (apart.min(axis=1) > 12) & (ids != recenter.particle)
            ok &= (x > 10) & (x < 118) & (y > 10) & (y < 118)
            if ok.any():
                break
            viewer.set_paused(False)
            seen = viewer.displayed_frames
            qtbot.waitUntil(lambda seen=seen: viewer.displayed_frames >= seen + 5, timeout=20_000)
        assert ok.any(), f"no isolated particle to click among {len(x)}"
        i = int(np.argmax(np.where(ok, apart.min(axis=1), -1)))  # the most isolated
        with qtbot.waitSignal(viewer.targetChanged, timeout=2000) as changed:
            _click(qtbot, viewer, x[i], y[i])
        assert changed.args == [int(ids[i])]
        assert recenter.particle == viewer.target_particle == int(ids[i])
        viewer.set_paused(False)
        # The closed loop brings the clicked particle to the target.
        qtbot.waitUntil(
            lambda: recenter.history and np.hypot(*recenter.history[-1][1:]) < 1.5,
            timeout=20_000,
        )
        assert recenter.particle == int(ids[i])
    finally:
        stop.set()
        acquisition.join()
    viewer.refresh()
    pixels = grab(viewer.canvas)
    pos = viewer.shown
    j = int(np.flatnonzero(pos["particle"] == recenter.particle)[0])
    ring = _ring(pixels, _screen(viewer, pos["x"][j], pos["y"][j]), 8.0, 12.0)
    assert near_colour(ring, TARGET_RGB, 60).mean() > 0.35  # the followed particle's ring
    cx, cy = _screen(viewer, tx, ty)
    arm = pixels[cy - 3 : cy + 4, cx + 5 : cx + 8]  # the cross's right arm (an outline)
    assert near_colour(arm, TARGET_RGB, 60).any()


def test_the_display_slows_down_while_the_tracker_is_behind(qtbot, keep_widget):
    import threading
    import time

    options = ViewerOptions(max_display_fps=30, min_display_fps=4, behind_ms=40)
    viewer = _viewer(qtbot, keep_widget, options=options)
    image = np.zeros((64, 64), np.uint16)
    df = pd.DataFrame({"frame": 0, "x": [10.0], "y": [10.0], "particle": [0]})

    def feed(queued_s: float, n: int) -> None:
        for frame in range(n):  # as the worker would, 50 frames a second
            viewer.relay(FrameResult(frame, 0.0, df, queued_s + 0.01, 0.01, image=image))
            time.sleep(0.02)

    def displayed_while(queued_s: float) -> int:
        start = viewer.displayed_frames
        worker = threading.Thread(target=feed, args=(queued_s, 50))
        worker.start()
        qtbot.waitUntil(lambda: not worker.is_alive(), timeout=10_000)
        worker.join()
        return viewer.displayed_frames - start

    behind = displayed_while(0.5)  # each frame waited 500 ms in the queue
    keeping_up = displayed_while(0.0)
    assert behind <= 8 < 15 <= keeping_up, (behind, keeping_up)
    assert viewer.backed_off > 0
