"""Padding masks and length-aware helpers shared by the sequence blocks.

Letters: B batch, C channels, T time steps (frames or samples at the block's own rate).

Convention: a *valid* mask is a bool tensor ``(B, T)`` that is True on real steps and False on
padding. Every block that mixes across time (convolutions, instance norm, LSTMs) zeroes padding
first, so that an item in a padded batch sees exactly what it would see alone, where the zero
padding of a convolution plays the role of the missing neighbours.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn


def lengths_to_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """Valid mask ``(B, T)`` from lengths ``(B,)``."""
    max_len = int(lengths.max()) if max_len is None else max_len
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)


def apply_mask(x: Tensor, mask: Tensor | None) -> Tensor:
    """Zero the padded steps of ``x (B, C, T)`` given a valid mask ``(B, T)`` (None: no-op)."""
    if mask is None:
        return x
    return x * mask.unsqueeze(1).to(x.dtype)


def upsample_mask(mask: Tensor | None, factor: int, length: int | None = None) -> Tensor | None:
    """Repeat each step of a valid mask ``factor`` times, optionally cut or padded to ``length``."""
    if mask is None:
        return None
    out = mask.repeat_interleave(factor, dim=1)
    if length is not None:
        if out.shape[1] >= length:
            out = out[:, :length]
        else:  # e.g. the generator's one-sample reflection pad
            out = torch.nn.functional.pad(out, (0, length - out.shape[1]), value=False)
    return out


def segment_starts(lengths: Tensor, frames: int, generator: torch.Generator | None = None) -> Tensor:
    """Uniform random start frames in ``[0, length - frames]`` per item (VITS's
    ``rand_slice_segments``; 0 for an item shorter than ``frames``): ``(B,)`` long."""
    top = (lengths - frames + 1).clamp_min(1)
    u = torch.rand(lengths.shape[0], generator=generator, device=lengths.device)
    return (u * top).long()


def take_segments(x: Tensor, start: Tensor, frames: int) -> Tensor:
    """``x (B, C, T)`` -> ``(B, C, frames)`` from each item's ``start`` (zero past the end)."""
    if x.shape[-1] < frames:
        x = nn.functional.pad(x, (0, frames - x.shape[-1]))
    idx = start[:, None, None] + torch.arange(frames, device=x.device)[None, None]  # (B, 1, L)
    return x.gather(-1, idx.clamp_max(x.shape[-1] - 1).expand(-1, x.shape[1], -1))


def masked_instance_norm(x: Tensor, mask: Tensor | None, eps: float = 1e-5) -> Tensor:
    """Instance norm over time with statistics taken on valid steps only.

    Args:
        x: ``(B, C, T)``.
        mask: valid mask ``(B, T)`` or None (all steps valid: plain instance norm).
        eps: added to the (biased) variance, as ``nn.InstanceNorm1d`` does.

    Returns:
        ``(B, C, T)`` normalised, zero on padding.
    """
    if mask is None:
        return torch.nn.functional.instance_norm(x, eps=eps)
    m = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
    n = m.sum(dim=-1, keepdim=True).clamp(min=1.0)  # (B, 1, 1)
    mean = (x * m).sum(dim=-1, keepdim=True) / n
    var = (((x - mean) * m) ** 2).sum(dim=-1, keepdim=True) / n
    return (x - mean) * torch.rsqrt(var + eps) * m


def run_lstm(lstm: nn.LSTM, x: Tensor, lengths: Tensor | None) -> Tensor:
    """Run a batch-first LSTM on padded input, packing by length so padding never leaks in.

    Args:
        lstm: a ``batch_first`` LSTM.
        x: ``(B, T, C)``.
        lengths: ``(B,)`` valid lengths, or None when every item fills ``T``.

    Returns:
        ``(B, T, H)`` outputs, zero on padding.
    """
    if lengths is None or bool((lengths == x.shape[1]).all()):
        out, _ = lstm(x)
        return out
    packed = nn.utils.rnn.pack_padded_sequence(
        x, lengths.detach().cpu(), batch_first=True, enforce_sorted=False
    )
    out, _ = lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out


def weight_norm(module: nn.Module) -> nn.Module:
    """Weight-normalise ``module`` with the classic hook (parameters ``weight_g``/``weight_v``).

    The classic form is kept on purpose: StyleTTS2/Kokoro checkpoints store ``weight_g`` and
    ``weight_v``, so the state dict names match with no conversion. Loaders also accept the newer
    parametrization names (``parametrizations.weight.original0/1``) and rename them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(module)
