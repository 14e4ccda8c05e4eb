"""Reading and validating image stacks given by users.

Every entry point that accepts frames (files or arrays) goes through
:func:`as_stack`, so a bad input fails with one line that names the problem
instead of an error from deep inside numpy or a localizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livetrack._errors import InputError

__all__ = ["as_stack", "read_stack"]


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


def read_stack(path: str | Path) -> np.ndarray:
    """Read a TIFF frame or stack from disk as a validated (T, H, W) array.

    Parameters
    ----------
    path
        A TIFF file (single page, multi-page, or OME-TIFF with one channel).

    Returns
    -------
    numpy.ndarray
        The stack with shape (T, H, W), in the file's dtype.

    Raises
    ------
    InputError
        A missing or unreadable file, a file that is not a TIFF, or data that
        :func:`as_stack` rejects.
    """
    import tifffile

    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, expected a TIFF file")
    try:
        data = tifffile.imread(path)
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable TIFF file ({exc})") from None
    return as_stack(data, name=str(path))
