"""Reading and validating image stacks given by users.

Every entry point that accepts frames (files or arrays) goes through
:func:`as_stack`, so a bad input fails with one line that names the problem
instead of an error from deep inside numpy or a localizer.

:func:`read_stack` reads what microscopes and papers hand out: TIFF stacks,
video files (through imageio's ffmpeg plugin), and image sequences given as a
folder or a glob pattern (as trackpy users load them with pims). Colour is
turned into grey the same way for all of them (see :func:`read_stack`).
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from livetrack._errors import InputError

__all__ = ["IMAGE_SUFFIXES", "TIFF_SUFFIXES", "VIDEO_SUFFIXES", "as_stack", "read_stack"]

TIFF_SUFFIXES = (".tif", ".tiff")
"""TIFF files: one frame or a stack (OME-TIFF and ImageJ stacks included)."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", *TIFF_SUFFIXES)
"""Single images, also as the frames of a folder or glob sequence."""
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
"""Video files, decoded by ffmpeg through imageio."""

_SUPPORTED = (
    "TIFF (.tif, .tiff), images (.png, .jpg, .jpeg), videos (.mp4, .avi, .mov, .mkv, .m4v), "
    "or a folder or glob pattern of images"
)


def as_stack(frames: np.ndarray, *, name: str = "input") -> np.ndarray:
    """Check that ``frames`` is a usable image or stack and return it as (T, H, W).

    Parameters
    ----------
    frames
        A 2-D frame (rows, columns) or a 3-D stack (frames, rows, columns) of
        real numbers. Singleton axes beyond those are squeezed away.
    name
        What to call the input in error messages (a file name, say).

    Returns
    -------
    numpy.ndarray
        A view of the data with shape (T, H, W); the dtype is kept.

    Raises
    ------
    InputError
        Non-numeric or complex data, wrong dimensionality, an empty stack,
        or NaN / infinite values.
    """
    arr = np.asarray(frames)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise InputError(f"{name}: expected real-valued image data, got dtype {arr.dtype}")
    if arr.ndim > 3:
        squeezed = arr.reshape([n for n in arr.shape if n != 1] or [1])
        if squeezed.ndim <= 3 and arr.size > 0:
            arr = squeezed
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise InputError(
            f"{name}: expected a 2-D frame or a 3-D stack (frames, rows, columns), "
            f"got shape {tuple(np.shape(frames))}"
        )
    if arr.size == 0:
        raise InputError(f"{name}: empty stack (shape {tuple(arr.shape)})")
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise InputError(f"{name}: frame {bad} contains NaN or infinite values")
    return arr


