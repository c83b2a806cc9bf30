"""Invertible flows of VITS: affine coupling (the prior flow) and spline coupling (duration).

Letters: B batch, C channels, T frames or tokens, K spline bins, F filter channels.

Every flow maps ``x (B, C, T)`` with a float mask ``(B, 1, T)`` and an optional condition ``g``
and returns ``(y, logdet)`` where ``logdet (B,)`` is ``log |det dy/dx|`` summed over valid steps;
``reverse=True`` runs the inverse map (and returns the log-det of that map). Parameter names match
VITS/Piper state dicts.

* :class:`ResidualCouplingLayer` (Dinh et al. 2017, as VITS): the first half of the channels, run
  through a :class:`~sesli.modules.wavenet.WaveNet`, shifts (and, unless ``mean_only``, scales) the
  second half. VITS/Piper use ``mean_only=True``, so the prior flow is volume preserving.
  :class:`ResidualCouplingBlock` stacks 4 of them, each followed by a :class:`Flip`.
* :class:`ConvFlow`: the stochastic duration predictor's coupling, a monotonic rational-quadratic
  spline (Durkan et al. 2019, "Neural Spline Flows") on ``[-tail_bound, tail_bound]`` with identity
  ("linear") tails; VITS uses K = 10 bins, tail bound 5, minimum bin width/height/derivative 1e-3,
  and divides the width and height logits by ``sqrt(F)``. Its parameters come from a
  :class:`DDSConv` (dilated depth-separable convolutions, dilation ``k ** i``, GELU, layer norm).
* :class:`ElementwiseAffine` (``y = m + exp(logs) x``), :class:`Log` (``y = log x``, clamped at
  1e-5) and :class:`Flip` (reverse the channel order).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.modules.vits_attention import ChannelLayerNorm
from sesli.modules.wavenet import WaveNet


def _zero_logdet(x: Tensor) -> Tensor:
    return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)


class Flip(nn.Module):
    """Reverse the channel order (its own inverse, log-det 0)."""

    def forward(self, x: Tensor, mask: Tensor | None = None, g: Tensor | None = None, reverse: bool = False):
        return torch.flip(x, [1]), _zero_logdet(x)


class Log(nn.Module):
    """``y = log(max(x, 1e-5))`` on valid steps; the inverse is ``exp``."""

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None, reverse: bool = False):
        if reverse:
            y = torch.exp(x) * mask
            return y, torch.sum(x * mask, [1, 2])
        y = torch.log(torch.clamp_min(x, 1e-5)) * mask
        return y, torch.sum(-y, [1, 2])


class ElementwiseAffine(nn.Module):
    """``y = m + exp(logs) * x`` with one learned ``m``, ``logs`` per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.m = nn.Parameter(torch.zeros(channels, 1))
        self.logs = nn.Parameter(torch.zeros(channels, 1))

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None, reverse: bool = False):
        logdet = torch.sum(self.logs * mask, [1, 2])
        if reverse:
            return (x - self.m) * torch.exp(-self.logs) * mask, -logdet
        return (self.m + torch.exp(self.logs) * x) * mask, logdet


class DDSConv(nn.Module):
    """Residual dilated depth-separable convolutions (dilation ``kernel_size ** i``), VITS's DDSConv."""

    def __init__(self, channels: int, kernel_size: int, n_layers: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.convs_sep = nn.ModuleList()
        self.convs_1x1 = nn.ModuleList()
        self.norms_1 = nn.ModuleList()
        self.norms_2 = nn.ModuleList()
        for i in range(n_layers):
            dilation = kernel_size**i
            pad = (kernel_size * dilation - dilation) // 2
            self.convs_sep.append(
                nn.Conv1d(channels, channels, kernel_size, groups=channels, dilation=dilation, padding=pad)
            )
            self.convs_1x1.append(nn.Conv1d(channels, channels, 1))
            self.norms_1.append(ChannelLayerNorm(channels))
            self.norms_2.append(ChannelLayerNorm(channels))

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None) -> Tensor:
        """``x (B, C, T)`` (+ ``g`` broadcastable to it) -> ``(B, C, T)`` zero on padding."""
        if g is not None:
            x = x + g
        for sep, pw, n1, n2 in zip(self.convs_sep, self.convs_1x1, self.norms_1, self.norms_2, strict=True):
            y = F.gelu(n1(sep(x * mask)))
            y = self.drop(F.gelu(n2(pw(y))))
            x = x + y
        return x * mask


