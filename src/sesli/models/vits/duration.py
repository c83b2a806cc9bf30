"""VITS's duration predictors: stochastic (a flow over log-durations) and deterministic.

Letters: B batch, C hidden channels (the text encoder's), F filter channels, T tokens,
G speaker-condition channels.

Both read the text encoder's hidden states detached (durations do not train the encoder), plus an
optional speaker condition, and work in log-duration ``logw (B, 1, T)``.

* :class:`StochasticDurationPredictor` (VITS section 2.2.2): a flow of
  ``ElementwiseAffine(2)`` then 4 x (``ConvFlow`` + ``Flip``) conditioned on the text. Training
  returns the variational bound ``-log p(d | text)`` per item, with dequantisation noise ``u`` and
  an auxiliary channel drawn by a posterior flow (``post_*``) that sees the true durations.
  Inference runs the flow backwards from noise ``N(0, noise_w^2)`` and, as VITS does, skips the
  first ConvFlow (``flows.1``), which only matters in the training direction: Piper's ``.onnx``
  files hold neither it nor the ``post_*`` layers.
* :class:`DurationPredictor` (VITS's deterministic option, MeloTTS's ``dp``): two conv + ReLU +
  layer norm + dropout blocks and a 1x1 projection, trained with an L2 loss on ``log(d + 1e-6)``.

Masks are float ``(B, 1, T)`` multipliers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.modules.flows import ConvFlow, DDSConv, ElementwiseAffine, Flip, Log
from sesli.modules.vits_attention import ChannelLayerNorm


def _flow_stack(filter_channels: int, kernel_size: int, n_flows: int) -> nn.ModuleList:
    flows: list[nn.Module] = [ElementwiseAffine(2)]
    for _ in range(n_flows):
        flows += [ConvFlow(2, filter_channels, kernel_size, n_layers=3), Flip()]
    return nn.ModuleList(flows)


class StochasticDurationPredictor(nn.Module):
    """Flow-based log-duration model (parameter names as VITS/Piper ``dp``).

    Args:
        in_channels: C.
        filter_channels: F (VITS forces ``F = C``; Piper medium/high: 192, x_low: 96).
        kernel_size: of the DDSConvs.
        dropout: of the conditioning DDSConvs.
        n_flows: spline couplings.
        gin_channels: speaker-condition width (0: none).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        filter_channels: int,
        kernel_size: int = 3,
        dropout: float = 0.5,
        n_flows: int = 4,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.log_flow = Log()
        self.flows = _flow_stack(filter_channels, kernel_size, n_flows)
        self.post_pre = nn.Conv1d(1, filter_channels, 1)
        self.post_proj = nn.Conv1d(filter_channels, filter_channels, 1)
        self.post_convs = DDSConv(filter_channels, kernel_size, 3, dropout=dropout)
        self.post_flows = _flow_stack(filter_channels, kernel_size, 4)
        self.pre = nn.Conv1d(in_channels, filter_channels, 1)
        self.proj = nn.Conv1d(filter_channels, filter_channels, 1)
        self.convs = DDSConv(filter_channels, kernel_size, 3, dropout=dropout)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, filter_channels, 1)

    def _condition(self, x: Tensor, mask: Tensor, g: Tensor | None) -> Tensor:
        h = self.pre(x.detach())
        if g is not None:
            h = h + self.cond(g.detach())
        return self.proj(self.convs(h, mask)) * mask  # (B, F, T)

    def nll(self, x: Tensor, mask: Tensor, durations: Tensor, g: Tensor | None = None) -> Tensor:
        """Training loss per item ``(B,)``: ``-log q``-corrected NLL of ``durations (B, 1, T)`` frames."""
        h = self._condition(x, mask, g)
        # posterior over the dequantisation noise u and the auxiliary channel, given the durations
        h_w = self.post_proj(self.post_convs(self.post_pre(durations), mask)) * mask
        e_q = torch.randn(durations.shape[0], 2, durations.shape[2], device=x.device, dtype=x.dtype) * mask
        z_q, logdet_q = e_q, torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for flow in self.post_flows:
            z_q, ld = flow(z_q, mask, g=h + h_w)
            logdet_q = logdet_q + ld
        z_u, z1 = z_q[:, :1], z_q[:, 1:]
        u = torch.sigmoid(z_u) * mask
        z0 = (durations - u) * mask
        logdet_q = logdet_q + torch.sum((F.logsigmoid(z_u) + F.logsigmoid(-z_u)) * mask, [1, 2])
        log_q = torch.sum(-0.5 * (math.log(2 * math.pi) + e_q.pow(2)) * mask, [1, 2]) - logdet_q
        z0, logdet = self.log_flow(z0, mask)
        z = torch.cat([z0, z1], 1)
        for flow in self.flows:
            z, ld = flow(z, mask, g=h)
            logdet = logdet + ld
        nll = torch.sum(0.5 * (math.log(2 * math.pi) + z.pow(2)) * mask, [1, 2]) - logdet
        return nll + log_q

    def infer(
        self,
        x: Tensor,
        mask: Tensor,
        g: Tensor | None = None,
        *,
        noise_scale: float = 0.8,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Sampled log-durations ``(B, 1, T)`` (``noise_scale`` 0: the flow's image of zero)."""
        h = self._condition(x, mask, g)
        z = torch.randn(x.shape[0], 2, x.shape[2], generator=generator, device=x.device, dtype=x.dtype)
        z = z * noise_scale
        flows = list(reversed(self.flows))
        flows = flows[:-2] + flows[-1:]  # drop flows[1] (the first ConvFlow): unused this way
        for flow in flows:
            z, _ = flow(z, mask, g=h, reverse=True)
        return z[:, :1]


class DurationPredictor(nn.Module):
    """Deterministic log-duration regressor (VITS ``DurationPredictor``, MeloTTS ``dp``)."""

    def __init__(
        self,
        *,
        in_channels: int,
        filter_channels: int = 256,
        kernel_size: int = 3,
        dropout: float = 0.5,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_1 = ChannelLayerNorm(filter_channels)
        self.conv_2 = nn.Conv1d(filter_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_2 = ChannelLayerNorm(filter_channels)
        self.proj = nn.Conv1d(filter_channels, 1, 1)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, in_channels, 1)

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None) -> Tensor:
        """``x (B, C, T)`` -> ``logw (B, 1, T)``, zero on padding."""
        x = x.detach()
        if g is not None:
            x = x + self.cond(g.detach())
        x = self.drop(self.norm_1(torch.relu(self.conv_1(x * mask))))
        x = self.drop(self.norm_2(torch.relu(self.conv_2(x * mask))))
        return self.proj(x * mask) * mask


__all__ = ["DurationPredictor", "StochasticDurationPredictor"]