def read_stack(path: str | os.PathLike[str]) -> np.ndarray:
    """Read frames from disk as a validated (T, H, W) array.

    Parameters
    ----------
    path
        One of:

        - a TIFF file (single page, multi-page, OME-TIFF or ImageJ stack with one
          channel), 8- or 16-bit integer or float;
        - a PNG or JPEG image (one frame);
        - a video file (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.m4v``), decoded
          by ffmpeg through imageio (imageio-ffmpeg);
        - a folder of PNG / TIFF / JPEG images, or a glob pattern such as
          ``"frames/*.png"``: one frame per image (all pages of a multi-page
          TIFF), in natural order (``frame2`` before ``frame10``). Other files
          in the folder, and hidden ones, are skipped.

    Returns
    -------
    numpy.ndarray
        The stack with shape (T, H, W). Grey data keep their dtype. Colour
        (RGB or RGBA; grey + alpha too) becomes grey: the alpha channel is
        dropped; when all colour channels are equal (grey saved as RGB, as in
        most videos of microscopes) one channel is kept with its dtype (uint8
        stays uint8); otherwise the result is the channel mean as float32.

    Raises
    ------
    InputError
        A missing file, an unsupported file type, an unreadable or corrupt file,
        a folder or glob with no images, images of different shapes, or data
        that :func:`as_stack` rejects. The message is one line.
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    path = Path(text)
    if not path.exists() and re.search(r"[*?[]", text):
        matches = [Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)]
        if not matches:
            raise InputError(f"no files match {text}")
        files = _image_files(matches)
        if not files:
            raise InputError(
                f"no PNG, TIFF or JPEG images among the {len(matches)} paths that match {text}"
            )
        return as_stack(_read_sequence(files), name=text)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        files = _image_files(path.iterdir())
        if not files:
            raise InputError(f"{path}: folder holds no PNG, TIFF or JPEG images")
        return as_stack(_read_sequence(files), name=str(path))
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return as_stack(_read_video(path), name=str(path))
    if suffix in IMAGE_SUFFIXES:
        return as_stack(_read_image(path), name=str(path))
    raise InputError(f"{path}: unsupported file type {path.suffix!r}; livetrack reads {_SUPPORTED}")


def _natural_key(path: Path) -> tuple[list[int | str], str]:
    # Digit runs compare as numbers, so frame2 comes before frame10 (as with pims);
    # re.split with a group alternates text and digits, so the lists compare pairwise.
    parts = re.split(r"(\d+)", str(path))
    key: list[int | str] = [int(p) if i % 2 else p.lower() for i, p in enumerate(parts)]
    return key, str(path)


def _image_files(paths: Iterable[Path]) -> list[Path]:
    files = [
        p
        for p in paths
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=_natural_key)


def _read_sequence(files: list[Path]) -> np.ndarray:
    frames = []
    first_shape = None
    for file in files:
        stack = as_stack(_read_image(file), name=str(file))
        if first_shape is None:
            first_shape = stack.shape[1:]
        elif stack.shape[1:] != first_shape:
            raise InputError(
                f"{file}: frame shape {stack.shape[1:]} differs from {first_shape} of {files[0]}; "
                "all images of a sequence must have the same shape"
            )
        frames.append(stack)
    # uint8 frames with equal channels next to float32 means of colour frames promote to
    # float32 exactly: a frame whose channels are equal has that channel as its mean.
    return np.concatenate(frames)


def _read_image(path: Path) -> np.ndarray:
    if path.suffix.lower() in TIFF_SUFFIXES:
        return _read_tiff(path)
    import imageio.v3 as iio

    try:
        # imageio leaves the file it opened itself unclosed when decoding fails; an open
        # handle that we close avoids that, and plugin="pillow" stops imageio from trying
        # every other plugin on a bad file.
        with path.open("rb") as handle:
            data = iio.imread(handle, plugin="pillow")
    except MemoryError:
        raise
    except Exception as exc:  # any failure to decode a user's file is a bad file
        raise InputError(f"{path}: not a readable image ({_reason(exc)})") from None
    if data.ndim == 3:  # (H, W, channels); grey images come as (H, W)
        data = _to_grey(data)
    return data


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            data = tif.asarray()
            axes = tif.series[0].axes
    except (tifffile.TiffFileError, ValueError, OSError, IndexError) as exc:
        raise InputError(f"{path}: not a readable TIFF file ({_reason(exc)})") from None
    # tifffile names colour samples "S", last for interleaved RGB, first for planar RGB;
    # a grey stack whose images are 3 or 4 pixels wide has no "S" and is left alone.
    if "S" in axes and data.ndim == len(axes):
        data = _to_grey(np.moveaxis(data, axes.index("S"), -1))
    return data


def _read_video(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    frames = []
    failure = None
    with warnings.catch_warnings():
        # imageio-ffmpeg closes ffmpeg's pipes only when it stops ffmpeg early, not when
        # ffmpeg has exited (end of the video, or a file it cannot open); they are freed
        # with a ResourceWarning that says nothing to users. The except clause is inside
        # this block so that the traceback holding them is released under the filter too.
        warnings.filterwarnings("ignore", message="unclosed file", category=ResourceWarning)
        try:
            # plugin="FFMPEG" pins imageio-ffmpeg, whose frames the references were made on.
            # Its list of extensions lacks .m4v (an MP4 by another name); ffmpeg itself
            # recognises containers by their content.
            hint = {"extension": ".mp4"} if path.suffix.lower() == ".m4v" else {}
            for rgb in iio.imiter(path, plugin="FFMPEG", **hint):
                frames.append(_to_grey(rgb))
        except MemoryError:
            raise
        except Exception as exc:  # ffmpeg's failures come as OSError, RuntimeError, ...
            failure = _ffmpeg_reason(exc)
    if failure is not None:
        raise InputError(f"{path}: not a readable video ({failure})")
    if not frames:
        raise InputError(f"{path}: the video holds no frames")
    # Frames with equal channels stay uint8; if any frame is in colour the stack becomes
    # float32, which holds the others exactly (their mean is their one channel).
    return np.stack(frames)


def _to_grey(data: np.ndarray) -> np.ndarray:
    """Turn colour on the last axis (grey+alpha, RGB, RGBA) into grey."""
    n = data.shape[-1]
    if n not in (2, 3, 4):
        return data  # not colour; as_stack names the shape if it is wrong
    colour = data[..., :1] if n == 2 else data[..., :3]
    first = colour[..., 0]
    if all(np.array_equal(first, colour[..., k]) for k in range(1, colour.shape[-1])):
        return np.ascontiguousarray(first)
    return colour.mean(axis=-1, dtype=np.float32)


def _reason(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _ffmpeg_reason(exc: BaseException) -> str:
    # imageio-ffmpeg puts ffmpeg's whole log in the message; its last line says what
    # went wrong ("Error opening input files: Invalid data found when processing input").
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) <= 1:
        return _reason(exc)
    last = re.sub(r"^\[[^\]]*\]\s*", "", lines[-1])
    return _reason(RuntimeError(last.rsplit(": ", 1)[-1] if ": " in last else last))
