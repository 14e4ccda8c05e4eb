"""track_many on a real distributed.LocalCluster (2 worker processes)."""

import io
import json
import os
import signal

import numpy as np
import pandas as pd
import pytest
import tifffile

import livetrack
from livetrack import InputError

pytest.importorskip("distributed")


def _as_written(table: pd.DataFrame) -> pd.DataFrame:
    """The table as it reads back from a CSV (float formatting, dtypes)."""
    return pd.read_csv(io.StringIO(table.to_csv(index=False)))


@pytest.mark.parametrize(
    ("model", "options"),
    [("spots", {}), ("spots-t5", {"threshold": "adaptive"}), ("spots", {"temporal_window": 3})],
)
def test_chunked_equals_one_pass(client, movies, tmp_path, model, options):
    paths, stacks = movies
    out = tmp_path / "out"
    report = livetrack.track_many(paths, out, client=client, model=model, chunk_frames=4, **options)
    assert report.ok and sorted(report.done) == ["first", "second"]
    for path, frames in zip(paths, stacks, strict=True):
        one_pass = _as_written(livetrack.track(frames, model, **options))
        assert len(one_pass) > 50 and one_pass["particle"].nunique() >= 6
        # 5 chunks, each on its own worker process: positions and trajectories identical.
        pd.testing.assert_frame_equal(pd.read_csv(out / f"{path.stem}.csv"), one_pass)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["movies"]["first"]["chunks"] == 5


def test_classical_method_chunked_equals_one_pass(client, movies, tmp_path):
    paths, stacks = movies
    report = livetrack.track_many(
        paths[:1], tmp_path / "out", client=client, method="centroid", chunk_frames=8
    )
    assert report.ok
    one_pass = _as_written(livetrack.track(stacks[0], method="centroid"))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "first.csv"), one_pass)


def test_auto_movie_in_one_chunk_is_livetrack_track(client, movies, tmp_path):
    paths, stacks = movies
    report = livetrack.track_many(paths[:1], tmp_path / "out", client=client, chunk_frames=0)
    assert report.ok
    one_pass = _as_written(livetrack.track(stacks[0]))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "first.csv"), one_pass)


def test_auto_choice_is_made_once_per_chunked_movie(client, tmp_path, make_frames):
    # Faint spots: auto picks spots-t5, its detections decided on their trajectories, from
    # 20 frames spread over the movie, planned once; every chunk runs that plan, and the
    # trajectories are followed over the whole movie's candidates.
    frames = make_frames(40, seed=2, snr=3.0)
    path = tmp_path / "faint.tif"
    tifffile.imwrite(path, frames, photometric="minisblack")
    report = livetrack.track_many([path], tmp_path / "out", client=client, chunk_frames=8)
    assert report.ok
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["movies"]["faint"]
    assert entry["chunks"] == 5
    assert entry["auto_choice"].startswith("auto: model 'spots-t5' (faint particles")
    assert "on their trajectories" in entry["auto_choice"]
    one_pass = _as_written(livetrack.track(frames))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "faint.csv"), one_pass)


def test_path_evidence_of_a_very_faint_movie_is_chunked_as_one_pass(client, tmp_path):
    # SNR 1: the detections come from path evidence over neighbouring frames, its threshold
    # from all chunks' peaks and their shuffled twins together.
    frames = livetrack.simulate.simulate_movie(
        n_frames=24,
        shape=(128, 128),
        n_particles=40,
        snr=1.0,
        background_photons=10.0,
        dynamics=livetrack.simulate.Dynamics(diffusion_px2=1.0),
        seed=5,
    ).frames
    path = tmp_path / "faintest.tif"
    tifffile.imwrite(path, frames, photometric="minisblack")
    report = livetrack.track_many([path], tmp_path / "out", client=client, chunk_frames=8)
    assert report.ok
    one_pass = livetrack.locate(frames)
    assert len(one_pass) and one_pass["prob"].isna().all()  # path evidence decided
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "out" / "faintest.csv"), _as_written(livetrack.track(frames))
    )


def test_auto_chunked_equals_one_pass_with_overlays_and_clutter(client, tmp_path):
    # 8-bit video with correlated noise, rods, blobs and a burned-in label whose counter
    # changes: auto paints over the label, measures a false-alarm level and cuts the
    # clutter on the whole movie's detections, all of which chunks must reproduce.
    movie = livetrack.simulate.cluttered_spots(n_frames=24, shape=(96, 128), n_particles=6)
    path = tmp_path / "clutter.tif"
    tifffile.imwrite(path, movie.frames, photometric="minisblack")
    report = livetrack.track_many([path], tmp_path / "out", client=client, chunk_frames=8)
    assert report.ok
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["movies"]["clutter"]
    assert entry["chunks"] == 3
    one_pass = _as_written(livetrack.track(movie.frames))
    assert len(one_pass) >= 0.8 * len(movie.truth)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "clutter.csv"), one_pass)


