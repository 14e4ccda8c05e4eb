"""CPU inference, the base install's job, imports none of the extras' packages.

Each check runs in a fresh interpreter and reads its ``sys.modules``: the test process has
imported torch and the rest long before.
"""

import json
import subprocess
import sys

import pytest

# What the extras bring; the base install (numpy, scipy, pandas, onnxruntime, ...) has none.
EXTRAS = ("torch", "onnx", "matplotlib", "pymmcore_plus", "pycromanager", "psutil", "PyQt6")

PRELUDE = """
import json, sys
import numpy as np
from livetrack import simulate
frames = simulate.simulate_movie(n_frames=2, shape=(64, 64), n_particles=5, seed=1).frames
"""
EPILOGUE = """
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""

CASES = {
    "locate with spots": (
        "import livetrack\nout = livetrack.locate(frames, model='spots', backend='onnxruntime')\n"
        "assert len(out)\n"
    ),
    "locate with the defaults": "import livetrack\nlivetrack.locate(frames)\n",
    "live tracker": (
        "from livetrack.pipeline import default_tracker\n"
        "from livetrack.infer import CNNLocalizer\n"
        "default_tracker()\n"
        "default_tracker(CNNLocalizer('spots-c5', threshold='adaptive'))\n"
    ),
    "track command": (
        "import tifffile\n"
        "tifffile.imwrite('movie.tif', frames)\n"
        "from livetrack.cli import main\n"
        "try:\n"
        "    main(['track', 'movie.tif', '-o', 'tracks.csv', '--model', 'spots'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cpu_inference_imports_no_extra(case, tmp_path):
    code = PRELUDE + CASES[case] + EPILOGUE
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert run.returncode == 0, run.stderr
    loaded = set(json.loads(run.stdout.strip().splitlines()[-1]))
    assert "onnxruntime" in loaded  # it did run the CNN
    assert not loaded & set(EXTRAS), f"{case} imported {sorted(loaded & set(EXTRAS))}"
