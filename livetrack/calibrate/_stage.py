"""Stage calibration: the affine map between camera pixels and stage micrometres.

The stage is moved in several directions and sizes around where it is; each move's image
shift is measured by cross-correlating the frames just before and after it, and the 2x2
map ``shift = -inverse(px_to_um) @ move`` is fitted to all moves by least squares, moves
that disagree with the others (particles that diffused or left in between, a stage that
slipped) dropped. The map's scale is the pixel size, its determinant's sign says whether
the camera is mirrored, and what remains is the rotation.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack.calibrate._store import CalibrationHeader, read_calibration, write_calibration
from livetrack.feedback import StageTransform, image_shift

__all__ = ["StageCalibration", "calibrate_stage_transform", "fit_stage_transform", "load_stage"]

# Directions of the calibration moves (degrees), two sizes each: 16 moves.
_DIRECTIONS = (0, 45, 90, 135, 180, 225, 270, 315)
_SIZES = (1.0, 0.5)
# A move whose residual exceeds this many robust standard deviations (and 0.05 px) is dropped.
_OUTLIER_Z = 4.0
# Moves within this many pixels of a candidate map count as agreeing with it.
_CONSENSUS_PX = 1.0


@dataclass(frozen=True)
class StageCalibration:
    """The measured stage <-> camera map.

    Attributes
    ----------
    transform : StageTransform
        Camera displacement (px) to the stage move (µm) that follows it; what
        :class:`livetrack.feedback.Recenter` takes.
    residual_px : float
        RMS misfit of the moves kept, in pixels.
    n_moves : int
        Moves kept in the fit.
    n_dropped : int
        Moves dropped as outliers.
    header : CalibrationHeader or None
        What the calibration says about itself.
    """

    transform: StageTransform
    residual_px: float = float("nan")
    n_moves: int = 0
    n_dropped: int = 0
    header: CalibrationHeader | None = field(default=None, compare=False)

    @property
    def flipped(self) -> bool:
        """Whether the camera is mirrored against the stage (negative determinant)."""
        return bool(np.linalg.det(self.transform.matrix) < 0)

    @property
    def pixel_size_um(self) -> float:
        """Mean size of a pixel on the stage, in µm."""
        return self.transform.pixel_size_um

    @property
    def rotation_deg(self) -> float:
        """Rotation of the camera axes against the stage, in degrees.

        A mirrored camera is described as ``pixel * R(rotation) @ diag(-1, 1)`` (its x
        axis mirrored, then rotated).
        """
        m = self.transform.matrix
        if self.flipped:
            m = m @ np.diag([-1.0, 1.0])
        return math.degrees(math.atan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1]))

    def to_um(self, table: pd.DataFrame) -> pd.DataFrame:
        """Add ``x_um`` and ``y_um``: positions on the stage's axes, relative to pixel (0, 0).

        Parameters
        ----------
        table : pandas.DataFrame
            With ``x`` and ``y`` in pixels.

        Returns
        -------
        pandas.DataFrame
            A copy with the two columns added.
        """
        if not {"x", "y"} <= set(table.columns):
            raise InputError("the table needs x and y columns to add micrometre columns")
        xy = table[["x", "y"]].to_numpy(dtype=float) @ self.transform.matrix.T
        out = table.copy()
        out["x_um"] = xy[:, 0]
        out["y_um"] = xy[:, 1]
        return out

    def to_json(self) -> dict[str, Any]:
        """Return the measured values as JSON fields."""
        m = self.transform.matrix
        return {
            "px_to_um": [[float(v) for v in row] for row in m],
            "pixel_size_um": self.pixel_size_um,
            "rotation_deg": self.rotation_deg,
            "flipped": self.flipped,
            "residual_px": self.residual_px,
            "n_moves": self.n_moves,
            "n_dropped": self.n_dropped,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the calibration as JSON."""
        return write_calibration(path, self.header or CalibrationHeader("stage"), self.to_json())


