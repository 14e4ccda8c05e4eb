import time

import numpy as np
import pandas as pd
import pymmcore
import pytest

from livetrack.acquire import simulated_core
from livetrack.feedback import (
    EXPOSURE_STAGE_TAGS,
    Recenter,
    StageTransform,
    calibrate_stage,
    exposure_stage_um,
)
from livetrack.link import Linker
from livetrack.localize import CentroidLocalizer
from livetrack.pipeline import FrameResult, Tracker

PX_UM = 0.1
# The optics the tracker must not be told: rotated camera, pixel size 10 % off the nominal one.
OPTICS = dict(
    shape=(64, 64),
    pixel_size_um=PX_UM,
    rotation_deg=20.0,
    nominal_pixel_size_um=0.11,
    realtime=False,
    exposure_ms=10.0,
)
D_UM2 = 0.5 * PX_UM**2  # 0.5 px²/frame


@pytest.fixture(scope="module")
def calibrated():
    """Calibrate on a dense bead slide under the same optics, as a user would."""
    slide = simulated_core(**OPTICS, n_particles=64, diffusion_um2_per_frame=D_UM2, seed=11)
    return calibrate_stage(slide)


def test_calibration_recovers_the_hidden_rotation_and_pixel_size(calibrated):
    assert calibrated.pixel_size_um == pytest.approx(PX_UM, rel=0.05)
    assert calibrated.rotation_deg == pytest.approx(20.0, abs=2.0)


def _follow(core, tracker, n_frames=300):
    """Snap-track loop; returns the true distance (px) of particle 0 from the centre."""
    centre = np.array([31.5, 31.5])
    dist = []
    for _ in range(n_frames):
        core.snapImage()
        tracker.step(core.getImage())
        xy = core.sample.camera_coordinates(core.getXYPosition())[0]
        dist.append(np.hypot(*(xy - centre)))
    return np.array(dist)


def _sparse_sample():
    # Few particles on a large tile: nothing else passes near the followed particle.
    core = simulated_core(
        **OPTICS, n_particles=6, tile_um=60.0, diffusion_um2_per_frame=D_UM2, seed=3
    )
    core.sample.place(0, *core.getXYPosition())  # particle 0 starts at the centre
    return core


def test_recenter_keeps_a_diffusing_particle_centred(calibrated):
    core = _sparse_sample()
    recenter = Recenter(core, transform=calibrated, settle_ms=0)  # snap after each move
    tracker = Tracker(CentroidLocalizer(), Linker(search_range_px=5.0), callbacks=[recenter])
    dist = _follow(core, tracker)
    assert dist.mean() < 2.0
    assert dist.max() < 6.0
    assert recenter.moves >= 290
    assert tracker.stats().callback_errors == 0


def test_without_recenter_the_particle_wanders_off():
    core = _sparse_sample()
    dist = _follow(core, Tracker(CentroidLocalizer(), Linker(search_range_px=5.0)))
    assert dist.max() > 15.0
    assert np.sqrt(np.mean(dist[-100:] ** 2)) > 10.0


def test_recenter_with_the_cores_uncalibrated_transform_still_converges():
    core = _sparse_sample()
    recenter = Recenter(core, settle_ms=0)  # nominal pixel size, no rotation: 10 %, 20° off
    assert recenter.transform.pixel_size_um == pytest.approx(0.11)
    tracker = Tracker(CentroidLocalizer(), Linker(search_range_px=5.0), callbacks=[recenter])
    dist = _follow(core, tracker, n_frames=100)
    assert dist.mean() < 2.5


def test_stage_transform_maps_camera_offsets_to_stage_moves():
    t = StageTransform.from_pixel_size(0.2, rotation_deg=90.0)
    np.testing.assert_allclose(t.stage_move_um(1.0, 0.0), (0.0, 0.2), atol=1e-12)
    assert t.rotation_deg == pytest.approx(90.0)
    assert t.pixel_size_um == pytest.approx(0.2)


