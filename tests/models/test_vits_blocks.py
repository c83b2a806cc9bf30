"""VITS blocks against their definitions: relative attention, spline and coupling inverses."""

from __future__ import annotations

import math

import torch

from sesli.modules.flows import ConvFlow, ResidualCouplingBlock, rational_quadratic_spline
from sesli.modules.vits_attention import RelativeSelfAttention


def test_relative_attention_matches_the_definition():
    torch.manual_seed(0)
    att = RelativeSelfAttention(8, 2, window_size=2).eval()
    x = torch.randn(1, 8, 6)
    out = att(x)
    # naive: logits q_i.k_j + q_i.E_k[j - i] for |j - i| <= W, outputs + sum_j p_ij E_v[j - i]
    h, d, t, w = 2, 4, 6, 2
    q = att.conv_q(x).view(1, h, d, t)[0].transpose(1, 2) / math.sqrt(d)  # (H, T, D)
    k = att.conv_k(x).view(1, h, d, t)[0].transpose(1, 2)
    v = att.conv_v(x).view(1, h, d, t)[0].transpose(1, 2)
    ek, ev = att.emb_rel_k[0], att.emb_rel_v[0]
    ref = torch.zeros(h, t, d)
    for a in range(h):
        logits = torch.zeros(t, t)
        for i in range(t):
            for j in range(t):
                logits[i, j] = q[a, i] @ k[a, j] + (q[a, i] @ ek[j - i + w] if abs(j - i) <= w else 0.0)
        p = logits.softmax(-1)
        for i in range(t):
            ref[a, i] = p[i] @ v[a] + sum(p[i, j] * ev[j - i + w] for j in range(t) if abs(j - i) <= w)
    ref = att.conv_o(ref.transpose(1, 2).reshape(1, 8, t))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_spline_inverts_and_log_dets_cancel():
    g = torch.Generator().manual_seed(0)
    x = torch.linspace(-6, 6, 101).reshape(1, 101)  # includes both tails
    w, h, d = (torch.randn(1, 1, n, generator=g).expand(1, 101, n) for n in (10, 10, 9))  # one spline
    y, ld = rational_quadratic_spline(x, w, h, d, tail_bound=5.0)
    back, ld_inv = rational_quadratic_spline(y, w, h, d, inverse=True, tail_bound=5.0)
    torch.testing.assert_close(back, x, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ld + ld_inv, torch.zeros_like(ld), atol=1e-4, rtol=0)
    assert bool((y[x.abs() > 5] == x[x.abs() > 5]).all()) and bool((torch.diff(y) > 0).all())
    # the log-det is the log of the numerical slope
    eps = 1e-3
    y2, _ = rational_quadratic_spline(x + eps, w, h, d, tail_bound=5.0)
    inside = x.abs() < 4.9
    torch.testing.assert_close(ld[inside], torch.log((y2 - y) / eps)[inside], atol=5e-2, rtol=0)


def test_flows_invert():
    torch.manual_seed(0)
    mask = torch.ones(2, 1, 9)
    mask[1, :, 6:] = 0
    block = ResidualCouplingBlock(channels=4, hidden_channels=8, n_layers=2, n_flows=2, gin_channels=3)
    flow = ConvFlow(2, 8, 3, 3)
    with torch.no_grad():
        for p in [*block.parameters(), *flow.parameters()]:
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 4, 9) * mask
    g = torch.randn(2, 3, 1)
    torch.testing.assert_close(block(block(x, mask, g=g), mask, g=g, reverse=True), x, atol=1e-5, rtol=1e-5)
    x2 = torch.randn(2, 2, 9) * mask
    y, ld = flow(x2, mask)
    back, ld_inv = flow(y, mask, reverse=True)
    torch.testing.assert_close(back, x2, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ld + ld_inv, torch.zeros(2), atol=1e-4, rtol=0)
