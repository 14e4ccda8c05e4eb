import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livetrack._errors import InputError  # noqa: E402
from livetrack.model import load_model, load_net  # noqa: E402
from livetrack.train import (  # noqa: E402
    _loop,
    config_from_dict,
    train,
)

TINY = {
    "name": "tiny",
    "seed": 5,
    "model": {"width_s2": 8, "width_s4": 16, "depth_s2": 1, "depth_s4": 1},
    "data": {"patch_px": 32, "sigma_px": [1.0, 1.5], "snr": [5.0, 30.0], "snr_low_fraction": 0.0},
    "optim": {
        "steps": 40,
        "batch_size": 8,
        "lr": 5e-3,
        "warmup_steps": 2,
        "checkpoint_every": 20,
        "threads": 1,
    },
    "validation": {
        "frame_px": 48,
        "frames_per_snr": 1,
        "snrs": [10.0],
        "particles_per_frame": 4,
        "corner_frames": 1,
    },
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train") / "m"
    return train(config_from_dict(TINY), folder, progress=False, device="cpu")


def interrupt_training(monkeypatch, cfg, folder, after_steps):
    """Run ``train`` until it has drawn ``after_steps`` batches, then interrupt it."""
    real = _loop.make_batch
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after_steps:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_loop, "make_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, folder, progress=False, device="cpu")
    monkeypatch.setattr(_loop, "make_batch", real)


def test_short_training_lowers_the_loss_and_saves_a_model(trained):
    assert trained.steps == 40
    assert trained.last_loss < 0.7 * trained.first_loss
    folder = trained.spec.folder
    spec = load_model(folder)
    assert spec.name == "tiny" and 0 < spec.threshold <= 1
    assert spec.metadata["train_steps"] == 40
    assert spec.refine == "gaussian"
    assert not (folder / "checkpoint.pt").exists()
    assert (folder / "train_log.csv").read_text().count("\n") == 3
    load_net(spec)


def test_resumed_training_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    optim = {**TINY["optim"], "steps": 16, "checkpoint_every": 8}
    cfg = config_from_dict({**TINY, "optim": optim})
    full = train(cfg, tmp_path / "full", progress=False, device="cpu")

    interrupt_training(monkeypatch, cfg, tmp_path / "resumed", after_steps=10)
    assert (tmp_path / "resumed" / "checkpoint.pt").exists()
    resumed = train(cfg, tmp_path / "resumed", resume=True, progress=False, device="cpu")
    assert resumed.steps == 16
    a = torch.load(full.spec.weights_path, weights_only=True)
    b = torch.load(resumed.spec.weights_path, weights_only=True)
    for k in a:
        assert np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-5), k


def test_resume_without_checkpoint(tmp_path):
    with pytest.raises(InputError, match="no checkpoint"):
        train(config_from_dict(TINY), tmp_path / "x", resume=True, progress=False)


def test_init_from_another_model(tmp_path, trained):
    first = trained
    # A vanishing learning rate keeps the starting weights: they must be the first model's.
    optim = {**TINY["optim"], "steps": 2, "lr": 1e-12, "init_from": str(first.spec.folder)}
    tuned = train(
        config_from_dict({**TINY, "optim": optim}), tmp_path / "b", progress=False, device="cpu"
    )
    a = torch.load(first.spec.weights_path, weights_only=True)
    b = torch.load(tuned.spec.weights_path, weights_only=True)
    conv = "stem.0.weight"
    assert np.allclose(a[conv].numpy(), b[conv].numpy(), atol=1e-6)
    other = {**TINY, "model": {**TINY["model"], "width_s2": 4}}
    other["optim"] = {**TINY["optim"], "init_from": str(first.spec.folder)}
    with pytest.raises(InputError, match="architecture"):
        train(config_from_dict(other), tmp_path / "c", progress=False, device="cpu")


def test_trained_weights_averaged_with_another_model(tmp_path, trained):
    # A fresh network (no init) trained a few steps, then averaged 0.25 / 0.75 with the
    # first: every float weight is that mix of the two.
    steps = {**TINY["optim"], "steps": 3}
    alone = train(
        config_from_dict({**TINY, "seed": 9, "optim": steps}),
        tmp_path / "alone",
        progress=False,
        device="cpu",
    )
    mixed_optim = {**steps, "average_with": str(trained.spec.folder), "average_weight": 0.25}
    mixed = train(
        config_from_dict({**TINY, "seed": 9, "optim": mixed_optim}),
        tmp_path / "mixed",
        progress=False,
        device="cpu",
    )
    a = torch.load(trained.spec.weights_path, weights_only=True)
    b = torch.load(alone.spec.weights_path, weights_only=True)
    m = torch.load(mixed.spec.weights_path, weights_only=True)
    for key in ("stem.0.weight", "head.weight"):
        if key in m:
            expected = 0.25 * b[key].numpy() + 0.75 * a[key].numpy()
            assert np.allclose(m[key].numpy(), expected, atol=1e-6)
    assert not np.allclose(m["stem.0.weight"].numpy(), b["stem.0.weight"].numpy())
    with pytest.raises(InputError, match="average_weight"):
        config_from_dict({**TINY, "optim": {**TINY["optim"], "average_weight": 1.5}})


@pytest.mark.parametrize(("frames", "causal", "weights"), [(3, False, 1), (2, True, 1)])
def test_temporal_training_learns_a_fusion_and_saves_it(tmp_path, trained, frames, causal, weights):
    raw = {
        **TINY,
        "temporal": {
            "frames": frames,
            "causal": causal,
            "diffusion_px2": [0.1, 1.0],
            "frame_det_weight": 0.5,
        },
        "optim": {**TINY["optim"], "steps": 30, "init_from": str(trained.spec.folder)},
        "validation": {**TINY["validation"], "frames_per_snr": 3},
    }
    result = train(config_from_dict(raw), tmp_path / "t", progress=False, device="cpu")
    assert result.last_loss < result.first_loss
    spec = load_model(result.spec.folder)
    assert spec.temporal.frames == frames and len(spec.temporal.weights) == weights
    assert spec.temporal.causal is causal
    # The fusion was trained, not left at its starting values.
    assert (spec.temporal.weights[0], spec.temporal.bias) != (0.5, 3.0)
    assert np.isfinite(spec.temporal.bias)


def test_temporal_resume_restores_the_fusion(tmp_path, monkeypatch):
    raw = {
        **TINY,
        "temporal": {"frames": 3},
        "optim": {**TINY["optim"], "steps": 8, "checkpoint_every": 4},
        "validation": {**TINY["validation"], "frames_per_snr": 3},
    }
    cfg = config_from_dict(raw)
    full = train(cfg, tmp_path / "full", progress=False, device="cpu")
    interrupt_training(monkeypatch, cfg, tmp_path / "resumed", after_steps=5)
    resumed = train(cfg, tmp_path / "resumed", resume=True, progress=False, device="cpu")
    assert resumed.spec.temporal.weights == pytest.approx(full.spec.temporal.weights, abs=1e-5)
    assert resumed.spec.temporal.bias == pytest.approx(full.spec.temporal.bias, abs=1e-5)
