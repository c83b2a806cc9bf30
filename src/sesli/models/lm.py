"""A small transformer language model: decoder-only (GPT-style) or, with ``causal=False``, a
bidirectional encoder for masked-LM pretraining (PL-BERT-style, the kind of text encoder Kokoro
uses). Pre-norm blocks.

Letters in shape comments: B batch, T tokens, C model width (``d_model``), H heads, D head width
(C / H), V vocabulary.

Each block is ``x + attn(ln(x))`` then ``x + mlp(ln(x))`` with causal multi-head attention through
``torch.nn.functional.scaled_dot_product_attention`` (flash/memory-efficient kernels where the
device has them) and a 4x GELU MLP. Positions are learned embeddings; the output projection shares
the token embedding matrix (weight tying, Press & Wolf 2017), which saves ``V * C`` parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LMOutput:
    """``logits`` (B, T, V); ``loss`` mean next-token cross-entropy in nats when targets were given."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None


class SelfAttention(nn.Module):
    def __init__(self, *, d_model: int, n_heads: int, dropout: float = 0.0, causal: bool = True) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.causal = causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # (B, T, C)
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (
            t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v)
        )  # (B, H, T, D)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal
        )
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    def __init__(self, *, d_model: int, n_heads: int, dropout: float = 0.0, causal: bool = True) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model=d_model, n_heads=n_heads, dropout=dropout, causal=causal)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    """Transformer over token ids: next-token LM (causal) or masked-LM encoder (``causal=False``).

    Args:
        vocab_size: number of token ids (256 for bytes).
        d_model: width C.
        n_layers: number of blocks.
        n_heads: attention heads (must divide ``d_model``).
        max_seq_len: longest context (learned position table size).
        dropout: dropout on embeddings, attention and residual branches.
        causal: True for a decoder (each position sees only the past); False for an encoder.
    """

    def __init__(
        self,
        *,
        vocab_size: int = 256,
        d_model: int = 128,
        n_layers: int = 4,
        n_heads: int = 4,
        max_seq_len: int = 512,
        dropout: float = 0.1,
        causal: bool = True,
    ) -> None:
        super().__init__()
        self.max_seq_len = max_seq_len
        self.causal = causal
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_seq_len, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(d_model=d_model, n_heads=n_heads, dropout=dropout, causal=causal) for _ in range(n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.tok.weight  # tied
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor | None = None) -> LMOutput:
        """``ids`` (B, T) -> logits (B, T, V); with ``targets`` (B, T) also the loss (-100 ignored)."""
        B, T = ids.shape
        if self.max_seq_len < T:
            raise ValueError(f"sequence of {T} tokens is longer than max_seq_len={self.max_seq_len}")
        pos = torch.arange(T, device=ids.device)
        x = self.drop(self.tok(ids) + self.pos(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.reshape(B * T, -1).float(), targets.reshape(B * T), ignore_index=-100
            )
        return LMOutput(logits=logits, loss=loss)

    @torch.no_grad()
    def generate(
        self,
        ids: torch.Tensor,
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend ``ids`` (B, T) by sampling ``max_new_tokens`` tokens; returns (B, T + new).

        ``temperature`` 0 picks the most likely token (greedy). The context is cropped to the last
        ``max_seq_len`` tokens.
        """
        if not self.causal:
            raise ValueError("a masked-LM encoder (causal=False) cannot generate text left to right")
        for _ in range(max_new_tokens):
            context = ids[:, -self.max_seq_len :]
            logits = self(context).logits[:, -1, :].float()  # (B, V)
            if temperature <= 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = torch.softmax(logits, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            ids = torch.cat([ids, nxt], dim=1)
        return ids
