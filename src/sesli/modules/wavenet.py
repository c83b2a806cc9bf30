"""WN: the non-causal WaveNet stack of VITS's posterior encoder and coupling flows.

Letters: B batch, C hidden channels, G speaker-conditioning channels, T frames, L layers.

Each layer is a dilated convolution ``C -> 2C`` (dilation ``rate ** i``, 'same' padding), plus an
optional global condition ``g (B, G, 1)`` projected once for all layers (``cond_layer``, ``G -> 2LC``),
a gated unit ``tanh(a) * sigmoid(b)``, and a 1x1 convolution into a residual half (added to the
input) and a skip half (summed into the output); the last layer has only the skip half (WaveNet,
van den Oord et al. 2016; Glow-TTS/VITS's ``WN``). Every convolution is weight-normalised with the
classic hook, so ``weight_g``/``weight_v`` names match VITS and Piper checkpoints.

Masks are float multipliers ``(B, 1, T)``: the residual stream is masked after every layer, so a
padded item sees zeros past its end just as it would alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sesli.modules.masking import weight_norm


class WaveNet(nn.Module):
    """Gated dilated convolution stack ``(B, C, T) -> (B, C, T)`` (VITS ``WN``).

    Args:
        hidden_channels: C.
        kernel_size: odd kernel of the dilated convolutions.
        dilation_rate: layer i uses dilation ``dilation_rate ** i``.
        n_layers: L.
        gin_channels: G, width of the global condition (0: none).
        dropout: on the gated activations.
    """

    def __init__(
        self,
        *,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"WaveNet needs an odd kernel_size, got {kernel_size}")
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.drop = nn.Dropout(dropout)
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            self.cond_layer = weight_norm(nn.Conv1d(gin_channels, 2 * hidden_channels * n_layers, 1))
        for i in range(n_layers):
            dilation = dilation_rate**i
            pad = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                weight_norm(
                    nn.Conv1d(
                        hidden_channels, 2 * hidden_channels, kernel_size, dilation=dilation, padding=pad
                    )
                )
            )
            out = 2 * hidden_channels if i < n_layers - 1 else hidden_channels
            self.res_skip_layers.append(weight_norm(nn.Conv1d(hidden_channels, out, 1)))

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None) -> Tensor:
        """``x (B, C, T)``, ``mask (B, 1, T)``, ``g (B, G, 1)`` or None -> ``(B, C, T)``."""
        c = self.hidden_channels
        out = torch.zeros_like(x)
        cond = self.cond_layer(g) if g is not None else None  # (B, 2LC, 1)
        for i, (in_layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers, strict=True)):
            a = in_layer(x)  # (B, 2C, T)
            if cond is not None:
                a = a + cond[:, 2 * c * i : 2 * c * (i + 1)]
            acts = self.drop(torch.tanh(a[:, :c]) * torch.sigmoid(a[:, c:]))
            rs = res_skip(acts)
            if i < self.n_layers - 1:
                x = (x + rs[:, :c]) * mask
                out = out + rs[:, c:]
            else:
                out = out + rs
        return out * mask


__all__ = ["WaveNet"]
