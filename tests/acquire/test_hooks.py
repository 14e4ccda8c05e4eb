import pytest
import useq
from scipy.spatial import cKDTree

from livetrack.acquire import (
    MDATracker,
    PycromanagerTracker,
    pycromanager_backend,
    run_continuous,
    simulated_core,
    snake_case_core,
    tracks_path_beside,
)
from livetrack.link import Linker
from livetrack.localize import CentroidLocalizer
from livetrack.pipeline import Tracker
from livetrack.record import read_tracks

SCENE = dict(shape=(64, 64), n_particles=12, diffusion_um2_per_frame=0.0, seed=5, exposure_ms=10.0)


def _tracker():
    return Tracker(CentroidLocalizer(), Linker(search_range_px=3.0))


def _check_tracks(tracks, core, n_frames):
    """Every frame tracked, positions where the sample truly is, one id per particle."""
    assert sorted(tracks["frame"].unique()) == list(range(n_frames))
    truth = core.sample.camera_coordinates(core.getXYPosition())
    dist, which = cKDTree(truth).query(tracks[["x", "y"]].to_numpy())
    good = dist < 0.5
    assert good.mean() > 0.9
    # A static particle keeps its id through the whole run.
    per_true = tracks[good].groupby(which[good])["particle"].nunique()
    assert (per_true == 1).mean() > 0.9


@pytest.mark.parametrize("fmt", ["ome.zarr", "ome.tiff"])
def test_mda_frame_ready_hook_tracks_beside_the_writer_output(tmp_path, fmt):
    core = simulated_core(**SCENE, realtime=True)
    out = tmp_path / f"run.{fmt}"
    hook = MDATracker(_tracker(), tracks_path=tracks_path_beside(out))
    core.mda.run(useq.MDASequence(time_plan={"interval": 0, "loops": 25}), output=[out, hook])
    stats = hook.final_stats
    assert out.exists()
    assert stats.processed == stats.submitted == 25 and stats.dropped == 0
    tracks = read_tracks(out)
    assert tracks.attrs["header"]["model"] == "CentroidLocalizer"
    assert tracks["t"].is_monotonic_increasing and tracks["t"].iloc[-1] > 0
    _check_tracks(tracks, core, 25)


def test_mda_hook_connected_to_the_signals_directly(tmp_path):
    core = simulated_core(**SCENE, realtime=False)
    hook = MDATracker(_tracker(), tracks_path=tmp_path / "direct.tracks.csv").connect(core)
    core.mda.run(useq.MDASequence(time_plan={"interval": 0, "loops": 10}))
    hook.disconnect(core)
    assert hook.final_stats.processed == 10
    _check_tracks(read_tracks(tmp_path / "direct.tracks.csv"), core, 10)


# ndstorage (pycromanager's NDTiff writer) leaves a TIFF reader open for the GC to close.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_pycromanager_python_backend_acquisition_records_inside_the_dataset(tmp_path):
    from pycromanager import Acquisition, multi_d_acquisition_events

    core = snake_case_core(**SCENE, realtime=False)
    with pycromanager_backend(core):
        hook = PycromanagerTracker(_tracker(), directory=tmp_path, name="live")
        with hook, Acquisition(str(tmp_path), "live", image_process_fn=hook) as acq:
            acq.acquire(multi_d_acquisition_events(num_time_points=20))
        dataset = acq.get_dataset()
        n_saved = len(dataset.get_image_coordinates_list())
        dataset.close()
    assert n_saved == 20  # images pass through the hook and are still saved
    assert hook.dataset_path == tmp_path / "live_1"
    assert (hook.dataset_path / "tracks.csv").exists()
    assert hook.final_stats.processed == 20
    _check_tracks(read_tracks(tmp_path), core, 20)


def test_continuous_acquisition_tracks_every_frame_from_the_circular_buffer(tmp_path):
    core = simulated_core(**SCENE, realtime=True)
    tracker = _tracker()
    run = run_continuous(core, tracker, n_frames=40)
    assert run.frames == 40 and run.lost_in_buffer == 0
    assert run.stats.processed == 40 and run.stats.dropped == 0
    assert not core.isSequenceRunning()


def test_tracks_path_beside_strips_the_data_suffix(tmp_path):
    assert tracks_path_beside(tmp_path / "a.ome.zarr") == tmp_path / "a.tracks.csv"
    assert tracks_path_beside(tmp_path / "b.ome.tif") == tmp_path / "b.tracks.csv"
    assert tracks_path_beside(tmp_path / "c") == tmp_path / "c.tracks.csv"


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_readme_pycromanager_example_runs_as_written(tmp_path):
    data = str(tmp_path)
    with pycromanager_backend(snake_case_core(**SCENE, realtime=False)):
        # -- the README example, verbatim but for the folder --
        from pycromanager import Acquisition, multi_d_acquisition_events

        from livetrack.acquire import PycromanagerTracker
        from livetrack.pipeline import default_tracker

        hook = PycromanagerTracker(default_tracker(search_range_px=5), directory=data, name="live")
        with hook, Acquisition(data, "live", image_process_fn=hook) as acq:
            acq.acquire(multi_d_acquisition_events(num_time_points=15))
        print(hook.final_stats.line())  # tracks in <data>/live_1/tracks.csv
        # -- end --
        acq.get_dataset().close()
    assert sorted(read_tracks(tmp_path / "live_1")["frame"].unique()) == list(range(15))
