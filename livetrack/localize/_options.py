"""Frozen option dataclasses for the classical localizers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from livetrack._errors import InputError

Polarity = Literal["bright", "dark", "abs"]
_POLARITIES = ("bright", "dark", "abs")


@dataclass(frozen=True)
class DetectionOptions:
    """Options of the detection step shared by all classical localizers.

    Parameters
    ----------
    diameter_px : int
        Odd feature diameter in pixels: the boxcar background size of the bandpass, the
        disc over which mass is summed and the refinement window (``diameter_px`` square).
    separation_px : float or None
        Minimum distance between two detections; the dimmer one of a closer pair is dropped.
        None means ``diameter_px // 2 + 1``.
    noise_size_px : float
        Standard deviation of the Gaussian low-pass of the bandpass filter.
    threshold : float or None
        Minimum bandpassed peak value of a detection, in photons if `camera` is set and in
        image units otherwise. None chooses ``threshold_sigma`` times the robust (MAD) noise
        of the bandpassed image.
    threshold_sigma : float
        Multiple of the bandpassed-image noise used when `threshold` is None.
    minmass : float or None
        Minimum integrated bandpassed intensity inside the disc of `diameter_px` (of the
        absolute value with ``polarity="abs"``). None chooses ``minmass_sigma`` times the
        noise of that sum, predicted from the pixel noise (with ``"abs"``: measured as median
        plus ``minmass_sigma`` MADs of the disc sums over a grid of background positions).
    minmass_sigma : float
        Multiple of the mass noise used when `minmass` is None.
    polarity : {"bright", "dark", "abs"}
        Detect bright features, dark features (inverted image) or both (absolute value of
        the bandpassed image; finds bright- and dark-centred rings alike).
    camera : Camera or None
        Camera model whose ``to_photons(adu)`` converts the frame to photons before anything
        else; None takes the frame to be in photons already.
    """

    diameter_px: int = 7
    separation_px: float | None = None
    noise_size_px: float = 1.0
    threshold: float | None = None
    threshold_sigma: float = 3.0
    minmass: float | None = None
    minmass_sigma: float = 4.0
    polarity: Polarity = "bright"
    camera: Any | None = None

    def __post_init__(self) -> None:
        d = self.diameter_px
        if isinstance(d, bool) or int(d) != d or d < 3 or d % 2 == 0:
            raise InputError(f"diameter_px must be an odd integer >= 3, got {d!r}")
        object.__setattr__(self, "diameter_px", int(d))
        if self.separation_px is not None and not self.separation_px > 0:
            raise InputError(f"separation_px must be positive, got {self.separation_px!r}")
        if not 0 < self.noise_size_px < self.diameter_px / 2:
            raise InputError(
                f"noise_size_px must be in (0, diameter_px / 2), got {self.noise_size_px!r}"
            )
        if not (self.threshold_sigma >= 0 and self.minmass_sigma >= 0):
            raise InputError("threshold_sigma and minmass_sigma must be >= 0")
        if self.polarity not in _POLARITIES:
            raise InputError(f"polarity must be one of {_POLARITIES}, got {self.polarity!r}")
        if self.camera is not None and not hasattr(self.camera, "to_photons"):
            raise InputError(
                "camera must have a to_photons(adu) method (livetrack.simulate.Camera)"
            )

    @property
    def half_px(self) -> int:
        """Half width of the refinement window, ``diameter_px // 2``."""
        return self.diameter_px // 2

    @property
    def separation(self) -> float:
        """Effective minimum separation in pixels."""
        if self.separation_px is None:
            return float(self.half_px + 1)
        return float(self.separation_px)


@dataclass(frozen=True)
class CentroidOptions(DetectionOptions):
    """Options of :class:`CentroidLocalizer` (Crocker & Grier 1996).

    Parameters
    ----------
    max_iterations : int
        Maximum number of window re-centrings of the centroid refinement.
    shift_threshold_px : float
        The window is moved by the rounded offset when the centroid is further than this
        from the window centre along any axis (trackpy uses 0.6).
    """

    max_iterations: int = 10
    shift_threshold_px: float = 0.6

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_iterations < 0:
            raise InputError(f"max_iterations must be >= 0, got {self.max_iterations!r}")
        if not self.shift_threshold_px > 0.5:
            raise InputError(f"shift_threshold_px must be > 0.5, got {self.shift_threshold_px!r}")


@dataclass(frozen=True)
class RadialSymmetryOptions(DetectionOptions):
    """Options of :class:`RadialSymmetryLocalizer` (Parthasarathy 2012).

    Parameters
    ----------
    window_px : int or None
        Odd side of the square window around each detection; None means `diameter_px`.
    smooth_input : bool
        Compute gradients on the Gaussian low-passed image (sigma `noise_size_px`) instead of
        the raw frame. Convolution with a radially symmetric kernel keeps the symmetry
        centre, and the extra smoothing lowers noise at low SNR.
    recentre : bool
        Repeat the fit once with the window centred on the rounded first estimate.
    """

    window_px: int | None = None
    smooth_input: bool = False
    recentre: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        w = self.window_px
        if w is not None and (int(w) != w or w < 3 or w % 2 == 0):
            raise InputError(f"window_px must be an odd integer >= 3, got {w!r}")

    @property
    def window_half_px(self) -> int:
        """Half width of the fitting window."""
        return self.half_px if self.window_px is None else int(self.window_px) // 2


@dataclass(frozen=True)
class GaussianMLEOptions(DetectionOptions):
    """Options of :class:`GaussianMLELocalizer` (Smith et al. 2010).

    Parameters
    ----------
    sigma_px : float
        PSF standard deviation: the starting value, or the fixed value if `fit_sigma` is False.
    fit_sigma : bool
        Fit sigma as a fifth parameter.
    window_px : int or None
        Odd side of the square fitting window; None means `diameter_px`.
    iterations : int
        Maximum number of Newton-Raphson iterations.
    tolerance_px : float
        Iterations stop once no position moves by more than this.
    """

    sigma_px: float = 1.0
    fit_sigma: bool = True
    window_px: int | None = None
    iterations: int = 30
    tolerance_px: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.sigma_px > 0:
            raise InputError(f"sigma_px must be positive, got {self.sigma_px!r}")
        w = self.window_px
        if w is not None and (int(w) != w or w < 3 or w % 2 == 0):
            raise InputError(f"window_px must be an odd integer >= 3, got {w!r}")
        if self.iterations < 1:
            raise InputError(f"iterations must be >= 1, got {self.iterations!r}")
        if self.polarity != "bright":
            raise InputError(
                f"the Gaussian MLE fits bright spots; polarity must be 'bright', "
                f"got {self.polarity!r}"
            )

    @property
    def window_half_px(self) -> int:
        """Half width of the fitting window."""
        return self.half_px if self.window_px is None else int(self.window_px) // 2
