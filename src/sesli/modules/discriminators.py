"""Waveform discriminators: MPD, multi-resolution (MRD) and multi-scale (MSD).

* Multi-period discriminator (HiFi-GAN, Kong et al. 2020): for each period p the waveform is
  folded into a (T / p, p) image and judged by 2-D convs with (k, 1) kernels, so each sub-judge
  sees every p-th sample (periodic structure, i.e. pitch).
* Multi-resolution spectrogram discriminator (UnivNet, Jang et al. 2021; used with MPD by
  StyleTTS2, whose decoder Kokoro inherits): 2-D convs over linear magnitude spectrograms at
  several STFT resolutions (spectral detail, over-smoothing).
* Multi-scale discriminator (MelGAN / HiFi-GAN): grouped, strided 1-D convs over the raw waveform,
  HiFi-GAN's at three scales (raw, then twice average-pooled ``AvgPool1d(4, 2, padding=2)``).
  VITS and Piper use one scale (``DiscriminatorS``: channels 16, 64, 256, 1024, 1024, kernel 41,
  stride 4, groups ``c_in / 4``) next to the MPD; ``n_scales=1`` with the default channels is
  that one. Weight norm throughout (HiFi-GAN puts spectral norm on its first scale; VITS does not).

Both return :class:`DiscriminatorOutput`: one score map and one list of feature maps per
sub-discriminator, the inputs ``sesli.losses.gan`` expects.

Letters: B batch, T samples, K frequency bins, F frames, C channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from sesli.audio.features import stft

LRELU = 0.1


@dataclass
class DiscriminatorOutput:
    """Per sub-discriminator: ``scores[k]`` (B, ...) and ``features[k]`` (list of maps)."""

    scores: list[torch.Tensor]
    features: list[list[torch.Tensor]]


def _as_b1t(wav: torch.Tensor) -> torch.Tensor:
    if wav.dim() == 2:
        wav = wav.unsqueeze(1)
    if wav.dim() != 3 or wav.shape[1] != 1:
        raise ValueError(f"discriminator: expected audio (B, T) or (B, 1, T), got {tuple(wav.shape)}")
    return wav  # (B, 1, T)


class PeriodDiscriminator(nn.Module):
    """One MPD sub-discriminator for period ``period``."""

    def __init__(
        self, *, period: int, channels: Sequence[int] = (32, 128, 512, 1024), kernel_size: int = 5
    ) -> None:
        super().__init__()
        self.period = period
        pad = (kernel_size // 2, 0)
        chans = [1, *channels]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (kernel_size, 1), (3, 1), padding=pad))
            for c_in, c_out in zip(chans[:-1], chans[1:], strict=True)
        )
        self.convs.append(weight_norm(nn.Conv2d(chans[-1], chans[-1], (kernel_size, 1), 1, padding=pad)))
        self.out = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, 1, T) -> score (B, F') and feature maps."""
        b, c, t = wav.shape
        if t % self.period:
            wav = F.pad(wav, (0, self.period - t % self.period), mode="reflect")
        x = wav.view(b, c, -1, self.period)  # (B, 1, T / p, p)
        return _run_stack(self.convs, self.out, x)


def _run_stack(
    convs: nn.ModuleList, out: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Leaky-ReLU conv stack then the output conv: (flattened score, every layer's feature map)."""
    feats = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU)
        feats.append(x)
    x = out(x)
    feats.append(x)
    return x.flatten(1), feats


class MultiPeriodDiscriminator(nn.Module):
    """HiFi-GAN's MPD: one :class:`PeriodDiscriminator` per period."""

    def __init__(
        self, *, periods: Sequence[int] = (2, 3, 5, 7, 11), channels: Sequence[int] = (32, 128, 512, 1024)
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(period=p, channels=channels) for p in periods)

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        """wav: (B, T) or (B, 1, T)."""
        wav = _as_b1t(wav)
        outs = [d(wav) for d in self.discriminators]
        return DiscriminatorOutput([s for s, _ in outs], [f for _, f in outs])


class SpectrogramDiscriminator(nn.Module):
    """One MRD sub-discriminator on the magnitude spectrogram at one STFT resolution."""

    def __init__(self, *, n_fft: int, hop_length: int, win_length: int, channels: int = 32) -> None:
        super().__init__()
        self.resolution = (n_fft, hop_length, win_length)
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, channels, (3, 9), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))),
            ]
        )
        self.out = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, 1, T) -> score (B, F' K') and feature maps."""
        n_fft, hop, win = self.resolution
        mag = stft(wav.squeeze(1), n_fft, hop, win).abs()  # (B, K, F)
        x = mag.transpose(1, 2).unsqueeze(1)  # (B, 1, F, K)
        return _run_stack(self.convs, self.out, x)


class MultiResolutionDiscriminator(nn.Module):
    """UnivNet's multi-resolution spectrogram discriminator."""

    def __init__(
        self,
        *,
        resolutions: Sequence[tuple[int, int, int]] = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240)),
        channels: int = 32,
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            SpectrogramDiscriminator(n_fft=n, hop_length=h, win_length=w, channels=channels)
            for n, h, w in resolutions
        )

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        """wav: (B, T) or (B, 1, T)."""
        wav = _as_b1t(wav)
        outs = [d(wav) for d in self.discriminators]
        return DiscriminatorOutput([s for s, _ in outs], [f for _, f in outs])


