"""Benchmarks of livetrack against simulated ground truth, the Cramér–Rao bound and real video."""

from livetrack.bench._accuracy import AccuracyRow, run_accuracy, scene_crlb_px
from livetrack.bench._live import live_markdown, run_live
from livetrack.bench._localizers import available_localizers
from livetrack.bench._real import (
    RealRow,
    RealScore,
    Source,
    UserParams,
    find_realdata,
    lookalike_sources,
    real_frame,
    real_localizers,
    real_markdown,
    real_sources,
    run_real,
    score_real,
)
from livetrack.bench._report import accuracy_frame, accuracy_markdown, plot_rmse_vs_snr
from livetrack.bench._scenes import Scene, accuracy_suite
from livetrack.bench._speed import SpeedResult, measure_speed, speed_markdown

__all__ = [
    "AccuracyRow",
    "RealRow",
    "RealScore",
    "Scene",
    "Source",
    "SpeedResult",
    "UserParams",
    "accuracy_frame",
    "accuracy_markdown",
    "accuracy_suite",
    "available_localizers",
    "find_realdata",
    "live_markdown",
    "lookalike_sources",
    "measure_speed",
    "plot_rmse_vs_snr",
    "real_frame",
    "real_localizers",
    "real_markdown",
    "real_sources",
    "run_accuracy",
    "run_live",
    "run_real",
    "scene_crlb_px",
    "score_real",
    "speed_markdown",
]
