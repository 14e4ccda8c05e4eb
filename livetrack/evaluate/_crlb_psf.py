"""Cramér-Rao lower bound for any particle image model, by numerical differentiation.

The closed forms of :mod:`livetrack.evaluate._crlb` cover the pixel-integrated Gaussian.
For other images (microsphere rings, Airy patterns) the Fisher information of Poisson pixel
counts, ``I_ij = sum_k d_i mu_k d_j mu_k / mu_k``, is computed from the model's own rendering
(``psf.render``, e.g. a ``livetrack.simulate`` PSF) with central differences in position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from livetrack._errors import InputError


def crlb_psf(
    psf: Any,
    amplitude: float,
    background: float,
    x0: float = 0.0,
    y0: float = 0.0,
    step_px: float = 0.01,
) -> tuple[float, float]:
    """Return the CRLB (standard deviations, px) of x and y for one particle of ``psf``.

    Position, amplitude and background are estimated jointly; the shape of the image is
    known. Shot noise only (a camera with read noise adds ``read_noise^2`` to every
    ``mu_k`` and raises the bound).

    Parameters
    ----------
    psf : object
        Anything with ``render(shape, x, y, amplitude)`` returning expected photons without
        background, and ``half_width_px`` (the ``livetrack.simulate`` PSFs).
    amplitude : float
        The particle's amplitude as ``psf.render`` takes it.
    background : float
        Background photons per pixel (> 0).
    x0, y0 : float
        Sub-pixel position of the particle relative to a pixel centre.
    step_px : float
        Central-difference step.

    Returns
    -------
    tuple of float
        ``(sigma_x, sigma_y)`` in pixels.
    """
    if not background > 0:
        raise InputError(f"background must be > 0 photons per pixel, got {background}")
    half = int(psf.half_width_px) + 2
    shape = (2 * half + 1, 2 * half + 1)
    cx, cy = half + float(x0), half + float(y0)

    def image(x: float, y: float, a: float) -> np.ndarray:
        return np.asarray(psf.render(shape, [x], [y], [a]), dtype=np.float64)

    mu = background + image(cx, cy, amplitude)
    if np.any(mu <= 0):
        raise InputError("the expected image has pixels at or below zero photons")
    h = float(step_px)
    d_x = (image(cx + h, cy, amplitude) - image(cx - h, cy, amplitude)) / (2 * h)
    d_y = (image(cx, cy + h, amplitude) - image(cx, cy - h, amplitude)) / (2 * h)
    d_a = image(cx, cy, amplitude) / amplitude
    d_b = np.ones_like(mu)
    grads = np.stack([g.ravel() for g in (d_x, d_y, d_a, d_b)])
    fisher = (grads / mu.ravel()) @ grads.T
    cov = np.linalg.inv(fisher)
    return float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1]))
