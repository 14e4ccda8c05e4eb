import json
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from livetrack._errors import ModelFileError  # noqa: E402
from livetrack.model import (  # noqa: E402
    FORMAT_VERSION,
    LocalizationNet,
    ModelSpec,
    NetConfig,
    load_model,
    load_net,
    resolve_model_dir,
    save_model,
)

SMALL = NetConfig(width_s2=8, width_s4=8, depth_s2=1, depth_s4=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    net = LocalizationNet(SMALL).eval()
    folder = tmp_path_factory.mktemp("models") / "tiny"
    spec = save_model(net, ModelSpec(name="tiny", net=SMALL, threshold=0.4), folder, "seed = 1\n")
    return net, spec


def copy_model(spec, dest):
    dest.mkdir()
    for name in ("config.json", "weights.pt", "model.onnx"):
        (dest / name).write_bytes((spec.folder / name).read_bytes())
    return dest


def test_save_and_load_round_trip(saved):
    net, spec = saved
    loaded = load_model(spec.folder)
    assert loaded == spec
    assert loaded.threshold == 0.4 and loaded.stride == 2
    assert (spec.folder / "recipe.toml").read_text() == "seed = 1\n"
    x = torch.randn(1, 1, 20, 28)
    with torch.no_grad():
        assert torch.equal(load_net(loaded)(x), net(x))


def test_names_resolve_on_the_model_path(saved, monkeypatch):
    _, spec = saved
    monkeypatch.setenv("LIVETRACK_MODEL_PATH", str(spec.folder.parent))
    assert resolve_model_dir("tiny") == spec.folder
    assert load_model("tiny").name == "tiny"


def test_unknown_name_and_missing_folder():
    with pytest.raises(ModelFileError, match="no model named"):
        load_model("no-such-model")
    with pytest.raises(ModelFileError, match="not found"):
        load_model("/nonexistent/folder")


def test_wrong_format_version(saved, tmp_path):
    folder = copy_model(saved[1], tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["format_version"] = FORMAT_VERSION + 1
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="format version"):
        load_model(folder)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": "other"}'])
def test_corrupt_config(saved, tmp_path, content):
    folder = copy_model(saved[1], tmp_path / "m")
    (folder / "config.json").write_text(content)
    with pytest.raises(ModelFileError):
        load_model(folder)


@pytest.mark.parametrize(
    "temporal", [{"frames": 2, "weights": [0.5]}, {"frames": 3, "weights": []}, {"frames": "x"}]
)
def test_invalid_temporal_fusion_in_config(saved, tmp_path, temporal):
    folder = copy_model(saved[1], tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["temporal"] = temporal
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="invalid model config"):
        load_model(folder)


def test_config_without_temporal_fusion_is_a_single_frame_model(saved, tmp_path):
    folder = copy_model(saved[1], tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    del cfg["temporal"]
    (folder / "config.json").write_text(json.dumps(cfg))
    assert load_model(folder).temporal.frames == 1


@pytest.mark.parametrize("missing", ["config.json", "weights.pt", "model.onnx"])
def test_missing_file(saved, tmp_path, missing):
    folder = copy_model(saved[1], tmp_path / "m")
    (folder / missing).unlink()
    with pytest.raises(ModelFileError, match=r"missing|config"):
        load_model(folder)


def test_corrupt_weights(saved, tmp_path):
    folder = copy_model(saved[1], tmp_path / "m")
    (folder / "weights.pt").write_bytes(b"\x00garbage" * 10)
    spec = load_model(folder)
    with pytest.raises(ModelFileError, match="corrupt"):
        load_net(spec)


def test_weights_of_another_architecture(saved, tmp_path):
    folder = copy_model(saved[1], tmp_path / "m")
    torch.save(LocalizationNet(NetConfig()).state_dict(), folder / "weights.pt")
    with pytest.raises(ModelFileError, match="incompatible"):
        load_net(load_model(folder))


def test_onnx_export_is_plain_conv_graph(saved):
    import onnx

    model = onnx.load(str(saved[1].onnx_path))
    ops = {n.op_type for n in model.graph.node}
    assert "Conv" in ops
    assert "BatchNormalization" not in ops
    assert model.opset_import[0].version >= 17


def test_dilated_layout_round_trips_through_onnx(tmp_path):
    import numpy as np

    from livetrack.infer import make_backend

    config = NetConfig(width_s2=8, depth_s2=3, layout="dilated")
    torch.manual_seed(4)
    net = LocalizationNet(config).eval()
    spec = save_model(net, ModelSpec(name="lean", net=config), tmp_path / "lean")
    loaded = load_model(spec.folder)
    assert loaded.net == config
    x = np.random.default_rng(0).standard_normal((1, 1, 24, 32)).astype(np.float32)
    onnx_out = make_backend(loaded, "onnxruntime").run(x)
    with torch.no_grad():
        torch_out = load_net(loaded)(torch.from_numpy(x)).numpy()
    assert np.allclose(onnx_out, torch_out, atol=1e-4)


def test_ring_models_are_recognised_by_name_or_refinement():
    assert ModelSpec(name="rings", net=SMALL).for_rings
    assert ModelSpec(name="beads", net=SMALL, refine="radial").for_rings
    assert not ModelSpec(name="spots", net=SMALL, refine="gaussian").for_rings


# --- The search path: folder, LIVETRACK_MODEL_PATH, the user-data folder, shipped models ---


@pytest.fixture
def search(tmp_path, monkeypatch):
    """An isolated search path: no LIVETRACK_MODEL_PATH, the user-data folder in tmp_path."""
    import platformdirs

    data = tmp_path / "data"
    monkeypatch.delenv("LIVETRACK_MODEL_PATH", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(data))
    monkeypatch.chdir(tmp_path)
    return data / "models"


def place(saved, folder, name):
    folder.mkdir(parents=True, exist_ok=True)
    return copy_model(saved[1], folder / name)


def test_user_data_folder_comes_from_platformdirs(search):
    from livetrack.model import user_models_dir

    assert user_models_dir() == search


def test_shipped_models_are_the_installed_package():
    import importlib.resources

    from livetrack.model import shipped_models_dir

    shipped = shipped_models_dir()
    assert shipped == importlib.resources.files("livetrack._shipped")
    assert (shipped / "spots" / "config.json").is_file()


def test_names_resolve_in_search_order(saved, search, tmp_path, monkeypatch):
    from livetrack.model import shipped_models_dir

    env_a, env_b = tmp_path / "a", tmp_path / "b"
    in_b = place(saved, env_b, "spots")
    in_user = place(saved, search, "spots")
    # The user-data folder comes before the shipped models...
    assert resolve_model_dir("spots") == in_user
    # ... and LIVETRACK_MODEL_PATH before both, its folders in order (empty entries skipped).
    monkeypatch.setenv("LIVETRACK_MODEL_PATH", os.pathsep.join([str(env_a), "", str(env_b)]))
    assert resolve_model_dir("spots") == in_b
    in_a = place(saved, env_a, "spots")
    assert resolve_model_dir("spots") == in_a
    monkeypatch.delenv("LIVETRACK_MODEL_PATH")
    (in_user / "config.json").unlink()
    for name in ("weights.pt", "model.onnx"):
        (in_user / name).unlink()
    in_user.rmdir()
    assert resolve_model_dir("spots") == shipped_models_dir() / "spots"


def test_model_dirs_name_their_sources(search, tmp_path, monkeypatch):
    from livetrack.model import model_dirs, model_search_path, shipped_models_dir

    monkeypatch.setenv("LIVETRACK_MODEL_PATH", str(tmp_path / "env"))
    dirs = model_dirs()
    assert [d.source for d in dirs] == ["LIVETRACK_MODEL_PATH", "user", "shipped"]
    assert model_search_path() == [tmp_path / "env", search, shipped_models_dir()]


def test_explicit_folders_come_before_names(saved, search, tmp_path, monkeypatch):
    elsewhere = place(saved, tmp_path / "elsewhere", "spots")
    assert resolve_model_dir(elsewhere) == elsewhere  # a path-like
    assert resolve_model_dir(str(elsewhere)) == elsewhere  # a string with a separator
    # A bare name is a folder when the current folder holds that model.
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert resolve_model_dir("spots") == Path("spots")
    # A folder of that name without a model is not taken for one: the name is looked up.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rings").mkdir()
    assert resolve_model_dir("rings").parent != Path(".")
    assert resolve_model_dir("rings").name == "rings"


def test_find_models_lists_each_with_its_source_and_flags_hidden_ones(saved, search):
    from livetrack.model import available_models, find_models

    place(saved, search, "spots")
    place(saved, search, "mine")
    entries = find_models()
    by = {(e.name, e.source): e for e in entries}
    assert not by["spots", "user"].shadowed and by["spots", "shipped"].shadowed
    assert not by["mine", "user"].shadowed and not by["rings", "shipped"].shadowed
    assert {"mine", "spots", "rings"} <= set(available_models())


def test_a_missing_name_is_one_line_that_says_where_it_looked(search, tmp_path, monkeypatch):
    from livetrack.model import shipped_models_dir

    monkeypatch.setenv("LIVETRACK_MODEL_PATH", str(tmp_path / "env"))
    with pytest.raises(ModelFileError) as err:
        load_model("no-such-model")
    message = str(err.value)
    assert "\n" not in message
    assert "no model named 'no-such-model'" in message
    for where in (tmp_path / "env", search, shipped_models_dir()):
        assert str(where) in message
    assert "LIVETRACK_MODEL_PATH" in message and "spots" in message


def test_a_broken_model_on_the_path_is_an_error_not_the_shipped_one(saved, search):
    broken = place(saved, search, "spots")
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="unreadable model config") as err:
        load_model("spots")
    assert str(broken) in str(err.value) and "\n" not in str(err.value)
    (broken / "config.json").unlink()
    with pytest.raises(ModelFileError, match=r"missing config\.json"):
        load_model("spots")
