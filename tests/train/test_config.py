from pathlib import Path

import pytest

from livetrack._errors import InputError
from livetrack.model import NetConfig
from livetrack.train import TrainConfig, config_from_dict, load_recipe

CALIBRATION = Path(__file__).resolve().parents[2] / "calibration"


def test_empty_recipe_gives_defaults():
    assert config_from_dict({}) == TrainConfig()


def test_recipe_file_round_trip(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(
        'name = "x"\nseed = 3\n[model]\nwidth_s2 = 8\n[data]\nsigma_px = [1.0, 2.0]\n'
        "[optim]\nsteps = 10\n"
    )
    cfg, text = load_recipe(path)
    assert cfg.name == "x" and cfg.seed == 3
    assert cfg.model == NetConfig(width_s2=8)
    assert cfg.data.sigma_px == (1.0, 2.0)
    assert cfg.optim.steps == 10
    assert text == path.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[optim]\nstepz = 3\n", "unknown key"),
        ("[modle]\n", "unknown key"),
        ("[data]\npsf = 'airy'\n", "psf"),
        ("[data]\npatch_px = 30\n", "patch_px"),
        ("[data]\nsigma_px = 1.0\n", "must be a list"),
        ("name = \n", "invalid TOML"),
        ("[temporal]\nframes = 2\n", "temporal.frames"),
        ("[temporal]\nframes = 1\ncausal = true\n", "causal"),
        ("[temporal]\nframes = 3\n[validation]\nframes_per_snr = 1\n", "frames_per_snr"),
    ],
)
def test_bad_recipes_raise_input_error(tmp_path, content, message):
    path = tmp_path / "r.toml"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_recipe(path)


def test_missing_recipe():
    with pytest.raises(InputError, match="cannot read"):
        load_recipe("/nonexistent/recipe.toml")


@pytest.mark.parametrize("name", ["spots", "spots-t5", "rings"])
def test_shipped_recipes_parse(name):
    path = CALIBRATION / name / "recipe.toml"
    if not path.exists():
        pytest.skip(f"{name} model not shipped yet")
    cfg, _ = load_recipe(path)
    assert cfg.name == name


def test_a_profile_recipe_needs_a_valid_profile():
    from livetrack.train import config_from_dict

    good = {"data": {"psf": "profile", "profile_r_px": [0.0, 1.0, 2.0], "profile": [1.0, 0.5, 0.0]}}
    assert config_from_dict(good).data.psf == "profile"
    bad = {"data": {"psf": "profile", "profile_r_px": [0.0, 1.0], "profile": [1.0]}}
    with pytest.raises(InputError, match="profile"):
        config_from_dict(bad)
