import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from livetrack._errors import InputError, ModelFileError  # noqa: E402
from livetrack.infer import (  # noqa: E402
    CNNLocalizer,
    OnnxRuntimeBackend,
    TorchBackend,
    backend_names,
    locate,
    make_backend,
    register_backend,
)
from livetrack.model import COLUMNS, LocalizationNet, ModelSpec, NetConfig, save_model  # noqa: E402

SMALL = NetConfig(width_s2=8, width_s4=16, depth_s2=1, depth_s4=1)
BACKENDS = ["onnxruntime", "torch"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A random-weight model whose maps have many peaks (for agreement, not accuracy)."""
    torch.manual_seed(3)
    net = LocalizationNet(SMALL)
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(4, 1, 32, 32))
        net.head.bias[0] = 1.0
    folder = tmp_path_factory.mktemp("models") / "rand"
    save_model(net.eval(), ModelSpec(name="rand", net=SMALL, threshold=0.3), folder)
    return folder


@pytest.fixture
def frame(rng):
    return (100 + 5 * rng.standard_normal((45, 67))).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_table(model_dir, frame, backend):
    df = CNNLocalizer(model_dir, backend=backend).locate(frame, frame=7)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) > 0
    assert (df["frame"] == 7).all()
    assert df["x"].between(-0.5, 66.5).all() and df["y"].between(-0.5, 44.5).all()
    assert (df["prob"] >= 0.3).all() and (df["sigma_x"] > 0).all()
    assert np.isfinite(df["mass"]).all()


def test_backends_agree_within_1e3_px(model_dir, frame):
    onnx_loc = CNNLocalizer(model_dir, backend="onnxruntime")
    torch_loc = CNNLocalizer(model_dir, backend="torch")
    stack = np.stack([frame, frame[::-1], frame[:, ::-1]])
    maps_a = onnx_loc.predict_maps(stack)[0]
    maps_b = torch_loc.predict_maps(stack)[0]
    assert np.allclose(maps_a, maps_b, atol=1e-4)
    a, b = onnx_loc.locate_stack(stack), torch_loc.locate_stack(stack)
    assert len(a) == len(b) > 10
    assert np.abs(a[["x", "y"]].to_numpy() - b[["x", "y"]].to_numpy()).max() < 1e-3
    assert (a["frame"].to_numpy() == b["frame"].to_numpy()).all()


def test_stack_and_single_frames_agree(model_dir, frame):
    loc = CNNLocalizer(model_dir, backend="onnxruntime", batch_size=2)
    stack = np.stack([frame, frame + 3, frame * 2])
    whole = loc.locate_stack(stack, first_frame=10)
    parts = pd.concat([loc.locate(f, frame=10 + i) for i, f in enumerate(stack)], ignore_index=True)
    pd.testing.assert_frame_equal(whole, parts, atol=1e-4)
    assert sorted(set(whole["frame"])) == [10, 11, 12]


def test_gain_and_offset_do_not_change_positions(model_dir, frame):
    loc = CNNLocalizer(model_dir, backend="onnxruntime")
    a = loc.locate(frame)
    b = loc.locate(frame * 3.0 + 500.0)
    assert np.abs(a[["x", "y"]].to_numpy() - b[["x", "y"]].to_numpy()).max() < 1e-3


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((2, 2, 8, 8)), "2-D frame or a 3-D stack"),
        (np.zeros((0, 8)), "empty"),
        (np.full((8, 8), np.nan), "NaN"),
        (np.array([["a"]]), "real-valued"),
        (np.zeros((3, 8, 8)), "one frame"),
    ],
)
def test_bad_input_raises_input_error(model_dir, bad, message):
    loc = CNNLocalizer(model_dir, backend="onnxruntime")
    with pytest.raises(InputError, match=message):
        loc.locate(bad)


def test_tiny_frames_work(model_dir):
    loc = CNNLocalizer(model_dir, backend="onnxruntime")
    for shape in [(1, 1), (3, 5), (1, 17)]:
        assert list(loc.locate(np.ones(shape)).columns) == list(COLUMNS)


def test_bad_options(model_dir):
    with pytest.raises(InputError, match="unknown backend"):
        CNNLocalizer(model_dir, backend="nope")
    with pytest.raises(InputError, match="threshold"):
        CNNLocalizer(model_dir, threshold=1.5)


def test_corrupt_onnx_file(model_dir, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("config.json", "weights.pt"):
        (folder / name).write_bytes((model_dir / name).read_bytes())
    (folder / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ModelFileError, match="ONNX"):
        CNNLocalizer(folder, backend="onnxruntime")


def test_registered_backend_is_used_by_name(model_dir, frame):
    class Recording:
        name = "recording"

        def __init__(self, spec):
            self.inner = OnnxRuntimeBackend(spec)
            self.shapes = []

        def run(self, batch):
            self.shapes.append(batch.shape)
            return self.inner.run(batch)

    register_backend("recording", Recording, lambda: True)
    assert "recording" in backend_names()
    loc = CNNLocalizer(model_dir, backend="recording")
    loc.locate(frame)
    assert loc.backend.shapes == [(1, 1, 48, 68)]


def test_auto_prefers_onnxruntime_without_tensorrt(model_dir):
    from livetrack.model import load_model

    assert make_backend(load_model(model_dir), "auto").name in ("tensorrt", "onnxruntime")


def test_locate_convenience_on_a_stack(model_dir, frame):
    df = locate(np.stack([frame, frame]), model=model_dir, backend="torch")
    assert sorted(set(df["frame"])) == [0, 1]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_backend_agrees_with_cpu(model_dir, frame):
    from livetrack.model import load_model

    spec = load_model(model_dir)
    batch = CNNLocalizer(spec, backend="onnxruntime").predict_maps(frame[None])[1]
    cpu = TorchBackend(spec, device="cpu").run(batch)
    gpu = TorchBackend(spec, device="cuda").run(batch)
    assert np.allclose(cpu, gpu, atol=1e-3)


@pytest.fixture(scope="module")
def temporal_dir(model_dir, tmp_path_factory):
    """The random model with a 3-frame fusion."""
    import dataclasses

    from livetrack.model import TemporalConfig, load_model, load_net

    spec = load_model(model_dir)
    folder = tmp_path_factory.mktemp("models") / "rand-t3"
    fused = dataclasses.replace(spec, name="rand-t3", temporal=TemporalConfig(3, (0.4,), -1.0))
    save_model(load_net(spec), fused, folder)
    return folder


def test_temporal_model_fuses_neighbours_in_its_logit(model_dir, temporal_dir, rng):
    from livetrack.model import fuse_logits, load_model

    stack = (100 + 5 * rng.standard_normal((5, 40, 52))).astype(np.float32)
    plain = CNNLocalizer(model_dir, backend="onnxruntime").predict_maps(stack)[0]
    fused = CNNLocalizer(temporal_dir, backend="onnxruntime").predict_maps(stack)[0]
    expect = fuse_logits(plain[:, 0], load_model(temporal_dir).temporal)
    assert np.allclose(fused[:, 0], expect, atol=1e-5)
    assert np.array_equal(fused[:, 1:], plain[:, 1:])  # offsets and sigmas are the frame's own


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_temporal_chunks_see_the_same_neighbours_as_the_whole_stack(temporal_dir, rng, batch_size):
    stack = (100 + 5 * rng.standard_normal((11, 36, 44))).astype(np.float32)
    whole = CNNLocalizer(temporal_dir, backend="onnxruntime", batch_size=64).locate_stack(
        stack, first_frame=3
    )
    chunked = CNNLocalizer(temporal_dir, backend="onnxruntime", batch_size=batch_size).locate_stack(
        stack, first_frame=3
    )
    assert len(whole) > 0 and set(whole["frame"]) <= set(range(3, 14))
    pd.testing.assert_frame_equal(whole, chunked, atol=1e-6)


def test_temporal_model_refuses_single_frames_and_double_windows(temporal_dir, frame):
    loc = CNNLocalizer(temporal_dir, backend="onnxruntime")
    assert loc.temporal_frames == 3
    with pytest.raises(InputError, match="fuses 3 consecutive frames"):
        loc.locate(frame)
    with pytest.raises(InputError, match="at least 2 frames"):
        loc.locate_stack(frame)
    with pytest.raises(InputError, match="temporal_window"):
        loc.locate_stack(np.stack([frame, frame]), temporal_window=3)


def test_live_tracker_refuses_a_temporal_model(temporal_dir):
    from livetrack.pipeline import Tracker

    with pytest.raises(InputError, match="single-frame model"):
        Tracker(CNNLocalizer(temporal_dir, backend="onnxruntime"))


@pytest.fixture(scope="module")
def causal_dir(model_dir, tmp_path_factory):
    """The random model fusing each frame with the 2 before it."""
    import dataclasses

    from livetrack.model import TemporalConfig, load_model, load_net

    spec = load_model(model_dir)
    folder = tmp_path_factory.mktemp("models") / "rand-c3"
    temporal = TemporalConfig(3, (0.4, 0.3), -1.0, causal=True)
    save_model(load_net(spec), dataclasses.replace(spec, name="rand-c3", temporal=temporal), folder)
    return folder


def _stream(loc, stack, numbers):
    return pd.concat([loc.locate(stack[i], n) for i, n in enumerate(numbers)], ignore_index=True)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_causal_stream_frame_by_frame_equals_the_movie(causal_dir, rng, batch_size):
    stack = (100 + 5 * rng.standard_normal((8, 36, 44))).astype(np.float32)
    loc = CNNLocalizer(causal_dir, backend="onnxruntime", threshold=0.3, batch_size=batch_size)
    assert loc.temporal_frames == 3 and loc.frames_ahead == 0
    movie = loc.locate_stack(stack, first_frame=5)
    streamed = _stream(loc, stack, range(5, 13))
    assert len(movie) > 0
    pd.testing.assert_frame_equal(movie, streamed, atol=1e-6)
    # A frame number at or below the last one starts a new stream.
    pd.testing.assert_frame_equal(_stream(loc, stack, range(5, 13)), movie, atol=1e-6)


def test_causal_stream_uses_only_earlier_frames(causal_dir, rng):
    from livetrack.model import fuse_logits, load_model

    stack = (100 + 5 * rng.standard_normal((4, 36, 44))).astype(np.float32)
    loc = CNNLocalizer(causal_dir, backend="onnxruntime", threshold=0.3)
    head = loc.locate_stack(stack[:3])
    whole = loc.locate_stack(stack)
    pd.testing.assert_frame_equal(head, whole[whole["frame"] < 3], atol=1e-6)
    # With frame 2 dropped, frame 3 has frame 1 two back and nothing one back.
    _, batch, noise = loc.predict_maps(stack)
    raw = loc._run(batch, stack.shape[1:], fuse=False)
    spec = load_model(causal_dir)
    fused = fuse_logits(raw[:, 0], spec.temporal, np.array([3]), np.array([[-1, 1]]))
    raw[3, 0] = fused[0]
    expect = loc._tables(raw[3:4], batch[3:4], noise[3:4], [3], stack.shape[1:])
    _stream(loc, stack, [0, 1])
    pd.testing.assert_frame_equal(loc.locate(stack[3], 3), expect, atol=1e-6)


def test_live_tracker_runs_a_causal_model(causal_dir, rng):
    from livetrack.pipeline import Tracker

    stack = (100 + 5 * rng.standard_normal((5, 36, 44))).astype(np.float32)
    loc = CNNLocalizer(causal_dir, backend="onnxruntime", threshold=0.3)
    expect = loc.locate_stack(stack)
    tracker = Tracker(CNNLocalizer(causal_dir, backend="onnxruntime", threshold=0.3))
    found = pd.concat([r.positions for r in tracker.run(stack)], ignore_index=True)
    pd.testing.assert_frame_equal(found[expect.columns], expect, atol=1e-6)


def test_temporal_null_rates_come_from_fused_stacks(model_dir, temporal_dir):
    _, plain = CNNLocalizer(model_dir, backend="onnxruntime").null_rates()
    _, fused = CNNLocalizer(temporal_dir, backend="onnxruntime").null_rates()
    assert fused.shape == plain.shape and (np.diff(fused) <= 0).all()
    assert not np.allclose(fused, plain)


def test_clutter_rates_are_measured_per_brightness(model_dir):
    loc = CNNLocalizer(model_dir, backend="onnxruntime", threshold="adaptive")
    thresholds, _ = loc.null_rates()
    levels, rates = loc.clutter_rates()
    assert rates.shape == (len(levels), len(thresholds)) and len(levels) >= 2
    assert (np.diff(levels) > 0).all()
    assert (rates >= 0).all() and (np.diff(rates, axis=1) <= 0).all()
    assert loc.clutter_rates() is loc.clutter_rates()  # measured once per process


def test_the_live_tracker_prepares_an_adaptive_localizer_before_the_first_frame(model_dir):
    from livetrack.infer import _rates
    from livetrack.pipeline import Tracker

    loc = CNNLocalizer(model_dir, backend="torch", threshold="adaptive")
    key = _rates.rate_key(loc)
    _rates._NULL_RATES.pop(key, None)
    _rates._CLUTTER.pop(key, None)
    Tracker(loc)
    assert key in _rates._NULL_RATES and key in _rates._CLUTTER
