"""Style-conditioned normalisation and residual blocks (StyleTTS2 / Kokoro).

Letters: B batch, C channels, T time steps, S style width.

All blocks take an optional valid mask ``(B, T)``: statistics are computed on real steps only and
padding is zeroed before every convolution, so a padded batch gives each item its unbatched result.
Attribute names follow the StyleTTS2 checkpoints (``norm1.fc``, ``conv1.weight_g`` ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.modules.masking import apply_mask, masked_instance_norm, upsample_mask, weight_norm

_RSQRT2 = 2.0**-0.5


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channel axis of ``(B, C, T)`` with parameters ``gamma``/``beta``."""

    def __init__(self, *, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T) -> (B, C, T)
        x = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class AdaLayerNorm(nn.Module):
    """Adaptive layer norm: ``(1 + gamma(s)) * LN(x) + beta(s)`` over channels, per step."""

    def __init__(self, *, style_dim: int, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        """``x (B, T, C)``, ``s (B, S)`` -> ``(B, T, C)``."""
        gamma, beta = self.fc(s).unsqueeze(1).chunk(2, dim=-1)  # (B, 1, C) each
        return (1 + gamma) * F.layer_norm(x, (self.channels,), eps=self.eps) + beta


class AdaIN1d(nn.Module):
    """Adaptive instance norm: ``(1 + gamma(s)) * IN(x) + beta(s)``, statistics over valid steps.

    ``norm`` keeps the affine ``InstanceNorm1d`` parameters of the checkpoints (ones/zeros when a
    checkpoint predates them).
    """

    def __init__(self, *, style_dim: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm1d(channels, affine=True)
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: Tensor, s: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x (B, C, T)``, ``s (B, S)``, ``mask (B, T)`` -> ``(B, C, T)`` (padding not zeroed)."""
        gamma, beta = self.fc(s).unsqueeze(-1).chunk(2, dim=1)  # (B, C, 1) each
        if mask is None:
            normed = F.instance_norm(x, weight=self.norm.weight, bias=self.norm.bias, eps=self.norm.eps)
        else:
            normed = masked_instance_norm(x, mask, self.norm.eps)
            normed = normed * self.norm.weight[:, None] + self.norm.bias[:, None]
        return (1 + gamma) * normed + beta


class AdainResBlk1d(nn.Module):
    """Residual block ``AdaIN -> LeakyReLU -> [x2 up] -> conv -> AdaIN -> LeakyReLU -> conv``.

    The sum with the shortcut is scaled by ``1/sqrt(2)``. With ``upsample`` the time axis doubles:
    nearest repeat on the shortcut, a depthwise transposed conv (``pool``) on the residual path.
    """

    def __init__(
        self,
        *,
        dim_in: int,
        dim_out: int,
        style_dim: int,
        upsample: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = weight_norm(nn.Conv1d(dim_in, dim_out, 3, 1, 1))
        self.conv2 = weight_norm(nn.Conv1d(dim_out, dim_out, 3, 1, 1))
        self.norm1 = AdaIN1d(style_dim=style_dim, channels=dim_in)
        self.norm2 = AdaIN1d(style_dim=style_dim, channels=dim_out)
        if self.learned_sc:
            self.conv1x1 = weight_norm(nn.Conv1d(dim_in, dim_out, 1, 1, 0, bias=False))
        if upsample:
            self.pool = weight_norm(
                nn.ConvTranspose1d(dim_in, dim_in, 3, stride=2, groups=dim_in, padding=1, output_padding=1)
            )
        else:
            self.pool = nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, s: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x (B, C_in, T)``, ``s (B, S)`` -> ``(B, C_out, T')`` with ``T' = 2T`` when upsampling.

        ``mask (B, T)`` marks valid input steps; the output is zero on padding.
        """
        x = apply_mask(x, mask)
        out_mask = upsample_mask(mask, 2) if self.upsample else mask
        # residual path
        h = F.leaky_relu(self.norm1(x, s, mask), 0.2)
        h = self.pool(apply_mask(h, mask))  # (B, C_in, T')
        h = self.conv1(self.dropout(apply_mask(h, out_mask)))
        h = F.leaky_relu(self.norm2(h, s, out_mask), 0.2)
        h = self.conv2(self.dropout(apply_mask(h, out_mask)))
        # shortcut
        sc = F.interpolate(x, scale_factor=2.0, mode="nearest") if self.upsample else x
        if self.learned_sc:
            sc = self.conv1x1(sc)
        return apply_mask((h + sc) * _RSQRT2, out_mask)


class SnakeResBlock(nn.Module):
    """HiFi-GAN ResBlock1 with AdaIN and Snake activations (``x + sin(a x)^2 / a``).

    Three (dilated conv, conv) pairs, each added back to the input. Names follow Kokoro's
    ``AdaINResBlock1``: ``convs1``, ``convs2``, ``adain1``, ``adain2``, ``alpha1``, ``alpha2``.
    """

    def __init__(
        self, *, channels: int, kernel_size: int, dilations: tuple[int, ...], style_dim: int
    ) -> None:
        super().__init__()

        def conv(d: int) -> nn.Module:
            c = nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=(kernel_size * d - d) // 2)
            nn.init.normal_(c.weight, 0.0, 0.01)
            return weight_norm(c)

        self.convs1 = nn.ModuleList([conv(d) for d in dilations])
        self.convs2 = nn.ModuleList([conv(1) for _ in dilations])
        self.adain1 = nn.ModuleList([AdaIN1d(style_dim=style_dim, channels=channels) for _ in dilations])
        self.adain2 = nn.ModuleList([AdaIN1d(style_dim=style_dim, channels=channels) for _ in dilations])
        self.alpha1 = nn.ParameterList([nn.Parameter(torch.ones(1, channels, 1)) for _ in dilations])
        self.alpha2 = nn.ParameterList([nn.Parameter(torch.ones(1, channels, 1)) for _ in dilations])

    def forward(self, x: Tensor, s: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x (B, C, T)``, ``s (B, S)``, ``mask (B, T)`` -> ``(B, C, T)``."""
        for c1, c2, n1, n2, a1, a2 in zip(
            self.convs1, self.convs2, self.adain1, self.adain2, self.alpha1, self.alpha2, strict=True
        ):
            h = n1(x, s, mask)
            h = h + (1 / a1) * torch.sin(a1 * h) ** 2
            h = c1(apply_mask(h, mask))
            h = n2(h, s, mask)
            h = h + (1 / a2) * torch.sin(a2 * h) ** 2
            h = c2(apply_mask(h, mask))
            x = h + x
        return apply_mask(x, mask)
