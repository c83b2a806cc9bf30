"""What the Kokoro fine-tuning task and its data module share: the error type and the batch.

Both ``kokoro_finetune`` (the task) and ``kokoro_data`` (clips, targets, loaders) import from here,
so the data module never imports back from its task.

Letters: B batch, T tokens (with boundaries), F frames (600 samples), N = 600 F samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


class FinetuneError(RuntimeError):
    """Fine-tuning cannot start: bad data, no valid clip, unusable targets or base (message says why)."""


@dataclass
class FinetuneBatch:
    """A padded batch of clips with their training targets."""

    ids: Tensor  # (B, T) long, [0, phonemes..., 0] then padding
    id_lengths: Tensor  # (B,)
    durations: Tensor  # (B, T) frames per token, 0 on padding
    f0: Tensor  # (B, 2F) Hz, 0 unvoiced / padding
    energy: Tensor  # (B, 2F)
    wavs: Tensor  # (B, N) N = 600 F
    frame_lengths: Tensor  # (B,)
    utt_ids: list[str]

    def to(self, device: torch.device | str) -> FinetuneBatch:
        moved = {k: v.to(device) if torch.is_tensor(v) else v for k, v in self.__dict__.items()}
        return FinetuneBatch(**moved)


__all__ = ["FinetuneBatch", "FinetuneError"]
