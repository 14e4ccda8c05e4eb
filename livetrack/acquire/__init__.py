"""Live acquisition: a simulated Micro-Manager microscope and hooks that feed the tracker.

:func:`simulated_core` starts a real pymmcore-plus ``UniMMCore`` whose Python
camera images diffusing particles at the XY stage's position. The hooks
(:class:`MDATracker` for pymmcore-plus, :class:`PycromanagerTracker` for
pycromanager, :func:`run_continuous` for the circular buffer) only hand frames
to a :class:`livetrack.pipeline.Tracker` and return.

pymmcore-plus and pycromanager are imported when this subpackage is (the ``mm`` extra).
"""

from livetrack._extras import needs_extra

with needs_extra("Micro-Manager acquisition (livetrack.acquire)"):
    from livetrack.acquire._core import (
        CAMERA_LABEL,
        XY_STAGE_LABEL,
        SimulatedCore,
        pycromanager_backend,
        simulated_core,
        snake_case_core,
    )
    from livetrack.acquire._devices import SimulatedCamera, SimulatedXYStage
    from livetrack.acquire._hooks import (
        ContinuousRun,
        MDATracker,
        PycromanagerTracker,
        run_continuous,
        tracks_path_beside,
    )
    from livetrack.acquire._sample import MicroscopeOptions, SimulatedSample

__all__ = [
    "CAMERA_LABEL",
    "XY_STAGE_LABEL",
    "ContinuousRun",
    "MDATracker",
    "MicroscopeOptions",
    "PycromanagerTracker",
    "SimulatedCamera",
    "SimulatedCore",
    "SimulatedSample",
    "SimulatedXYStage",
    "pycromanager_backend",
    "run_continuous",
    "simulated_core",
    "snake_case_core",
    "tracks_path_beside",
]
