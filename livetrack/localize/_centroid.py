"""Crocker-Grier centroid refinement, vectorized over detections."""

from __future__ import annotations

import numpy as np

from livetrack.localize._detect import Detections, disc_mask, window_stack
from livetrack.localize._options import CentroidOptions


def refine_centroid(
    photons: np.ndarray, det: Detections, opts: CentroidOptions
) -> dict[str, np.ndarray]:
    """Refine detections by the iterative centroid of the bandpassed image in a disc.

    The centroid is taken over the disc of radius ``diameter_px // 2`` in the (polarity
    corrected, negative values clipped to zero) bandpassed image. Whenever it lies more than
    `shift_threshold_px` from the disc centre along an axis, the disc moves by the rounded
    offset and the centroid is recomputed, at most `max_iterations` times (Crocker & Grier
    1996, section 4). Pixels outside the frame carry no weight, so detections at the border
    are refined rather than dropped.

    Parameters
    ----------
    photons : numpy.ndarray
        The frame in photons (for ``raw_mass``).
    det : Detections
        Output of the shared detection step.
    opts : CentroidOptions
        Options.

    Returns
    -------
    dict of numpy.ndarray
        Columns x, y, mass, size, ecc, signal, raw_mass.
    """
    half = opts.half_px
    h, w = det.bp.shape
    weights_img = np.clip(det.bp, 0.0, None)
    rows, cols = det.rows.copy(), det.cols.copy()
    disc = disc_mask(half)
    offs = np.arange(-half, half + 1, dtype=np.float64)
    active = np.arange(rows.size)
    dy = np.zeros(rows.size)
    dx = np.zeros(rows.size)
    for it in range(opts.max_iterations + 1):
        stack, valid = window_stack(weights_img, rows[active], cols[active], half)
        wts = stack * (valid & disc)
        m = wts.sum(axis=(1, 2))
        safe = np.where(m > 0, m, 1.0)
        dy[active] = np.einsum("nij,i->n", wts, offs) / safe
        dx[active] = np.einsum("nij,j->n", wts, offs) / safe
        if it == opts.max_iterations:
            break
        sy, sx = dy[active], dx[active]
        move = (np.abs(sy) > opts.shift_threshold_px) | (np.abs(sx) > opts.shift_threshold_px)
        new_r = np.clip(rows[active] + np.rint(sy).astype(np.int64) * move, 0, h - 1)
        new_c = np.clip(cols[active] + np.rint(sx).astype(np.int64) * move, 0, w - 1)
        # A window pinned against the frame border cannot move further: stop it there.
        moved = (new_r != rows[active]) | (new_c != cols[active])
        rows[active], cols[active] = new_r, new_c
        active = active[moved]
        if active.size == 0:
            break
    return _characterize(photons, weights_img, rows, cols, dy, dx, half)


def _characterize(
    photons: np.ndarray,
    weights_img: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    dy: np.ndarray,
    dx: np.ndarray,
    half: int,
) -> dict[str, np.ndarray]:
    disc = disc_mask(half)
    stack, valid = window_stack(weights_img, rows, cols, half)
    inside = valid & disc
    wts = stack * inside
    mass = wts.sum(axis=(1, 2))
    offs = np.arange(-half, half + 1, dtype=np.float64)
    ry = offs[None, :, None] - dy[:, None, None]
    rx = offs[None, None, :] - dx[:, None, None]
    r2 = ry**2 + rx**2
    safe = np.where(mass > 0, mass, 1.0)
    size = np.sqrt((wts * r2).sum(axis=(1, 2)) / safe)
    # Eccentricity as in trackpy: weighted |<exp(2i theta)>| (0 for a circular spot).
    r2s = np.where(r2 > 1e-12, r2, 1.0)
    cos2 = (rx**2 - ry**2) / r2s
    sin2 = 2 * rx * ry / r2s
    ecc = np.hypot((wts * cos2).sum(axis=(1, 2)), (wts * sin2).sum(axis=(1, 2))) / safe
    signal = wts.reshape(len(rows), -1).max(axis=1) if rows.size else np.zeros(0)
    raw, _ = window_stack(photons, rows, cols, half)
    raw_mass = (raw * inside).sum(axis=(1, 2))
    return {
        "x": cols + dx,
        "y": rows + dy,
        "mass": mass,
        "size": size,
        "ecc": ecc,
        "signal": signal,
        "raw_mass": raw_mass,
    }
