import json

import pytest

from livetrack import InputError
from livetrack.batch import MANIFEST_NAME, Manifest
from livetrack.batch._manifest import write_atomic

STAMP = {"bytes": 10, "mtime_ns": 1, "files": 1}


def _done(tmp_path, options=None):
    (tmp_path / "m.csv").write_text("frame,x,y\n")
    manifest = Manifest(tmp_path, options or {"model": "spots"})
    manifest.record("m", {"fingerprint": STAMP, "output": "m.csv", "output_bytes": 10})
    return manifest


def test_a_recorded_movie_is_done_only_with_its_input_options_and_whole_output(tmp_path):
    _done(tmp_path)
    again = Manifest(tmp_path, {"model": "spots"})
    assert again.is_done("m", STAMP)
    assert not again.is_done("m", {**STAMP, "mtime_ns": 2})  # the input changed
    assert not again.is_done("other", STAMP)
    assert not Manifest(tmp_path, {"model": "rings"}).is_done("m", STAMP)  # other options
    (tmp_path / "m.csv").write_text("frame,x")  # output cut short
    assert not again.is_done("m", STAMP)


def test_failures_are_recorded_and_cleared_by_a_later_success(tmp_path):
    manifest = _done(tmp_path)
    manifest.record_failure("bad.tif", "bad.tif: not a readable TIFF file")
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert data["failed"] == {"bad.tif": "bad.tif: not a readable TIFF file"}
    assert list(data["movies"]) == ["m"] and data["livetrack_version"]
    manifest.record("bad.tif", {"fingerprint": STAMP, "output": "m.csv", "output_bytes": 10})
    assert "bad.tif" not in json.loads((tmp_path / MANIFEST_NAME).read_text())["failed"]


def test_a_broken_manifest_is_one_line(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(InputError, match="not a livetrack manifest"):
        Manifest(tmp_path, {})


def test_write_atomic_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, fail)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