def test_corrupt_file_fails_alone_and_rerun_skips_what_is_done(client, movies, tmp_path):
    paths, _ = movies
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"\x00" * 100)
    out = tmp_path / "out"
    report = livetrack.track_many(
        [*paths, bad], out, client=client, model="spots", format="parquet"
    )
    assert sorted(report.done) == ["first", "second"]
    assert list(report.failed) == ["broken.tif"]
    assert "not a readable TIFF" in report.failed["broken.tif"]
    assert "\n" not in report.failed["broken.tif"]
    assert len(pd.read_parquet(out / "first.parquet")) > 50
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["movies"]["first"]
    assert entry["sha256"] and entry["fingerprint"]["bytes"] == paths[0].stat().st_size
    assert manifest["livetrack_version"] == livetrack.__version__
    assert manifest["failed"] == report.failed

    again = livetrack.track_many(paths, out, client=client, model="spots", format="parquet")
    assert sorted(again.skipped) == ["first", "second"] and not again.done
    # Other options, or a changed input, are tracked again.
    tifffile.imwrite(paths[1], np.zeros((20, 64, 64), np.uint16) + 100)
    third = livetrack.track_many(paths, out, client=client, model="spots", format="parquet")
    assert third.done == ["second"] and third.skipped == ["first"]


def test_interrupted_run_keeps_the_movies_it_finished(client, movies, tmp_path, make_frames):
    paths, _ = movies
    # The second movie is long: its 20 chunks are still running when the first is done.
    tifffile.imwrite(paths[1], make_frames(80, seed=5), photometric="minisblack")
    out = tmp_path / "out"

    def interrupt(name, frames):
        if (out / "first.csv").exists():
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        livetrack.track_many(
            paths, out, client=client, model="spots", chunk_frames=4, on_chunk=interrupt
        )
    assert sorted(p.name for p in out.iterdir()) == ["first.csv", "manifest.json"]
    assert list(json.loads((out / "manifest.json").read_text())["movies"]) == ["first"]
    rerun = livetrack.track_many(paths, out, client=client, model="spots", chunk_frames=4)
    assert rerun.skipped == ["first"] and rerun.done == ["second"]


def test_a_worker_killed_mid_run_does_not_stop_it(client, tmp_path, make_frames):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"m{i}.tif")
        tifffile.imwrite(paths[-1], make_frames(40, seed=10 + i, shape=(96, 96)))
    pids = client.run(os.getpid)
    killed = []

    def kill_one(name, frames):
        if not killed:
            busy = [w for w, tasks in client.processing().items() if tasks]
            assert busy, "nothing left to run when the worker was killed"
            killed.append(pids[busy[0]])
            os.kill(pids[busy[0]], signal.SIGKILL)

    out = tmp_path / "out"
    report = livetrack.track_many(
        paths, out, client=client, model="spots", chunk_frames=4, on_chunk=kill_one
    )
    assert killed and report.ok and sorted(report.done) == ["m0", "m1", "m2"]
    assert killed[0] not in client.run(os.getpid).values()  # the nanny started a new one
    for path in paths:
        one_pass = _as_written(livetrack.track(tifffile.imread(path), "spots"))
        pd.testing.assert_frame_equal(pd.read_csv(out / f"{path.stem}.csv"), one_pass)


def test_bad_options_fail_before_any_work(movies, tmp_path):
    paths, _ = movies
    with pytest.raises(InputError, match="format must be one of csv, parquet"):
        livetrack.track_many(paths, tmp_path / "o", format="xlsx")
    with pytest.raises(InputError, match="unknown method"):
        livetrack.track_many(paths, tmp_path / "o", method="magic")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"needs an output folder|is a file"):
        livetrack.track_many(paths, tmp_path / "file")


def test_each_position_of_an_ome_zarr_store_is_a_movie(client, zarr_screen, tmp_path):
    path, seen = zarr_screen
    out = tmp_path / "out"
    report = livetrack.track_many([path], out, client=client, method="centroid")
    assert report.ok and sorted(report.done) == ["screen_0", "screen_1"]
    for p in (0, 1):
        one_pass = _as_written(livetrack.track(seen[p], method="centroid"))
        assert len(one_pass) >= 5
        pd.testing.assert_frame_equal(pd.read_csv(out / f"screen_{p}.csv"), one_pass)
    movies = json.loads((out / "manifest.json").read_text())["movies"]
    assert movies["screen_0"]["sha256"] == movies["screen_1"]["sha256"]  # one file, hashed once
    assert movies["screen_1"]["series"] == "1/0"


def test_a_movie_without_particles_has_the_one_pass_columns(client, tmp_path):
    path = tmp_path / "empty.tif"
    frames = np.full((12, 32, 32), 100, np.uint16)
    tifffile.imwrite(path, frames)
    report = livetrack.track_many(
        [path], tmp_path / "out", client=client, model="spots", chunk_frames=4
    )
    assert report.ok
    one_pass = livetrack.track(frames, "spots")
    table = pd.read_csv(tmp_path / "out" / "empty.csv")
    assert table.empty and list(table.columns) == list(one_pass.columns)