def rational_quadratic_spline(
    x: Tensor,
    widths: Tensor,
    heights: Tensor,
    derivatives: Tensor,
    *,
    inverse: bool = False,
    tail_bound: float = 5.0,
    min_bin_width: float = 1e-3,
    min_bin_height: float = 1e-3,
    min_derivative: float = 1e-3,
) -> tuple[Tensor, Tensor]:
    """Monotonic rational-quadratic spline with identity tails outside ``[-tail_bound, tail_bound]``.

    Args:
        x: values ``(...)`` to transform (inputs, or outputs when ``inverse``).
        widths: unnormalised bin widths ``(..., K)`` (softmax-normalised here).
        heights: unnormalised bin heights ``(..., K)``.
        derivatives: unnormalised interior knot derivatives ``(..., K - 1)``; the two boundary
            derivatives are 1 so the spline joins the identity tails smoothly.
        inverse: map outputs back to inputs.

    Returns:
        ``(y, logabsdet)``, both ``(...)``; ``logabsdet`` is 0 in the tails.
    """
    bound = tail_bound
    inside = (x >= -bound) & (x <= bound)
    k = widths.shape[-1]
    edge = math.log(math.exp(1 - min_derivative) - 1)  # softplus^-1(1 - min_derivative)
    d = min_derivative + F.softplus(F.pad(derivatives, (1, 1), value=edge))  # (..., K + 1)

    def knots(logits: Tensor, min_size: float) -> tuple[Tensor, Tensor]:
        size = min_size + (1 - min_size * k) * F.softmax(logits, dim=-1)
        inner = (2 * bound * torch.cumsum(size, dim=-1) - bound)[..., :-1]
        ends = torch.full_like(inner[..., :1], bound)
        loc = torch.cat([-ends, inner, ends], dim=-1)  # (..., K + 1), exactly -B and B at the ends
        return loc, loc[..., 1:] - loc[..., :-1]

    xs, ws = knots(widths, min_bin_width)
    ys, hs = knots(heights, min_bin_height)
    v = x.clamp(-bound, bound)
    search = ys if inverse else xs
    edges = torch.cat([search[..., :-1], search[..., -1:] + 1e-6], dim=-1)
    idx = (v[..., None] >= edges).sum(dim=-1, keepdim=True).sub(1).clamp(0, k - 1)

    def pick(t: Tensor) -> Tensor:
        return t.gather(-1, idx).squeeze(-1)

    xk, wk, yk, hk = pick(xs[..., :-1]), pick(ws), pick(ys[..., :-1]), pick(hs)
    dk, dk1 = pick(d[..., :-1]), pick(d[..., 1:])
    s = hk / wk
    if inverse:
        dy = v - yk
        a = hk * (s - dk) + dy * (dk1 + dk - 2 * s)
        b = hk * dk - dy * (dk1 + dk - 2 * s)
        c = -s * dy
        disc = (b.pow(2) - 4 * a * c).clamp_min(0)
        theta = 2 * c / (-b - torch.sqrt(disc))
        out = theta * wk + xk
    else:
        theta = (v - xk) / wk
    t1 = theta * (1 - theta)
    den = s + (dk1 + dk - 2 * s) * t1
    deriv = s.pow(2) * (dk1 * theta.pow(2) + 2 * s * t1 + dk * (1 - theta).pow(2))
    logdet = torch.log(deriv) - 2 * torch.log(den)
    if inverse:
        logdet = -logdet
    else:
        out = yk + hk * (s * theta.pow(2) + dk * t1) / den
    return torch.where(inside, out, x), torch.where(inside, logdet, torch.zeros_like(logdet))


