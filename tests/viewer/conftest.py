"""Qt runs offscreen here, whatever the machine: no display is needed or used."""

import os

import numpy as np
import pytest

# Before any QApplication exists (pytest-qt creates it lazily, in the first qtbot).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def grab():
    """Return ``grab(canvas) -> (rows, cols, 3) uint8``: what the image view shows now."""

    def _grab(canvas) -> np.ndarray:
        from PyQt6.QtGui import QImage

        canvas.viewport().repaint()
        img = canvas.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        h, w, stride = img.height(), img.width(), img.bytesPerLine()
        buf = np.frombuffer(img.constBits().asstring(h * stride), dtype=np.uint8)
        return buf.reshape(h, stride)[:, : 3 * w].reshape(h, w, 3).copy()

    return _grab


@pytest.fixture
def near_colour():
    """Return ``near(pixels, rgb, tol) -> bool array``: pixels within ``tol`` of a colour."""

    def _near(pixels: np.ndarray, rgb, tol: int = 40) -> np.ndarray:
        return (np.abs(pixels.astype(int) - np.asarray(rgb)) <= tol).all(axis=-1)

    return _near


@pytest.fixture
def keep_widget():
    """Return ``keep(widget) -> widget``: closed and deleted (C++ side, now) after the test.

    Deleting right away, while the test still holds the Python objects, keeps the order
    Qt expects: the garbage collector would otherwise free pyqtgraph items one by one
    later, maybe while their scene still paints (a crash in a later test).
    """
    widgets = []

    def keep(widget):
        widgets.append(widget)
        return widget

    yield keep
    from livetrack.viewer import dispose

    for w in widgets:
        dispose(w)
