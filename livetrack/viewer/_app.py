"""The Qt application: whether a display is there, and one application per process."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["display_available", "dispose", "ensure_app", "save_widget_png", "viewer_unavailable"]


#: The application ensure_app created.
_KEEP: list[Any] = []


def display_available() -> bool:
    """Whether Qt can open windows here: a display, or a platform chosen in ``QT_QPA_PLATFORM``.

    On Linux and the BSDs that means ``DISPLAY`` or ``WAYLAND_DISPLAY``; macOS and
    Windows always have one. Imports no Qt.
    """
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def viewer_unavailable() -> str | None:
    """Return why the viewer cannot run here (one line), or None if it can.

    Tries the imports: PyQt6 or pyqtgraph may be missing (the ``viewer`` extra), or Qt's
    own system libraries (libEGL, libxkbcommon, ...) on a bare server.
    """
    try:
        import pyqtgraph  # noqa: F401
        from PyQt6 import QtWidgets  # noqa: F401
    except ImportError as exc:
        return f"{exc} (pip install 'livetrack[viewer]')"
    return None


def ensure_app() -> Any:
    """Return the process's ``QApplication``, creating it if there is none.

    Without a display (and no ``QT_QPA_PLATFORM``) it is created on Qt's ``offscreen``
    platform, so widgets still render, to PNG files and in benchmarks, instead of
    aborting the process as Qt does when it cannot reach a display.
    """
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        if not display_available():
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        app = QApplication(sys.argv[:1] or ["livetrack"])
        app.setApplicationName("livetrack")
        if app.platformName() == "offscreen":
            _quiet_offscreen()
        # PyQt deletes an application nobody references: keep it for the process.
        _KEEP.append(app)
    return app


def _quiet_offscreen() -> None:
    """Drop the offscreen platform's note that it cannot resize windows to their hints.

    Printed on every window shown; it says nothing about livetrack. Other Qt messages
    still go to Qt's default handler.
    """
    from PyQt6.QtCore import qInstallMessageHandler

    previous = None

    def handler(kind: Any, context: Any, message: str | None) -> None:
        if message and "propagateSizeHints" in message:
            return
        if previous is not None:
            previous(kind, context, message)
        else:
            sys.stderr.write(f"{message}\n")

    previous = qInstallMessageHandler(handler)


def save_widget_png(widget: Any, path: str | os.PathLike[str]) -> Path:
    """Render ``widget`` (shown or not) into a PNG file and return its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(out)):
        raise OSError(f"could not write {out}")
    return out


def dispose(widget: Any) -> None:
    """Close ``widget`` and delete it (its C++ side) now, not when Python collects it.

    The garbage collector frees pyqtgraph's items one by one, in no set order; an item
    freed while its scene is still alive and painting crashes the process. Deleting the
    widget first takes its scene and items with it in the order Qt expects.
    """
    from PyQt6 import sip

    if not sip.isdeleted(widget):
        widget.close()
        sip.delete(widget)
