"""The FP16 ONNX export that TensorRT 11 builds its FP16 engines from, run here on ONNX Runtime."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto  # noqa: E402

from livetrack._errors import ModelFileError  # noqa: E402
from livetrack.infer import CNNLocalizer  # noqa: E402
from livetrack.model import export_fp16_onnx, fp16_onnx, load_model  # noqa: E402


def _session(source):
    source = source if isinstance(source, bytes) else str(source)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("model", ["spots", "spots-fast"])
def test_the_fp16_graph_is_half_inside_float_outside(model, tmp_path):
    spec = load_model(model)
    path = export_fp16_onnx(spec.onnx_path, tmp_path / "model.fp16.onnx")
    graph = onnx.load(str(path)).graph
    onnx.checker.check_model(onnx.load(str(path)))
    assert [i.type.tensor_type.elem_type for i in graph.input] == [TensorProto.FLOAT]
    assert [o.type.tensor_type.elem_type for o in graph.output] == [TensorProto.FLOAT]
    floats = [
        t for t in graph.initializer if t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)
    ]
    assert floats and all(t.data_type == TensorProto.FLOAT16 for t in floats)
    casts = [n for n in graph.node if n.op_type == "Cast"]
    assert [n.input[0] for n in casts] == [graph.input[0].name, f"{graph.output[0].name}_fp16"]
    # Every convolution reads the half-precision input or another layer's half output.
    inferred = onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.value_info}
    conv_outputs = [n.output[0] for n in graph.node if n.op_type in ("Conv", "ConvTranspose")]
    assert conv_outputs and all(types[name] == TensorProto.FLOAT16 for name in conv_outputs)
    assert path.stat().st_size < 0.6 * spec.onnx_path.stat().st_size


def test_fp16_maps_and_positions_agree_with_fp32(rng):
    from livetrack.simulate import GaussianPSF, simulate_movie

    spec = load_model("spots")
    movie = simulate_movie(
        n_frames=2, shape=(128, 160), n_particles=40, psf=GaussianPSF(1.0), snr=6.0, seed=5
    )
    loc = CNNLocalizer(spec, backend="onnxruntime", refine=False)
    maps32, batch, _ = loc.predict_maps(movie.frames)
    net_in = loc._normalizer.network_input(batch)
    maps16 = _session(fp16_onnx(spec.onnx_path)).run(None, {"frames": net_in})[0]
    assert maps16.dtype == np.float32 and maps16.shape[0] == 2
    h, w = maps32.shape[2:]
    diff = np.abs(maps16[:, :, :h, :w] - maps32)
    # Offsets (channels 1, 2) in pixels: FP16's 11-bit mantissa leaves them within 0.01 px.
    assert diff[:, 1:3].max() < 0.01
    assert diff[:, 0].max() < 0.1  # logits
    assert diff.max() > 0  # it did run in half precision
    # Decoded: the same detections, positions within the 0.01 px the GPU backends promise.
    from scipy.spatial import cKDTree

    from livetrack.model import decode_maps

    for t in range(2):
        a, b = (
            decode_maps(
                m[t][:, :h, :w],
                spec.threshold,
                spec.stride,
                movie.frames.shape[1:],
                merge_neighbours=spec.merge_neighbours,
                corner_profile=spec.corner_profile,
            )
            for m in (maps32, maps16)
        )
        assert len(a) == len(b) > 20
        dist, _ = cKDTree(b[["x", "y"]].to_numpy()).query(a[["x", "y"]].to_numpy())
        # The odd detection whose neighbour merging FP16 tips moves by a little more.
        assert np.median(dist) < 0.002
        assert np.count_nonzero(dist > 0.01) <= max(1, 0.02 * len(dist))
        assert dist.max() < 0.05


def test_the_export_reads_bytes_and_refuses_what_it_does_not_know(tmp_path):
    spec = load_model("spots")
    data = spec.onnx_path.read_bytes()
    assert fp16_onnx(data) == fp16_onnx(spec.onnx_path)
    model = onnx.load_from_string(data)
    node = onnx.helper.make_node("Sigmoid", [model.graph.output[0].name], ["p"])
    model.graph.node.append(node)
    with pytest.raises(ModelFileError, match="does not know the operators Sigmoid"):
        fp16_onnx(model.SerializeToString())
    with pytest.raises(ModelFileError, match="cannot read the ONNX graph"):
        fp16_onnx(b"not a graph")
