"""F0 and energy reconstruction losses with masks, as StyleTTS2 trains Kokoro's F0/N heads.

StyleTTS2 uses ``smooth_l1(F0_real, F0_fake) / 10`` (F0 in Hz) and ``smooth_l1(N_real, N_fake)``
(energy = log of the mel L2 norm, ``sesli.audio.features.energy``), both at hop 300 (80 Hz, twice
the text frame rate). The /10 weight is left to the task; these functions return the plain masked
mean so tests and reports read in Hz and log units. ``kind="l1"`` gives plain L1.

Letters: B batch, F frames (hop 300).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _masked(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, kind: str) -> torch.Tensor:
    if pred.shape != target.shape:
        raise ValueError(f"prosody loss: prediction {tuple(pred.shape)} vs target {tuple(target.shape)}")
    if kind == "l1":
        err = (pred - target).abs()
    elif kind == "smooth_l1":
        err = F.smooth_l1_loss(pred, target, reduction="none")
    else:
        raise ValueError(f"prosody loss: unknown kind {kind!r} (l1 or smooth_l1)")
    if mask is None:
        return err.mean()
    picked = err.masked_select(mask.to(err.device).bool())
    return picked.mean() if picked.numel() else err.sum() * 0.0


def frame_mask(lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(B,) lengths -> (B, F) bool mask of valid frames."""
    return torch.arange(n_frames, device=lengths.device)[None, :] < lengths[:, None]


def f0_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, *, kind: str = "smooth_l1"
) -> torch.Tensor:
    """F0 loss in Hz over valid frames; pred, target, mask: (B, F)."""
    return _masked(pred, target, mask, kind)


def energy_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, *, kind: str = "smooth_l1"
) -> torch.Tensor:
    """Energy (log mel norm) loss over valid frames; pred, target, mask: (B, F)."""
    return _masked(pred, target, mask, kind)


__all__ = ["energy_loss", "f0_loss", "frame_mask"]
