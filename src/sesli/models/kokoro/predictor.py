"""Kokoro's prosody predictor: durations from text, then F0 and energy (N) per frame.

Letters: B batch, T tokens, F frames (token durations summed), C hidden width, S style width,
D ``max_dur`` duration bins.

Durations are predicted as ``D`` independent logits whose sigmoids sum to the duration in frames
(StyleTTS2's ordinal duration head). F0 and N come out at twice the frame rate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.modules.masking import apply_mask, lengths_to_mask, run_lstm
from sesli.modules.style import AdainResBlk1d, AdaLayerNorm


class LinearNorm(nn.Module):
    """A linear layer under the attribute name ``linear_layer`` (checkpoint names), Xavier init."""

    def __init__(self, *, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim)
        nn.init.xavier_uniform_(self.linear_layer.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_layer(x)


class DurationEncoder(nn.Module):
    """``nlayers`` x (BiLSTM, AdaLayerNorm), the style concatenated to every step's features.

    ``lstms`` alternates LSTM and AdaLayerNorm modules (checkpoint layout).
    """

    def __init__(self, *, style_dim: int, d_model: int, nlayers: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.lstms = nn.ModuleList()
        for _ in range(nlayers):
            self.lstms.append(
                nn.LSTM(d_model + style_dim, d_model // 2, 1, batch_first=True, bidirectional=True)
            )
            self.lstms.append(AdaLayerNorm(style_dim=style_dim, channels=d_model))
        self.dropout = dropout

    def forward(self, x: Tensor, style: Tensor, lengths: Tensor | None, mask: Tensor) -> Tensor:
        """``x (B, C, T)``, ``style (B, S)`` -> ``(B, T, C + S)``, zero on padding."""
        m = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        s = style.unsqueeze(1).expand(-1, x.shape[-1], -1)  # (B, T, S)
        h = torch.cat([x.transpose(1, 2), s], dim=-1) * m  # (B, T, C + S)
        for block in self.lstms:
            if isinstance(block, AdaLayerNorm):
                h = torch.cat([block(h, style), s], dim=-1) * m
            else:
                h = run_lstm(block, h, lengths)  # (B, T, C)
                h = F.dropout(h, p=self.dropout, training=self.training)
        return h


class ProsodyPredictor(nn.Module):
    """Duration, F0 and energy predictor (names follow the Kokoro checkpoint).

    Args:
        style_dim: prosody style width.
        d_hid: hidden width.
        nlayers: duration-encoder layers.
        max_dur: duration bins.
        dropout: dropout in the encoder and the F0/N blocks (train mode only).
    """

    def __init__(self, *, style_dim: int, d_hid: int, nlayers: int, max_dur: int = 50, dropout: float = 0.1):
        super().__init__()
        self.text_encoder = DurationEncoder(
            style_dim=style_dim, d_model=d_hid, nlayers=nlayers, dropout=dropout
        )
        self.lstm = nn.LSTM(d_hid + style_dim, d_hid // 2, 1, batch_first=True, bidirectional=True)
        self.duration_proj = LinearNorm(in_dim=d_hid, out_dim=max_dur)
        self.shared = nn.LSTM(d_hid + style_dim, d_hid // 2, 1, batch_first=True, bidirectional=True)

        def blocks() -> nn.ModuleList:
            half = d_hid // 2
            return nn.ModuleList(
                [
                    AdainResBlk1d(dim_in=d_hid, dim_out=d_hid, style_dim=style_dim, dropout=dropout),
                    AdainResBlk1d(
                        dim_in=d_hid, dim_out=half, style_dim=style_dim, upsample=True, dropout=dropout
                    ),
                    AdainResBlk1d(dim_in=half, dim_out=half, style_dim=style_dim, dropout=dropout),
                ]
            )

        self.F0 = blocks()
        self.N = blocks()
        self.F0_proj = nn.Conv1d(d_hid // 2, 1, 1, 1, 0)
        self.N_proj = nn.Conv1d(d_hid // 2, 1, 1, 1, 0)

    def duration_logits(self, d: Tensor, lengths: Tensor | None) -> Tensor:
        """``d (B, T, C + S)`` from the duration encoder -> logits ``(B, T, D)``."""
        x = run_lstm(self.lstm, d, lengths)  # (B, T, C)
        return self.duration_proj(F.dropout(x, 0.5, training=self.training))

    def f0_energy(self, en: Tensor, style: Tensor, frame_lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """Aligned features ``en (B, C + S, F)`` -> F0 and N, each ``(B, 2F)`` (zero on padding)."""
        x = run_lstm(self.shared, en.transpose(1, 2), frame_lengths).transpose(1, 2)  # (B, C, F)
        mask = None if frame_lengths is None else lengths_to_mask(frame_lengths, en.shape[-1])
        out_mask = None if mask is None else mask.repeat_interleave(2, dim=1)
        f0 = self._run(self.F0, x, style, mask)
        n = self._run(self.N, x, style, mask)
        f0 = apply_mask(self.F0_proj(f0), out_mask).squeeze(1)
        n = apply_mask(self.N_proj(n), out_mask).squeeze(1)
        return f0, n

    @staticmethod
    def _run(blocks: nn.ModuleList, x: Tensor, style: Tensor, mask: Tensor | None) -> Tensor:
        for block in blocks:
            x = block(x, style, mask)
            if block.upsample and mask is not None:
                mask = mask.repeat_interleave(2, dim=1)
        return x
