"""VITS's two encoders: text -> prior statistics, linear spectrogram -> posterior latent.

Letters: B batch, T tokens, F frames, C hidden channels, Z latent (``inter_channels``),
S spectrogram bins, G speaker-condition channels.

* :class:`TextEncoder` (``enc_p``): embedding scaled by ``sqrt(C)`` (VITS), the relative-position
  transformer, and a 1x1 projection to the prior mean and log-std ``m_p, logs_p (B, Z, T)``.
* :class:`PosteriorEncoder` (``enc_q``): 1x1 in, WN, 1x1 out to ``m_q, logs_q``, and a sample
  ``z = m_q + eps * exp(logs_q)`` (training only; Piper's ``.onnx`` files leave it out).

Masks are float ``(B, 1, T)`` multipliers.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sesli.modules.masking import lengths_to_mask
from sesli.modules.vits_attention import RelativeTransformerEncoder
from sesli.modules.wavenet import WaveNet


class TextEncoder(nn.Module):
    """Token ids ``(B, T)`` -> hidden ``x (B, C, T)``, prior ``m_p, logs_p (B, Z, T)``, mask."""

    def __init__(
        self,
        *,
        n_symbols: int,
        out_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        dropout: float,
        window_size: int = 4,
    ) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.emb = nn.Embedding(n_symbols, hidden_channels)
        nn.init.normal_(self.emb.weight, 0.0, hidden_channels**-0.5)
        self.encoder = RelativeTransformerEncoder(
            hidden_channels=hidden_channels,
            filter_channels=filter_channels,
            n_heads=n_heads,
            n_layers=n_layers,
            kernel_size=kernel_size,
            dropout=dropout,
            window_size=window_size,
        )
        self.proj = nn.Conv1d(hidden_channels, 2 * out_channels, 1)

    def forward(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = self.emb(ids) * math.sqrt(self.hidden_channels)  # (B, T, C)
        x = x.transpose(1, 2)  # (B, C, T)
        mask = lengths_to_mask(lengths, ids.shape[1]).unsqueeze(1).to(x.dtype)  # (B, 1, T)
        x = self.encoder(x * mask, mask)
        stats = self.proj(x) * mask  # (B, 2Z, T)
        m, logs = stats.split(self.out_channels, dim=1)
        return x, m, logs, mask


class PosteriorEncoder(nn.Module):
    """Linear spectrogram ``(B, S, F)`` -> ``z, m_q, logs_q (B, Z, F)`` and the frame mask."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        kernel_size: int = 5,
        dilation_rate: int = 1,
        n_layers: int = 16,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.enc = WaveNet(
            hidden_channels=hidden_channels,
            kernel_size=kernel_size,
            dilation_rate=dilation_rate,
            n_layers=n_layers,
            gin_channels=gin_channels,
        )
        self.proj = nn.Conv1d(hidden_channels, 2 * out_channels, 1)

    def forward(
        self,
        spec: Tensor,
        lengths: Tensor,
        g: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        mask = lengths_to_mask(lengths, spec.shape[2]).unsqueeze(1).to(spec.dtype)  # (B, 1, F)
        h = self.enc(self.pre(spec) * mask, mask, g=g)
        m, logs = (self.proj(h) * mask).split(self.out_channels, dim=1)
        eps = torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)
        z = (m + eps * torch.exp(logs)) * mask
        return z, m, logs, mask


__all__ = ["PosteriorEncoder", "TextEncoder"]
