"""The stage–camera transform: which stage move cancels a displacement seen on the camera."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from livetrack._errors import InputError

__all__ = ["StageTransform", "calibrate_stage", "image_shift"]


@dataclass(frozen=True)
class StageTransform:
    """Linear map from a camera displacement (px) to the stage move (µm) that follows it.

    Same convention as Micro-Manager's pixel-size affine: moving the stage by
    ``px_to_um @ (dx, dy)`` brings the sample point seen at ``(x + dx, y + dy)``
    to where ``(x, y)`` was.

    Attributes
    ----------
    px_to_um
        The 2x2 matrix as nested tuples, row-major.
    """

    px_to_um: tuple[tuple[float, float], tuple[float, float]]

    def __post_init__(self) -> None:
        m = np.asarray(self.px_to_um, dtype=float)
        if m.shape != (2, 2) or not np.all(np.isfinite(m)) or abs(np.linalg.det(m)) < 1e-12:
            raise InputError(f"px_to_um must be an invertible 2x2 matrix, got {self.px_to_um}")

    @property
    def matrix(self) -> np.ndarray:
        """The 2x2 matrix as an array."""
        return np.asarray(self.px_to_um, dtype=float)

    @property
    def pixel_size_um(self) -> float:
        """Mean scale of the map (µm per px)."""
        return math.sqrt(abs(np.linalg.det(self.matrix)))

    @property
    def rotation_deg(self) -> float:
        """Rotation angle of the map (degrees)."""
        m = self.matrix
        return math.degrees(math.atan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1]))

    def stage_move_um(self, dx_px: float, dy_px: float) -> tuple[float, float]:
        """Return the stage move (µm) that follows a camera displacement (px)."""
        move = self.matrix @ np.array([dx_px, dy_px], dtype=float)
        return float(move[0]), float(move[1])

    def camera_offset_px(self, mx_um: float, my_um: float) -> tuple[float, float]:
        """Return the camera displacement (px) a stage move (µm) follows (the inverse map)."""
        offset = np.linalg.solve(self.matrix, np.array([mx_um, my_um], dtype=float))
        return float(offset[0]), float(offset[1])

    @classmethod
    def from_pixel_size(cls, pixel_size_um: float, rotation_deg: float = 0.0) -> StageTransform:
        """Build the transform of a camera rotated by ``rotation_deg`` against the stage."""
        if not pixel_size_um > 0:
            raise InputError(f"pixel_size_um must be > 0, got {pixel_size_um}")
        t = math.radians(rotation_deg)
        c, s = math.cos(t), math.sin(t)
        return cls(
            ((pixel_size_um * c, -pixel_size_um * s), (pixel_size_um * s, pixel_size_um * c))
        )

    @classmethod
    def from_core(cls, core: Any) -> StageTransform:
        """Read the transform the core believes in (its pixel-size affine)."""
        size = core.getPixelSizeUm()
        a, b, _, c, d, _ = (float(v) for v in core.getPixelSizeAffine())
        scale = math.sqrt(abs(a * d - b * c))
        # An affine never set is the identity; trust it only when it agrees with the pixel size.
        if size > 0 and abs(scale - size) <= 0.01 * size:
            return cls(((a, b), (c, d)))
        if not size > 0:
            raise InputError("the core has no pixel size configured; calibrate_stage() instead")
        return cls.from_pixel_size(size)


def image_shift(reference: np.ndarray, moved: np.ndarray) -> tuple[float, float]:
    """Return the (dx, dy) in pixels by which the content of ``moved`` is displaced.

    Circular cross-correlation of the mean-subtracted images with a Gaussian
    (log-parabola) fit around the peak for sub-pixel precision.
    """
    a = np.asarray(reference, dtype=float)
    b = np.asarray(moved, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise InputError(f"images must be 2-D of the same shape, got {a.shape} and {b.shape}")
    fa = np.fft.rfft2(a - a.mean())
    fb = np.fft.rfft2(b - b.mean())
    corr = np.fft.irfft2(fb * np.conj(fa), s=a.shape)
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
    rows, cols = corr.shape

    def refine(c_minus: float, c0: float, c_plus: float) -> float:
        vals = np.log(np.maximum([c_minus, c0, c_plus], c0 * 1e-6))
        denom = vals[0] - 2 * vals[1] + vals[2]
        return 0.0 if denom >= 0 else 0.5 * (vals[0] - vals[2]) / denom

    dy = iy + refine(corr[(iy - 1) % rows, ix], corr[iy, ix], corr[(iy + 1) % rows, ix])
    dx = ix + refine(corr[iy, (ix - 1) % cols], corr[iy, ix], corr[iy, (ix + 1) % cols])
    # Shifts beyond half the image are negative shifts (circular correlation).
    dy = dy - rows if dy > rows / 2 else dy
    dx = dx - cols if dx > cols / 2 else dx
    return float(dx), float(dy)


def _snap(core: Any) -> np.ndarray:
    core.snapImage()
    return np.asarray(core.getImage(), dtype=float)


def calibrate_stage(core: Any, step_um: float | None = None, repeats: int = 3) -> StageTransform:
    """Measure the stage–camera transform by moving the stage and watching the image move.

    The stage is moved by ``step_um`` along x, then along y (``repeats`` times
    each, averaged), the image displacement is measured by cross-correlation,
    and the stage is returned to where it was.

    Parameters
    ----------
    core
        A Micro-Manager core with a camera and an XY stage.
    step_um
        Size of the calibration moves; default: 20 % of the field of view,
        using the core's pixel size as a first guess (1 µm if it has none).
    repeats
        Moves per axis to average.

    Returns
    -------
    StageTransform
        The measured transform (includes the camera rotation and true pixel size).
    """
    if repeats < 1:
        raise InputError(f"repeats must be >= 1, got {repeats}")
    x0, y0 = core.getXYPosition()
    if step_um is None:
        guess = core.getPixelSizeUm() or 1.0
        step_um = 0.2 * min(core.getImageWidth(), core.getImageHeight()) * guess
    if not step_um > 0:
        raise InputError(f"step_um must be > 0, got {step_um}")
    shifts = np.zeros((2, 2))  # columns: image shift per µm of stage x, of stage y
    try:
        for axis in range(2):
            for _ in range(repeats):
                core.setXYPosition(x0, y0)
                before = _snap(core)
                offset = (step_um, 0.0) if axis == 0 else (0.0, step_um)
                core.setXYPosition(x0 + offset[0], y0 + offset[1])
                after = _snap(core)
                shifts[:, axis] += np.array(image_shift(before, after)) / (step_um * repeats)
    finally:
        core.setXYPosition(x0, y0)
    # The image content moves opposite to the stage: shift = -px_to_um^-1 @ move.
    try:
        px_to_um = np.linalg.inv(-shifts)
    except np.linalg.LinAlgError:
        raise InputError("calibration failed: the image did not move with the stage") from None
    m = [[float(v) for v in row] for row in px_to_um]
    return StageTransform(((m[0][0], m[0][1]), (m[1][0], m[1][1])))
