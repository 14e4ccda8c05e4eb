import numpy as np
import pytest
import tifffile


def simulated_frames(n_frames: int, seed: int, shape=(64, 64), snr=6.0) -> np.ndarray:
    from livetrack import simulate

    movie = simulate.simulate_movie(
        n_frames=n_frames,
        shape=shape,
        n_particles=6,
        snr=snr,
        min_separation_px=8,
        dynamics=simulate.Dynamics(diffusion_px2=0.5),
        seed=seed,
    )
    return movie.frames


@pytest.fixture
def make_frames():
    """simulated_frames(n_frames, seed, shape=(64, 64), snr=6.0) -> (T, H, W) uint16."""
    return simulated_frames


@pytest.fixture
def movies(tmp_path):
    """Two 20-frame 64x64 TIFF movies of diffusing spots; returns their paths and frames."""
    paths, stacks = [], []
    for i, name in enumerate(("first", "second")):
        frames = simulated_frames(20, seed=i + 1)
        path = tmp_path / f"{name}.tif"
        tifffile.imwrite(path, frames, photometric="minisblack")
        paths.append(path)
        stacks.append(frames)
    return paths, stacks


@pytest.fixture(scope="module")
def client():
    """A real two-worker distributed.LocalCluster, as track_many starts by default."""
    pytest.importorskip("distributed")
    from livetrack.batch import local_client

    client = local_client(n_workers=2)
    yield client
    cluster = client.cluster
    client.close()
    cluster.close()


@pytest.fixture
def zarr_screen(tmp_path):
    """An OME-Zarr store written by pymmcore-plus (2 positions x 5 frames of 32 x 48).

    Returns the store's path and the frames pymmcore-plus handed out, by position index.
    """
    useq = pytest.importorskip("useq")
    from livetrack.acquire import simulated_core

    core = simulated_core(shape=(32, 48), n_particles=40, seed=2, exposure_ms=1.0)
    core.setAutoShutter(False)  # the simulated scope has no shutter to open between positions
    seen: dict[int, list[np.ndarray]] = {0: [], 1: []}
    core.mda.events.frameReady.connect(
        lambda img, event, meta: seen[event.index.get("p", 0)].append(img)
    )
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 5}, stage_positions=[(0, 0), (5, 5)])
    path = tmp_path / "screen.ome.zarr"
    core.mda.run(seq, output=str(path))
    return path, {p: np.stack(frames) for p, frames in seen.items()}
