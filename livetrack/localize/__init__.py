"""Classical particle localizers: Crocker-Grier centroid, radial symmetry, Gaussian MLE.

All share one detection step (bandpass, local maxima, automatic noise-based thresholds) and
return DataFrames in trackpy's convention: x is the column and y the row in pixels, the
centre of pixel (0, 0) is (0, 0), with columns frame, x, y, mass plus method-specific ones.
"""

from livetrack.localize._detect import bandpass, window_stack
from livetrack.localize._fixed_pattern import remove_stripes, stripe_profiles
from livetrack.localize._localizers import (
    METHODS,
    CentroidLocalizer,
    GaussianMLELocalizer,
    Localizer,
    RadialSymmetryLocalizer,
    TruthLocalizer,
    locate,
    make_localizer,
)
from livetrack.localize._mle import (
    GaussianFit,
    StepLimits,
    crlb_xy,
    fisher_scoring,
    fit_gaussian_mle,
    pixel_gaussian_model,
)
from livetrack.localize._multi import (
    Emitters,
    group_neighbours,
    render_gaussians,
    resolve_crowded,
)
from livetrack.localize._options import (
    CentroidOptions,
    DetectionOptions,
    GaussianMLEOptions,
    RadialSymmetryOptions,
)
from livetrack.localize._overlay import (
    OverlayPlan,
    apply_overlay_plan,
    overlay_mask,
    plan_overlays,
    remove_overlays,
)
from livetrack.localize._radial import radial_symmetry_center
from livetrack.localize._scale import FeatureScale, bin_frames, measure_feature_scale
from livetrack.localize._tbd import (
    choose_evidence_threshold,
    choose_fdr_threshold,
    evidence_peaks,
    forward_evidence,
    frame_evidence,
    path_evidence,
    shuffled_frames,
    sum_along_paths,
)

__all__ = [
    "METHODS",
    "CentroidLocalizer",
    "CentroidOptions",
    "DetectionOptions",
    "Emitters",
    "FeatureScale",
    "GaussianFit",
    "GaussianMLELocalizer",
    "GaussianMLEOptions",
    "Localizer",
    "OverlayPlan",
    "RadialSymmetryLocalizer",
    "RadialSymmetryOptions",
    "StepLimits",
    "TruthLocalizer",
    "apply_overlay_plan",
    "bandpass",
    "bin_frames",
    "choose_evidence_threshold",
    "choose_fdr_threshold",
    "crlb_xy",
    "evidence_peaks",
    "fisher_scoring",
    "fit_gaussian_mle",
    "forward_evidence",
    "frame_evidence",
    "group_neighbours",
    "locate",
    "make_localizer",
    "measure_feature_scale",
    "overlay_mask",
    "path_evidence",
    "pixel_gaussian_model",
    "plan_overlays",
    "radial_symmetry_center",
    "remove_overlays",
    "remove_stripes",
    "render_gaussians",
    "resolve_crowded",
    "shuffled_frames",
    "stripe_profiles",
    "sum_along_paths",
    "window_stack",
]
