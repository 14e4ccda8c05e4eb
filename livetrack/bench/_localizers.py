"""The localizers the benchmarks compare, built per scene."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack.bench._scenes import Scene
from livetrack.registry import CLASSICAL, LocalizerName, make_localizer, parse_localizer

__all__ = ["CLASSICAL", "DEFAULTS", "available_localizers"]

#: Exactly what ``livetrack track`` / ``livetrack.locate`` do with no options.
DEFAULTS = "defaults"
# The CNN's backend where a name names none: fp32 ONNX Runtime, what the tables report.
_BACKEND = "onnxruntime"

Locate = Callable[[np.ndarray, int], pd.DataFrame]


def _classical(name: LocalizerName) -> Callable[[Scene, object], Locate]:
    def factory(scene: Scene, camera: object) -> Locate:
        # The feature size is what a user tunes per kind of particle. Rings can be
        # dark-centred, so they are detected on the magnitude of the bandpass; the
        # Gaussian fit only models bright spots and is shown as it does on them.
        polarity = "abs" if scene.group == "rings" and name.kind != "mle" else "bright"
        localizer = make_localizer(
            name, diameter_px=scene.feature_diameter_px, camera=camera, polarity=polarity
        )
        return localizer.locate

    return factory


def _cnn(name: LocalizerName) -> Callable[[Scene, object], Locate]:
    def factory(scene: Scene, camera: object) -> Locate:
        # The camera calibration is given to the CNN as to the classical methods: frames in
        # photons, and the refinement fit with the camera's photon statistics.
        loc: Any = make_localizer(name, backend=_BACKEND, camera=camera)
        # Temporal averaging and a model fusing neighbouring frames both need the stack.
        if name.window == 1 and loc.temporal_frames == 1:
            return loc.locate
        return _WindowedLocate(loc, name.window)

    return factory


def _whole_movie(name: LocalizerName) -> Callable[[Scene, object], Locate]:
    """``auto`` and ``defaults``: they choose on the movie, so they get the whole stack."""

    def factory(scene: Scene, camera: object) -> Locate:
        return _WindowedLocate(make_localizer(name, backend=_BACKEND), name.window)

    return factory


class _WindowedLocate:
    """A CNN that uses neighbouring frames: the benchmark hands it the whole stack."""

    def __init__(self, loc: Any, window: int) -> None:
        # Any localizer with the optional ``locate_stack`` hook of the Localizer protocol.
        self.loc, self.window = loc, window

    def __call__(self, frame: np.ndarray, index: int) -> pd.DataFrame:
        return self.loc.locate_stack(frame[None], first_frame=index)

    def stack(self, frames: np.ndarray) -> pd.DataFrame:
        """Locate every frame of ``frames`` (``window``-frame averages or the model's fusion)."""
        return self.loc.locate_stack(frames, temporal_window=self.window)


def _shipped_models() -> list[str]:
    try:
        from livetrack.model import available_models
    except ImportError:
        return []
    return list(available_models())


def _is_model(model: str, shipped: list[str]) -> bool:
    return model in shipped or (Path(model) / "config.json").is_file()


def available_localizers(
    names: Sequence[str] | None = None,
) -> dict[str, Callable[[Scene, object], Locate]]:
    """Factories for the requested localizers, or for every available one.

    Parameters
    ----------
    names
        Localizer names as :func:`livetrack.registry.parse_localizer` takes them:
        ``defaults`` (``livetrack.locate`` with no options), ``auto``, ``centroid``,
        ``radial``, ``mle`` or ``cnn:<model>`` (a shipped name or a model folder; ``:int8``
        runs its int8 export, ``:fast`` skips refinement, ``:adaptive`` chooses the
        threshold per frame, ``:t3`` detects on 3-frame averages; the CNN runs on fp32 ONNX
        Runtime unless the name names a backend). None means the defaults, the three
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
        names = [DEFAULTS, *CLASSICAL, *(f"cnn:{m}" for m in shipped)]
    factories: dict[str, Callable[[Scene, object], Locate]] = {}
    for text in names:
        name = parse_localizer(text)
        if name.kind in CLASSICAL:
            factories[text] = _classical(name)
        elif name.kind in ("auto", DEFAULTS):
            factories[text] = _whole_movie(name)
        elif name.kind == "cnn" and _is_model(name.model or "spots", shipped):
            factories[text] = _cnn(name)
        elif name.kind == "cnn":
            known = ", ".join([DEFAULTS, *CLASSICAL, *(f"cnn:{m}" for m in shipped)])
            raise InputError(f"unknown localizer {text!r}; available: {known}")
        else:  # a kind registered by a user: built as it is, one frame at a time
            factories[text] = _registered(name)
    return factories


def _registered(name: LocalizerName) -> Callable[[Scene, object], Locate]:
    def factory(scene: Scene, camera: object) -> Locate:
        return make_localizer(name, backend=_BACKEND).locate

    return factory
