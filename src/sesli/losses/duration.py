"""Duration loss for Kokoro's duration head, as StyleTTS2 trains it.

Kokoro's ``duration_proj`` gives, per token, ``max_dur`` (50) logits; inference reads the duration
as ``round(sum(sigmoid(logits)))``. StyleTTS2 (``train_second.py``, ``loss_ce`` and ``loss_dur``)
trains it with two terms per token i with target duration d_i:

* bins (``ce``): binary cross-entropy with logits against the target ``[1] * d_i + [0] * (50 - d_i)``,
  averaged over all bins of all valid tokens;
* sum (``dur``): L1 between ``sum(sigmoid(logits))`` and d_i.

StyleTTS2 leaves the first and last token (the boundary pad tokens) out of the L1 term but keeps
them in the BCE; ``skip_boundary=True`` does the same. Durations over ``max_dur`` are clipped for the
bin target (the head cannot express them).

Letters: B batch, N tokens, D duration bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class DurationLossResult:
    """Both terms as scalars: ``bins`` (BCE) and ``sum`` (L1 in frames)."""

    bins: torch.Tensor
    sum: torch.Tensor


def duration_loss(
    logits: torch.Tensor,
    durations: torch.Tensor,
    text_lengths: torch.Tensor,
    *,
    skip_boundary: bool = True,
) -> DurationLossResult:
    """StyleTTS2 duration loss.

    Args:
        logits: duration bin logits, (B, N, D).
        durations: target frames per token, (B, N) int.
        text_lengths: valid tokens per item, (B,).
        skip_boundary: leave the first and last valid token out of the L1 sum term.
    """
    b, n, d = logits.shape
    pos = torch.arange(n, device=logits.device)[None, :]  # (1, N)
    valid = pos < text_lengths[:, None]  # (B, N)
    target = durations.to(logits.device).long().clamp(0, d)  # (B, N)
    bins = (torch.arange(d, device=logits.device)[None, None, :] < target[..., None]).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, bins, reduction="none").mean(dim=-1)  # (B, N)
    bins_loss = bce.masked_select(valid).mean()
    sum_valid = valid & (pos > 0) & (pos < text_lengths[:, None] - 1) if skip_boundary else valid
    pred = torch.sigmoid(logits).sum(dim=-1)  # (B, N)
    err = (pred - durations.to(pred.dtype)).abs().masked_select(sum_valid)
    sum_loss = err.mean() if err.numel() else pred.sum() * 0.0
    return DurationLossResult(bins_loss, sum_loss)


__all__ = ["DurationLossResult", "duration_loss"]
