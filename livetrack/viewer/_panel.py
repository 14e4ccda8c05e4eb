"""The live analysis panel: MSD of the current tracks with the fitted D, and track lengths."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from livetrack.viewer._tails import DiffusionFit, TailBuffer, fit_diffusion, msd

__all__ = ["AnalysisPanel"]


class AnalysisPanel(QWidget):
    """Mean-squared displacement against lag, with ``D`` fitted, and the track-length histogram.

    Parameters
    ----------
    pixel_size_um : float, optional
        Camera pixel size; with ``frame_interval_s`` the MSD is in µm² against seconds and
        ``D`` in µm²/s, otherwise in px² against frames and px²/frame.
    frame_interval_s : float, optional
        Time between frames.
    max_lag : int
        Largest lag plotted, in frames (at most the tail length minus one).
    max_fit_lag : int
        Largest lag used to fit ``D``.
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(
        self,
        pixel_size_um: float | None = None,
        frame_interval_s: float | None = None,
        *,
        max_lag: int = 20,
        max_fit_lag: int = 8,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.pixel_size_um = pixel_size_um
        self.frame_interval_s = frame_interval_s
        self.max_lag = max_lag
        self.max_fit_lag = max_fit_lag
        self.fit: DiffusionFit | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.msd_plot = pg.PlotWidget()
        self.msd_plot.showGrid(x=True, y=True, alpha=0.3)
        self.msd_plot.setToolTip(
            "Mean-squared displacement over every pair of frames in the tails, after "
            "subtracting the mean displacement of all tracks per frame (stage moves, "
            "drift); the line is MSD = 4 D lag + offset fitted to the first lags."
        )
        for side in ("left", "bottom"):
            # Units are in the labels: SI prefixes on µm² and s only confuse.
            self.msd_plot.getAxis(side).enableAutoSIPrefix(False)
        self.msd_points = self.msd_plot.plot(
            [], [], pen=None, symbol="o", symbolSize=6, symbolBrush=(120, 200, 255)
        )
        self.msd_fit = self.msd_plot.plot([], [], pen=pg.mkPen((255, 200, 60), width=2))
        self.length_plot = pg.PlotWidget()
        self.length_plot.setLabel("bottom", "track length (frames)")
        self.length_plot.setLabel("left", "tracks")
        self.length_curve = self.length_plot.plot(
            [0, 1], [0], stepMode="center", fillLevel=0, brush=(120, 200, 255, 120)
        )
        layout.addWidget(self.msd_plot, 3)
        layout.addWidget(self.length_plot, 2)
        self._label_axes()

    def set_units(self, pixel_size_um: float | None, frame_interval_s: float | None) -> None:
        """Set the pixel size and frame interval (None: unknown, px and frames are used)."""
        self.pixel_size_um = pixel_size_um
        self.frame_interval_s = frame_interval_s
        self._label_axes()

    @property
    def _physical(self) -> bool:
        return bool(self.pixel_size_um and self.frame_interval_s)

    def _label_axes(self) -> None:
        if self._physical:
            self.msd_plot.setLabel("bottom", "lag (s)")
            self.msd_plot.setLabel("left", "MSD (µm²)")
        else:
            self.msd_plot.setLabel("bottom", "lag (frames)")
            self.msd_plot.setLabel("left", "MSD (px²)")

    def update_from(self, tails: TailBuffer, lengths: np.ndarray) -> None:
        """Recompute both plots from the live tails and the lengths of every track so far."""
        _, x, y = tails.ordered()
        lags, values, counts = msd(x, y, min(self.max_lag, tails.length_frames - 1))
        self.fit = fit_diffusion(lags, values, counts, self.max_fit_lag)
        sx, sy = self._scale()
        self.msd_points.setData(lags * sx, values * sy)
        title = f"MSD, {x.shape[0]} live tracks"
        if self.fit is not None:
            fl = np.array([0.0, lags[-1]])
            fv = 4.0 * self.fit.d_px2_per_frame * fl + self.fit.offset_px2
            self.msd_fit.setData(fl * sx, fv * sy)
            title += f": {self.fit.label(self.pixel_size_um, self.frame_interval_s)}"
        else:
            self.msd_fit.setData([], [])
        self.msd_plot.setTitle(title, size="10pt")
        self._update_lengths(lengths)

    def _scale(self) -> tuple[float, float]:
        if self._physical:
            return float(self.frame_interval_s), float(self.pixel_size_um) ** 2  # type: ignore[arg-type]
        return 1.0, 1.0

    def _update_lengths(self, lengths: np.ndarray) -> None:
        if lengths.size == 0:
            self.length_curve.setData([0, 1], [0])
            self.length_plot.setTitle("no tracks yet", size="9pt")
            return
        top = int(lengths.max())
        bins = np.histogram_bin_edges(np.arange(1, top + 2), bins=min(40, top))
        counts, edges = np.histogram(lengths, bins=bins)
        self.length_curve.setData(edges, counts)
        self.length_plot.setTitle(
            f"{lengths.size} tracks, mean length {lengths.mean():.1f} frames", size="9pt"
        )