class ConvFlow(nn.Module):
    """Spline coupling: ``x0`` (first half) sets a rational-quadratic spline applied to ``x1``.

    Args:
        in_channels: C (VITS's duration flows: 2).
        filter_channels: F, width of the :class:`DDSConv`.
        kernel_size: of the DDSConv.
        n_layers: of the DDSConv.
        num_bins: K.
        tail_bound: the spline covers ``[-tail_bound, tail_bound]``.
    """

    def __init__(
        self,
        in_channels: int,
        filter_channels: int,
        kernel_size: int,
        n_layers: int,
        *,
        num_bins: int = 10,
        tail_bound: float = 5.0,
    ) -> None:
        super().__init__()
        self.half = in_channels // 2
        self.filter_channels = filter_channels
        self.num_bins = num_bins
        self.tail_bound = tail_bound
        self.pre = nn.Conv1d(self.half, filter_channels, 1)
        self.convs = DDSConv(filter_channels, kernel_size, n_layers)
        self.proj = nn.Conv1d(filter_channels, self.half * (3 * num_bins - 1), 1)
        nn.init.zeros_(self.proj.weight)  # starts as the identity map
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None, reverse: bool = False):
        x0, x1 = x[:, : self.half], x[:, self.half :]
        h = self.proj(self.convs(self.pre(x0), mask, g=g)) * mask  # (B, half * (3K - 1), T)
        b, c, t = x0.shape
        h = h.reshape(b, c, -1, t).permute(0, 1, 3, 2)  # (B, half, T, 3K - 1)
        k, scale = self.num_bins, math.sqrt(self.filter_channels)
        x1, logabsdet = rational_quadratic_spline(
            x1,
            h[..., :k] / scale,
            h[..., k : 2 * k] / scale,
            h[..., 2 * k :],
            inverse=reverse,
            tail_bound=self.tail_bound,
        )
        y = torch.cat([x0, x1], 1) * mask
        return y, torch.sum(logabsdet * mask, [1, 2])


class ResidualCouplingLayer(nn.Module):
    """Affine coupling whose shift (and log-scale) come from a WaveNet over the first half.

    Args:
        channels: C (even).
        hidden_channels: WaveNet width.
        kernel_size: WaveNet kernel.
        dilation_rate: WaveNet dilation base.
        n_layers: WaveNet layers.
        gin_channels: speaker-condition width (0: none).
        mean_only: shift only (log-scale 0), as VITS and Piper.
        dropout: WaveNet dropout.
    """

    def __init__(
        self,
        *,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
        mean_only: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"coupling needs an even channel count, got {channels}")
        self.half = channels // 2
        self.mean_only = mean_only
        self.pre = nn.Conv1d(self.half, hidden_channels, 1)
        self.enc = WaveNet(
            hidden_channels=hidden_channels,
            kernel_size=kernel_size,
            dilation_rate=dilation_rate,
            n_layers=n_layers,
            gin_channels=gin_channels,
            dropout=dropout,
        )
        self.post = nn.Conv1d(hidden_channels, self.half * (1 if mean_only else 2), 1)
        nn.init.zeros_(self.post.weight)  # starts as the identity map
        nn.init.zeros_(self.post.bias)

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None, reverse: bool = False):
        x0, x1 = x[:, : self.half], x[:, self.half :]
        stats = self.post(self.enc(self.pre(x0) * mask, mask, g=g)) * mask
        if self.mean_only:
            m, logs = stats, torch.zeros_like(stats)
        else:
            m, logs = stats[:, : self.half], stats[:, self.half :]
        if reverse:
            x1 = (x1 - m) * torch.exp(-logs) * mask
            return torch.cat([x0, x1], 1), -torch.sum(logs, [1, 2])
        x1 = m + x1 * torch.exp(logs) * mask
        return torch.cat([x0, x1], 1), torch.sum(logs, [1, 2])


class ResidualCouplingBlock(nn.Module):
    """``n_flows`` x (:class:`ResidualCouplingLayer` + :class:`Flip`): VITS's prior flow ``f``.

    ``forward`` maps the posterior latent ``z`` to the prior space ``z_p``; ``reverse=True`` maps a
    prior sample back. Returns only the mapped tensor (mean-only couplings preserve volume).
    """

    def __init__(
        self,
        *,
        channels: int,
        hidden_channels: int,
        kernel_size: int = 5,
        dilation_rate: int = 1,
        n_layers: int = 4,
        n_flows: int = 4,
        gin_channels: int = 0,
        mean_only: bool = True,
    ) -> None:
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(
                ResidualCouplingLayer(
                    channels=channels,
                    hidden_channels=hidden_channels,
                    kernel_size=kernel_size,
                    dilation_rate=dilation_rate,
                    n_layers=n_layers,
                    gin_channels=gin_channels,
                    mean_only=mean_only,
                )
            )
            self.flows.append(Flip())

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None, reverse: bool = False) -> Tensor:
        """``x (B, C, T)``, ``mask (B, 1, T)`` -> ``(B, C, T)``."""
        for flow in reversed(self.flows) if reverse else self.flows:
            x, _ = flow(x, mask, g=g, reverse=reverse)
        return x


__all__ = [
    "ConvFlow",
    "DDSConv",
    "ElementwiseAffine",
    "Flip",
    "Log",
    "ResidualCouplingBlock",
    "ResidualCouplingLayer",
    "rational_quadratic_spline",
]
