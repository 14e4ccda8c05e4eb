import numpy as np
import pandas as pd
import pytest

from livetrack._errors import InputError
from livetrack.record import TrackWriter, find_tracks, read_tracks


def write_some(path, n_frames=4, rows=3):
    with TrackWriter(path, {"model": "spots"}) as w:
        for f in range(n_frames):
            w.write(
                pd.DataFrame(
                    {"particle": np.arange(rows), "x": f + np.arange(rows) / 3, "y": [1.0] * rows}
                ),
                frame=f,
            )
    return w.path


def test_truncated_last_line_is_dropped_at_every_cut(tmp_path):
    path = write_some(tmp_path / "full.csv")
    data = path.read_bytes()
    header_end = data.index(b"mass\n") + len(b"mass\n")
    full = read_tracks(path)
    cut_path = tmp_path / "cut.csv"
    for cut in range(header_end, len(data) + 1):
        cut_path.write_bytes(data[:cut])
        back = read_tracks(cut_path)
        n_complete = data[header_end:cut].count(b"\n")
        assert len(back) == n_complete, cut
        pd.testing.assert_frame_equal(back, full.iloc[:n_complete], check_index_type=False)


def test_nul_filled_tail_is_dropped(tmp_path):
    path = write_some(tmp_path / "t.csv")
    with open(path, "ab") as f:
        f.write(b"\x00" * 40 + b"\n")
    assert len(read_tracks(path)) == 12


def test_pycromanager_dataset_folder(tmp_path):
    # pycromanager's Acquisition(directory=D, name="acq") writes D/acq_1/Full resolution/...
    dataset = tmp_path / "acq_1"
    (dataset / "Full resolution").mkdir(parents=True)
    write_some(dataset)
    assert find_tracks(dataset) == dataset / "tracks.csv"
    assert find_tracks(tmp_path) == dataset / "tracks.csv"
    assert len(read_tracks(tmp_path)) == 12


def test_beside_pymmcore_plus_output(tmp_path):
    zarr = tmp_path / "run.ome.zarr"
    zarr.mkdir()
    tiff = tmp_path / "run.ome.tif"
    tiff.write_bytes(b"II*\x00")
    write_some(tmp_path / "run.tracks.csv")
    for given in (tmp_path, zarr, tiff):
        assert find_tracks(given) == tmp_path / "run.tracks.csv"


def test_missing_or_ambiguous(tmp_path):
    with pytest.raises(InputError, match="does not exist") as info:
        read_tracks(tmp_path / "nope.csv")
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match=r"no tracks\.csv"):
        read_tracks(tmp_path)
    write_some(tmp_path / "a_1")
    write_some(tmp_path / "a_2")
    with pytest.raises(InputError, match="several tracks files"):
        read_tracks(tmp_path)


def test_not_a_tracks_file(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a livetrack tracks file"):
        read_tracks(path)


def test_two_tracks_files_prefer_the_one_named_after_the_folder(tmp_path):
    run = tmp_path / "run1"
    run.mkdir()
    write_some(run / "other.tracks.csv", n_frames=2)
    write_some(run / "run1.tracks.csv", n_frames=3)
    assert find_tracks(run) == run / "run1.tracks.csv"
    assert read_tracks(run)["frame"].nunique() == 3
    # Beside an acquisition's data: the file named after the data wins.
    zarr = tmp_path / "other.ome.zarr"
    zarr.mkdir()
    write_some(tmp_path / "other.tracks.csv")
    write_some(tmp_path / "third.tracks.csv")
    assert find_tracks(zarr) == tmp_path / "other.tracks.csv"


def test_two_tracks_files_without_the_folder_name_are_refused(tmp_path):
    run = tmp_path / "run1"
    run.mkdir()
    write_some(run / "a.tracks.csv")
    write_some(run / "b.tracks.csv")
    with pytest.raises(InputError) as info:
        read_tracks(run)
    message = str(info.value)
    assert "\n" not in message
    assert "several tracks files" in message and "run1.tracks.csv" in message
    assert "a.tracks.csv" in message and "b.tracks.csv" in message
    # tracks.csv is no tiebreaker either: nothing is picked silently.
    write_some(run / "tracks.csv")
    with pytest.raises(InputError, match=r": tracks\.csv, a\.tracks\.csv, b\.tracks\.csv;"):
        find_tracks(run)
