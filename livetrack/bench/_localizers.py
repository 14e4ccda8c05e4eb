"""The localizers the benchmarks compare, built per scene."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from livetrack._errors import InputError
from livetrack.bench._scenes import Scene

__all__ = ["CLASSICAL", "DEFAULTS", "available_localizers"]

CLASSICAL = ("centroid", "radial", "mle")
#: Exactly what ``livetrack track`` / ``livetrack.locate`` do with no options.
DEFAULTS = "defaults"

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


def _cnn(
    model: str,
    backend: str = "auto",
    refine: bool | None = None,
    threshold: str | None = None,
    window: int = 1,
) -> Callable[[Scene, object], Locate]:
    cache: dict[str, object] = {}

    def factory(scene: Scene, camera: object) -> Locate:
        from livetrack.infer import CNNLocalizer
        from livetrack.model import load_model

        if "spec" not in cache:
            cache["spec"] = load_model(model)
        # The camera calibration is given to the CNN as to the classical methods: frames in
        # photons, and the refinement fit with the camera's photon statistics.
        loc = CNNLocalizer(
            model=cache["spec"],  # type: ignore[arg-type]
            camera=camera,
            backend=backend,
            refine=refine,
            threshold=threshold,
        )
        # Temporal averaging and a model fusing neighbouring frames both need the stack.
        if window == 1 and loc.temporal_frames == 1:
            return loc.locate
        return _WindowedLocate(loc, window)

    return factory


class _WindowedLocate:
    """A CNN that uses neighbouring frames: the benchmark hands it the whole stack."""

    def __init__(self, loc: object, window: int) -> None:
        self.loc, self.window = loc, window

    def __call__(self, frame: np.ndarray, index: int) -> pd.DataFrame:
        return self.loc.locate_stack(frame[None], first_frame=index)  # type: ignore[attr-defined]

    def stack(self, frames: np.ndarray) -> pd.DataFrame:
        """Locate every frame of ``frames`` (``window``-frame averages or the model's fusion)."""
        return self.loc.locate_stack(frames, temporal_window=self.window)  # type: ignore[attr-defined]


def _defaults(scene: Scene, camera: object) -> Locate:
    """Locate as ``livetrack track`` does with no options: ``livetrack.locate`` on the movie."""
    from livetrack._api import locate

    return _WindowedLocate(_ApiLocate(locate), 1)


class _ApiLocate:
    """``livetrack.locate`` with no options, shaped like a localizer's ``locate_stack``."""

    def __init__(self, locate: Callable[..., pd.DataFrame]) -> None:
        self._locate = locate

    def locate_stack(
        self, frames: np.ndarray, first_frame: int = 0, temporal_window: int = 1
    ) -> pd.DataFrame:
        table = self._locate(frames)
        table["frame"] += first_frame
        return table


def _shipped_models() -> list[str]:
    try:
        from livetrack.model import available_models
    except ImportError:
        return []
    return list(available_models())


def parse_cnn(name: str) -> tuple[str, str, bool | None, str | None, int]:
    """Split ``cnn[:<model>][:int8][:fast][:adaptive][:t<k>]`` into its settings.

    Returns (model, backend, refine, threshold, temporal window). ``int8`` runs the model's
    int8 export on ONNX Runtime, ``fast`` skips the refinement (positions straight from the
    network), ``adaptive`` chooses the detection threshold per frame, ``t3`` detects on
    3-frame averages; the model defaults to ``spots``.
    """
    parts = name.split(":")[1:]
    windows = [p for p in parts if len(p) > 1 and p[0] == "t" and p[1:].isdigit()]
    flags = {p for p in parts if p in ("int8", "fast", "adaptive")}
    rest = [p for p in parts if p not in flags and p not in windows]
    model = ":".join(rest) or "spots"
    backend = "onnxruntime-int8" if "int8" in flags else "onnxruntime"
    refine = False if "fast" in flags else None
    threshold = "adaptive" if "adaptive" in flags else None
    return model, backend, refine, threshold, int(windows[-1][1:]) if windows else 1


def _is_model(model: str, shipped: list[str]) -> bool:
    return model in shipped or (Path(model) / "config.json").is_file()


def available_localizers(
    names: Sequence[str] | None = None,
) -> dict[str, Callable[[Scene, object], Locate]]:
    """Factories for the requested localizers, or for every available one.

    Parameters
    ----------
    names
        ``defaults`` (``livetrack.locate`` with no options), ``centroid``, ``radial``,
        ``mle`` or ``cnn:<model>`` (a shipped name or a model
        folder; ``:int8`` runs its int8 export, ``:fast`` skips refinement, ``:adaptive``
        chooses the threshold per frame, ``:t3`` detects on 3-frame averages); None means the
        defaults, the three classical methods and a CNN for every shipped model.

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
    for name in names:
        if name == DEFAULTS:
            factories[name] = _defaults
        elif name in CLASSICAL:
            factories[name] = _classical(name)
        elif name.startswith("cnn:") and _is_model(parse_cnn(name)[0], shipped):
            factories[name] = _cnn(*parse_cnn(name))
        else:
            known = ", ".join([DEFAULTS, *CLASSICAL, *(f"cnn:{m}" for m in shipped)])
            raise InputError(f"unknown localizer {name!r}; available: {known}")
    return factories
