"""Train CNN localizers on simulated data (``livetrack train RECIPE.toml``)."""

from typing import Any

from livetrack.train._config import (
    DataConfig,
    OptimConfig,
    TrainConfig,
    ValidationConfig,
    config_from_dict,
    load_recipe,
)

__all__ = [
    "DataConfig",
    "OptimConfig",
    "TrainConfig",
    "TrainResult",
    "ValidationConfig",
    "calibrate",
    "config_from_dict",
    "load_recipe",
    "make_batch",
    "recalibrate_thresholds",
    "train",
    "write_rates",
    "write_report",
]


def __getattr__(name: str) -> Any:
    # The loop imports torch; keep `import livetrack.train` light.
    # `calibrate` is the former name of `recalibrate_thresholds` (the detection threshold,
    # not livetrack.calibrate's camera and particles).
    if name in ("train", "TrainResult", "calibrate", "recalibrate_thresholds"):
        from livetrack.train import _loop

        return getattr(_loop, name)
    if name == "write_rates":
        # The measurement runs the localizer, so it lives beside it in livetrack.infer.
        from livetrack.infer import write_rates

        return write_rates
    if name == "write_report":
        from livetrack.train._report import write_report

        return write_report
    if name == "make_batch":
        from livetrack.train._data import make_batch

        return make_batch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
