"""The localizers the benchmarks compare, built per scene."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def _cnn(model: str) -> Callable[[Scene, object], Locate]:
    cache: dict[str, object] = {}

    def factory(scene: Scene, camera: object) -> Locate:
        if "localizer" not in cache:
            from livetrack.infer import CNNLocalizer

            cache["localizer"] = CNNLocalizer(model=model)
        return cache["localizer"].locate  # type: ignore[attr-defined]

    return factory


def _shipped_models() -> list[str]:
    try:
        from livetrack.model import available_models
    except ImportError:
        return []
    return list(available_models())


def available_localizers(
    names: Sequence[str] | None = None,
) -> dict[str, Callable[[Scene, object], Locate]]:
    """Factories for the requested localizers, or for every available one.

    Parameters
    ----------
    names
        ``centroid``, ``radial``, ``mle`` or ``cnn:<model>``; None means the three
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
        elif name.startswith("cnn:") and name[4:] in shipped:
            factories[name] = _cnn(name[4:])
        else:
            known = ", ".join([*CLASSICAL, *(f"cnn:{m}" for m in shipped)])
            raise InputError(f"unknown localizer {name!r}; available: {known}")
    return factories
