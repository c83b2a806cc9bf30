"""Learning-rate schedule values, the optimizer's parameter groups, and EMA."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sesli.train.config import TrainConfig
from sesli.train.schedule import EMA, WarmupDecay, make_optimizer, make_scheduler


def test_warmup_then_cosine():
    f = WarmupDecay(warmup_steps=10, total_steps=110, schedule="cosine", min_lr_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way: cos(pi/2) = 0
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)


def test_exponential_and_constant():
    f = WarmupDecay(warmup_steps=0, total_steps=100, schedule="exponential", min_lr_ratio=0.01)
    assert f(0) == pytest.approx(1.0) and f(50) == pytest.approx(0.1) and f(100) == pytest.approx(0.01)
    g = WarmupDecay(warmup_steps=4, total_steps=100, schedule="constant", min_lr_ratio=0.0)
    assert g(1) == pytest.approx(0.5) and g(80) == 1.0
    with pytest.raises(ValueError, match="unknown schedule"):
        WarmupDecay(warmup_steps=0, total_steps=1, schedule="linear", min_lr_ratio=0.0)


def test_scheduler_state_resumes_the_curve():
    cfg = TrainConfig(lr=1.0, warmup_steps=3, schedule="cosine", min_lr_ratio=0.0)
    p = nn.Parameter(torch.zeros(2, 2))
    opt = make_optimizer([p], cfg)
    sched = make_scheduler(opt, cfg, total_steps=20)
    for _ in range(7):
        opt.step()
        sched.step()
    opt2 = make_optimizer([p], cfg)
    sched2 = make_scheduler(opt2, TrainConfig(lr=1.0), total_steps=999)  # wrong curve until loaded
    sched2.load_state_dict(sched.state_dict())
    assert sched2.lr_lambdas[0].total_steps == 20
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert sched.get_last_lr()[0] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 17)))


def test_optimizer_skips_frozen_and_decays_only_matrices():
    m = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3), nn.Linear(3, 2))
    m[0].weight.requires_grad_(False)
    opt = make_optimizer(m, TrainConfig(weight_decay=0.1))
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 0.1 and [p.ndim for p in decayed["params"]] == [2]
    assert plain["weight_decay"] == 0.0 and all(p.ndim == 1 for p in plain["params"])
    assert all(p is not m[0].weight for g in opt.param_groups for p in g["params"])
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer(nn.Linear(2, 2).requires_grad_(False), TrainConfig())


def test_ema_tracks_and_swaps_back_exactly():
    m = nn.Linear(2, 2)
    ema = EMA(m, decay=0.5)
    start = m.weight.detach().clone()
    with torch.no_grad():
        m.weight.add_(2.0)
    ema.update(m)
    assert torch.allclose(ema.shadow["weight"], start + 1.0)
    live = m.weight.detach().clone()
    ema.swap(m)
    assert torch.allclose(m.weight, start + 1.0)
    ema.swap(m)
    assert torch.equal(m.weight, live)
    with pytest.raises(ValueError):
        EMA(m, decay=1.0)
