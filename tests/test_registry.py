import os
import subprocess
import sys

import numpy as np
import pytest

from livetrack import registry
from livetrack._errors import InputError
from livetrack.infer import AutoLocalizer, CNNLocalizer, NullBackend
from livetrack.localize import GaussianMLELocalizer, RadialSymmetryLocalizer
from livetrack.registry import LocalizerName, parse_localizer


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cnn", LocalizerName("cnn", text="cnn")),
        ("cnn:rings", LocalizerName("cnn", model="rings", text="cnn:rings")),
        (
            "cnn:spots:int8:fast",
            LocalizerName("cnn", "spots", "onnxruntime-int8", False, text="cnn:spots:int8:fast"),
        ),
        (
            "cnn:int8:adaptive",
            LocalizerName(
                "cnn", None, "onnxruntime-int8", None, "adaptive", text="cnn:int8:adaptive"
            ),
        ),
        (
            "cnn:spots:adaptive:t5",
            LocalizerName("cnn", "spots", None, None, "adaptive", 5, text="cnn:spots:adaptive:t5"),
        ),
        ("cnn:spots:torch", LocalizerName("cnn", "spots", "torch", text="cnn:spots:torch")),
        ("auto:fast", LocalizerName("auto", refine=False, text="auto:fast")),
        ("radial", LocalizerName("radial", text="radial")),
        ("defaults", LocalizerName("defaults", text="defaults")),
    ],
)
def test_names_parse_into_kind_and_settings(name, expected):
    assert parse_localizer(name) == expected


def test_a_folder_with_a_colon_stays_one_model():
    assert parse_localizer(r"cnn:C:\models\mine:fast").model == r"C:\models\mine"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("sextractor", "unknown localizer 'sextractor'; available: auto, cnn"),
        ("centroid:fast", "'centroid' takes no flags"),
        ("radial:spots", "unknown localizer 'radial:spots'"),
        ("cnn:spots:t4", "positive odd k"),
        ("cnn:spots:torch:int8", "more than one backend"),
    ],
)
def test_bad_names_are_one_line_errors(name, message):
    with pytest.raises(InputError, match=message):
        parse_localizer(name)


def test_names_build_their_localizers():
    fast = registry.make_localizer("cnn:spots:int8:fast")
    assert isinstance(fast, CNNLocalizer)
    assert (fast.spec.name, fast.backend.name, fast.refine) == ("spots", "onnxruntime-int8", False)
    c5 = registry.make_localizer("cnn:spots-c5:adaptive", backend="onnxruntime")
    assert (c5.spec.name, c5.adaptive, c5.backend.name) == ("spots-c5", True, "onnxruntime")
    assert isinstance(registry.make_localizer("auto"), AutoLocalizer)
    assert isinstance(registry.make_localizer("radial"), RadialSymmetryLocalizer)
    mle = registry.make_localizer("mle", diameter_px=9, sigma_px=2.0)
    assert isinstance(mle, GaussianMLELocalizer) and mle.options.sigma_px == 2.0


def test_options_fill_in_but_do_not_contradict_the_name():
    loc = registry.make_localizer("cnn:spots", threshold="adaptive", refine=False)
    assert loc.adaptive and not loc.refine
    assert registry.make_localizer("cnn:spots:fast", refine=None).refine is False
    with pytest.raises(InputError, match="sets refine=False"):
        registry.make_localizer("cnn:spots:fast", refine=True)
    with pytest.raises(InputError, match="unknown option"):
        registry.make_localizer("centroid", batch_size=2)
    with pytest.raises(InputError, match="live tracking has no future frames"):
        registry.make_localizer("cnn:spots:t3", live=True)


def test_defaults_is_livetrack_locate(rng):
    import livetrack
    from livetrack import simulate

    frames = simulate.simulate_movie(n_frames=2, shape=(64, 64), n_particles=5, seed=3).frames
    loc = registry.make_localizer("defaults")
    got = loc.locate_stack(frames, first_frame=10)
    want = livetrack.locate(frames)
    assert (got["frame"] - 10).tolist() == want["frame"].tolist()
    assert got[["x", "y"]].equals(want[["x", "y"]])


def test_a_registered_backend_is_offered_by_name():
    registry.register_backend("null", NullBackend, lambda: True)
    try:
        assert "null" in registry.backend_names()
        loc = registry.make_localizer("cnn:spots:null")
        assert isinstance(loc.backend, NullBackend)
        assert loc.locate(np.zeros((32, 40), np.float32)).empty
        assert loc.backend.shapes == [(1, 1, 32, 40)]
    finally:
        registry._BACKENDS.pop("null", None)


def test_the_cli_help_lists_the_registered_backends():
    # A backend registered before the command line is built is in its help, unspelled.
    code = (
        "from livetrack import registry\n"
        "from livetrack.infer import NullBackend\n"
        "registry.register_backend('tensorrt-test', NullBackend, lambda: True)\n"
        "from livetrack.cli import main\n"
        "main(['track', '--help'])\n"
    )
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert "tensorrt-test" in out.stdout, out.stdout + out.stderr
    assert "onnxruntime-int8" in out.stdout


def test_a_registered_kind_is_built_and_listed():
    from livetrack.localize import TruthLocalizer

    def build(name, backend, options):
        return TruthLocalizer(options["truth"])

    registry.register_localizer("truth", build, "truth (test double)")
    try:
        assert "truth (test double)" in registry.localizer_syntax()
        import pandas as pd

        truth = pd.DataFrame({"frame": [0], "x": [1.0], "y": [2.0]})
        assert len(registry.make_localizer("truth", truth=truth).locate(None, 0)) == 1
    finally:
        registry._KINDS.pop("truth", None)


def test_registering_a_bad_name_fails():
    with pytest.raises(InputError):
        registry.register_backend("auto", NullBackend, lambda: True)
    with pytest.raises(InputError):
        registry.register_localizer("a:b", lambda *a: None)
