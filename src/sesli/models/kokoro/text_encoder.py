"""Kokoro's two text encoders: the ALBERT (PL-BERT) prosody encoder and the acoustic text encoder.

Letters: B batch, T tokens, C channels, H ALBERT hidden width.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from transformers import AlbertConfig, AlbertModel

from sesli.modules.masking import apply_mask, run_lstm, weight_norm
from sesli.modules.style import ChannelLayerNorm


class KokoroAlbert(AlbertModel):
    """ALBERT from ``transformers`` whose forward returns the last hidden state ``(B, T, H)``.

    Kokoro's ``bert`` is a plain ``AlbertModel`` (PL-BERT weights), so the parameter names are
    the ``transformers`` ones.
    """

    @classmethod
    def build(cls, *, vocab_size: int, plbert: dict[str, Any]) -> KokoroAlbert:
        """Build from Kokoro's ``plbert`` section (its ``dropout`` key is not an ALBERT option)."""
        kwargs = {k: v for k, v in plbert.items() if k != "dropout"}
        return cls(AlbertConfig(vocab_size=vocab_size, **kwargs))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs: Any) -> Tensor:  # type: ignore[override]
        """``input_ids (B, T)``, ``attention_mask (B, T)`` (1 = token) -> ``(B, T, H)``."""
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state


class TextEncoder(nn.Module):
    """Embedding, ``depth`` x (conv, layer norm, LeakyReLU, dropout), then a BiLSTM.

    Args:
        channels: embedding and output width.
        kernel_size: conv kernel.
        depth: number of conv blocks.
        n_symbols: vocabulary size.
        dropout: dropout after each conv block (active in train mode).
    """

    def __init__(self, *, channels: int, kernel_size: int, depth: int, n_symbols: int, dropout: float = 0.2):
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, channels)
        pad = (kernel_size - 1) // 2
        self.cnn = nn.ModuleList(
            nn.Sequential(
                weight_norm(nn.Conv1d(channels, channels, kernel_size, padding=pad)),
                ChannelLayerNorm(channels=channels),
                nn.LeakyReLU(0.2),
                nn.Dropout(dropout),
            )
            for _ in range(depth)
        )
        self.lstm = nn.LSTM(channels, channels // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, ids: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """``ids (B, T)``, ``lengths (B,)``, valid ``mask (B, T)`` -> ``(B, C, T)``, zero on padding."""
        x = apply_mask(self.embedding(ids).transpose(1, 2), mask)  # (B, C, T)
        for block in self.cnn:
            x = apply_mask(block(x), mask)
        x = run_lstm(self.lstm, x.transpose(1, 2), lengths)  # (B, T, C)
        return apply_mask(x.transpose(1, 2), mask)


__all__ = ["KokoroAlbert", "TextEncoder"]
