"""A real Micro-Manager core (pymmcore-plus ``UniMMCore``) running the simulated microscope."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import re
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pymmcore_plus.experimental.unicore import UniMMCore

from livetrack._errors import InputError
from livetrack.acquire._devices import SimulatedCamera, SimulatedXYStage
from livetrack.acquire._sample import MicroscopeOptions, SimulatedSample

__all__ = [
    "CAMERA_LABEL",
    "XY_STAGE_LABEL",
    "SimulatedCore",
    "pycromanager_backend",
    "simulated_core",
    "snake_case_core",
]

CAMERA_LABEL = "SimCamera"
XY_STAGE_LABEL = "SimXYStage"
PIXEL_CONFIG = "SimPixelSize"


class SimulatedCore(UniMMCore):
    """``UniMMCore`` with the simulated camera and stage loaded.

    ``core.sample`` (the :class:`SimulatedSample`) and ``core.microscope``
    (the :class:`MicroscopeOptions`) give tests access to the ground truth the
    tracker must not see.
    """

    sample: SimulatedSample
    microscope: MicroscopeOptions


_LIVE_CORES: weakref.WeakSet = weakref.WeakSet()
_EXIT_HOOK_REGISTERED = False


def _silence_cores_at_exit() -> None:
    # MMCore delivers notifications on its own thread. A core still alive when the
    # interpreter finalizes is destroyed late; its destructor's notifications then
    # call into a finalizing Python and the process aborts ("FATAL: exception not
    # rethrown", seen with a plain CMMCorePlus too). Unhooking the relay first avoids it.
    import pymmcore

    for core in list(_LIVE_CORES):
        with contextlib.suppress(Exception):
            pymmcore.CMMCore.registerCallback(core, None)


def _build(cls: type[SimulatedCore], options: MicroscopeOptions) -> SimulatedCore:
    global _EXIT_HOOK_REGISTERED
    # An existing directory as mm_path: skips the search for an installed
    # Micro-Manager (none is needed: every device here is a Python device).
    core = cls(mm_path=str(Path(__file__).parent))
    _LIVE_CORES.add(core)
    if not _EXIT_HOOK_REGISTERED:
        # Registered after the core (LIFO): runs before pymmcore-plus's own exit cleanup.
        atexit.register(_silence_cores_at_exit)
        _EXIT_HOOK_REGISTERED = True
    sample = SimulatedSample(options)
    stage = SimulatedXYStage()
    camera = SimulatedCamera(sample, stage)
    core.loadPyDevice(XY_STAGE_LABEL, stage)
    core.loadPyDevice(CAMERA_LABEL, camera)
    core.initializeAllDevices()
    core.setCameraDevice(CAMERA_LABEL)
    core.setXYStageDevice(XY_STAGE_LABEL)
    core.definePixelSizeConfig(PIXEL_CONFIG)
    size = options.reported_pixel_size_um
    core.setPixelSizeUm(PIXEL_CONFIG, size)
    core.setPixelSizeAffine(PIXEL_CONFIG, [size, 0.0, 0.0, 0.0, size, 0.0])
    core.setPixelSizeConfig(PIXEL_CONFIG)
    core.setExposure(options.exposure_ms)
    core.sample = sample
    core.microscope = options
    return core


def simulated_core(
    options: MicroscopeOptions | None = None,
    *,
    circular_buffer_mb: int | None = None,
    **overrides: Any,
) -> SimulatedCore:
    """Start a Micro-Manager core whose camera images a simulated diffusing sample.

    Parameters
    ----------
    options
        The microscope; defaults to :class:`MicroscopeOptions()`.
    circular_buffer_mb
        Size of the core's circular buffer for sequence acquisitions; None keeps
        pymmcore-plus's default (1 GB, touched page by page as the ring first
        fills, which shows as resident-memory growth early in long runs).
    **overrides
        Fields of :class:`MicroscopeOptions` to change, e.g. ``shape=(256, 256)``,
        ``rotation_deg=5``, ``diffusion_um2_per_frame=0.01``.

    Returns
    -------
    SimulatedCore
        A ``pymmcore_plus.experimental.unicore.UniMMCore`` with camera
        ``"SimCamera"`` and XY stage ``"SimXYStage"`` loaded and selected and a
        pixel-size configuration reporting the nominal pixel size. Snaps,
        sequence acquisitions, ``core.mda.run`` all work.

    Examples
    --------
    >>> core = simulated_core(shape=(128, 128), n_particles=20)  # doctest: +SKIP
    >>> core.snapImage(); image = core.getImage()  # doctest: +SKIP
    """
    options = dataclasses.replace(options or MicroscopeOptions(), **overrides)
    core = _build(SimulatedCore, options)
    if circular_buffer_mb is not None:
        if circular_buffer_mb < 1:
            raise InputError(f"circular_buffer_mb must be >= 1, got {circular_buffer_mb}")
        core.setCircularBufferMemoryFootprint(int(circular_buffer_mb))
    return core


def _camel_to_snake(name: str) -> str:
    # The same conversion mmpycorex applies to CMMCore for pycromanager's Python backend.
    s1 = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", s1).lower()


def _no_preparation(self: Any, camera_label: str) -> None:
    return None


def _snake_case_class(base: type) -> type:
    attrs: dict[str, Any] = {}
    for name in dir(base):
        if name.startswith("_"):
            continue
        value = getattr(base, name, None)
        snake = _camel_to_snake(name)
        if callable(value) and snake != name and not hasattr(base, snake):
            attrs[snake] = value

    from mmpycorex.launcher import TaggedImage, get_tagged_image, pop_next_tagged_image

    # pycromanager calls this before sequences; it is a deprecated no-op in MMCore >= 11.13
    # and the Python camera needs no preparation, so skip the deprecation warning.
    attrs["prepare_sequence_acquisition"] = _no_preparation
    attrs["TaggedImage"] = TaggedImage
    attrs["get_tagged_image"] = get_tagged_image
    attrs["pop_next_tagged_image"] = pop_next_tagged_image
    return type(base.__name__ + "SnakeCase", (base,), attrs)


_SNAKE_CLASS: type | None = None


def snake_case_core(options: MicroscopeOptions | None = None, **overrides: Any) -> SimulatedCore:
    """Like :func:`simulated_core`, with snake_case aliases for pycromanager's Python backend.

    pycromanager's Python backend drives a core through snake_case method
    names (``snap_image``, ``pop_next_tagged_image``, ...), which mmpycorex
    builds from ``CMMCore``; this builds the same from ``UniMMCore``, keeping
    every camelCase method too.
    """
    global _SNAKE_CLASS
    if _SNAKE_CLASS is None:
        _SNAKE_CLASS = _snake_case_class(SimulatedCore)
    options = dataclasses.replace(options or MicroscopeOptions(), **overrides)
    return _build(_SNAKE_CLASS, options)


@contextlib.contextmanager
def pycromanager_backend(core: Any) -> Iterator[Any]:
    """Make ``core`` the core of pycromanager's Python backend for the duration.

    Inside, ``pycromanager.Acquisition(...)`` creates a Python-backend
    acquisition driving ``core`` (as after ``pycromanager.start_headless(...,
    python_backend=True)``, but with our core instead of a core loading a
    Micro-Manager installation's adapters).

    Parameters
    ----------
    core
        A core with snake_case methods, from :func:`snake_case_core`.
    """
    from mmpycorex import launcher
    from pycromanager.acquisition.acq_eng_py.internal.engine import Engine

    if launcher._PYMMCORES:
        raise RuntimeError("a pycromanager Python backend is already running in this process")
    launcher._PYMMCORES.append(core)
    engine = Engine(core)
    try:
        yield core
    finally:
        launcher._PYMMCORES.clear()
        engine.shutdown()
        # Engine is a process-wide singleton: forget it so the next backend gets a fresh one.
        if getattr(Engine, "singleton", None) is engine:
            del Engine.singleton
