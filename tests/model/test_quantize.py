"""int8 export: written from the float ONNX graph, loadable, close to the float model."""

import shutil

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from livetrack._errors import ModelFileError
from livetrack.infer import CNNLocalizer
from livetrack.model import available_models, load_model, quantize_model
from livetrack.simulate import GaussianPSF, simulate_movie

pytestmark = pytest.mark.skipif("spots" not in available_models(), reason="no spots model")


@pytest.fixture
def model_copy(tmp_path):
    folder = tmp_path / "spots"
    shutil.copytree(load_model("spots").folder, folder)
    (folder / "model.int8.onnx").unlink(missing_ok=True)
    return folder


def test_missing_int8_export_is_a_clear_error(model_copy):
    with pytest.raises(ModelFileError, match=r"no int8 export.*livetrack quantize"):
        CNNLocalizer(model_copy, backend="onnxruntime-int8")


def test_quantize_writes_a_model_whose_maps_track_the_float_ones(model_copy):
    spec = load_model(model_copy)
    path = quantize_model(spec, n_frames=3)
    assert path == model_copy / "model.int8.onnx" and path.stat().st_size > 0
    movie = simulate_movie(
        n_frames=1, shape=(96, 96), n_particles=10, psf=GaussianPSF(1.0), snr=10, seed=4
    )
    f32 = CNNLocalizer(spec, backend="onnxruntime")
    i8 = CNNLocalizer(spec, backend="onnxruntime-int8")
    assert i8.backend.name == "onnxruntime-int8"
    m32, _, _ = f32.predict_maps(movie.frames)
    m8, _, _ = i8.predict_maps(movie.frames)
    p32 = 1 / (1 + np.exp(-m32[:, 0]))
    p8 = 1 / (1 + np.exp(-m8[:, 0]))
    # Detection probabilities agree where it matters (quantization noise, not a different net).
    assert np.abs(p32 - p8).max() < 0.2
    assert np.corrcoef(m32[:, 1].ravel(), m8[:, 1].ravel())[0, 1] > 0.9


def test_quantize_a_model_given_by_relative_path(model_copy, monkeypatch):
    # The calibrator works in a scratch directory: a relative folder must still be written.
    monkeypatch.chdir(model_copy.parent)
    path = quantize_model(load_model("./spots"), n_frames=1)
    assert path == (model_copy / "model.int8.onnx").resolve() and path.is_file()
