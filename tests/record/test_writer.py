import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import livetrack
from livetrack._errors import InputError
from livetrack.record import COLUMNS, TrackWriter, read_tracks, tracks_path


def frame_rows(rng, frame, n=5):
    return pd.DataFrame(
        {
            "frame": np.full(n, frame),
            "t": np.full(n, frame * 0.016),
            "particle": np.arange(n) + 10 * frame,
            "x": rng.uniform(0, 512, n),
            "y": rng.uniform(0, 512, n),
            "prob": rng.uniform(0, 1, n),
            "sigma_x": rng.uniform(0, 0.1, n),
            "sigma_y": rng.uniform(0, 0.1, n),
            "mass": rng.uniform(100, 1000, n),
            "ignored": np.zeros(n),
        }
    )


def test_round_trip_is_exact(tmp_path, rng):
    frames = [frame_rows(rng, f, n=1 + f) for f in range(6)]
    with TrackWriter(tmp_path / "t.csv", {"pixel_size_um": 0.1}) as w:
        for df in frames:
            w.write(df)
    assert w.frames_written == 6 and w.rows_written == 21 and w.last_frame == 5
    back = read_tracks(tmp_path / "t.csv")
    assert list(back.columns) == list(COLUMNS)
    expected = pd.concat(frames, ignore_index=True)
    expected["x_um"] = expected["x"] * 0.1
    expected["y_um"] = expected["y"] * 0.1
    pd.testing.assert_frame_equal(back, expected[list(COLUMNS)])


@dataclasses.dataclass(frozen=True)
class Settings:
    search_range_px: float = 3.0
    memory: int = 1


def test_header(tmp_path):
    header = {
        "model": "spots",
        "pixel_size_um": np.float32(0.25),
        "settings": Settings(),
        "note": 'two\nlines, "quoted"',
        "shape": np.array([512, 512]),
    }
    w = TrackWriter(tmp_path / "t.csv", header)
    w.close()
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == f'# livetrack_version: "{livetrack.__version__}"'
    assert lines[1].startswith("# start_time: ")
    assert lines[2] == '# model: "spots"'
    assert lines[-1] == ",".join(COLUMNS)
    got = read_tracks(tmp_path / "t.csv").attrs["header"]
    assert got["livetrack_version"] == livetrack.__version__
    assert got["start_time"].endswith("+00:00")
    assert got["model"] == "spots"
    assert got["pixel_size_um"] == 0.25
    assert got["settings"] == {"search_range_px": 3.0, "memory": 1}
    assert got["note"] == header["note"]
    assert got["shape"] == [512, 512]
    json.dumps(got)  # everything is plain JSON


def test_missing_columns_written_empty(tmp_path):
    with TrackWriter(tmp_path, {}) as w:
        w.write(pd.DataFrame({"x": [1.5, 2.5], "y": [3.0, 4.0]}), frame=7, t=1.25)
        w.write(pd.DataFrame({"x": [1.0], "y": [2.0], "particle": [3]}), frame=8)
    text = (tmp_path / "tracks.csv").read_text().splitlines()
    assert text[-3:] == ["7,1.25,,1.5,3.0,,,,,,", "7,1.25,,2.5,4.0,,,,,,", "8,,3,1.0,2.0,,,,,,"]
    back = read_tracks(tmp_path)
    assert back["frame"].tolist() == [7, 7, 8]
    assert back["particle"].dtype == "Int64"
    assert back["particle"].isna().tolist() == [True, True, False]
    assert back["x_um"].isna().all()


def test_given_micrometres_are_kept(tmp_path):
    with TrackWriter(tmp_path / "t.csv", {"pixel_size_um": 0.5}) as w:
        w.write(pd.DataFrame({"frame": [0], "x": [2.0], "y": [4.0], "x_um": [9.0]}))
    back = read_tracks(tmp_path / "t.csv")
    assert back[["x_um", "y_um"]].iloc[0].tolist() == [9.0, 2.0]


def test_appending_never_rewrites_earlier_data(tmp_path, rng):
    path = tmp_path / "t.csv"
    with TrackWriter(path, {"model": "m"}) as w:
        before = path.read_bytes()
        assert before.endswith(b"\n") and len(before) > 0  # header flushed at once
        for f in range(5):
            w.write(frame_rows(rng, f))
            now = path.read_bytes()  # visible to other processes before close
            assert now.startswith(before) and len(now) > len(before)
            before = now


def test_empty_frame_is_acknowledged(tmp_path):
    with TrackWriter(tmp_path, {}) as w:
        w.write(pd.DataFrame({"x": [], "y": []}), frame=3)
        assert w.frames_written == 1 and w.rows_written == 0 and w.last_frame == 3
    assert len(read_tracks(tmp_path)) == 0


def test_fsync_flag(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("livetrack.record._writer.os.fsync", calls.append)
    with TrackWriter(tmp_path / "a.csv", {}, fsync=True) as w:
        w.write(pd.DataFrame({"frame": [0], "x": [1.0], "y": [1.0]}))
    assert len(calls) >= 2
    calls.clear()
    with TrackWriter(tmp_path / "b.csv", {}) as w:
        w.write(pd.DataFrame({"frame": [0], "x": [1.0], "y": [1.0]}))
    assert calls == []


def test_directory_paths(tmp_path):
    assert tracks_path(tmp_path) == tmp_path / "tracks.csv"
    assert tracks_path(tmp_path / "new_dir") == tmp_path / "new_dir" / "tracks.csv"
    assert tracks_path(tmp_path / "file.csv") == tmp_path / "file.csv"
    with TrackWriter(tmp_path / "new_dir" / "deeper", {}) as w:
        w.write(pd.DataFrame({"frame": [0], "x": [1.0], "y": [1.0]}))
    assert (tmp_path / "new_dir" / "deeper" / "tracks.csv").is_file()


def test_refuses_to_overwrite(tmp_path):
    TrackWriter(tmp_path, {}).close()
    with pytest.raises(InputError, match="already exists"):
        TrackWriter(tmp_path, {})
    with TrackWriter(tmp_path, {"run": 2}, overwrite=True):
        pass
    assert read_tracks(tmp_path).attrs["header"]["run"] == 2


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="header keys"):
        TrackWriter(tmp_path / "a.csv", {"a:b": 1})
    with pytest.raises(InputError, match="pixel_size_um"):
        TrackWriter(tmp_path / "b.csv", {"pixel_size_um": -1})
    w = TrackWriter(tmp_path / "c.csv", {})
    with pytest.raises(InputError, match="lack column"):
        w.write(pd.DataFrame({"frame": [0], "x": [1.0]}))
    with pytest.raises(InputError, match="frame"):
        w.write(pd.DataFrame({"x": [1.0], "y": [1.0]}))
    with pytest.raises(InputError, match="whole numbers"):
        w.write(pd.DataFrame({"frame": [0], "x": [1.0], "y": [1.0], "particle": [0.5]}))
    w.close()
    with pytest.raises(InputError, match="closed"):
        w.write(pd.DataFrame({"frame": [0], "x": [1.0], "y": [1.0]}))
    assert w.closed
