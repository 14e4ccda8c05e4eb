"""The window of ``livetrack demo``: the live viewer on the GUI thread, acquisition beside it.

Qt must own the main thread, so the continuous acquisition runs on its own thread and
the tracker on its worker, as without a window; the viewer only reads what the
tracker's callbacks relay.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from livetrack._errors import InputError
from livetrack.viewer import viewer_unavailable

__all__ = ["check_screenshot_path", "run_with_window", "viewer_unavailable"]


def run_with_window(
    core: Any,
    tracker: Any,
    *,
    n_frames: int,
    stop_event: threading.Event,
    recenter: Any = None,
    screenshot: Path | None = None,
    title: str = "livetrack",
    status_note: str | None = None,
) -> tuple[Any, bool]:
    """Acquire ``n_frames`` into ``tracker`` while a :class:`~livetrack.viewer.LiveViewer` shows it.

    Parameters
    ----------
    core, tracker
        As for :func:`livetrack.acquire.run_continuous`.
    n_frames
        Frames to acquire.
    stop_event
        Set to stop early; it is set when the window is closed or on Ctrl+C.
    recenter
        The demo's ``Recenter`` callback: clicking a particle makes it its target.
    screenshot
        Save the window here as PNG when the acquisition ends.
    title
        Window title.
    status_note
        Shown at the end of the viewer's status bar (the demo: the inference path chosen).

    Returns
    -------
    run : ContinuousRun or None
        The acquisition's outcome (None if it was interrupted before returning).
    interrupted : bool
        Whether Ctrl+C stopped it.
    """
    from PyQt6.QtCore import QEventLoop, QTimer

    from livetrack.acquire import run_continuous
    from livetrack.viewer import LiveViewer, dispose, ensure_app

    app = ensure_app()
    offscreen = app.platformName() == "offscreen"
    interval_s = float(core.getExposure()) / 1e3
    viewer = LiveViewer(
        tracker, recenter=recenter, frame_interval_s=interval_s, status_note=status_note
    )
    viewer.setWindowTitle(title)
    viewer.resize(1400, 820)
    viewer.show()
    outcome: dict[str, Any] = {}

    def acquire() -> None:
        try:
            outcome["run"] = run_continuous(core, tracker, n_frames=n_frames, stop_event=stop_event)
        except BaseException as exc:  # re-raised on the main thread below
            outcome["error"] = exc

    thread = threading.Thread(target=acquire, name="livetrack-acquisition", daemon=True)
    state = {"interrupted": False, "finished": False}

    def finish() -> None:
        if thread.is_alive() or state["finished"]:
            return
        state["finished"] = True
        poll.stop()
        viewer.refresh()
        if screenshot is not None:
            viewer.save_png(screenshot)
        if offscreen or state["interrupted"] or stop_event.is_set():
            loop.quit()
        else:
            viewer.setWindowTitle(f"{title} (finished: close the window to exit)")
            print("\nacquisition finished; close the window to exit", flush=True)

    def on_sigint(*_: object) -> None:
        state["interrupted"] = True
        stop_event.set()
        if state["finished"]:
            loop.quit()

    # A loop of our own, not app.exec(): quitting it leaves the application (maybe
    # someone else's) as it was.
    loop = QEventLoop()
    poll = QTimer()
    # Also wakes Python regularly, so Ctrl+C is handled while Qt's loop runs.
    poll.timeout.connect(finish)
    poll.start(100)
    viewer.closed.connect(stop_event.set)
    viewer.closed.connect(loop.quit)
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        thread.start()
        loop.exec()
        stop_event.set()
        thread.join()
        if not state["finished"] and screenshot is not None:
            viewer.save_png(screenshot)  # the window closed before the end: save what it shows
    finally:
        signal.signal(signal.SIGINT, previous)
        poll.stop()
        viewer.detach()
        dispose(viewer)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("run"), state["interrupted"]


def check_screenshot_path(path: Path | None) -> None:
    """Refuse a screenshot path that is not a PNG file, before the microscope starts."""
    if path is not None and path.suffix.lower() != ".png":
        raise InputError(f"--screenshot must name a .png file, got {path}")
