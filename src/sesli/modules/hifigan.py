"""HiFi-GAN generator (VITS's decoder), with an optional neural-source-filter sine excitation.

Letters: B batch, C channels, G speaker-condition channels, T frames at the input rate, N audio
samples (``N = T * prod(upsample_rates)``), H harmonics (fundamental + overtones).

HiFi-GAN V1/V2 (Kong et al. 2020) as VITS and Piper use it: ``conv_pre`` (kernel 7), then per
stage a leaky ReLU (slope 0.1), a weight-normed transposed convolution (stride ``u``, kernel ``k``,
padding ``(k - u) / 2``, halving the channels) and the mean of ``len(resblock_kernel_sizes)``
multi-receptive-field residual blocks; finally a leaky ReLU with PyTorch's default slope 0.01,
``conv_post`` (kernel 7, no bias) and ``tanh``. Residual block "1" has pairs of convolutions
(dilated, then dilation 1) per dilation, block "2" one convolution per dilation. Upstream's
weight-normed layers keep the classic ``weight_g``/``weight_v`` names here.

Padded batches: with ``mask`` given, activations are zeroed past each item's end at every rate,
so an item's audio does not depend on what it is batched with (zero padding of the convolutions
plays the missing neighbours, as alone).

The optional NSF branch (``nsf=True``; off by default, as in VITS/Piper) adds, after each upsampling,
a strided projection of a sine excitation built from F0 (hn-NSF, Wang et al. 2019, as RVC and
VISinger feed it): ``tanh(linear(sines))`` with sines at ``h * f0``, noise-only where unvoiced.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.modules.masking import weight_norm

LRELU_SLOPE = 0.1


def _same(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


def _init(conv: nn.Module) -> nn.Module:
    nn.init.normal_(conv.weight, 0.0, 0.01)  # HiFi-GAN's init_weights
    return conv


def _masked(x: Tensor, mask: Tensor | None) -> Tensor:
    return x if mask is None else x * mask


class ResBlock1(nn.Module):
    """Per dilation d: ``x += conv_1(lrelu(conv_d(lrelu(x))))`` (HiFi-GAN V1 ``ResBlock1``)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilations: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(
                _init(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same(kernel_size, d)))
            )
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            weight_norm(_init(nn.Conv1d(channels, channels, kernel_size, padding=_same(kernel_size))))
            for _ in dilations
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x (B, C, T)``, ``mask (B, 1, T)`` or None -> ``(B, C, T)``."""
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            y = c1(_masked(F.leaky_relu(x, LRELU_SLOPE), mask))
            x = x + c2(_masked(F.leaky_relu(y, LRELU_SLOPE), mask))
        return _masked(x, mask)


class ResBlock2(nn.Module):
    """Per dilation d: ``x += conv_d(lrelu(x))`` (HiFi-GAN V3 ``ResBlock2``, Piper medium)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilations: tuple[int, ...] = (1, 3)) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            weight_norm(
                _init(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same(kernel_size, d)))
            )
            for d in dilations
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x (B, C, T)``, ``mask (B, 1, T)`` or None -> ``(B, C, T)``."""
        for conv in self.convs:
            x = x + conv(_masked(F.leaky_relu(x, LRELU_SLOPE), mask))
        return _masked(x, mask)


class SineSource(nn.Module):
    """hn-NSF excitation: F0 ``(B, T)`` in Hz -> ``(B, 1, N)`` in [-1, 1].

    Args:
        sample_rate: audio rate.
        upsample_scale: samples per F0 step (the generator's total upsampling).
        harmonic_num: overtones above the fundamental (RVC: 0).
        sine_amp: sine amplitude in voiced regions.
        noise_std: noise std in voiced regions (unvoiced: ``sine_amp / 3``).
        voiced_threshold: F0 above which a sample is voiced.
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        upsample_scale: int,
        harmonic_num: int = 0,
        sine_amp: float = 0.1,
        noise_std: float = 0.003,
        voiced_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.upsample_scale = upsample_scale
        self.sine_amp = sine_amp
        self.noise_std = noise_std
        self.voiced_threshold = voiced_threshold
        self.l_linear = nn.Linear(harmonic_num + 1, 1)
        self.register_buffer(
            "harmonics", torch.arange(1, harmonic_num + 2, dtype=torch.float32), persistent=False
        )

    def forward(self, f0: Tensor, *, noise: bool = True, generator: torch.Generator | None = None) -> Tensor:
        f = f0.repeat_interleave(self.upsample_scale, dim=1).unsqueeze(-1)  # (B, N, 1)
        phase = torch.cumsum(f * self.harmonics / self.sample_rate, dim=1) % 1.0  # (B, N, H)
        voiced = (f > self.voiced_threshold).to(f.dtype)
        sines = self.sine_amp * torch.sin(2 * math.pi * phase) * voiced
        if noise:
            amp = voiced * self.noise_std + (1 - voiced) * self.sine_amp / 3
            eps = torch.randn(sines.shape, generator=generator, device=f.device, dtype=f.dtype)
            sines = sines + amp * eps
        return torch.tanh(self.l_linear(sines)).transpose(1, 2)  # (B, 1, N)


class HifiGanGenerator(nn.Module):
    """Latent frames ``(B, C_in, T)`` -> audio ``(B, 1, N)``.

    Args:
        in_channels: latent width (VITS ``inter_channels``).
        resblock: ``"1"`` or ``"2"``.
        resblock_kernel_sizes: one residual block per kernel size, in parallel, per stage.
        resblock_dilation_sizes: the dilations of each of those blocks.
        upsample_rates: stride per stage (their product is the hop).
        upsample_initial_channel: width after ``conv_pre``; each stage halves it.
        upsample_kernel_sizes: transposed-convolution kernel per stage.
        gin_channels: speaker-condition width (0: none); added after ``conv_pre``.
        nsf: add a sine excitation from F0 at every stage (needs ``sample_rate``).
        sample_rate: audio rate, for the NSF source.
        harmonic_num: overtones of the NSF source.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        resblock: str,
        resblock_kernel_sizes: tuple[int, ...],
        resblock_dilation_sizes: tuple[tuple[int, ...], ...],
        upsample_rates: tuple[int, ...],
        upsample_initial_channel: int,
        upsample_kernel_sizes: tuple[int, ...],
        gin_channels: int = 0,
        nsf: bool = False,
        sample_rate: int | None = None,
        harmonic_num: int = 0,
    ) -> None:
        super().__init__()
        if resblock not in ("1", "2"):
            raise ValueError(f"resblock must be '1' or '2', got {resblock!r}")
        if len(upsample_rates) != len(upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
        self.upsample_rates = tuple(upsample_rates)
        self.num_kernels = len(resblock_kernel_sizes)
        self.hop = math.prod(upsample_rates)
        block = ResBlock1 if resblock == "1" else ResBlock2
        self.conv_pre = nn.Conv1d(in_channels, upsample_initial_channel, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            ch = upsample_initial_channel // 2 ** (i + 1)
            self.ups.append(weight_norm(_init(nn.ConvTranspose1d(2 * ch, ch, k, u, padding=(k - u) // 2))))
            for kr, dil in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(ch, kr, tuple(dil)))
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3, bias=False)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)
        self.nsf = nsf
        if nsf:
            if sample_rate is None:
                raise ValueError("the NSF source needs sample_rate")
            self.m_source = SineSource(
                sample_rate=sample_rate, upsample_scale=self.hop, harmonic_num=harmonic_num
            )
            self.noise_convs = nn.ModuleList()
            for i in range(len(upsample_rates)):
                c = upsample_initial_channel // 2 ** (i + 1)
                stride = math.prod(upsample_rates[i + 1 :])
                if stride > 1:
                    self.noise_convs.append(nn.Conv1d(1, c, 2 * stride, stride=stride, padding=stride // 2))
                else:
                    self.noise_convs.append(nn.Conv1d(1, c, 1))

    def forward(
        self,
        x: Tensor,
        g: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        f0: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``x (B, C_in, T)``, ``g (B, G, 1)``, ``mask (B, 1, T)``, ``f0 (B, T)`` Hz -> ``(B, 1, N)``."""
        source = None
        if self.nsf:
            if f0 is None:
                raise ValueError("this generator has an NSF source: pass f0 (B, T) in Hz")
            if f0.shape[-1] != x.shape[-1]:
                raise ValueError(f"f0 has {f0.shape[-1]} frames but the latent has {x.shape[-1]}")
            source = self.m_source(f0, generator=generator)  # (B, 1, N)
        x = self.conv_pre(x)
        if g is not None:
            x = x + self.cond(g)
        x = _masked(x, mask)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))  # (B, C / 2 ** (i + 1), T * prod(rates[: i + 1]))
            if mask is not None:
                mask = mask.repeat_interleave(self.upsample_rates[i], dim=2)[..., : x.shape[-1]]
            if source is not None:
                x = x + self.noise_convs[i](source)
            x = _masked(x, mask)
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            x = sum(block(x, mask) for block in blocks) / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # default slope 0.01 here, as upstream
        return torch.tanh(x)


__all__ = ["HifiGanGenerator", "ResBlock1", "ResBlock2", "SineSource"]
