import numpy as np
import pytest

from livetrack.acquire import simulated_core
from livetrack.feedback import Recenter, StageTransform, calibrate_stage
from livetrack.link import Linker
from livetrack.localize import CentroidLocalizer
from livetrack.pipeline import Tracker

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
