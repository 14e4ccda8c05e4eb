"""Each format as the tools that write it write it: tifffile, pymmcore-plus, pycromanager."""

import sys

import numpy as np
import pytest
import tifffile

from livetrack import InputError
from livetrack.batch import find_movies, open_movies, read_frames


@pytest.fixture
def frames(rng):
    return rng.integers(0, 4000, size=(9, 24, 32), dtype=np.uint16)


def test_tiff_stack_reads_any_frame_range(tmp_path, frames):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, frames, photometric="minisblack")
    (movie,) = open_movies(path)
    assert (movie.name, movie.n_frames, movie.shape, movie.kind) == ("movie", 9, (24, 32), "tiff")
    np.testing.assert_array_equal(read_frames(movie, 0, 9), frames)
    np.testing.assert_array_equal(read_frames(movie, 3, 5), frames[3:5])


def test_ome_tiff_channel_picked_by_name_or_index(tmp_path, frames):
    data = np.stack([frames, frames + 1], axis=1)  # T C Y X
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(
        path, data, ome=True, metadata={"axes": "TCYX", "Channel": {"Name": ["DAPI", "GFP"]}}
    )
    (movie,) = open_movies(path, channel="GFP")
    assert movie.name == "cells" and movie.n_frames == 9
    np.testing.assert_array_equal(read_frames(movie, 2, 6), frames[2:6] + 1)
    (movie,) = open_movies(path, channel=0)
    np.testing.assert_array_equal(read_frames(movie, 0, 2), frames[:2])
    with pytest.raises(InputError, match="several \\(DAPI, GFP\\); pick one with --channel"):
        open_movies(path)
    with pytest.raises(InputError, match="'RFP' not found; the file has DAPI, GFP"):
        open_movies(path, channel="RFP")


def test_corrupt_and_truncated_tiffs_fail_in_one_line(tmp_path, frames):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff" * 20)
    with pytest.raises(InputError, match="not a readable TIFF file") as info:
        open_movies(bad)
    assert "\n" not in str(info.value)
    whole = tmp_path / "whole.tif"
    tifffile.imwrite(whole, frames, photometric="minisblack")
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError) as info:
        (movie,) = open_movies(cut)
        read_frames(movie, 0, movie.n_frames)
    assert "\n" not in str(info.value)


def test_ome_zarr_written_by_pymmcore_plus_positions_by_name(zarr_screen):
    path, seen = zarr_screen
    movies = open_movies(path)
    assert [m.name for m in movies] == ["screen_0", "screen_1"]
    assert all((m.n_frames, m.shape) == (5, (32, 48)) for m in movies)
    (second,) = open_movies(path, position="1")
    np.testing.assert_array_equal(read_frames(second, 0, 5), seen[1])
    np.testing.assert_array_equal(read_frames(second, 2, 4), seen[1][2:4])


# ndstorage's writer (pycromanager's) leaves a TIFF reader open for the GC to close.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ndtiff_written_by_pycromanager(tmp_path):
    pytest.importorskip("pycromanager")
    from pycromanager import Acquisition, multi_d_acquisition_events

    from livetrack.acquire import pycromanager_backend, snake_case_core

    seen = []

    def keep(image, metadata):
        seen.append(image.copy())
        return image, metadata

    with pycromanager_backend(snake_case_core(shape=(32, 40), n_particles=4, realtime=False)):
        with Acquisition(str(tmp_path), "run", image_process_fn=keep) as acq:
            acq.acquire(multi_d_acquisition_events(num_time_points=6))
        acq.get_dataset().close()
    expected = np.stack(seen)
    (path,) = find_movies([str(tmp_path / "run_*")])
    (movie,) = open_movies(path)
    assert (movie.kind, movie.name, movie.n_frames, movie.shape) == ("ndtiff", "run_1", 6, (32, 40))
    np.testing.assert_array_equal(read_frames(movie, 1, 6), expected[1:])


def test_find_movies_expands_folders_and_globs(tmp_path, frames):
    for name in ("b.tif", "a.ome.tif", "notes.txt"):
        target = tmp_path / name
        if name.endswith(".tif"):
            tifffile.imwrite(target, frames)
        else:
            target.write_text("x")
    assert [p.name for p in find_movies([tmp_path])] == ["a.ome.tif", "b.tif"]
    assert [p.name for p in find_movies([str(tmp_path / "b*.tif")])] == ["b.tif"]
    with pytest.raises(InputError, match="no such file"):
        find_movies([tmp_path / "missing.tif"])
    with pytest.raises(InputError, match="unsupported file type"):
        find_movies([tmp_path / "notes.txt"])


def test_a_missing_reader_names_the_extra(tmp_path, monkeypatch):
    from livetrack._extras import MissingExtraError

    (tmp_path / "run.ome.zarr").mkdir()
    (tmp_path / "run.ome.zarr" / "zarr.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "zarr", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"reading OME-Zarr needs zarr.*livetrack\[dask\]"):
        open_movies(tmp_path / "run.ome.zarr")
