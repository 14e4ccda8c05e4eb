"""`livetrack models`: what each name resolves to and where it comes from."""

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from livetrack.cli import app
from livetrack.model import shipped_models_dir

SHIPPED = ("rings", "spots", "spots-c5", "spots-fast", "spots-t5")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("LIVETRACK_MODEL_PATH", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "data"))
    return tmp_path


def model_lines(output):
    return [line.split() for line in output.split("models:\n", 1)[1].splitlines()]


def test_lists_the_shipped_models_and_the_search_path(isolated):
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert f"user                  {isolated / 'data' / 'models'}  (no such folder)" in (
        result.output
    )
    assert f"shipped               {shipped_models_dir()}" in result.output
    rows = model_lines(result.output)
    assert [r[0] for r in rows] == list(SHIPPED)
    assert all(r[1] == "shipped" and r[2] == str(shipped_models_dir() / r[0]) for r in rows)
    assert CliRunner().invoke(app, ["models", "list"]).output == result.output


def test_a_users_model_hides_the_shipped_one_of_its_name(isolated, monkeypatch):
    mine = isolated / "mine"
    shutil.copytree(shipped_models_dir() / "spots-fast", mine / "spots")
    monkeypatch.setenv("LIVETRACK_MODEL_PATH", str(mine))
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    rows = model_lines(result.output)
    spots = [r for r in rows if r[0] == "spots"]
    assert spots[0][1:3] == ["LIVETRACK_MODEL_PATH", str(mine / "spots")]
    assert spots[1][1] == "shipped" and "(hidden by the one above)" in " ".join(spots[1])


def test_rates_command_stores_the_rates_in_the_folder(isolated, monkeypatch):
    from livetrack.infer import CNNLocalizer, _rates

    folder = isolated / "copy"
    shutil.copytree(shipped_models_dir() / "spots-fast", folder)
    (folder / "rates.json").unlink()
    result = CliRunner().invoke(app, ["models", "rates", str(folder), "-b", "onnxruntime"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {folder / 'rates.json'}"
    # What it stored is what a localizer would measure (the shipped file holds the same).
    ours = _rates._read(folder / "rates.json")["backends"]
    shipped = _rates._read(shipped_models_dir() / "spots-fast" / "rates.json")["backends"]
    assert set(ours) == {"onnxruntime"}
    for key in ("null_per_px", "clutter_mass", "clutter_per_confident"):
        np.testing.assert_allclose(ours["onnxruntime"][key], shipped["onnxruntime"][key], rtol=1e-6)

    # A localizer on that folder reads them: nothing is measured.
    def no_measuring(*args):
        raise AssertionError("measured rates that are stored")

    monkeypatch.setattr(_rates, "measure_null_rates", no_measuring)
    monkeypatch.setattr(_rates, "measure_clutter", no_measuring)
    monkeypatch.setattr(_rates, "_NULL_RATES", {})
    monkeypatch.setattr(_rates, "_CLUTTER", {})
    CNNLocalizer(folder, backend="onnxruntime", threshold="adaptive").prepare()


def test_rates_of_an_unknown_model_is_one_line(isolated):
    result = CliRunner().invoke(app, ["models", "rates", "no-such-model"])
    assert result.exit_code != 0
    assert "no model named 'no-such-model'" in str(result.exception)