def test_recenter_live_during_an_mda_on_the_tracking_worker(calibrated):
    """The stage moves while the next frame is exposing; corrections must not overshoot."""
    import useq

    from livetrack.acquire import MDATracker

    core = simulated_core(
        **{**OPTICS, "realtime": True},
        n_particles=6,
        tile_um=60.0,
        diffusion_um2_per_frame=D_UM2,
        seed=3,
    )
    core.sample.place(0, *core.getXYPosition())
    dist = []
    render = core.sample.render

    def render_and_measure(stage_um, exposure_ms):
        xy = core.sample.camera_coordinates(stage_um)[0]
        dist.append(np.hypot(*(xy - 31.5)))
        return render(stage_um, exposure_ms)

    core.sample.render = render_and_measure
    recenter = Recenter(core, transform=calibrated)  # default settle: one exposure + 5 ms
    hook = MDATracker(Tracker(CentroidLocalizer(), Linker(5.0), callbacks=[recenter]))
    core.mda.run(useq.MDASequence(time_plan={"interval": 0, "loops": 200}), output=[hook])
    dist = np.array(dist)
    assert hook.final_stats.processed == 200
    # Looser than the snap-track loop: here each correction lands a frame or two late.
    assert dist.mean() < 2.5
    assert dist.max() < 8.0


class _StageOnlyCore:
    """The few core calls Recenter makes, with a stage that moves at once."""

    def __init__(self, x: float = 0.0, y: float = 0.0) -> None:
        self.xy = np.array([x, y])

    def getImageWidth(self) -> int:
        return 64

    def getImageHeight(self) -> int:
        return 64

    def getExposure(self) -> float:
        return 10.0

    def getXYPosition(self) -> tuple[float, float]:
        return float(self.xy[0]), float(self.xy[1])

    def setRelativeXYPosition(self, dx: float, dy: float) -> None:
        self.xy = self.xy + np.array([dx, dy])


def _seen(frame, offset_px, metadata, received_s):
    """A frame's result with particle 1 at ``offset_px`` from the centre (31.5, 31.5)."""
    df = pd.DataFrame(
        {"frame": [frame], "x": [31.5 + offset_px[0]], "y": [31.5 + offset_px[1]], "particle": [1]}
    )
    return FrameResult(frame, 0.0, df, 0.0, 0.0, metadata, received_s=received_s)


def test_a_correction_is_taken_from_the_stage_position_of_the_frames_exposure():
    """A frame tracked after a move it does not show must not correct that move again.

    Timing is made adversarial for the wall-clock estimate: the frame that was
    exposed before the first move is handed over long after it (so the move
    looks shown), the frame exposed after it is handed over at once (so the
    move looks pending). The exposure's stage position decides both exactly.
    """
    core = _StageOnlyCore(10.0, 20.0)
    recenter = Recenter(core, transform=StageTransform.from_pixel_size(0.1))

    def exposed_at(x, y):
        tags = {EXPOSURE_STAGE_TAGS[0]: repr(x), EXPOSURE_STAGE_TAGS[1]: repr(y)}
        return {"meta": {"camera_metadata": tags}}  # where MDATracker puts them

    # Frame 0, exposed at (10, 20): particle 3 px right -> it sits at x = 10.3 µm.
    recenter(_seen(0, (3.0, 0.0), exposed_at(10.0, 20.0), time.perf_counter()))
    np.testing.assert_allclose(core.xy, (10.3, 20.0))
    # Frame 1 was exposing during that move and still shows the particle 3 px right
    # (plus 1 px of motion up); it reaches the tracker 1 s later.
    recenter(_seen(1, (3.0, 1.0), exposed_at(10.0, 20.0), time.perf_counter() + 1.0))
    np.testing.assert_allclose(core.xy, (10.3, 20.1))  # not 10.6: the 0.3 µm is done
    # Frame 2, exposed after both moves, reaches the tracker at once.
    recenter(_seen(2, (0.5, 0.0), exposed_at(10.3, 20.1), time.perf_counter()))
    np.testing.assert_allclose(core.xy, (10.35, 20.1))
    assert recenter.moves == 3


