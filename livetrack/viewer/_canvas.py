"""The image with its overlays: camera frame, histogram/LUT, markers, tails, target, region.

Coordinates are livetrack's (trackpy's): ``x`` is the column, ``y`` the row, and the
centre of pixel (0, 0) is (0, 0); the image item is shifted by half a pixel so an
overlay drawn at a position sits on the pixel it names.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PyQt6.QtWidgets import QGraphicsRectItem, QWidget

from livetrack.viewer._tails import PALETTE, Tails

__all__ = ["ImageCanvas", "TrackOverlay"]

#: Marker colour of the current positions (a green that no track colour uses).
MARKER_RGB = (80, 255, 120)
#: Colour of the Recenter target and the followed particle.
TARGET_RGB = (255, 225, 40)
#: Colour of the armed region, and of the region when a particle has just crossed it.
REGION_RGB = (0, 220, 255)
REGION_FIRED_RGB = (255, 60, 200)
#: Seconds between updates of the histogram beside the image.
HISTOGRAM_EVERY_S = 0.5


def _cosmetic_pen(rgb: Sequence[int], width: float = 1.0, style: Qt.PenStyle | None = None) -> QPen:
    """Return a pen whose width is in screen pixels, whatever the zoom."""
    pen = QPen(QColor(*rgb))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    if style is not None:
        pen.setStyle(style)
    return pen


class TrackOverlay(pg.GraphicsObject):
    """Every tail (and the uncertainty ellipses) as ONE graphics item.

    One ``QPainterPath`` per palette colour, built from numpy arrays with
    ``pyqtgraph.arrayToQPath``: drawing 1,000 tracks of 100 frames costs ten path
    draws, not a thousand items.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pens = [_cosmetic_pen(rgb, 1.0) for rgb in PALETTE]
        self._paths: list[QPainterPath] = []
        self._ellipses = QPainterPath()
        self._ellipse_pen = _cosmetic_pen((255, 255, 255), 1.0)
        self._bounds = QRectF()

    def set_tails(self, tails: Tails | None) -> None:
        """Draw these tails (None: none)."""
        self._paths = []
        if tails is not None and tails.x.size:
            for group in tails.colour_groups(len(PALETTE)):
                if group.connect.any():
                    self._paths.append(pg.arrayToQPath(group.x, group.y, group.connect))
                else:
                    self._paths.append(QPainterPath())
        self._refresh_bounds()

    def set_ellipses(
        self, x: np.ndarray, y: np.ndarray, rx: np.ndarray | None, ry: np.ndarray | None
    ) -> None:
        """Draw ellipses of radii ``rx``, ``ry`` (px) at ``x``, ``y``; None radii: none."""
        path = QPainterPath()
        if rx is not None and ry is not None:
            ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(rx) & np.isfinite(ry)
            for xi, yi, a, b in zip(x[ok], y[ok], rx[ok], ry[ok], strict=True):
                path.addEllipse(QPointF(float(xi), float(yi)), float(a), float(b))
        self._ellipses = path
        self._refresh_bounds()

    def _refresh_bounds(self) -> None:
        rect = QRectF(self._ellipses.boundingRect())
        for p in self._paths:
            rect = rect.united(p.boundingRect())
        if rect != self._bounds:
            self.prepareGeometryChange()
            self._bounds = rect
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, *args: object) -> None:
        for pen, path in zip(self._pens, self._paths, strict=False):
            painter.setPen(pen)
            painter.drawPath(path)
        if not self._ellipses.isEmpty():
            painter.setPen(self._ellipse_pen)
            painter.drawPath(self._ellipses)


class _ImageBox(pg.ViewBox):
    """A view box where a left drag draws a region (clicks are handled by the canvas).

    Panning stays on the middle button (and on a left drag with Ctrl held); the wheel
    zooms and the right button keeps pyqtgraph's menu and zoom.
    """

    #: x0, y0, x1, y1 (px) and whether the drag has finished.
    dragged = pyqtSignal(float, float, float, float, bool)

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=True)

    def mouseDragEvent(self, ev: object, axis: int | None = None) -> None:
        ctrl = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)  # type: ignore[attr-defined]
        if ev.button() == Qt.MouseButton.LeftButton and not ctrl and axis is None:  # type: ignore[attr-defined]
            ev.accept()  # type: ignore[attr-defined]
            a = self.mapSceneToView(ev.buttonDownScenePos())  # type: ignore[attr-defined]
            b = self.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
            self.dragged.emit(a.x(), a.y(), b.x(), b.y(), bool(ev.isFinish()))  # type: ignore[attr-defined]
            return
        if ev.button() == Qt.MouseButton.LeftButton and ctrl:  # type: ignore[attr-defined]
            ev._button = Qt.MouseButton.MiddleButton  # type: ignore[attr-defined]
        super().mouseDragEvent(ev, axis)


