"""kill -9 of a recording process loses no acknowledged frame."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import livetrack
from livetrack.record import read_tracks

CHILD = r"""
import sys
import numpy as np
import pandas as pd
from livetrack.record import TrackWriter

with TrackWriter(sys.argv[1], {"model": "crash-test"}) as writer:
    for frame in range(10**7):
        n = 1 + frame % 97
        writer.write(pd.DataFrame({
            "frame": np.full(n, frame),
            "particle": np.arange(n),
            "x": np.full(n, frame + 0.125),
            "y": np.arange(n) / 3,
        }))
        print(frame, flush=True)
"""


def test_kill_9_loses_no_acknowledged_frame(tmp_path, rng):
    env = dict(os.environ, PYTHONPATH=str(Path(livetrack.__file__).parents[1]))
    acked = []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, env=env
    ) as proc:
        try:
            for line in proc.stdout:
                acked.append(int(line))
                if len(acked) == 300:
                    # Kill at an arbitrary point of the writer's loop, not just after a print.
                    time.sleep(rng.uniform(0, 0.01))
                    break
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            rest = proc.stdout.read()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Complete lines still in the pipe were acknowledged before the kill too.
    acked += [int(line) for line in rest.split(b"\n")[:-1]]
    assert acked == list(range(len(acked)))

    tracks = read_tracks(tmp_path)
    assert tracks.attrs["header"]["model"] == "crash-test"
    for frame, rows in tracks[tracks["frame"].isin(acked)].groupby("frame"):
        n = 1 + frame % 97
        assert rows["particle"].tolist() == list(range(n))
        np.testing.assert_array_equal(rows["x"], frame + 0.125)
        np.testing.assert_array_equal(rows["y"], np.arange(n) / 3)
    assert set(tracks["frame"]) >= set(acked)
    # At most the frame being written when killed is there unacknowledged, maybe in part.
    assert set(tracks["frame"]) <= set(acked) | {len(acked)}
