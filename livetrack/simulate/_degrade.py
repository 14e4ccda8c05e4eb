"""What happens to real microscope video after the camera: pure image degradations.

Real videos in papers and from other labs are rarely the camera's raw counts. They are
smoothed or demosaiced (noise correlated over neighbouring pixels), scaled to 8 bits with a
gain nobody records, and often compressed with H.264. Each step is a separate function on a
``(T, H, W)`` stack so the benchmark look-alikes and, later, training data can chain them
as they need.
"""

from __future__ import annotations

import math
import subprocess

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from livetrack._errors import InputError

__all__ = ["add_correlated_noise", "h264_roundtrip", "quantize_8bit"]

# scipy's Gaussian filter cuts its kernel at this many standard deviations; the noise
# normalization below uses the same kernel.
_TRUNCATE = 4.0


def _stack(frames: ArrayLike, name: str = "frames") -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.size == 0:
        raise InputError(f"{name} must be a 2-D frame or a (T, H, W) stack, got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{name} must be real numbers, got dtype {arr.dtype}")
    return arr


def quantize_8bit(frames: ArrayLike, gain: float, offset: float = 0.0) -> np.ndarray:
    """Scale to 8-bit grey levels as a frame grabber or an export to video does.

    Parameters
    ----------
    frames
        A frame or ``(T, H, W)`` stack in any linear unit (photons, ADU).
    gain
        Grey levels per input unit; the benchmark never tells a localizer this value.
    offset
        Grey level of a zero input.

    Returns
    -------
    numpy.ndarray
        ``(T, H, W)`` uint8: ``round(gain * frames + offset)`` clipped to 0..255, so bright
        centres saturate as they do in real 8-bit video.

    Raises
    ------
    InputError
        A gain that is not positive and finite, or an offset that is not finite.
    """
    if not (math.isfinite(gain) and gain > 0):
        raise InputError(f"gain must be a positive finite number, got {gain!r}")
    if not math.isfinite(offset):
        raise InputError(f"offset must be finite, got {offset!r}")
    scaled = _stack(frames).astype(np.float64) * gain + offset
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _kernel_norm(length_px: float) -> float:
    """Return the standard deviation of unit white noise after scipy's 2-D Gaussian filter."""
    radius = int(_TRUNCATE * length_px + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / length_px) ** 2)
    k /= k.sum()
    # Separable kernel: the 2-D sum of squares is the square of the 1-D one.
    return float(np.sum(k * k))


def add_correlated_noise(
    frames: ArrayLike, std: float, length_px: float, rng: np.random.Generator
) -> np.ndarray:
    """Add Gaussian noise correlated over ``length_px``, as smoothing or demosaicing leaves.

    Parameters
    ----------
    frames
        A frame or ``(T, H, W)`` stack.
    std
        Standard deviation of the added noise per pixel, in the frames' unit.
    length_px
        Correlation length: the standard deviation of the Gaussian kernel that smooths white
        noise; 0 adds white noise.
    rng
        Source of randomness; every frame gets new noise.

    Returns
    -------
    numpy.ndarray
        ``(T, H, W)`` float64 frames plus noise.

    Raises
    ------
    InputError
        A negative or non-finite ``std`` or ``length_px``.
    """
    if not (math.isfinite(std) and std >= 0):
        raise InputError(f"std must be a finite number >= 0, got {std!r}")
    if not (math.isfinite(length_px) and length_px >= 0):
        raise InputError(f"length_px must be a finite number >= 0, got {length_px!r}")
    out = _stack(frames).astype(np.float64)
    if std == 0:
        return out
    # The white noise is scaled by the kernel's exact norm, so the result has standard
    # deviation ``std`` whatever the correlation length.
    scale = std if length_px == 0 else std / _kernel_norm(length_px)
    for frame in out:
        white = rng.standard_normal(frame.shape)
        if length_px > 0:
            white = ndimage.gaussian_filter(white, length_px, truncate=_TRUNCATE, mode="wrap")
        frame += scale * white
    return out


def h264_roundtrip(frames: ArrayLike, crf: int = 28, preset: str = "medium") -> np.ndarray:
    """Encode 8-bit frames with libx264 and decode them again, as a published MP4 was made.

    The round trip goes through ffmpeg (imageio-ffmpeg's binary), grey to YUV 4:2:0 and
    back, so the result carries what such videos carry: 8x8 and 16x16 block edges, smoothed
    texture, ringing around sharp edges and the limited-range luma scaling. x264 is
    deterministic for a given input and settings.

    Parameters
    ----------
    frames
        ``(T, H, W)`` uint8 stack (see :func:`quantize_8bit`), or one frame.
    crf
        x264 constant rate factor, 0 (lossless) to 51; 23 is ffmpeg's default, the
        DeepTrack example videos look like 28 or more.
    preset
        x264 speed preset.

    Returns
    -------
    numpy.ndarray
        ``(T, H, W)`` uint8, the decoded frames.

    Raises
    ------
    InputError
        Frames that are not uint8, or a crf outside 0..51.
    RuntimeError
        ffmpeg failed or returned another number of frames.
    """
    import imageio_ffmpeg

    stack = _stack(frames)
    if stack.dtype != np.uint8:
        raise InputError(f"h264_roundtrip needs uint8 frames (quantize_8bit), got {stack.dtype}")
    if isinstance(crf, bool) or not isinstance(crf, int | np.integer) or not 0 <= crf <= 51:
        raise InputError(f"crf must be an integer in 0..51, got {crf!r}")
    t, h, w = stack.shape
    # 4:2:0 chroma needs even sides: pad by repeating the last row / column, crop after.
    padded = np.pad(stack, ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    ph, pw = padded.shape[1:]
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    quiet = [ffmpeg, "-hide_banner", "-loglevel", "error"]
    # A raw H.264 stream through pipes: the same pixels as an MP4 file, without a file.
    # One thread each (x264's output does not depend on it; the benchmark machine is shared)
    # and every frame passed through as it is, none dropped or duplicated for timing.
    encode = [
        *quiet,
        *("-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{pw}x{ph}", "-r", "25", "-i", "-"),
        *("-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-threads", "1"),
        *("-pix_fmt", "yuv420p", "-f", "h264", "-"),
    ]
    decode = [
        *(*quiet, "-threads", "1", "-f", "h264", "-i", "-"),
        *("-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"),
    ]
    stream = _run(encode, np.ascontiguousarray(padded).tobytes())
    raw = _run(decode, stream)
    if len(raw) != t * ph * pw:
        raise RuntimeError(f"H.264 round trip returned {len(raw)} bytes for {t} frames")
    decoded = np.frombuffer(raw, dtype=np.uint8).reshape(t, ph, pw)
    return decoded[:, :h, :w].copy()


def _run(command: list[str], data: bytes) -> bytes:
    result = subprocess.run(command, input=data, capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"ffmpeg failed: {message[-1] if message else result.returncode}")
    return result.stdout
