"""Spectral reconstruction losses on waveforms: multi-resolution STFT and mel L1.

Multi-resolution STFT loss (Parallel WaveGAN, Yamamoto et al. 2020): at each (n_fft, hop, window)
resolution, spectral convergence ``||S - S'||_F / ||S||_F`` plus mean ``|log S - log S'|``, averaged
over resolutions. The mel loss is L1 between sesli log-mels (``sesli.audio.features``), the
reconstruction loss StyleTTS2 and Kokoro's decoder are trained with.

Both compute in float32 with autocast off (``float32_region``): their inputs may come from a
model running under bf16/fp16 autocast, and the FFT, norms and logs need the full range.

Letters: B batch, T samples, K frequency bins, F frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from sesli.audio.features import MelConfig, at_least_float32, float32_region, mel_spectrogram, stft

DEFAULT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((512, 50, 240), (1024, 120, 600), (2048, 240, 1200))


@dataclass
class STFTLossResult:
    """Multi-resolution STFT loss parts (each a scalar, averaged over resolutions)."""

    spectral_convergence: torch.Tensor
    log_magnitude: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        """Sum of the two parts."""
        return self.spectral_convergence + self.log_magnitude


def _match(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.dim() == 3:  # (B, 1, T) from a decoder
        pred = pred.squeeze(1)
    if target.dim() == 3:
        target = target.squeeze(1)
    n = min(pred.shape[-1], target.shape[-1])
    return at_least_float32(pred[..., :n]), at_least_float32(target[..., :n])


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1 over several STFT resolutions.

    Args:
        resolutions: (n_fft, hop, win_length) triples.
        eps: floor on magnitudes before the log.
    """

    def __init__(
        self, *, resolutions: Sequence[tuple[int, int, int]] = DEFAULT_RESOLUTIONS, eps: float = 1e-7
    ) -> None:
        super().__init__()
        self.resolutions = tuple(tuple(r) for r in resolutions)
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> STFTLossResult:
        """pred, target: (B, T) or (B, 1, T) waveforms; the longer is cut to the shorter."""
        pred, target = _match(pred, target)  # float32 (or float64)
        with float32_region(pred.device):
            sc, mag = pred.new_zeros(()), pred.new_zeros(())
            for n_fft, hop, win in self.resolutions:
                p = stft(pred, n_fft, hop, win).abs().clamp_min(self.eps)  # (B, K, F)
                t = stft(target, n_fft, hop, win).abs().clamp_min(self.eps)
                sc = sc + torch.linalg.norm(t - p) / torch.linalg.norm(t).clamp_min(self.eps)
                mag = mag + (t.log() - p.log()).abs().mean()
        k = len(self.resolutions)
        return STFTLossResult(sc / k, mag / k)


class MelL1Loss(nn.Module):
    """Mean absolute difference of sesli log-mels of two waveforms.

    Args:
        cfg: mel settings (defaults: Kokoro's 24 kHz, n_fft 2048, hop 300, 80 bands).
    """

    def __init__(self, *, cfg: MelConfig = MelConfig()) -> None:
        super().__init__()
        self.cfg = cfg

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """pred, target: (B, T) or (B, 1, T); lengths: valid samples per item (masks the tail)."""
        pred, target = _match(pred, target)
        mp = mel_spectrogram(pred, self.cfg)  # (B, M, F) float32
        mt = mel_spectrogram(target, self.cfg)
        diff = (mp - mt).abs()
        if lengths is None:
            return diff.mean()
        frames = 1 + lengths.to(diff.device) // self.cfg.hop_length  # (B,)
        mask = torch.arange(diff.shape[-1], device=diff.device)[None, :] < frames[:, None]  # (B, F)
        mask = mask[:, None, :].expand_as(diff)
        return diff.masked_select(mask).mean()


__all__ = ["DEFAULT_RESOLUTIONS", "MelL1Loss", "MultiResolutionSTFTLoss", "STFTLossResult"]