def load_stage(path: str | os.PathLike[str]) -> StageCalibration:
    """Read a stage calibration written by :meth:`StageCalibration.save`.

    Raises
    ------
    InputError
        A missing, foreign or malformed file.
    """
    header, body, _ = read_calibration(path, "stage")
    try:
        (a, b), (c, d) = body["px_to_um"]
        transform = StageTransform(((float(a), float(b)), (float(c), float(d))))
        return StageCalibration(
            transform,
            float(body.get("residual_px", float("nan"))),
            int(body.get("n_moves", 0)),
            int(body.get("n_dropped", 0)),
            header,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed stage calibration ({exc})") from None


def fit_stage_transform(
    moves_um: np.ndarray, shifts_px: np.ndarray
) -> tuple[StageTransform, float, np.ndarray]:
    """Fit ``shift = -inverse(px_to_um) @ move`` to stage moves and measured image shifts.

    Parameters
    ----------
    moves_um : numpy.ndarray
        ``(n, 2)`` stage moves in µm.
    shifts_px : numpy.ndarray
        ``(n, 2)`` image content displacements ``(dx, dy)`` in pixels.

    Returns
    -------
    transform : StageTransform
    residual_px : float
        RMS misfit of the kept moves.
    kept : numpy.ndarray
        Boolean mask of the moves kept (outliers dropped, iteratively).

    Raises
    ------
    InputError
        Fewer than 3 moves, moves all along one line, or an image that did not follow.
    """
    moves = np.asarray(moves_um, dtype=float)
    shifts = np.asarray(shifts_px, dtype=float)
    if moves.shape != shifts.shape or moves.ndim != 2 or moves.shape[1] != 2:
        raise InputError("moves and shifts must both be (n, 2)")
    if len(moves) < 3 or np.linalg.matrix_rank(moves, tol=1e-9 * np.abs(moves).max()) < 2:
        raise InputError("the stage calibration needs >= 3 moves in two directions")
    kept = _consensus(moves, shifts)
    for _ in range(5):
        a, *_ = np.linalg.lstsq(moves[kept], shifts[kept], rcond=None)
        residual = np.linalg.norm(moves @ a - shifts, axis=1)
        scale = 1.4826 * float(np.median(residual[kept]))
        new = residual <= max(_OUTLIER_Z * scale, 0.05)
        if new.sum() < 3 or np.array_equal(new, kept):
            break
        kept = new
    a, *_ = np.linalg.lstsq(moves[kept], shifts[kept], rcond=None)
    # lstsq solves moves @ a = shifts, i.e. a = A.T with shift = A @ move.
    shift_per_um = a.T
    if abs(np.linalg.det(shift_per_um)) < 1e-12:
        raise InputError("calibration failed: the image did not move with the stage")
    px_to_um = np.linalg.inv(-shift_per_um)
    residual = np.linalg.norm(moves[kept] @ a - shifts[kept], axis=1)
    m = [[float(v) for v in row] for row in px_to_um]
    transform = StageTransform(((m[0][0], m[0][1]), (m[1][0], m[1][1])))
    return transform, float(np.sqrt(np.mean(residual**2))), kept


def _consensus(moves: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Return the moves that agree with the map most moves agree on (RANSAC over pairs).

    Two moves in different directions fix the 2x2 map; the pair with the most moves
    within :data:`_CONSENSUS_PX` of its prediction wins. A few bad moves cannot pull the
    start of the least-squares fit, as they would if it started from all moves.
    """
    best = np.ones(len(moves), dtype=bool)
    best_count = -1
    scale = float(np.abs(moves).max())
    for i in range(len(moves)):
        for j in range(i + 1, len(moves)):
            pair = moves[[i, j]]
            if abs(np.linalg.det(pair)) < 1e-3 * scale * scale:
                continue
            a = np.linalg.solve(pair, shifts[[i, j]])
            inliers = np.linalg.norm(moves @ a - shifts, axis=1) < _CONSENSUS_PX
            if inliers.sum() > best_count:
                best, best_count = inliers, int(inliers.sum())
    return best if best_count >= 3 else np.ones(len(moves), dtype=bool)


def _snap(core: Any) -> np.ndarray:
    core.snapImage()
    return np.asarray(core.getImage(), dtype=float)


def calibrate_stage_transform(
    core: Any, step_um: float | None = None, source: str = "core"
) -> StageCalibration:
    """Measure the stage <-> camera map by moving the stage through Micro-Manager.

    Sixteen moves (eight directions, two sizes) from the current position, each frame pair
    snapped just before and after the move; the stage is returned where it was, also on
    error.

    Parameters
    ----------
    core : object
        A Micro-Manager core (pymmcore-plus ``CMMCorePlus``/``UniMMCore``) with a camera
        and an XY stage.
    step_um : float, optional
        Largest move; default 20 % of the field of view at the core's pixel size (1 µm
        per pixel when it has none).
    source : str
        What the core is, for the header's inputs.

    Returns
    -------
    StageCalibration

    Raises
    ------
    InputError
        The image did not follow the stage, or moves gave inconsistent shifts.
    """
    x0, y0 = core.getXYPosition()
    width, height = int(core.getImageWidth()), int(core.getImageHeight())
    if step_um is None:
        guess = core.getPixelSizeUm() or 1.0
        step_um = 0.2 * min(width, height) * guess
    if not step_um > 0:
        raise InputError(f"step_um must be > 0, got {step_um}")
    moves, shifts = [], []
    dtype = None
    try:
        for size in _SIZES:
            for angle in _DIRECTIONS:
                t = math.radians(angle)
                move = (size * step_um * math.cos(t), size * step_um * math.sin(t))
                core.setXYPosition(x0, y0)
                before = _snap(core)
                core.setXYPosition(x0 + move[0], y0 + move[1])
                after = _snap(core)
                moves.append(move)
                shifts.append(image_shift(before, after))
        dtype = np.asarray(core.getImage()).dtype.name
    finally:
        core.setXYPosition(x0, y0)
    transform, residual, kept = fit_stage_transform(np.array(moves), np.array(shifts))
    header = CalibrationHeader(
        "stage",
        inputs={source: f"{len(moves)} moves of up to {step_um:.4g} um from ({x0:.4g}, {y0:.4g})"},
        frame_shape=(height, width),
        pixel_type=dtype,
    )
    return StageCalibration(transform, residual, int(kept.sum()), int((~kept).sum()), header)
