"""bench speed per frame size and batch, with the CPU reference beside every backend."""

import math

import pytest

from livetrack import _gpu
from livetrack.bench import SpeedResult, measure_speed, speed_markdown
from livetrack.cli import main


def test_sizes_and_batches_are_timed_each():
    results = measure_speed(
        model=("spots-fast",),
        backends=("onnxruntime",),
        n_frames=6,
        include_trackpy=False,
        isolate=False,
        refine_modes=(False,),
        shapes=((64, 64), (96, 128)),
        batches=(1, 3),
    )
    got = [(r.shape, r.batch, r.n_frames) for r in results]
    assert got == [((64, 64), 1, 6), ((64, 64), 3, 6), ((96, 128), 1, 6), ((96, 128), 3, 6)]
    for r in results:
        assert 0 < r.median_ms <= r.p99_ms
        assert r.mean_detections >= 0
    table = speed_markdown(results)
    assert "| 128×96 | 3 |" in table
    # Each row's CPU reference is the fp32 ONNX Runtime row of its size and batch: itself here.
    assert table.count("| 1.00× |") == 4


def test_gpu_rows_are_compared_with_the_cpu_reference_of_their_size():
    def row(method, ms, shape, batch=1):
        nan = math.nan
        return SpeedResult(method, ms, ms, nan, nan, nan, nan, 10, 50.0, ms, shape, batch)

    rows = [
        row("cnn:spots/cuda (fast)", 2.0, (2048, 2048)),
        row("cnn:spots/onnxruntime (fast)", 500.0, (2048, 2048)),
        row("cnn:spots/onnxruntime (fast)", 30.0, (512, 512)),
        row("cnn:spots/cuda (fast)", 0.5, (512, 512)),
        row("cnn:spots/cuda", 4.0, (512, 512)),
    ]
    lines = speed_markdown(rows).splitlines()
    assert lines[2].endswith("| 2.00 | 2048×2048 | 1 | 500 | 250.00× |")
    assert lines[5].endswith("| 0.50 | 512×512 | 1 | 2000 | 60.00× |")
    assert lines[6].endswith("| – |")  # no accurate-mode reference was timed


@pytest.mark.skipif(_gpu.cuda_unavailable() is None, reason="CUDA runs here")
def test_a_gpu_backend_that_cannot_run_is_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", "speed", "-b", "cuda", "--frames", "1"])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"livetrack: error: backend 'cuda' cannot run here: {_gpu.cuda_unavailable()}"]
