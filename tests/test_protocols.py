import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import livetrack
from livetrack import protocols, simulate
from livetrack._errors import InputError
from livetrack.infer import CNNLocalizer, NullBackend, OnnxRuntimeBackend
from livetrack.link import FreshIdLinker, Linker
from livetrack.localize import CentroidLocalizer, TruthLocalizer
from livetrack.model import load_model
from livetrack.pipeline import ReplaySource, Tracker
from livetrack.record import MemoryRecorder, TrackWriter


@pytest.fixture
def movie():
    return simulate.simulate_movie(n_frames=4, shape=(48, 48), n_particles=5, snr=10, seed=4)


def test_each_protocol_is_defined_once():
    # Every `class X(Protocol)` of the package, by name: each name once.
    names = []
    for path in Path(livetrack.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                getattr(b, "id", None) == "Protocol" for b in node.bases
            ):
                names.append(node.name)
    assert len(names) == len(set(names)), sorted(names)
    assert livetrack.localize.Localizer is protocols.Localizer
    assert livetrack.infer.Backend is protocols.InferenceBackend


def test_implementations_and_doubles_fit_their_protocols(movie, tmp_path):
    spec = load_model("spots")
    assert isinstance(CentroidLocalizer(), protocols.Localizer)
    assert isinstance(CNNLocalizer(spec, backend=NullBackend(spec)), protocols.Localizer)
    assert isinstance(TruthLocalizer(movie.truth), protocols.Localizer)
    assert isinstance(Linker(search_range_px=3), protocols.Linker)
    assert isinstance(FreshIdLinker(), protocols.Linker)
    with TrackWriter(tmp_path) as writer:
        assert isinstance(writer, protocols.Recorder)
    assert isinstance(MemoryRecorder(), protocols.Recorder)
    assert isinstance(OnnxRuntimeBackend(spec), protocols.InferenceBackend)
    assert isinstance(NullBackend(spec), protocols.InferenceBackend)
    assert isinstance(movie.frames, protocols.FrameSource)
    assert isinstance(ReplaySource(movie.frames), protocols.FrameSource)


def test_a_tracker_runs_on_the_doubles_alone(movie):
    recorder = MemoryRecorder()
    source = ReplaySource(movie.frames, repeat=2)
    tracker = Tracker(TruthLocalizer(movie.truth), FreshIdLinker(), recorder)
    results = list(tracker.run(source))
    tracker.close()
    assert len(results) == len(source) == 8 and source.delivered == 8
    table = recorder.table()
    assert recorder.closed and len(table) == sum(len(r.positions) for r in results)
    assert table["particle"].is_unique  # the double never links
    with pytest.raises(InputError, match="closed"):
        recorder.write(table)


def test_fresh_id_linker_checks_frame_order():
    linker = FreshIdLinker()
    first = linker.step(3, pd.DataFrame({"x": [1.0, 2.0], "y": [0.0, 0.0]}))
    assert first["particle"].tolist() == [0, 1]
    assert linker.step(5, pd.DataFrame({"x": [1.0], "y": [0.0]}))["particle"].tolist() == [2]
    with pytest.raises(InputError):
        linker.step(5, pd.DataFrame({"x": [], "y": []}))
    assert linker.frames == [3, 5]


def test_null_backend_gives_empty_maps_of_the_right_shape():
    spec = load_model("spots")
    backend = NullBackend(spec)
    maps = backend.run(np.zeros((2, 1, 33, 40), np.float32))
    assert maps.shape == (2, 5, 17, 20) and maps.dtype == np.float32
    assert backend.shapes == [(2, 1, 33, 40)]
    loc = CNNLocalizer(spec, backend=backend)
    assert loc.locate_stack(np.ones((3, 32, 32), np.float32)).empty


def test_replay_source_rejects_bad_input():
    with pytest.raises(InputError):
        ReplaySource(np.zeros((2, 8, 8)), repeat=0)
    with pytest.raises(InputError):
        ReplaySource(np.zeros((0, 8, 8)))