class ImageCanvas(pg.GraphicsLayoutWidget):
    """The camera image with the histogram/LUT beside it and the tracking overlays on it.

    Signals
    -------
    clicked(x, y)
        A left click on the image, in px.
    regionDrawn(x0, y0, x1, y1)
        A rectangle dragged with the left button, in px (x0 <= x1, y0 <= y1).
    levelsEdited()
        The user moved the histogram's level region.
    """

    clicked = pyqtSignal(float, float)
    regionDrawn = pyqtSignal(float, float, float, float)
    levelsEdited = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box = _ImageBox()
        self.addItem(self.box, row=0, col=0)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self.histogram = pg.HistogramLUTItem(image=self.image)
        self.addItem(self.histogram, row=0, col=1)
        # The histogram is recomputed a few times a second, not on every frame: at camera
        # rates it would cost more than drawing the frame.
        self.image.sigImageChanged.disconnect(self.histogram.imageChanged)
        self._histogram_at = -np.inf
        self.tracks = TrackOverlay()
        self.box.addItem(self.tracks)
        self.markers = pg.ScatterPlotItem(
            pxMode=True, symbol="o", size=9, pen=pg.mkPen(MARKER_RGB, width=1.5), brush=None
        )
        self.markers.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks go to the box
        self.box.addItem(self.markers)
        self.target = pg.ScatterPlotItem(pxMode=True, brush=None)
        self.target.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.box.addItem(self.target)
        self.region = QGraphicsRectItem()
        self.region.setPen(_cosmetic_pen(REGION_RGB, 2.0, Qt.PenStyle.DashLine))
        self.region.hide()
        self.box.addItem(self.region)
        self.rubber_band = QGraphicsRectItem()
        self.rubber_band.setPen(_cosmetic_pen(REGION_RGB, 1.0, Qt.PenStyle.DotLine))
        self.rubber_band.hide()
        self.box.addItem(self.rubber_band)
        self.region_label = pg.TextItem(color=REGION_RGB, anchor=(0, 1))
        self.region_label.hide()
        self.box.addItem(self.region_label)
        # Clicks are taken from the scene, after its items: a click on a marker is
        # accepted by the scatter item and would never reach the view box.
        self.scene().sigMouseClicked.connect(self._on_scene_click)
        self.box.dragged.connect(self._on_drag)
        self._shape: tuple[int, int] | None = None
        self._setting_levels = False
        self.histogram.sigLevelChangeFinished.connect(self._on_levels)
        #: Paint events of the view (a displayed frame is painted once).
        self.painted = 0

    # -- image ------------------------------------------------------------------

    def set_image(self, image: np.ndarray, *, levels: tuple[float, float] | None = None) -> None:
        """Show a frame (not copied); ``levels`` sets the display range, None keeps it."""
        self._setting_levels = True
        try:
            if levels is None:
                self.image.setImage(image, autoLevels=False)
            else:
                self.image.setImage(image, autoLevels=False, levels=levels)
            now = time.perf_counter()
            if now - self._histogram_at >= HISTOGRAM_EVERY_S:
                self._histogram_at = now
                self.histogram.imageChanged()
        finally:
            self._setting_levels = False
        shape = image.shape[:2]
        if shape != self._shape:
            self._shape = shape
            # Pixel (0, 0) spans -0.5..0.5: positions are pixel centres.
            self.image.setRect(QRectF(-0.5, -0.5, shape[1], shape[0]))
            self.box.setRange(self.image.boundingRect(), padding=0)

    def _on_levels(self, *_: object) -> None:
        if not self._setting_levels:
            self.levelsEdited.emit()

    # -- overlays ---------------------------------------------------------------

    def set_positions(self, x: np.ndarray, y: np.ndarray) -> None:
        """Mark the current positions (px)."""
        self.markers.setData(x=x, y=y)

    def set_target(
        self, target_px: tuple[float, float] | None, followed_px: tuple[float, float] | None
    ) -> None:
        """Show the Recenter target (a cross) and the particle it follows (a ring)."""
        spots = []
        if target_px is not None:
            spots.append(
                {"pos": target_px, "symbol": "+", "size": 22, "pen": pg.mkPen(TARGET_RGB, width=2)}
            )
        if followed_px is not None:
            spots.append(
                {
                    "pos": followed_px,
                    "symbol": "o",
                    "size": 20,
                    "pen": pg.mkPen(TARGET_RGB, width=2.5),
                }
            )
        self.target.setData(spots)

    def set_region(
        self, rect: tuple[float, float, float, float] | None, text: str = "", *, fired: bool = False
    ) -> None:
        """Show the armed region ``(x0, y0, x1, y1)`` (px) with a caption; None hides it."""
        if rect is None:
            self.region.hide()
            self.region_label.hide()
            return
        x0, y0, x1, y1 = rect
        self.region.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        rgb = REGION_FIRED_RGB if fired else REGION_RGB
        self.region.setPen(_cosmetic_pen(rgb, 2.0, Qt.PenStyle.DashLine))
        self.region.show()
        self.region_label.setColor(rgb)
        self.region_label.setText(text)
        self.region_label.setPos(x0, y0)
        self.region_label.show()

    def _on_scene_click(self, ev: object) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double():  # type: ignore[attr-defined]
            return
        scene_pos = ev.scenePos()  # type: ignore[attr-defined]
        if not self.box.sceneBoundingRect().contains(scene_pos):
            return  # on the histogram
        p = self.box.mapSceneToView(scene_pos)
        self.clicked.emit(p.x(), p.y())

    def _on_drag(self, x0: float, y0: float, x1: float, y1: float, finished: bool) -> None:
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        if finished:
            self.rubber_band.hide()
            self.regionDrawn.emit(x0, y0, x1, y1)
        else:
            self.rubber_band.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            self.rubber_band.show()

    def view_to_widget(self, x: float, y: float) -> QPointF:
        """Map an image position (px) to this widget's coordinates (for tests and tools)."""
        scene = self.box.mapViewToScene(QPointF(x, y))
        return QPointF(self.mapFromScene(scene))

    def paintEvent(self, ev: QPaintEvent) -> None:
        self.painted += 1
        super().paintEvent(ev)
