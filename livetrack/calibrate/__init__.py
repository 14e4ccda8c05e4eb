"""Calibration: fit livetrack to the user's camera, particles, stage and model.

Four measurements, each a self-describing file (format version, date, input hashes, the
camera's frame size and pixel type) that is refused, in one line, on data it does not fit:

- :func:`calibrate_camera`: offset, gain and read noise by photon transfer, per pixel for
  sCMOS (``livetrack calibrate camera``); :func:`load_camera` reads one back, usable as
  any localizer's ``camera``.
  :class:`PhotonLocalizer` feeds any localizer (``auto``, a live tracker's) in photons.
- :func:`calibrate_psf`: the particles' image (Gaussian width, ring radius and polarity, an
  empirical profile), SNR, background and illumination (``livetrack calibrate psf``).
- :func:`calibrate_stage_transform`: the stage <-> camera map (pixel size, rotation,
  mirror) through Micro-Manager (``livetrack calibrate stage``), for
  :class:`livetrack.feedback.Recenter` and micrometre columns.
- :func:`calibrate_model`: the closest shipped model fine-tuned to the measured camera and
  particles, with an accuracy report (``livetrack calibrate model``).

:func:`find_calibrations` lists them (``livetrack calibrations``).

Not to be confused with a model's detection-threshold recalibration
(:func:`livetrack.train.recalibrate_thresholds`) or the int8 export's reference batches.
"""

from livetrack.calibrate._camera import (
    CameraCalibration,
    calibrate_camera,
    load_camera,
    pixel_statistics,
)
from livetrack.calibrate._model import (
    CalibratedModel,
    calibrate_model,
    choose_refinement_on_measured,
    choose_threshold_on_measured,
    closest_shipped_model,
    measured_scene,
    model_recipe,
    recipe_toml,
    score_localizers,
)
from livetrack.calibrate._photons import PhotonLocalizer
from livetrack.calibrate._psf import ParticleImage, calibrate_psf, load_psf
from livetrack.calibrate._stage import (
    StageCalibration,
    calibrate_stage_transform,
    fit_stage_transform,
    load_stage,
)
from livetrack.calibrate._store import (
    CALIBRATION_FORMAT_VERSION,
    CALIBRATION_KINDS,
    CalibrationEntry,
    CalibrationHeader,
    find_calibrations,
    read_calibration,
    resolve_calibration,
    user_calibrations_dir,
    write_calibration,
)

__all__ = [
    "CALIBRATION_FORMAT_VERSION",
    "CALIBRATION_KINDS",
    "CalibratedModel",
    "CalibrationEntry",
    "CalibrationHeader",
    "CameraCalibration",
    "ParticleImage",
    "PhotonLocalizer",
    "StageCalibration",
    "calibrate_camera",
    "calibrate_model",
    "calibrate_psf",
    "calibrate_stage_transform",
    "choose_refinement_on_measured",
    "choose_threshold_on_measured",
    "closest_shipped_model",
    "find_calibrations",
    "fit_stage_transform",
    "load_camera",
    "load_psf",
    "load_stage",
    "measured_scene",
    "model_recipe",
    "pixel_statistics",
    "read_calibration",
    "recipe_toml",
    "resolve_calibration",
    "score_localizers",
    "user_calibrations_dir",
    "write_calibration",
]
