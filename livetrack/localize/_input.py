"""Checks on user images and the ADU -> photon conversion shared by every localizer."""

from __future__ import annotations

from typing import Any

import numpy as np

from livetrack._errors import InputError
from livetrack._stack import as_stack


def check_image(image: Any, ndims: tuple[int, ...] = (2,)) -> np.ndarray:
    """Return `image` as an array, raising InputError for anything a localizer cannot use."""
    try:
        arr = np.asarray(image)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"image could not be converted to an array: {exc}") from None
    if arr.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise InputError(f"image must be {want}, got a {arr.ndim}-D array of shape {arr.shape}")
    as_stack(arr, name="image")  # dtype, emptiness and NaN checks shared with file input
    return arr


def to_photons(image: np.ndarray, camera: Any | None) -> np.ndarray:
    """Convert camera ADU to photons (float64); without a camera the image is taken as photons."""
    if camera is None:
        return np.asarray(image, dtype=np.float64)
    return np.asarray(camera.to_photons(image), dtype=np.float64)


def poisson_scale(camera: Any | None) -> tuple[float, float]:
    """Factor from photons to Poisson-distributed counts, and the read variance in those counts.

    Shot noise is Poisson in photo-electrons (photons x QE). An EMCCD doubles the variance
    (excess noise factor sqrt 2), so dividing electrons by 2 restores a Poisson-like mean/variance
    ratio. Gaussian read noise is folded in by adding its variance to data and model
    (Huang et al., Nat Methods 10, 653 (2013)).
    """
    if camera is None:
        return 1.0, 0.0
    qe = float(getattr(camera, "quantum_efficiency", 1.0))
    em_gain = getattr(camera, "em_gain", None)
    excess = 2.0 if em_gain not in (None, 0, 1) else 1.0
    scale = qe / excess
    read_e = float(getattr(camera, "read_noise_e", 0.0) or 0.0)
    em = float(em_gain) if em_gain not in (None, 0) else 1.0
    # Read noise is added after EM multiplication, so it shrinks by the EM gain in electron units.
    read_var = (read_e / em / excess) ** 2
    return scale, read_var
