"""Choosing the localizer a live session uses when the caller names none."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from livetrack._errors import LivetrackError
from livetrack.pipeline._tracker import Callback, Tracker, TrackerOptions

__all__ = ["default_localizer", "default_tracker", "localizer_name"]

log = logging.getLogger("livetrack.pipeline")


def default_localizer(model: str = "spots") -> Any:
    """Return the shipped CNN localizer if it can be loaded, else the classical centroid.

    Parameters
    ----------
    model
        Name of the shipped CNN model (``livetrack.infer.CNNLocalizer(model)``).

    Returns
    -------
    object
        An object satisfying the ``Localizer`` protocol
        (``locate(image, frame=0) -> DataFrame``).
    """
    try:
        from livetrack.infer import CNNLocalizer
    except ImportError as exc:
        log.info("CNN inference unavailable (%s); using the centroid localizer", exc)
    else:
        try:
            return CNNLocalizer(model)
        except (LivetrackError, OSError) as exc:
            log.info("CNN model %r unavailable (%s); using the centroid localizer", model, exc)
    from livetrack.localize import CentroidLocalizer

    return CentroidLocalizer()


def localizer_name(localizer: Any) -> str:
    """Return a short human-readable name for a localizer (for headers and reports)."""
    name = type(localizer).__name__
    model = getattr(getattr(localizer, "spec", None), "name", None)
    if model is None:
        model = getattr(localizer, "model", None)
    if isinstance(model, str):
        return f"{name}({model})"
    return name


def default_tracker(
    localizer: Any = None,
    *,
    search_range_px: float = 5.0,
    memory: int = 2,
    callbacks: Sequence[Callback] = (),
    options: TrackerOptions | None = None,
) -> Tracker:
    """Return a :class:`Tracker` with the default localizer and an online linker.

    Parameters
    ----------
    localizer
        Any ``Localizer``; None = :func:`default_localizer` (CNN if available).
    search_range_px, memory
        Options of ``livetrack.link.Linker``.
    callbacks, options
        Passed to :class:`Tracker`.
    """
    from livetrack.link import Linker

    if localizer is None:
        localizer = default_localizer()
    linker = Linker(search_range_px=search_range_px, memory=memory)
    return Tracker(localizer, linker, callbacks=callbacks, options=options)