def test_without_the_exposure_position_the_wall_clock_estimate_is_used():
    core = _StageOnlyCore()
    recenter = Recenter(core, transform=StageTransform.from_pixel_size(0.1))  # settle 15 ms
    recenter(_seen(0, (3.0, 0.0), {}, time.perf_counter()))
    # Handed over right after the move: taken as exposed before it, the 3 px are not redone.
    recenter(_seen(1, (3.0, 0.0), {}, time.perf_counter()))
    np.testing.assert_allclose(core.xy, (0.3, 0.0))


def test_exposure_stage_position_is_found_where_each_frame_source_puts_it():
    tags = dict(zip(EXPOSURE_STAGE_TAGS, ("1.5", "-2.25"), strict=True))
    assert exposure_stage_um(tags) == (1.5, -2.25)  # run_continuous: the core's tags
    assert exposure_stage_um({"camera_metadata": tags}) == (1.5, -2.25)  # pymmcore-plus
    assert exposure_stage_um({"meta": {"camera_metadata": tags}}) == (1.5, -2.25)  # MDATracker
    assert exposure_stage_um({}) is None
    assert exposure_stage_um({EXPOSURE_STAGE_TAGS[0]: "1.5"}) is None
    assert exposure_stage_um(dict(zip(EXPOSURE_STAGE_TAGS, ("1.5", "n/a"), strict=True))) is None


def _acquire(core):
    """Expose one frame (sequence of one): image and the core's tags for it."""
    core.startSequenceAcquisition(1, 0, True)
    while core.getRemainingImageCount() == 0:
        time.sleep(0.0005)
    md = pymmcore.Metadata()
    image = core.popNextImageMD(md).copy()
    while core.isSequenceRunning():
        time.sleep(0.0005)
    return image, {k: md.GetSingleTag(k).GetValue() for k in md.GetKeys()}


def _follow_one_frame_late(core, recenter, n_frames, with_tags):
    """Track each frame only after the next one is exposed, as in a live sequence.

    Every correction then lands a frame late, always: no timing is involved.
    Returns the true distance (px) of particle 0 from the centre at each exposure.
    """
    dist = []
    render = core.sample.render

    def render_and_measure(stage_um, exposure_ms):
        dist.append(np.hypot(*(core.sample.camera_coordinates(stage_um)[0] - 31.5)))
        return render(stage_um, exposure_ms)

    core.sample.render = render_and_measure
    tracker = Tracker(CentroidLocalizer(), Linker(search_range_px=5.0), callbacks=[recenter])
    image, tags = _acquire(core)
    for _ in range(n_frames):
        following = _acquire(core)  # exposes before this frame's correction
        tracker.step(image, metadata=tags if with_tags else {})
        image, tags = following
    return np.array(dist)


def test_corrections_landing_a_frame_late_do_not_overshoot(calibrated):
    core = _sparse_sample()
    recenter = Recenter(core, transform=calibrated, settle_ms=0)
    dist = _follow_one_frame_late(core, recenter, 150, with_tags=True)
    # Deterministic (frame-clocked sample, no threads): mean 1.71 px, max 5.47 px here.
    assert dist.mean() < 2.0
    assert dist.max() < 6.5
    assert recenter.moves == 150  # never lost


def test_late_corrections_overshoot_when_the_exposure_position_is_unknown(calibrated):
    """The same loop without the tags: a frame's own lag is taken for none, moves are redone."""
    core = _sparse_sample()
    recenter = Recenter(core, transform=calibrated, settle_ms=0)
    dist = _follow_one_frame_late(core, recenter, 150, with_tags=False)
    assert dist.max() > 8.0  # 30 px here: each move is made twice and the particle is lost
