"""bench speed measures each method in a fresh process: what that process imports counts."""

import json
import subprocess
import sys


def test_the_speed_worker_imports_no_other_suite():
    # The worker is livetrack.bench._speed._worker: importing it must not pull in the other
    # suites (the real-video reader, scipy's optimizers for matching), whose memory would
    # count in the "peak RSS" column.
    code = (
        "import json, sys, livetrack.bench._speed\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('livetrack', 'scipy')))))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(run.stdout))
    assert "livetrack.bench._speed" in loaded
    assert not loaded & {"livetrack.bench._real", "livetrack.bench._accuracy", "scipy.optimize"}


def test_bench_names_load_on_first_use():
    import livetrack.bench as bench

    assert callable(bench.measure_speed) and callable(bench.run_accuracy)
    assert set(dir(bench)) == set(bench.__all__)
    try:
        bench.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("unknown names must raise AttributeError")
