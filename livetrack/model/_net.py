"""The fully convolutional localization network.

The net maps a normalized frame ``(B, 1, H, W)`` to per-cell maps at an output stride of
2 pixels: a detection logit, the sub-pixel offset (dx, dy) from the cell centre to the
particle centre in pixels, and the raw log of the predicted localization error
(log sigma_x, log sigma_y) in pixels -- the representation of DECODE and Spotiflow. The raw
log sigma goes through :func:`floor_log_sigma` where it is used (the loss and decoding), not
in the graph: on the CPU that elementwise pass over two full maps cost as much as a conv.
Only Conv/ReLU/BatchNorm/ConvTranspose/Pad ops are used so the graph exports to ONNX
(opset 17) and TensorRT unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

from livetrack.model._config import MAP_CHANNELS, NetConfig, TemporalConfig
from livetrack.model._decode import LOG_SIGMA_FLOOR


def _conv_bn(
    c_in: int, c_out: int, kernel: int = 3, stride: int = 1, dilation: int = 1
) -> nn.Module:
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class LocalizationNet(nn.Module):
    """Small fully convolutional localizer with output stride 2.

    The ``"unet"`` layout adds a context branch at stride 4 to the stride-2 features; the
    ``"dilated"`` layout widens its field of view with dilated convolutions instead (see
    :class:`NetConfig`).

    Parameters
    ----------
    config : NetConfig
        Architecture.
    """

    #: Inputs are zero-padded to a multiple of this before the net runs.
    PAD_MULTIPLE = 4

    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        cfg = config or NetConfig()
        self.config = cfg
        c2, c4 = cfg.width_s2, cfg.width_s4
        # A 4x4 stride-2 stem sees every input pixel once per output cell pair, cheaper
        # than full-resolution convs and exact enough for sub-pixel offsets.
        self.stem = nn.Sequential(
            nn.Conv2d(1, c2, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(inplace=True),
        )
        if cfg.layout == "dilated":
            # No context branch: growing dilations widen the field of view at stride 2.
            self.s2 = nn.Sequential(*[_conv_bn(c2, c2, dilation=2**i) for i in range(cfg.depth_s2)])
        else:
            self.s2 = nn.Sequential(*[_conv_bn(c2, c2) for _ in range(cfg.depth_s2)])
            self.down = _conv_bn(c2, c4, stride=2)
            self.s4 = nn.Sequential(
                *[_conv_bn(c4, c4, dilation=1 + (i % 2)) for i in range(cfg.depth_s4)]
            )
            self.up = nn.Sequential(
                nn.ConvTranspose2d(c4, c2, 2, stride=2, bias=False),
                nn.BatchNorm2d(c2),
            )
            self.fuse = _conv_bn(c2, c2)
        self.head = nn.Conv2d(c2, len(MAP_CHANNELS), 1)
        bias = self.head.bias
        assert bias is not None  # a Conv2d has a bias unless built with bias=False
        with torch.no_grad():
            # Start with a low detection probability: almost every cell is background.
            bias.zero_()
            bias[0] = -4.0
            bias[3:] = -1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, 1, H, W)`` to ``(B, 5, ceil(H / 2), ceil(W / 2))`` maps (any H, W)."""
        h, w = x.shape[-2], x.shape[-1]
        m = self.PAD_MULTIPLE
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = functional.pad(x, (0, pw, 0, ph))
        out = self.forward_padded(x)
        s = self.config.stride
        return out[:, :, : (h + s - 1) // s, : (w + s - 1) // s]

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        """Run on input whose H and W are multiples of :attr:`PAD_MULTIPLE` (exported graph).

        The input is the normalized frame after ``soft_clip(x, config.input_softclip)``.
        """
        f2 = self.s2(self.stem(x))
        if self.config.layout == "dilated":
            return self.head(f2)
        f4 = self.s4(self.down(f2))
        f = self.fuse(torch.relu(f2 + self.up(f4)))
        return self.head(f)


def floor_log_sigma(raw: torch.Tensor) -> torch.Tensor:
    """Apply the soft floor (~0.0025 px) to the net's raw log sigma channels.

    A soft floor keeps the NLL finite without the dead gradients of a hard clamp.
    """
    return functional.softplus(raw - LOG_SIGMA_FLOOR) + LOG_SIGMA_FLOOR


class TemporalFusion(nn.Module):
    """Trainable twin of :func:`livetrack.model.fuse_logits`.

    Parameters
    ----------
    frames : int
        Window length ``K``: odd for a centred window, >= 2 for a causal one.
    weight, bias : float
        Initial neighbour weight (all distances) and bias.
    neighbour_cap : float or None
        Fixed cap on a neighbour's logit (see :class:`TemporalConfig`).
    causal : bool
        Fuse into the last frame from the ones before it, not into the centre frame.
    """

    def __init__(
        self,
        frames: int,
        weight: float = 0.5,
        bias: float = 0.0,
        neighbour_cap: float | None = None,
        causal: bool = False,
    ) -> None:
        super().__init__()
        if causal and frames < 2:
            raise ValueError(f"a causal window needs 2 frames or more, got {frames}")
        if not causal and (frames < 3 or frames % 2 == 0):
            raise ValueError(f"frames must be an odd number >= 3, got {frames}")
        self.frames = frames
        self.causal = causal
        self.neighbour_cap = neighbour_cap
        n = frames - 1 if causal else frames // 2
        self.weights = nn.Parameter(torch.full((n,), float(weight)))
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    @property
    def target(self) -> int:
        """Index in the window of the frame the fused logits decide."""
        return self.frames - 1 if self.causal else self.frames // 2

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """Fuse ``(B, K, h, w)`` logits of K consecutive frames into the target frame's."""
        c = self.target
        out = logits[:, c] + self.bias
        for d in range(1, len(self.weights) + 1):
            near = [c - d] if self.causal else [c - d, c + d]
            frames = logits[:, near]
            if self.neighbour_cap is not None:
                frames = frames.clamp(max=self.neighbour_cap)
            pooled = functional.max_pool2d(frames, 2 * d + 1, stride=1, padding=d)
            out = out + self.weights[d - 1] * pooled.sum(dim=1)
        return out

    def config(self) -> TemporalConfig:
        """Return the learned fusion as a :class:`TemporalConfig`."""
        return TemporalConfig(
            frames=self.frames,
            weights=tuple(float(w) for w in self.weights.detach().cpu()),
            bias=float(self.bias.detach().cpu()),
            neighbour_cap=self.neighbour_cap,
            causal=self.causal,
        )


class PaddedInputNet(nn.Module):
    """Export wrapper: the graph of :meth:`LocalizationNet.forward_padded` only."""

    def __init__(self, net: LocalizationNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the wrapped net on pre-padded input."""
        return self.net.forward_padded(x)


def count_parameters(net: nn.Module) -> int:
    """Return the number of trainable parameters of ``net``."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def fold_batchnorm(net: LocalizationNet) -> LocalizationNet:
    """Return an eval-mode copy of ``net`` with every BatchNorm folded into its convolution.

    The exported graph then holds only Conv/ConvTranspose (with bias), Relu and elementwise
    ops, which every runtime fuses and TensorRT runs at full speed.
    """
    import copy

    folded = copy.deepcopy(net).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        layers = list(seq)
        for i in range(len(layers) - 1):
            conv, bn = layers[i], layers[i + 1]
            if isinstance(conv, nn.Conv2d | nn.ConvTranspose2d) and isinstance(bn, nn.BatchNorm2d):
                seq[i] = _fuse(conv, bn)
                seq[i + 1] = nn.Identity()
    return folded


def _fuse(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> nn.Module:
    mean, var = bn.running_mean, bn.running_var
    assert mean is not None and var is not None  # BatchNorm2d tracks running statistics
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
        fused = copy_conv_with_bias(conv)
        # Conv2d weights are (out, in, k, k); ConvTranspose2d weights are (in, out, k, k).
        shape = (-1, 1, 1, 1) if isinstance(conv, nn.Conv2d) else (1, -1, 1, 1)
        fused.weight.copy_(conv.weight * scale.reshape(shape))
        assert fused.bias is not None  # built with bias=True
        fused.bias.copy_((bias - mean) * scale + bn.bias)
    return fused


def copy_conv_with_bias(conv: nn.Conv2d | nn.ConvTranspose2d) -> nn.Conv2d | nn.ConvTranspose2d:
    """Return an untrained copy of ``conv``'s layout with a bias term."""
    # The layers store their sizes as tuples of any length; a 2-D layer's have two.
    layout: dict[str, Any] = {
        "kernel_size": conv.kernel_size,
        "stride": conv.stride,
        "padding": conv.padding,
        "dilation": conv.dilation,
        "groups": conv.groups,
    }
    return type(conv)(conv.in_channels, conv.out_channels, bias=True, **layout)
