"""The adaptive threshold's rates come from the model's folder, not from seconds of measuring."""

import json
import logging
import shutil

import numpy as np
import pytest

from livetrack import ModelFileError
from livetrack.infer import CNNLocalizer, _decoding, _rates
from livetrack.model import load_model, shipped_models_dir

SHIPPED = ("spots", "spots-fast", "spots-t5", "spots-c5", "rings")
LOWEST = _decoding.ADAPTIVE_LOWEST


@pytest.fixture
def no_measuring(monkeypatch):
    """Fail on any measurement; start from empty per-process caches."""

    def measure(*args):
        raise AssertionError("rates measured instead of read from the model folder")

    monkeypatch.setattr(_rates, "measure_null_rates", measure)
    monkeypatch.setattr(_rates, "measure_clutter", measure)
    monkeypatch.setattr(_rates, "_NULL_RATES", {})
    monkeypatch.setattr(_rates, "_CLUTTER", {})


@pytest.mark.parametrize("model", SHIPPED)
@pytest.mark.parametrize("backend", ["onnxruntime", "onnxruntime-int8", "torch"])
def test_every_shipped_model_has_current_rates(model, backend):
    rates = _rates.stored_rates(load_model(model), backend, LOWEST)
    assert rates is not None, f"run `livetrack models rates {model}` and commit rates.json"
    assert rates.null.shape == _rates.THRESHOLDS.shape
    assert np.all(np.diff(rates.null) <= 0) and np.all(np.diff(rates.clutter, axis=1) <= 0)
    assert np.all(np.diff(rates.clutter_mass) > 0)


@pytest.mark.parametrize("model", SHIPPED)
def test_an_adaptive_localizer_reads_them(model, no_measuring):
    loc = CNNLocalizer(model, backend="onnxruntime", threshold="adaptive")
    loc.prepare()
    stored = _rates.stored_rates(loc.spec, "onnxruntime", LOWEST)
    assert np.array_equal(loc.null_rates()[1], stored.null)
    assert np.array_equal(loc.clutter_rates()[1], stored.clutter)


def test_the_torch_backend_reuses_the_fp32_rates(no_measuring):
    loc = CNNLocalizer("spots", backend="torch", threshold="adaptive")
    loc.prepare()
    fp32 = _rates.stored_rates(loc.spec, "onnxruntime", LOWEST)
    assert np.array_equal(loc.null_rates()[1], fp32.null)


@pytest.fixture
def copy(tmp_path):
    folder = tmp_path / "spots-fast"
    shutil.copytree(shipped_models_dir() / "spots-fast", folder)
    return folder


def test_rates_of_other_model_files_are_stale(copy, caplog):
    raw = json.loads((copy / "rates.json").read_text())
    raw["backends"]["onnxruntime"]["fingerprint"] = "sha256:another-model"
    (copy / "rates.json").write_text(json.dumps(raw))
    with caplog.at_level(logging.WARNING, logger="livetrack.infer"):
        assert _rates.stored_rates(load_model(copy), "onnxruntime", LOWEST) is None
    assert "livetrack models rates" in caplog.text
    # The other backend's entry is still good.
    assert _rates.stored_rates(load_model(copy), "onnxruntime-int8", LOWEST) is not None


def test_a_folder_without_rates_measures_them(copy, monkeypatch):
    (copy / "rates.json").unlink()
    calls = []
    monkeypatch.setattr(_rates, "measure_null_rates", lambda loc, lowest: calls.append(1) or (0, 0))
    monkeypatch.setattr(_rates, "_NULL_RATES", {})
    assert _rates.stored_rates(load_model(copy), "onnxruntime", LOWEST) is None
    CNNLocalizer(copy, backend="onnxruntime", threshold="adaptive").null_rates()
    assert calls == [1]


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": "livetrack-rates", '])
def test_a_damaged_rates_file_is_a_one_line_error(copy, content):
    (copy / "rates.json").write_text(content)
    with pytest.raises(ModelFileError) as err:
        _rates.stored_rates(load_model(copy), "onnxruntime", LOWEST)
    assert str(copy / "rates.json") in str(err.value) and "\n" not in str(err.value)


def test_wrongly_shaped_rates_are_an_error(copy):
    raw = json.loads((copy / "rates.json").read_text())
    raw["backends"]["onnxruntime"]["null_per_px"] = [0.0, 1.0]
    (copy / "rates.json").write_text(json.dumps(raw))
    with pytest.raises(ModelFileError, match="wrong shape"):
        _rates.stored_rates(load_model(copy), "onnxruntime", LOWEST)


def test_a_live_tracker_is_built_well_under_a_second():
    from livetrack.bench._live import tracker_build_seconds

    build = tracker_build_seconds("spots")
    # ~0.25 s here; measuring the rates made the adaptive one 3-4 s.
    assert build["default_s"] < 1.0 and build["adaptive_s"] < 1.0, build
