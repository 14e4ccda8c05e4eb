"""Optional packages: a missing one is one line naming the extra that installs it."""

import subprocess
import sys

import pytest

from livetrack import LivetrackError
from livetrack._extras import MissingExtraError, install_hint, needs_extra, require


@pytest.fixture
def no_torch(monkeypatch):
    # None in sys.modules makes `import torch` raise ModuleNotFoundError(name="torch").
    monkeypatch.setitem(sys.modules, "torch", None)


def test_require_names_the_extra_in_one_line(no_torch):
    with pytest.raises(MissingExtraError) as err:
        require("torch", "training")
    assert str(err.value) == (
        "training needs torch, which is not installed: pip install 'livetrack[train]'"
    )
    # Both a LivetrackError (the CLI prints one line) and an ImportError (fallbacks work).
    assert isinstance(err.value, LivetrackError) and isinstance(err.value, ImportError)


def test_require_returns_the_module():
    import json

    assert require("json", "anything") is json


def test_needs_extra_translates_only_the_packages_of_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymmcore_plus", None)
    with pytest.raises(MissingExtraError, match=r"livetrack\[mm\]"), needs_extra("the demo"):
        import pymmcore_plus  # noqa: F401
    # A module no extra brings is a broken install: its own error stays.
    with pytest.raises(ModuleNotFoundError) as err, needs_extra("x"):
        import livetrack_no_such_module  # noqa: F401
    assert not isinstance(err.value, MissingExtraError)


def test_install_hints():
    assert install_hint("matplotlib.pyplot") == "pip install 'livetrack[bench]'"
    assert install_hint("pyqtgraph") == "pip install 'livetrack[viewer]'"
    assert install_hint("onnxruntime") == "pip install onnxruntime"  # a base dependency
    assert install_hint("torch", "gpu") == "pip install 'livetrack[gpu]'"


def test_the_cli_prints_a_missing_extra_as_one_line(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "x"\n')
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from livetrack.cli import main\n"
        f"main(['train', {str(recipe)!r}, '-o', {str(tmp_path / 'out')!r}])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "livetrack: error: training needs torch, which is not installed: "
        "pip install 'livetrack[train]'"
    ]