class ScaleDiscriminator(nn.Module):
    """One MSD sub-discriminator: VITS's ``DiscriminatorS`` for the default ``channels``.

    A 15-tap conv to ``channels[0]``, then one 41-tap stride-4 conv per further width (groups
    ``c_in / 4``, as VITS: 4, 16, 64, 256), a 5-tap conv and a 3-tap output conv.
    """

    def __init__(self, *, channels: Sequence[int] = (16, 64, 256, 1024, 1024)) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"ScaleDiscriminator needs at least two widths, got {tuple(channels)}")
        layers = [nn.Conv1d(1, channels[0], 15, 1, padding=7)]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            groups = math.gcd(max(1, c_in // 4), c_in, c_out)
            layers.append(nn.Conv1d(c_in, c_out, 41, 4, groups=groups, padding=20))
        layers.append(nn.Conv1d(channels[-1], channels[-1], 5, 1, padding=2))
        self.convs = nn.ModuleList(weight_norm(conv) for conv in layers)
        self.out = weight_norm(nn.Conv1d(channels[-1], 1, 3, 1, padding=1))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, 1, T) -> score (B, T') and feature maps (B, C, T')."""
        return _run_stack(self.convs, self.out, wav)


class MultiScaleDiscriminator(nn.Module):
    """MelGAN/HiFi-GAN's MSD: ``n_scales`` :class:`ScaleDiscriminator` s, each on the previous
    scale's audio average-pooled by 2 (HiFi-GAN: 3 scales; VITS/Piper: 1, the raw waveform)."""

    def __init__(self, *, n_scales: int = 3, channels: Sequence[int] = (16, 64, 256, 1024, 1024)) -> None:
        super().__init__()
        if n_scales < 1:
            raise ValueError(f"MultiScaleDiscriminator needs n_scales >= 1, got {n_scales}")
        self.discriminators = nn.ModuleList(ScaleDiscriminator(channels=channels) for _ in range(n_scales))
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        """wav: (B, T) or (B, 1, T)."""
        x = _as_b1t(wav)
        scores, features = [], []
        for i, d in enumerate(self.discriminators):
            if i:
                x = self.pool(x)  # (B, 1, T / 2^i)
            s, f = d(x)
            scores.append(s)
            features.append(f)
        return DiscriminatorOutput(scores, features)


class CombinedDiscriminator(nn.Module):
    """MPD and MRD side by side; their sub-discriminator lists are concatenated."""

    def __init__(self, *, mpd: MultiPeriodDiscriminator, mrd: MultiResolutionDiscriminator) -> None:
        super().__init__()
        self.mpd, self.mrd = mpd, mrd

    def forward(self, wav: torch.Tensor) -> DiscriminatorOutput:
        """wav: (B, T) or (B, 1, T)."""
        a, b = self.mpd(wav), self.mrd(wav)
        return DiscriminatorOutput(a.scores + b.scores, a.features + b.features)


__all__ = [
    "CombinedDiscriminator",
    "DiscriminatorOutput",
    "MultiPeriodDiscriminator",
    "MultiResolutionDiscriminator",
    "MultiScaleDiscriminator",
    "PeriodDiscriminator",
    "ScaleDiscriminator",
    "SpectrogramDiscriminator",
]
