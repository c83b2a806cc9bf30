"""Kokoro's decoder: aligned text features + F0 + energy + style -> 24 kHz audio.

Letters: B batch, F frames, C channels, S style width, N samples.

``encode`` and ``decode`` are style-conditioned residual blocks at frame rate (the last one
doubles the rate to match F0/N), followed by the iSTFTNet generator.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sesli.modules.istftnet import ISTFTGenerator
from sesli.modules.masking import apply_mask, lengths_to_mask, weight_norm
from sesli.modules.style import AdainResBlk1d


class Decoder(nn.Module):
    """StyleTTS2 decoder with an iSTFTNet generator (names follow the Kokoro checkpoint).

    Args:
        dim_in: width of the aligned text features.
        style_dim: decoder style width.
        dim: width of the frame-rate blocks (1024 in Kokoro).
        asr_res_dim: width of the text-feature shortcut (64 in Kokoro).
        istftnet: the generator's settings (official ``istftnet`` section).
    """

    def __init__(self, *, dim_in: int, style_dim: int, dim: int, asr_res_dim: int, istftnet: dict) -> None:
        super().__init__()
        up_channels = istftnet["upsample_initial_channel"]
        self.encode = AdainResBlk1d(dim_in=dim_in + 2, dim_out=dim, style_dim=style_dim)
        cat = dim + 2 + asr_res_dim
        self.decode = nn.ModuleList(
            [AdainResBlk1d(dim_in=cat, dim_out=dim, style_dim=style_dim) for _ in range(3)]
            + [AdainResBlk1d(dim_in=cat, dim_out=up_channels, style_dim=style_dim, upsample=True)]
        )
        self.F0_conv = weight_norm(nn.Conv1d(1, 1, kernel_size=3, stride=2, padding=1))
        self.N_conv = weight_norm(nn.Conv1d(1, 1, kernel_size=3, stride=2, padding=1))
        self.asr_res = nn.Sequential(weight_norm(nn.Conv1d(dim_in, asr_res_dim, kernel_size=1)))
        self.generator = ISTFTGenerator(
            in_channels=up_channels,
            style_dim=style_dim,
            upsample_rates=istftnet["upsample_rates"],
            upsample_kernel_sizes=istftnet["upsample_kernel_sizes"],
            resblock_kernel_sizes=istftnet["resblock_kernel_sizes"],
            resblock_dilation_sizes=istftnet["resblock_dilation_sizes"],
            n_fft=istftnet["gen_istft_n_fft"],
            hop=istftnet["gen_istft_hop_size"],
        )

    def forward(
        self,
        asr: Tensor,
        f0: Tensor,
        n: Tensor,
        s: Tensor,
        frame_lengths: Tensor | None = None,
        *,
        noise: bool = True,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Synthesise audio.

        Args:
            asr: ``(B, C, F)`` aligned text features.
            f0: ``(B, 2F)`` F0 in Hz; ``n``: ``(B, 2F)`` energy.
            s: ``(B, S)`` decoder style.
            frame_lengths: ``(B,)`` valid frames (None: all).
            noise: random source phases and noise in the generator.
            generator: RNG for that noise (None: global RNG).

        Returns:
            ``(B, N)`` audio, zero after each item's end.
        """
        B, _, F = asr.shape
        mask = None if frame_lengths is None else lengths_to_mask(frame_lengths, F)
        mask2 = None if mask is None else mask.repeat_interleave(2, dim=1)
        f0, n = apply_mask(f0.unsqueeze(1), mask2), apply_mask(n.unsqueeze(1), mask2)  # (B, 1, 2F)
        f0_down, n_down = self.F0_conv(f0), self.N_conv(n)  # (B, 1, F)
        x = self.encode(torch.cat([asr, f0_down, n_down], dim=1), s, mask)
        asr_res = self.asr_res(asr)
        for block in self.decode:  # every block sees the shortcuts; the last doubles the rate
            x = block(torch.cat([x, asr_res, f0_down, n_down], dim=1), s, mask)
        lengths2 = None if frame_lengths is None else frame_lengths * 2
        return self.generator(x, s, f0.squeeze(1), lengths2, noise=noise, generator=generator)
