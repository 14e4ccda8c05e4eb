"""Choosing the localizer a live session uses when the caller names none."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livetrack._extras import require
from livetrack.pipeline._tracker import Callback, Tracker, TrackerOptions

__all__ = ["default_localizer", "default_tracker", "localizer_name"]


def default_localizer(model: str = "auto") -> Any:
    """Return the CNN localizer of ``model``: the localizer a live session uses by default.

    ``"auto"`` (the default) is :class:`livetrack.infer.AutoLocalizer`: it measures the
    particles' size, polarity and noise on the first frame and logs what it chose. Built
    for a live stream (``live=True``): no joint fits of crowded detections.

    There is no silent fallback to a classical localizer: a session that asked for the CNN
    and got the centroid would record worse tracks without saying so.

    Parameters
    ----------
    model
        ``"auto"``, or a model name or folder (``livetrack.infer.CNNLocalizer(model)``);
        built by :func:`livetrack.registry.make_localizer` as ``auto`` or ``cnn``.

    Returns
    -------
    object
        An object satisfying the ``Localizer`` protocol
        (``locate(image, frame=0) -> DataFrame``).

    Raises
    ------
    ModelFileError
        If the model is missing or unreadable; the one-line message says where it looked.
    MissingExtraError
        If ONNX Runtime is not installed (one line: what to install).
    """
    # The CNN's CPU engine; without it "auto" would fall to torch, not installed either.
    require("onnxruntime", "the CNN localizer")
    from livetrack.registry import make_localizer

    # A folder is passed as the model, not parsed: its name may look like a flag.
    if model == "auto":
        return make_localizer("auto", live=True)
    return make_localizer("cnn", live=True, model=model)


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
        Any ``Localizer``; None = :func:`default_localizer` (the CNN; an error if it cannot load).
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
