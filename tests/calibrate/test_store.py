import json

import numpy as np
import pytest

from livetrack._errors import InputError
from livetrack.calibrate import (
    CALIBRATION_FORMAT_VERSION,
    CalibrationHeader,
    find_calibrations,
    read_calibration,
    resolve_calibration,
    user_calibrations_dir,
    write_calibration,
)


def _header(**kw):
    return CalibrationHeader("camera", frame_shape=(32, 48), pixel_type="uint16", **kw)


def test_round_trip_keeps_header_body_and_maps(tmp_path):
    maps = {"gain": np.arange(6.0).reshape(2, 3)}
    path = write_calibration(tmp_path / "cam", _header(inputs={"a.tif": "0" * 64}), {"v": 1}, maps)
    assert path.suffix == ".json" and (tmp_path / "cam.npz").is_file()
    raw = json.loads(path.read_text())
    assert raw["format_version"] == CALIBRATION_FORMAT_VERSION and raw["kind"] == "camera"
    assert raw["created"].endswith("+00:00")  # UTC
    header, body, arrays = read_calibration(path, "camera")
    assert header.frame_shape == (32, 48) and header.inputs == {"a.tif": "0" * 64}
    assert body == {"v": 1}
    np.testing.assert_array_equal(arrays["gain"], maps["gain"])


def test_another_kind_a_foreign_file_and_a_newer_format_are_refused(tmp_path):
    path = write_calibration(tmp_path / "c.json", _header(), {})
    with pytest.raises(InputError, match="is a camera calibration, expected a psf one"):
        read_calibration(path, "psf")
    foreign = tmp_path / "other.json"
    foreign.write_text('{"gain": 2}')
    with pytest.raises(InputError, match="not a livetrack calibration"):
        read_calibration(foreign)
    raw = json.loads(path.read_text())
    raw["format_version"] = CALIBRATION_FORMAT_VERSION + 1
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match="newer than this livetrack reads"):
        read_calibration(path)
    with pytest.raises(InputError, match="no calibration file"):
        read_calibration(tmp_path / "missing.json")


def test_changed_maps_are_refused(tmp_path):
    path = write_calibration(tmp_path / "c.json", _header(), {}, {"m": np.zeros(3)})
    np.savez(tmp_path / "c.npz", m=np.ones(3))
    with pytest.raises(InputError, match="changed since it was written"):
        read_calibration(path)


def test_frames_of_another_size_or_type_are_refused_in_one_line():
    header = _header()
    header.check_frames(np.zeros((2, 32, 48), np.uint16))
    with pytest.raises(InputError, match="for 48x32 frames, got 32x32") as info:
        header.check_frames(np.zeros((32, 32), np.uint16), "cam.json")
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="for uint16 pixels, got float32"):
        header.check_frames(np.zeros((32, 48), np.float32))


def test_names_resolve_in_the_user_folder_and_are_listed(tmp_path):
    write_calibration(
        user_calibrations_dir() / "scope1.json",
        _header(),
        {"gain_adu_per_photon": 2.0, "offset_adu": 100.0, "read_noise_adu": 1.5},
    )
    assert resolve_calibration("scope1") == user_calibrations_dir() / "scope1.json"
    (tmp_path / "extra").mkdir()
    write_calibration(
        tmp_path / "extra" / "stage.json",
        CalibrationHeader("stage"),
        {"pixel_size_um": 0.1, "rotation_deg": 1.0, "flipped": False},
    )
    (tmp_path / "extra" / "notes.json").write_text("{}")  # not a calibration: skipped
    entries = find_calibrations([tmp_path / "extra"])
    kinds = {e.path.name: e.header.kind for e in entries}
    assert kinds == {"scope1.json": "camera", "stage.json": "stage"}
    summary = {e.path.name: e.summary for e in entries}
    assert summary["scope1.json"].startswith("gain 2 ADU/photon")


def test_a_damaged_calibration_is_listed_with_its_reason(tmp_path):
    path = write_calibration(tmp_path / "c.json", _header(), {}, {"m": np.zeros(3)})
    (tmp_path / "c.npz").unlink()
    (tmp_path / "odd.json").write_text('{"format": "livetrack-calibration", "kind": "weird"}')
    entries = {e.path.name: e for e in find_calibrations([tmp_path])}
    assert set(entries) == {"c.json"}
    assert entries["c.json"].summary.startswith(f"unreadable: {path}: its maps c.npz are missing")
