"""Localizer classes, the ``locate`` convenience and the ground-truth test double."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack.localize._centroid import refine_centroid
from livetrack.localize._detect import Detections, detect, lowpass, window_stack
from livetrack.localize._input import check_image, poisson_scale, to_photons
from livetrack.localize._mle import fit_gaussian_mle
from livetrack.localize._options import (
    CentroidOptions,
    DetectionOptions,
    GaussianMLEOptions,
    RadialSymmetryOptions,
)
from livetrack.localize._radial import radial_symmetry_center
from livetrack.protocols import Localizer


def _frame_table(frame: int, cols: dict[str, np.ndarray], order: list[str]) -> pd.DataFrame:
    n = len(cols["x"])
    data: dict[str, Any] = {"frame": np.full(n, int(frame), dtype=np.int64)}
    for name in order:
        data[name] = np.asarray(cols[name], dtype=np.float64)
    return pd.DataFrame(data)


class CentroidLocalizer:
    """Crocker-Grier localizer: bandpass, local maxima, iterative centroid (trackpy's method).

    Parameters
    ----------
    options : CentroidOptions, optional
        Detection and refinement options; defaults work for spots up to ~2 px sigma.

    Notes
    -----
    Output columns: frame, x, y, mass (bandpassed intensity in the disc), size (radius of
    gyration), ecc (eccentricity, 0 for round), signal (peak bandpassed value), raw_mass
    (intensity of the unfiltered frame in the disc), all in photons when a camera is given.

    References
    ----------
    J. C. Crocker and D. G. Grier, J. Colloid Interface Sci. 179, 298-310 (1996).
    """

    columns: ClassVar[list[str]] = ["x", "y", "mass", "size", "ecc", "signal", "raw_mass"]

    def __init__(self, options: CentroidOptions | None = None) -> None:
        self.options = options if options is not None else CentroidOptions()

    def locate(self, image: np.ndarray, frame: int = 0) -> pd.DataFrame:
        """Locate the particles in one 2-D frame.

        Parameters
        ----------
        image : numpy.ndarray
            2-D frame (camera ADU if the options name a camera, else photons / any units).
        frame : int
            Value of the ``frame`` column.

        Returns
        -------
        pandas.DataFrame
            One row per particle.
        """
        photons = to_photons(check_image(image), self.options.camera)
        det = detect(photons, self.options)
        return _frame_table(frame, refine_centroid(photons, det, self.options), self.columns)


class RadialSymmetryLocalizer:
    """Detection as in Crocker-Grier, refinement by the radial-symmetry centre.

    Parameters
    ----------
    options : RadialSymmetryOptions, optional
        Options. Use ``polarity="dark"`` or ``"abs"`` (and a `diameter_px` / `separation_px`
        covering the pattern) for dark-centred rings.

    Notes
    -----
    Output columns: frame, x, y, mass and signal (bandpassed disc sum and peak of the
    detection).

    References
    ----------
    R. Parthasarathy, Nat. Methods 9, 724-726 (2012).
    """

    columns: ClassVar[list[str]] = ["x", "y", "mass", "signal"]

    def __init__(self, options: RadialSymmetryOptions | None = None) -> None:
        self.options = options if options is not None else RadialSymmetryOptions()

    def locate(self, image: np.ndarray, frame: int = 0) -> pd.DataFrame:
        """Locate the particles in one 2-D frame (see :meth:`CentroidLocalizer.locate`)."""
        opts = self.options
        photons = to_photons(check_image(image), opts.camera)
        det = detect(photons, opts)
        src = (
            lowpass(photons, opts.noise_size_px, opts.diameter_px) if opts.smooth_input else photons
        )
        half = opts.window_half_px
        h, w = src.shape
        rows, cols = det.rows, det.cols
        dy, dx = _radial(src, rows, cols, half)
        if opts.recentre and rows.size:
            # Re-centre once on the first estimate so the window is symmetric about the
            # particle; a lopsided window lets neighbours and truncation pull the fit.
            ok = np.isfinite(dy)
            r2 = np.clip(rows + np.rint(np.where(ok, dy, 0)).astype(np.int64), 0, h - 1)
            c2 = np.clip(cols + np.rint(np.where(ok, dx, 0)).astype(np.int64), 0, w - 1)
            redo = (r2 != rows) | (c2 != cols)
            if redo.any():
                dy2, dx2 = _radial(src, r2[redo], c2[redo], half)
                good = np.isfinite(dy2)
                idx = np.flatnonzero(redo)[good]
                dy[idx] = dy2[good] + (r2[idx] - rows[idx])
                dx[idx] = dx2[good] + (c2[idx] - cols[idx])
        # A fit leaving its window is a failure (no symmetric pattern): keep the detection.
        bad = ~np.isfinite(dy) | (np.abs(dy) > half) | (np.abs(dx) > half)
        dy[bad], dx[bad] = 0.0, 0.0
        out = {"x": cols + dx, "y": rows + dy, "mass": det.mass, "signal": det.peak}
        return _frame_table(frame, out, self.columns)


def _radial(src: np.ndarray, rows: np.ndarray, cols: np.ndarray, half: int):
    stack, valid = window_stack(src, rows, cols, half)
    return radial_symmetry_center(stack, valid)


class GaussianMLELocalizer:
    """Detection as in Crocker-Grier, refinement by a Poisson MLE Gaussian fit.

    Parameters
    ----------
    options : GaussianMLEOptions, optional
        Options. Give the ``camera`` so the frame is converted to photons and the Poisson
        likelihood (and the uncertainties) are right.

    Notes
    -----
    Output columns: frame, x, y, mass (fitted photons N), signal (expected photons in the
    brightest pixel of a pixel-centred spot), bg (background photons per pixel), sigma (px),
    sigma_x and sigma_y (Cramér-Rao standard deviations at the fit, px). Fits that diverge
    (non-finite or leaving their window) are dropped.

    References
    ----------
    C. S. Smith et al., Nat. Methods 7, 373-375 (2010).
    """

    columns: ClassVar[list[str]] = [
        "x",
        "y",
        "mass",
        "signal",
        "bg",
        "sigma",
        "sigma_x",
        "sigma_y",
    ]

    def __init__(self, options: GaussianMLEOptions | None = None) -> None:
        self.options = options if options is not None else GaussianMLEOptions()

    def locate(self, image: np.ndarray, frame: int = 0) -> pd.DataFrame:
        """Locate the particles in one 2-D frame (see :meth:`CentroidLocalizer.locate`)."""
        opts = self.options
        photons = to_photons(check_image(image), opts.camera)
        det: Detections = detect(photons, opts)
        scale, read_var = poisson_scale(opts.camera)
        half = opts.window_half_px
        stack, valid = window_stack(photons, det.rows, det.cols, half)
        counts = np.clip(stack * scale + read_var, 0.0, None)
        fit = fit_gaussian_mle(
            counts,
            valid,
            sigma_px=opts.sigma_px,
            fit_sigma=opts.fit_sigma,
            iterations=opts.iterations,
            tolerance_px=opts.tolerance_px,
        )
        n_ph = fit.photons / scale
        peak_frac = np.square(_erf_half(fit.sigma))
        out = {
            "x": det.cols + fit.dx,
            "y": det.rows + fit.dy,
            "mass": n_ph,
            "signal": n_ph * peak_frac,
            "bg": (fit.background - read_var) / scale,
            "sigma": fit.sigma,
            "sigma_x": fit.crlb_x,
            "sigma_y": fit.crlb_y,
        }
        ok = (
            np.isfinite(fit.dx)
            & np.isfinite(fit.dy)
            & (np.abs(fit.dx) <= half)
            & (np.abs(fit.dy) <= half)
            & (fit.photons > 0)
        )
        return _frame_table(frame, {k: v[ok] for k, v in out.items()}, self.columns)


def _erf_half(sigma: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(0.5 / (np.sqrt(2.0) * sigma))


class TruthLocalizer:
    """Test double that replays simulated ground truth as if it were detections.

    Parameters
    ----------
    truth : pandas.DataFrame
        Ground truth with columns frame, x, y and optionally visible and amplitude (as
        ``livetrack.simulate.Movie.truth``).

    Notes
    -----
    ``locate(image, frame)`` ignores the image and returns the visible particles of `frame`
    with columns frame, x, y, mass (the amplitude, NaN if absent).
    """

    def __init__(self, truth: pd.DataFrame) -> None:
        missing = {"frame", "x", "y"} - set(truth.columns)
        if missing:
            raise InputError(f"truth table lacks columns {sorted(missing)}")
        self.truth = truth

    def locate(self, image: np.ndarray | None = None, frame: int = 0) -> pd.DataFrame:
        """Return the visible ground-truth particles of `frame`."""
        t = self.truth
        sel = t["frame"].to_numpy() == frame
        if "visible" in t.columns:
            sel &= t["visible"].to_numpy(dtype=bool)
        rows = t.loc[sel]
        mass = rows["amplitude"] if "amplitude" in t.columns else np.full(len(rows), np.nan)
        return pd.DataFrame(
            {
                "frame": np.full(len(rows), int(frame), dtype=np.int64),
                "x": rows["x"].to_numpy(dtype=np.float64),
                "y": rows["y"].to_numpy(dtype=np.float64),
                "mass": np.asarray(mass, dtype=np.float64),
            }
        )


METHODS: dict[str, type] = {
    "centroid": CentroidLocalizer,
    "radial": RadialSymmetryLocalizer,
    "mle": GaussianMLELocalizer,
}

_OPTIONS: dict[str, type[DetectionOptions]] = {
    "centroid": CentroidOptions,
    "radial": RadialSymmetryOptions,
    "mle": GaussianMLEOptions,
}


def make_localizer(method: str = "centroid", **options: Any) -> Localizer:
    """Build the localizer named `method` from keyword options.

    Parameters
    ----------
    method : {"centroid", "radial", "mle"}
        Key of :data:`METHODS`.
    **options
        Fields of the method's options dataclass (e.g. ``diameter_px=9``).

    Returns
    -------
    Localizer
        The configured localizer.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    opt_cls = _OPTIONS[method]
    known = {f.name for f in fields(opt_cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(
            f"unknown option(s) {unknown} for method {method!r}; valid: {sorted(known)}"
        )
    return METHODS[method](opt_cls(**options))


def locate(frames: np.ndarray, method: str = "centroid", **options: Any) -> pd.DataFrame:
    """Locate particles in a 2-D frame or a ``(T, H, W)`` stack with a classical method.

    Parameters
    ----------
    frames : numpy.ndarray
        One frame ``(H, W)`` (reported as frame 0) or a stack ``(T, H, W)``.
    method : {"centroid", "radial", "mle"}
        Crocker-Grier centroid, radial symmetry (Parthasarathy 2012) or Poisson MLE Gaussian
        fit (Smith et al. 2010).
    **options
        Fields of :class:`CentroidOptions`, :class:`RadialSymmetryOptions` or
        :class:`GaussianMLEOptions` (e.g. ``diameter_px=9, camera=movie.camera``).

    Returns
    -------
    pandas.DataFrame
        Columns frame, x, y, mass and the method's extra columns, ordered by frame.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((32, 32)); img[10, 20] = 100.0
    >>> locate(img, method="radial")[["x", "y"]].round(2).values.tolist()
    [[20.0, 10.0]]
    """
    loc = make_localizer(method, **options)
    arr = check_image(frames, ndims=(2, 3))
    if arr.ndim == 2:
        return loc.locate(arr, frame=0)
    tables = [loc.locate(arr[t], frame=t) for t in range(arr.shape[0])]
    return pd.concat(tables, ignore_index=True)
