"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert BLOCKS


# ndstorage (pycromanager's NDTiff writer) leaves a TIFF reader open for the GC to close,
# as in tests/acquire/test_hooks.py; only the pycromanager examples are excused.
_NDSTORAGE_LEAK = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
CASES = [
    pytest.param(i, marks=_NDSTORAGE_LEAK if "pycromanager" in block else ())
    for i, block in enumerate(BLOCKS)
]


@pytest.mark.parametrize("index", CASES)
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {})
