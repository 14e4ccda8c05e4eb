"""Training loss: detection BCE plus a Gaussian negative log-likelihood on the offsets.

The NLL ``0.5 * ((t - mu) / s)^2 + log s`` makes the predicted ``s`` (sigma_x, sigma_y) the
network's own calibrated estimate of its localization error, as in DECODE.
"""

from __future__ import annotations

import torch
from torch.nn import functional

from livetrack.model import floor_log_sigma


def localization_loss(
    maps: torch.Tensor,
    det: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    det_weight: float = 1.0,
    pos_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Return the total loss and its parts.

    Parameters
    ----------
    maps : torch.Tensor
        ``(B, 5, h, w)`` network output.
    det : torch.Tensor
        ``(B, h, w)`` detection target (0/1).
    offset : torch.Tensor
        ``(B, 2, h, w)`` target offsets in pixels.
    weight : torch.Tensor
        ``(B, h, w)`` offset-loss weights.
    det_weight : float
        Weight of the detection term.
    pos_weight : float
        Extra BCE weight of positive cells.

    Returns
    -------
    loss : torch.Tensor
        Scalar total loss.
    parts : dict
        ``{"det": ..., "nll": ..., "rmse_px": ...}`` detached values for logging.
    """
    logit = maps[:, 0]
    n_pos = det.sum().clamp_min(1.0)
    pw = torch.as_tensor(pos_weight, dtype=maps.dtype, device=maps.device)
    bce = functional.binary_cross_entropy_with_logits(logit, det, pos_weight=pw, reduction="sum")
    det_loss = bce / n_pos
    mu = maps[:, 1:3]
    log_s = floor_log_sigma(maps[:, 3:5])
    z = (offset - mu) * torch.exp(-log_s)
    nll = (0.5 * z * z + log_s).sum(dim=1)
    w_sum = weight.sum().clamp_min(1e-6)
    nll_loss = (nll * weight).sum() / w_sum
    total = det_weight * det_loss + nll_loss
    with torch.no_grad():
        own = det > 0
        err2 = ((offset - mu) ** 2).sum(dim=1)[own]
        rmse = float(err2.mean().sqrt()) if err2.numel() else float("nan")
    parts = {"det": det_loss.item(), "nll": nll_loss.item(), "rmse_px": rmse}
    return total, parts


def fused_detection_loss(fused_logit: torch.Tensor, det: torch.Tensor) -> torch.Tensor:
    """BCE of the fused detection logit (``TemporalFusion``) against the centre frame's target.

    Normalized by the number of positive cells, as the detection term of
    :func:`localization_loss`.
    """
    bce = functional.binary_cross_entropy_with_logits(fused_logit, det, reduction="sum")
    return bce / det.sum().clamp_min(1.0)
