"""The VITS text encoder's transformer: relative-position self-attention + convolutional FFN.

Letters: B batch, C channels, H heads, D channels per head (``C / H``), T tokens, W window
(``window_size``), R relative offsets (``2W + 1``).

The design is the one VITS (Kim et al. 2021) took from Glow-TTS / Music Transformer (Shaw et al.
2018): post-norm blocks ``x = norm(x + attn(x))``, ``x = norm(x + ffn(x))``, attention logits
``q.k / sqrt(D)`` plus a relative term ``q.E_k[j - i] / sqrt(D)`` and outputs ``p.v`` plus
``sum_j p_ij E_v[j - i]``, where the learned tables ``E_k``, ``E_v`` ``(1, R, D)`` are shared by the
heads and only offsets ``|j - i| <= W`` get one (farther pairs add nothing). VITS and Piper use
``W = 4``, two heads, a kernel-3 FFN with ReLU and layer norm over channels (eps 1e-5).

Here the relative terms are computed with one gather over an offset index ``(T, R)`` instead of
VITS's pad-and-reshape skewing: the same numbers, easier to read. Parameter names
(``conv_q``, ``emb_rel_k``, ``norm_layers_1.0.gamma`` ...) match VITS/Piper state dicts.

Masks are VITS-style float multipliers ``(B, 1, T)`` (1 on tokens, 0 on padding), which broadcast
over channels; padded keys get logit -1e4, as upstream.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channel axis of ``(B, C, T)`` (parameters ``gamma``, ``beta``)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return y.transpose(1, -1)


class RelativeSelfAttention(nn.Module):
    """Multi-head self-attention with windowed relative-position keys and values.

    Args:
        channels: input and output width C.
        n_heads: heads H (C must divide).
        window_size: W, the largest offset that has its own embedding.
        dropout: on the attention probabilities.
    """

    def __init__(self, channels: int, n_heads: int, *, window_size: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels {channels} is not a multiple of n_heads {n_heads}")
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)
        std = self.k_channels**-0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * std)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * std)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def _offsets(self, length: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Key index ``i + r - W`` for query i and offset slot r, and whether it exists: (T, R)."""
        w = self.window_size
        idx = torch.arange(length, device=device)[:, None] + torch.arange(-w, w + 1, device=device)[None]
        valid = (idx >= 0) & (idx < length)
        return idx.clamp(0, length - 1), valid

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        """``x (B, C, T)``, ``attn_mask (B, 1, T, T)`` (1 = may attend) -> ``(B, C, T)``."""
        b, c, t = x.shape
        h, d = self.n_heads, self.k_channels
        q = self.conv_q(x).view(b, h, d, t).transpose(2, 3) / math.sqrt(d)  # (B, H, T, D)
        k = self.conv_k(x).view(b, h, d, t).transpose(2, 3)
        v = self.conv_v(x).view(b, h, d, t).transpose(2, 3)
        idx, valid = self._offsets(t, x.device)  # (T, R)
        scores = q @ k.transpose(-2, -1)  # (B, H, T, T)
        rel = q @ self.emb_rel_k.transpose(-2, -1)  # (B, H, T, R): q_i . E_k[r]
        rel = rel * valid.to(rel.dtype)
        # scatter each (i, r) onto key j = i + r - W; invalid slots were zeroed, so they add 0
        scores = scores.scatter_add(-1, idx.expand(b, h, t, -1), rel)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, -1e4)
        p = self.drop(F.softmax(scores, dim=-1))  # (B, H, T, T)
        out = p @ v  # (B, H, T, D)
        p_rel = p.gather(-1, idx.expand(b, h, t, -1)) * valid.to(p.dtype)  # (B, H, T, R)
        out = out + p_rel @ self.emb_rel_v  # sum_r p_i,i+r-W E_v[r]
        out = out.transpose(2, 3).reshape(b, c, t)
        return self.conv_o(out)


class ConvFeedForward(nn.Module):
    """``conv(k) -> ReLU -> dropout -> conv(k)`` with 'same' padding, masked before each conv."""

    def __init__(
        self, channels: int, filter_channels: int, kernel_size: int, *, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)
        self.drop = nn.Dropout(dropout)

    def _pad(self, x: Tensor) -> Tensor:
        k = self.kernel_size
        return F.pad(x, ((k - 1) // 2, k // 2)) if k > 1 else x

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x (B, C, T)``, ``mask (B, 1, T)`` -> ``(B, C, T)`` zero on padding."""
        y = self.drop(torch.relu(self.conv_1(self._pad(x * mask))))
        return self.conv_2(self._pad(y * mask)) * mask


class RelativeTransformerEncoder(nn.Module):
    """``n_layers`` post-norm blocks of :class:`RelativeSelfAttention` and :class:`ConvFeedForward`.

    Args:
        hidden_channels: C.
        filter_channels: FFN inner width (VITS: 768 for C = 192).
        n_heads: attention heads.
        n_layers: blocks.
        kernel_size: FFN kernel.
        dropout: after attention and FFN, and on attention probabilities.
        window_size: relative-position window W.
    """

    def __init__(
        self,
        *,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int = 3,
        dropout: float = 0.0,
        window_size: int = 4,
    ) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.attn_layers = nn.ModuleList(
            RelativeSelfAttention(hidden_channels, n_heads, window_size=window_size, dropout=dropout)
            for _ in range(n_layers)
        )
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(hidden_channels) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(
            ConvFeedForward(hidden_channels, filter_channels, kernel_size, dropout=dropout)
            for _ in range(n_layers)
        )
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(hidden_channels) for _ in range(n_layers))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x (B, C, T)``, ``mask (B, 1, T)`` -> ``(B, C, T)`` zero on padding."""
        attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)  # (B, 1, T, T)
        x = x * mask
        for attn, norm_1, ffn, norm_2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = norm_1(x + self.drop(attn(x, attn_mask)))
            x = norm_2(x + self.drop(ffn(x, mask)))
        return x * mask


__all__ = ["ChannelLayerNorm", "ConvFeedForward", "RelativeSelfAttention", "RelativeTransformerEncoder"]
