"""Benchmarks of livetrack against simulated ground truth and the Cramér–Rao bound."""

from livetrack.bench._accuracy import AccuracyRow, run_accuracy
from livetrack.bench._report import accuracy_frame, accuracy_markdown, plot_rmse_vs_snr
from livetrack.bench._scenes import Scene, accuracy_suite

__all__ = [
    "AccuracyRow",
    "Scene",
    "accuracy_frame",
    "accuracy_markdown",
    "accuracy_suite",
    "plot_rmse_vs_snr",
    "run_accuracy",
]
