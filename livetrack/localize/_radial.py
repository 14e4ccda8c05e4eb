"""Radial-symmetry centre (Parthasarathy 2012), vectorized over a stack of windows."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def radial_symmetry_center(
    windows: np.ndarray, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Centre of radial symmetry of each window of a stack.

    Intensity gradients are taken at the corners between pixels with the Roberts cross,
    smoothed with a 3x3 average, and each gradient defines a line through its corner. The
    centre is the point with the least weighted squared perpendicular distance to all lines,
    the weight being the squared gradient magnitude divided by the distance of the corner from
    the gradient-magnitude centroid. Lines are handled as unit direction vectors rather than
    slopes, which is the same least-squares problem without the special cases for vertical
    lines. Works for any radially symmetric pattern: spots, bright- or dark-centred rings.

    Parameters
    ----------
    windows : numpy.ndarray
        ``(n, h, w)`` stack of windows (h, w >= 3).
    valid : numpy.ndarray, optional
        Boolean ``(n, h, w)`` mask of real pixels (False for padding beyond the frame
        border); corners touching an invalid pixel are ignored.

    Returns
    -------
    dy, dx : numpy.ndarray
        Centre relative to the window centre (row, column offsets in pixels). NaN where a
        window has no usable gradient (for example a flat window).

    References
    ----------
    R. Parthasarathy, "Rapid, accurate particle tracking by calculation of radial symmetry
    centers", Nat. Methods 9, 724-726 (2012).
    """
    img = np.asarray(windows, dtype=np.float64)
    _, h, w = img.shape
    # Roberts cross at the corner between rows i, i+1 and columns j, j+1.
    du = img[:, :-1, 1:] - img[:, 1:, :-1]
    dv = img[:, :-1, :-1] - img[:, 1:, 1:]
    if valid is not None:
        ok = (valid[:, :-1, :-1] & valid[:, :-1, 1:] & valid[:, 1:, :-1] & valid[:, 1:, 1:]).astype(
            np.float64
        )
    else:
        ok = np.ones(du.shape)
    du = du * ok
    dv = dv * ok
    # 3x3 mean of the gradients as in the paper (MATLAB conv2(..., 'same')). Near the frame
    # border the mean covers only the real corners, so it belongs to their mean position, not
    # to the central corner; using that position removes the bias of a window cut by the
    # border. Beyond the window edge we keep the paper's zero padding (positions unchanged),
    # whose errors cancel by symmetry in an uncut window.
    fdu = ndimage.uniform_filter(du, size=(1, 3, 3), mode="constant")
    fdv = ndimage.uniform_filter(dv, size=(1, 3, 3), mode="constant")
    yc = np.arange(h - 1, dtype=np.float64) + 0.5 - (h - 1) / 2
    xc = np.arange(w - 1, dtype=np.float64) + 0.5 - (w - 1) / 2
    if valid is None:
        ym = np.broadcast_to(yc[:, None], du.shape[1:])[None]
        xm = np.broadcast_to(xc[None, :], du.shape[1:])[None]
    else:
        okp = np.pad(ok, ((0, 0), (1, 1), (1, 1)), constant_values=1.0)
        ycp = np.concatenate([[yc[0] - 1], yc, [yc[-1] + 1]])
        xcp = np.concatenate([[xc[0] - 1], xc, [xc[-1] + 1]])
        cnt = ndimage.uniform_filter(okp, size=(1, 3, 3), mode="constant")[:, 1:-1, 1:-1]
        cnt = np.where(cnt > 0, cnt, 1.0)
        ym = ndimage.uniform_filter(okp * ycp[None, :, None], size=(1, 3, 3), mode="constant")
        xm = ndimage.uniform_filter(okp * xcp[None, None, :], size=(1, 3, 3), mode="constant")
        ym = ym[:, 1:-1, 1:-1] / cnt
        xm = xm[:, 1:-1, 1:-1] / cnt
    # Gradient in (column, row) coordinates from the two diagonal differences.
    gx = 0.5 * (fdu - fdv)
    gy = -0.5 * (fdu + fdv)
    mag2 = gx**2 + gy**2
    mag2 = mag2 * ok
    tot = mag2.sum(axis=(1, 2))
    tot_safe = np.where(tot > 0, tot, 1.0)
    cy = (mag2 * ym).sum(axis=(1, 2)) / tot_safe
    cx = (mag2 * xm).sum(axis=(1, 2)) / tot_safe
    dist = np.sqrt((xm - cx[:, None, None]) ** 2 + (ym - cy[:, None, None]) ** 2 + 1e-12)
    wgt = mag2 / dist
    mag2_safe = np.where(mag2 > 0, mag2, 1.0)
    # Projector onto the normal of each line: I - g g^T / |g|^2.
    pxx = np.where(mag2 > 0, gy**2 / mag2_safe, 0.0) * wgt
    pyy = np.where(mag2 > 0, gx**2 / mag2_safe, 0.0) * wgt
    pxy = np.where(mag2 > 0, -gx * gy / mag2_safe, 0.0) * wgt
    axx = pxx.sum(axis=(1, 2))
    ayy = pyy.sum(axis=(1, 2))
    axy = pxy.sum(axis=(1, 2))
    bx = (pxx * xm + pxy * ym).sum(axis=(1, 2))
    by = (pxy * xm + pyy * ym).sum(axis=(1, 2))
    det = axx * ayy - axy**2
    good = det > 1e-12 * np.maximum(axx * ayy, 1e-300)
    det_safe = np.where(good, det, 1.0)
    x = np.where(good, (ayy * bx - axy * by) / det_safe, np.nan)
    y = np.where(good, (axx * by - axy * bx) / det_safe, np.nan)
    return y, x
