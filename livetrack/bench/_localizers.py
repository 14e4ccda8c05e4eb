"""The localizers the benchmarks compare, built per scene."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack.bench._scenes import Scene

__all__ = ["CLASSICAL", "available_localizers"]

CLASSICAL = ("centroid", "radial", "mle")

Locate = Callable[[np.ndarray, int], pd.DataFrame]


def _classical(method: str) -> Callable[[Scene, object], Locate]:
    def factory(scene: Scene, camera: object) -> Locate:
        from livetrack.localize import make_localizer

        # The feature size is what a user tunes per kind of particle. Rings can be
        # dark-centred, so they are detected on the magnitude of the bandpass; the
        # Gaussian fit only models bright spots and is shown as it does on them.
        polarity = "abs" if scene.group == "rings" and method != "mle" else "bright"
        localizer = make_localizer(
            method, diameter_px=scene.feature_diameter_px, camera=camera, polarity=polarity
        )
        return localizer.locate

    return factory


def _cnn(model: str, backend: str = "auto") -> Callable[[Scene, object], Locate]:
    cache: dict[str, object] = {}

    def factory(scene: Scene, camera: object) -> Locate:
        from livetrack.infer import CNNLocalizer
        from livetrack.model import load_model

        if "spec" not in cache:
            cache["spec"] = load_model(model)
        # The camera calibration is given to the CNN as to the classical methods: frames in
        # photons, and the refinement fit with the camera's photon statistics.
        loc = CNNLocalizer(model=cache["spec"], camera=camera, backend=backend)  # type: ignore[arg-type]
        return loc.locate

    return factory


def _shipped_models() -> list[str]:
    try:
        from livetrack.model import available_models
    except ImportError:
        return []
    return list(available_models())


def _strip_int8(model: str) -> str:
    return model.removesuffix(":int8")


def _is_model(model: str, shipped: list[str]) -> bool:
    return model in shipped or (Path(model) / "config.json").is_file()


def available_localizers(
    names: Sequence[str] | None = None,
) -> dict[str, Callable[[Scene, object], Locate]]:
    """Factories for the requested localizers, or for every available one.

    Parameters
    ----------
    names
        ``centroid``, ``radial``, ``mle`` or ``cnn:<model>`` (a shipped name or a model
        folder; ``cnn:<model>:int8`` runs its int8 export); None means the three
        classical methods and a CNN for every shipped model.

    Returns
    -------
    dict
        Name to factory ``(scene, camera) -> locate(frame, index)``.

    Raises
    ------
    InputError
        An unknown localizer name or a CNN model that is not shipped.
    """
    shipped = _shipped_models()
    if names is None:
        names = [*CLASSICAL, *(f"cnn:{m}" for m in shipped)]
    factories: dict[str, Callable[[Scene, object], Locate]] = {}
    for name in names:
        if name in CLASSICAL:
            factories[name] = _classical(name)
        elif name.startswith("cnn:") and _is_model(_strip_int8(name[4:]), shipped):
            model = _strip_int8(name[4:])
            factories[name] = _cnn(model, "onnxruntime-int8" if model != name[4:] else "auto")
        else:
            known = ", ".join([*CLASSICAL, *(f"cnn:{m}" for m in shipped)])
            raise InputError(f"unknown localizer {name!r}; available: {known}")
    return factories
