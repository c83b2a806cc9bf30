"""Alignment losses: forward-sum (CTC over all monotonic paths) and binarisation (bin) loss.

Forward-sum (Badlani et al., 2022, "One TTS Alignment To Rule Them All"): treat the soft attention
rows as per-frame distributions over tokens, add a blank class, and ask CTC for the probability of
emitting tokens ``1..N`` in order. This sums over every monotonic alignment, so it trains the
aligner without any duration labels. Bin loss pulls the soft attention towards the MAS path:
``-sum(hard * log soft) / sum(hard)``.

Letters: B batch, N tokens, F frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def forward_sum_loss(
    attn_logprob: torch.Tensor,
    text_lengths: torch.Tensor,
    frame_lengths: torch.Tensor,
    blank_logprob: float = -1.0,
) -> torch.Tensor:
    """Mean CTC negative log-likelihood of the token sequence under the attention, per token.

    Args:
        attn_logprob: log attention over tokens per frame, (B, F, N); sesli's aligner passes its
            normalised ``log_attn`` (log prior included), see ``sesli.models.aligner``.
        text_lengths: valid tokens per item, (B,).
        frame_lengths: valid frames per item, (B,).
        blank_logprob: score of the extra blank class.

    Returns:
        scalar loss (CTC with ``reduction="mean"``: each item's NLL divided by its token count,
        then averaged).
    """
    b, f, n = attn_logprob.shape
    text_mask = torch.arange(n, device=attn_logprob.device)[None, :] < text_lengths[:, None]  # (B, N)
    # A large finite value, not -inf: CTC backward turns -inf inputs into NaN gradients.
    scores = attn_logprob.masked_fill(~text_mask[:, None, :], -1e4)
    scores = F.pad(scores, (1, 0), value=blank_logprob)  # (B, F, N + 1); class 0 is the blank
    log_probs = F.log_softmax(scores, dim=-1).transpose(0, 1)  # (F, B, N + 1)
    targets = torch.arange(1, n + 1, device=attn_logprob.device)[None, :].expand(b, n)  # (B, N)
    return F.ctc_loss(
        log_probs,
        targets,
        frame_lengths.long(),
        text_lengths.long(),
        blank=0,
        reduction="mean",
        zero_infinity=True,
    )


def bin_loss(attn_hard: torch.Tensor, log_attn: torch.Tensor) -> torch.Tensor:
    """Binarisation loss ``-sum(hard * log soft) / sum(hard)``; both (B, F, N)."""
    picked = log_attn.masked_select(attn_hard.bool())
    return -picked.mean() if picked.numel() else log_attn.sum() * 0.0


__all__ = ["bin_loss", "forward_sum_loss"]
