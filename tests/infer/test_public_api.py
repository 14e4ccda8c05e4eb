import subprocess
import sys

import livetrack.bench
import livetrack.infer
import livetrack.model
import livetrack.train


def test_public_names():
    assert {"CNNLocalizer", "locate", "Backend", "OnnxRuntimeBackend", "TorchBackend"} <= set(
        livetrack.infer.__all__
    )
    assert {"register_backend", "make_backend", "NullBackend", "InputNormalizer"} <= set(
        livetrack.infer.__all__
    )
    assert {"measure_speed", "speed_markdown", "SpeedResult"} <= set(livetrack.bench.__all__)
    assert {"LocalizationNet", "load_model", "save_model", "export_onnx", "decode_maps"} <= set(
        livetrack.model.__all__
    )
    assert {"TrainConfig", "load_recipe", "train", "calibrate"} <= set(livetrack.train.__all__)
    for module in (livetrack.infer, livetrack.model, livetrack.train):
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_importing_does_not_load_torch_or_onnxruntime():
    code = (
        "import sys, livetrack.infer, livetrack.model, livetrack.train;"
        "print('torch' in sys.modules, 'onnxruntime' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
