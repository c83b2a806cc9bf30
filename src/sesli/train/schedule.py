"""Optimizers, learning-rate schedules and the parameter EMA the engine uses for every task.

Schedule (``step`` counts optimizer steps from 0, ``W`` warm-up steps, ``N`` total steps,
``r`` = ``min_lr_ratio``)::

    warm-up     f(s) = (s + 1) / W                              for s < W
    cosine      f(s) = r + (1 - r) * (1 + cos(pi * p)) / 2      p = (s - W) / (N - W), clipped to [0, 1]
    exponential f(s) = r ** p                                    (from 1 down to r over the run)
    constant    f(s) = 1

The learning rate is ``lr * f(step)``. The multiplier is a small object, not a closure, so
``LambdaLR.state_dict()`` stores its fields and a resumed run continues the same curve.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from sesli.train.config import TrainConfig


class WarmupDecay:
    """LR multiplier: linear warm-up then cosine, exponential or constant (formulas above)."""

    def __init__(self, *, warmup_steps: int, total_steps: int, schedule: str, min_lr_ratio: float) -> None:
        if schedule not in {"cosine", "exponential", "constant"}:
            raise ValueError(f"unknown schedule {schedule!r} (cosine, exponential, constant)")
        self.warmup_steps = max(0, int(warmup_steps))
        self.total_steps = max(1, int(total_steps))
        self.schedule = schedule
        self.min_lr_ratio = float(min_lr_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.schedule == "constant":
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, max(0.0, (step - self.warmup_steps) / span))
        r = self.min_lr_ratio
        if self.schedule == "cosine":
            return r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return r**progress if r > 0 else 1.0 - progress


def make_optimizer(params: Iterable[nn.Parameter] | nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over trainable parameters; biases, norms and embeddings (ndim < 2) get no weight decay.

    Frozen parameters (``requires_grad=False``) are left out, so a LoRA task can pass the whole model.
    """
    if isinstance(params, nn.Module):
        params = params.parameters()
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ValueError("make_optimizer: no trainable parameters (all requires_grad=False)")
    groups = [
        {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The engine's default schedule for ``optimizer`` (warm-up, then ``cfg.schedule``)."""
    fn = WarmupDecay(
        warmup_steps=cfg.warmup_steps,
        total_steps=total_steps,
        schedule=cfg.schedule,
        min_lr_ratio=cfg.min_lr_ratio,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


class EMA:
    """Exponential moving average of a module's floating-point parameters and buffers.

    ``shadow = decay * shadow + (1 - decay) * param`` after each optimizer step. The shadow lives
    on the parameters' device; :meth:`swap` exchanges shadow and live weights (used to validate and
    save the averaged model), and calling it twice restores the live weights exactly.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        state = module.state_dict()
        for k, s in self.shadow.items():
            s.lerp_(state[k].detach(), 1.0 - self.decay)

    @torch.no_grad()
    def swap(self, module: nn.Module) -> None:
        state = module.state_dict()
        for k, s in self.shadow.items():
            tmp = state[k].detach().clone()
            state[k].copy_(s)
            s.copy_(tmp)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:5]}")
        for k, s in self.shadow.items():
            s.copy_(state[k])
