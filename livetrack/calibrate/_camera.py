"""Camera calibration by photon transfer: offset, gain and read noise from the frames.

A pixel's temporal mean and variance at a constant light level obey the photon-transfer
relation ``var = F^2 * g * (mean - offset) + read_noise^2`` (Janesick, *Photon Transfer*,
SPIE 2007): ``g`` is the gain in ADU per detected photon, ``F^2`` the excess noise of an EM
register (2 at high EM gain, 1 without one). Dark frames give the offset and the read
noise; the slope of variance against mean over the lit levels gives the gain. Temporal
statistics per pixel ignore fixed-pattern differences between pixels, so an unevenly lit
movie of a static scene gives many levels at once.

Per pixel (sCMOS) the same fit is made for every pixel against its own dark level.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from livetrack._errors import InputError
from livetrack.calibrate._store import (
    CalibrationHeader,
    input_hashes,
    read_calibration,
    write_calibration,
)

__all__ = ["CameraCalibration", "calibrate_camera", "load_camera", "pixel_statistics"]

# Quantization to integer ADU adds the variance of a uniform unit step.
_QUANTIZATION_VAR = 1.0 / 12.0
# A stack with more than this fraction of its values at the digitizer's limits is clipped.
_SATURATED_FRACTION = 1e-3
# Pixel-mean quantile bins per stack: an unevenly lit stack gives this many levels.
_BINS = 8
# Lit levels must span this many dark noise standard deviations above the dark level.
_MIN_SPAN_NOISE = 10.0
# Frames per chunk of the running sums (bounds the float64 copy of a stack).
_CHUNK = 64


@dataclass(frozen=True)
class CameraCalibration:
    """A camera's measured response: ADU = offset + gain * photons, plus read noise.

    Usable wherever livetrack takes a ``camera`` (anything with ``to_photons``): the
    localizers convert frames to photons with it.

    Attributes
    ----------
    gain_adu_per_photon : float
        Mean ADU per detected photon (including any EM gain).
    offset_adu : float
        Mean dark level in ADU.
    read_noise_adu : float
        Standard deviation of the dark frames in ADU.
    excess_noise_factor : float
        ``F`` of an EM register (``sqrt(2)``), 1 without one.
    gain_map, offset_map, read_noise_map : numpy.ndarray or None
        Per-pixel values (sCMOS), the frame's shape; None for one value per camera.
    levels : tuple of (float, float)
        The photon-transfer points (mean ADU, temporal variance ADU^2) the fit used.
    header : CalibrationHeader or None
        What the calibration says about itself (None before it is saved or measured).
    """

    gain_adu_per_photon: float
    offset_adu: float
    read_noise_adu: float
    excess_noise_factor: float = 1.0
    gain_map: np.ndarray | None = field(default=None, repr=False, compare=False)
    offset_map: np.ndarray | None = field(default=None, repr=False, compare=False)
    read_noise_map: np.ndarray | None = field(default=None, repr=False, compare=False)
    levels: tuple[tuple[float, float], ...] = ()
    header: CalibrationHeader | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gain_adu_per_photon) and self.gain_adu_per_photon > 0):
            raise InputError(f"gain must be a positive number, got {self.gain_adu_per_photon}")
        if not (math.isfinite(self.offset_adu) and math.isfinite(self.read_noise_adu)):
            raise InputError("offset and read noise must be finite")

    @property
    def per_pixel(self) -> bool:
        """Whether per-pixel maps are used."""
        return self.gain_map is not None

    @property
    def quantum_efficiency(self) -> float:
        """1: the gain is per *detected* photon (what photon transfer measures)."""
        return 1.0

    @property
    def em_gain(self) -> float | None:
        """Not None for an EM camera (livetrack's photon statistics then double the variance)."""
        return self.gain_adu_per_photon if self.excess_noise_factor > 1.0 else None

    @property
    def read_noise_e(self) -> float:
        """Read noise in photon units (ADU / gain), as livetrack's CRLB takes it."""
        return self.read_noise_adu / self.gain_adu_per_photon

    @property
    def frame_shape(self) -> tuple[int, int] | None:
        """The frame size measured on, if known."""
        return None if self.header is None else self.header.frame_shape

    def to_photons(self, adu: ArrayLike) -> np.ndarray:
        """Convert frames in ADU to detected photons (float32), per pixel with maps.

        Parameters
        ----------
        adu : array_like
            One frame or a stack.

        Returns
        -------
        numpy.ndarray
            Float32 photons, same shape.
        """
        arr = np.asarray(adu, dtype=np.float32)
        if self.gain_map is not None and self.offset_map is not None:
            if arr.shape[-2:] != self.gain_map.shape:
                raise InputError(
                    f"camera maps are {self.gain_map.shape[1]}x{self.gain_map.shape[0]}, "
                    f"frames {arr.shape[-1]}x{arr.shape[-2]}"
                )
            return (arr - self.offset_map.astype(np.float32)) / self.gain_map.astype(np.float32)
        return (arr - np.float32(self.offset_adu)) / np.float32(self.gain_adu_per_photon)

    def check(self, frames: np.ndarray, source: str | os.PathLike[str] = "") -> None:
        """Refuse frames this camera did not take, with a one-line reason.

        Checks the frame size and pixel type against the header, and that the frames do
        not lie below the offset (frames of another camera, or an offset subtracted).

        Raises
        ------
        InputError
            A mismatch.
        """
        arr = np.asarray(frames)
        if self.header is not None:
            self.header.check_frames(arr, source)
        sample = arr[:: max(1, len(arr) // 8)] if arr.ndim == 3 else arr
        level = float(np.median(sample))
        floor = self.offset_adu - 5.0 * max(self.read_noise_adu, 1.0)
        if level < floor:
            raise InputError(
                f"camera calibration {source}: the frames' median {level:.1f} ADU lies below "
                f"its offset {self.offset_adu:.1f} ADU; they come from another camera or setting"
            )

    def to_json(self) -> dict[str, Any]:
        """Return the measured values as JSON fields (maps are saved separately)."""
        return {
            "gain_adu_per_photon": self.gain_adu_per_photon,
            "offset_adu": self.offset_adu,
            "read_noise_adu": self.read_noise_adu,
            "read_noise_photons": self.read_noise_e,
            "excess_noise_factor": self.excess_noise_factor,
            "per_pixel": self.per_pixel,
            "photon_transfer_levels": [list(p) for p in self.levels],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the calibration (JSON, and the per-pixel maps as ``.npz`` beside it)."""
        header = self.header or CalibrationHeader("camera")
        arrays = None
        if self.per_pixel:
            arrays = {
                "gain_adu_per_photon": self.gain_map,
                "offset_adu": self.offset_map,
                "read_noise_adu": self.read_noise_map,
            }
        return write_calibration(path, header, self.to_json(), arrays)  # type: ignore[arg-type]


def load_camera(path: str | os.PathLike[str]) -> CameraCalibration:
    """Read a camera calibration written by :meth:`CameraCalibration.save`.

    Parameters
    ----------
    path : str or path-like
        The JSON file or a name in the user's calibration folder.

    Raises
    ------
    InputError
        A missing, foreign or malformed file.
    """
    header, body, arrays = read_calibration(path, "camera")
    try:
        cal = CameraCalibration(
            gain_adu_per_photon=float(body["gain_adu_per_photon"]),
            offset_adu=float(body["offset_adu"]),
            read_noise_adu=float(body["read_noise_adu"]),
            excess_noise_factor=float(body.get("excess_noise_factor", 1.0)),
            gain_map=arrays.get("gain_adu_per_photon"),
            offset_map=arrays.get("offset_adu"),
            read_noise_map=arrays.get("read_noise_adu"),
            levels=tuple((float(m), float(v)) for m, v in body.get("photon_transfer_levels", [])),
            header=header,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed camera calibration ({exc})") from None
    return cal


def pixel_statistics(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return every pixel's temporal mean and unbiased variance over a stack.

    Sums run in float64 over chunks of frames, shifted by the first frame so that large
    offsets do not cancel digits.

    Parameters
    ----------
    stack : numpy.ndarray
        ``(T, H, W)`` frames, ``T >= 2``.

    Returns
    -------
    mean, variance : numpy.ndarray
        ``(H, W)`` float64 each.
    """
    arr = np.asarray(stack)
    if arr.ndim != 3 or arr.shape[0] < 2:
        raise InputError(f"photon transfer needs stacks of >= 2 frames, got shape {arr.shape}")
    shift = arr[0].astype(np.float64)
    total = np.zeros(arr.shape[1:])
    squares = np.zeros(arr.shape[1:])
    for start in range(0, arr.shape[0], _CHUNK):
        chunk = arr[start : start + _CHUNK].astype(np.float64) - shift
        total += chunk.sum(axis=0)
        squares += np.einsum("tij,tij->ij", chunk, chunk)
    n = arr.shape[0]
    mean = total / n
    var = (squares - n * mean * mean) / (n - 1)
    return mean + shift, np.maximum(var, 0.0)


def _check_clipping(stack: np.ndarray, name: str) -> None:
    """Refuse stacks at the digitizer's limits: their variance is no longer photon noise."""
    if stack.dtype.kind not in "ui":
        return
    info = np.iinfo(stack.dtype)
    sample = stack[:: max(1, len(stack) // 16)]
    high = float(np.mean(sample >= info.max))
    if high > _SATURATED_FRACTION:
        raise InputError(
            f"{name} is saturated ({100 * high:.1f} % of pixels at {info.max} ADU); "
            "lower the light or the exposure"
        )
    low = float(np.mean(sample <= info.min))
    if low > _SATURATED_FRACTION and info.min == 0:
        raise InputError(
            f"{name} is clipped at 0 ADU ({100 * low:.1f} % of pixels); "
            "the camera offset is too low for photon transfer"
        )


def _levels(mean: np.ndarray, var: np.ndarray) -> list[tuple[float, float]]:
    """Photon-transfer points of one stack: pixels binned by their mean (quantiles)."""
    m, v = mean.ravel(), var.ravel()
    order = np.argsort(m, kind="stable")
    return [
        (float(m[idx].mean()), float(v[idx].mean()))
        for idx in np.array_split(order, min(_BINS, m.size))
        if idx.size
    ]


def _slope_through(
    means: np.ndarray,
    variances: np.ndarray,
    mean0: np.ndarray | float,
    var0: np.ndarray | float,
) -> np.ndarray:
    """Weighted least-squares slope of ``var - var0`` on ``mean - mean0`` (levels on axis 0).

    Each variance estimate's spread grows with the variance itself, so a level weighs
    ``1 / var^2``.
    """
    dm = means - mean0
    dv = variances - var0
    w = 1.0 / np.maximum(variances, 1e-12) ** 2
    return (w * dm * dv).sum(axis=0) / np.maximum((w * dm * dm).sum(axis=0), 1e-300)


def calibrate_camera(
    stacks: Sequence[np.ndarray | str | os.PathLike[str]],
    *,
    dark: int | None = None,
    em: bool = False,
    per_pixel: bool | None = None,
) -> CameraCalibration:
    """Measure a camera's offset, gain and read noise by photon transfer.

    Parameters
    ----------
    stacks : sequence of array or path
        ``(T, H, W)`` stacks (or TIFF files), each at one constant light level, one of
        them dark frames; or dark frames and one movie of a static, unevenly lit scene.
        All of one frame size and pixel type.
    dark : int, optional
        Index of the dark stack; default: the stack with the lowest mean.
    em : bool
        An EMCCD: its register doubles the shot-noise variance (excess noise ``F^2 = 2``).
    per_pixel : bool, optional
        Keep per-pixel maps (sCMOS). None: keep them when the pixels' gains differ by more
        than their measurement noise explains.

    Returns
    -------
    CameraCalibration
        With a header naming the inputs, the frame size and the pixel type.

    Raises
    ------
    InputError
        Fewer than two stacks, stacks of different cameras, saturated or clipped frames,
        or one light level only.
    """
    from livetrack._stack import read_stack

    if len(stacks) < 2:
        raise InputError(
            "photon transfer needs dark frames and at least one lit stack "
            f"(got {len(stacks)} stack{'s' if len(stacks) != 1 else ''})"
        )
    arrays, names = [], []
    for i, s in enumerate(stacks):
        if isinstance(s, np.ndarray):
            arrays.append(s if s.ndim == 3 else s[np.newaxis])
            names.append(f"stack {i}")
        else:
            arrays.append(read_stack(s))
            names.append(str(s))
    shape, dtype = arrays[0].shape[1:], arrays[0].dtype
    for a, name in zip(arrays, names, strict=True):
        if a.shape[1:] != shape or a.dtype != dtype:
            raise InputError(
                f"{name} is {a.shape[2]}x{a.shape[1]} {a.dtype.name}, {names[0]} "
                f"{shape[1]}x{shape[0]} {dtype.name}: stacks of one camera and setting only"
            )
        _check_clipping(a, name)
    stats = [pixel_statistics(a) for a in arrays]
    dark_index = int(np.argmin([m.mean() for m, _ in stats])) if dark is None else int(dark)
    if not 0 <= dark_index < len(arrays):
        raise InputError(f"dark must index one of the {len(arrays)} stacks, got {dark}")
    quant = _QUANTIZATION_VAR if dtype.kind in "ui" else 0.0
    dark_mean, dark_var = stats[dark_index]
    offset = float(dark_mean.mean())
    dark_var_global = float(dark_var.mean())
    read_noise = math.sqrt(max(dark_var_global - quant, 0.0))
    lit = [st for i, st in enumerate(stats) if i != dark_index]
    points = [p for m, v in lit for p in _levels(m, v)]
    means = np.array([p[0] for p in points])
    variances = np.array([p[1] for p in points])
    span_needed = _MIN_SPAN_NOISE * max(math.sqrt(dark_var_global), 0.5)
    if means.max() - offset < span_needed:
        raise InputError(
            f"one light level only: the lit frames lie within {means.max() - offset:.2f} ADU "
            f"of the dark ones; add a stack at a higher light level"
        )
    excess2 = 2.0 if em else 1.0
    slope = float(_slope_through(means, variances, offset, dark_var_global))
    if not slope > 0:
        raise InputError(
            "the variance does not grow with the light level: these are not raw camera frames"
        )
    gain = slope / excess2
    cal = CameraCalibration(
        gain_adu_per_photon=gain,
        offset_adu=offset,
        read_noise_adu=read_noise,
        excess_noise_factor=math.sqrt(excess2),
        levels=((offset, dark_var_global), *sorted(points)),
        header=CalibrationHeader(
            "camera",
            inputs=input_hashes(stacks),
            frame_shape=(int(shape[0]), int(shape[1])),
            pixel_type=dtype.name,
        ),
    )
    gain_map = (
        _slope_through(
            np.stack([m for m, _ in lit]), np.stack([v for _, v in lit]), dark_mean, dark_var
        )
        / excess2
    )
    if per_pixel is None:
        # The measurement's own spread: a variance of T frames is known to sqrt(2 / (T-1)).
        frames = min(len(a) for a in arrays)
        expected = math.sqrt(2.0 / (frames - 1))
        spread = 1.4826 * float(np.median(np.abs(gain_map / np.median(gain_map) - 1.0)))
        per_pixel = spread > 2.0 * expected + 0.01
    if per_pixel:
        # A pixel too noisy to fit keeps the camera's gain rather than a useless one.
        gain_map = np.where(gain_map > 0.05 * gain, gain_map, gain)
        read_map = np.sqrt(np.maximum(dark_var - quant, 0.0))
        cal = replace(
            cal,
            gain_map=gain_map.astype(np.float32),
            offset_map=dark_mean.astype(np.float32),
            read_noise_map=read_map.astype(np.float32),
        )
    return cal
