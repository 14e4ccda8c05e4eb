"""The README's Python examples run as written, each as a user runs it: a fresh process."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
# A README example that takes longer than this is hung, not slow.
TIMEOUT_S = 300


def test_readme_has_examples():
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path):
    # A fresh process each: a QApplication left by another test would switch pymmcore-plus's
    # signals to Qt's queued ones, which a script without an event loop never receives.
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(BLOCKS[index])
    warnings = ["-W", "error"]
    if "pycromanager" in BLOCKS[index]:
        # ndstorage (pycromanager's NDTiff writer) leaves a TIFF reader open for the GC to
        # close, as in tests/acquire/test_hooks.py; only the pycromanager examples are excused.
        warnings += ["-W", "ignore::ResourceWarning"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run(
        [sys.executable, *warnings, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert run.returncode == 0, f"README python block {index} failed:\n{run.stderr[-3000:]}"
