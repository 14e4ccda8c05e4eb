"""The viewer's status names the inference engine and device, the GPU backends' too."""

import pytest

pytest.importorskip("PyQt6")
torch = pytest.importorskip("torch")

from livetrack.infer import CNNLocalizer, CudaBackend  # noqa: E402
from livetrack.model import load_model  # noqa: E402
from livetrack.viewer import describe_localizer  # noqa: E402


class _Engine:
    name = "tensorrt"
    device = "cuda:0, NVIDIA H200"

    def run(self, batch):
        raise AssertionError("not run here")


def test_the_status_names_a_gpu_backend_and_its_device():
    spec = load_model("spots-fast")
    on_gpu = CNNLocalizer(spec, backend=_Engine())
    assert (
        describe_localizer(on_gpu) == "CNNLocalizer(spots-fast) on tensorrt (cuda:0, NVIDIA H200)"
    )
    # The CUDA backend's path, here on the CPU device, says so.
    on_cpu = CNNLocalizer(spec, backend=CudaBackend(spec, device="cpu"))
    assert describe_localizer(on_cpu) == "CNNLocalizer(spots-fast) on cuda (CPU)"
