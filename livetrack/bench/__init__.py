"""Benchmarks of livetrack against simulated ground truth, the Cramér–Rao bound and real video.

The names are imported lazily, each from its suite's module when first used: ``bench
speed`` measures the peak memory of a fresh process that imports only the speed suite, so
the other suites' imports (scipy's optimizers, the real-video readers) must not count.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livetrack.bench._accuracy import AccuracyRow, run_accuracy, scene_crlb_px
    from livetrack.bench._live import live_markdown, run_live
    from livetrack.bench._localizers import available_localizers
    from livetrack.bench._real import (
        RealRow,
        RealScore,
        Source,
        UserParams,
        cpu_name,
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

# The module of each public name.
_MODULES = {
    "_accuracy": ("AccuracyRow", "run_accuracy", "scene_crlb_px"),
    "_live": ("live_markdown", "run_live"),
    "_localizers": ("available_localizers",),
    "_real": (
        "RealRow",
        "RealScore",
        "Source",
        "UserParams",
        "cpu_name",
        "find_realdata",
        "lookalike_sources",
        "real_frame",
        "real_localizers",
        "real_markdown",
        "real_sources",
        "run_real",
        "score_real",
    ),
    "_report": ("accuracy_frame", "accuracy_markdown", "plot_rmse_vs_snr"),
    "_scenes": ("Scene", "accuracy_suite"),
    "_speed": ("SpeedResult", "measure_speed", "speed_markdown"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

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
    "cpu_name",
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


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'livetrack.bench' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"livetrack.bench.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
