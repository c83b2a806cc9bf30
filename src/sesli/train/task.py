"""The contract between a training task and the engine (see ``sesli.train.engine`` for an example).

A task subclasses :class:`Task`: ``build`` returns a :class:`Built` (modules, optimizers, data),
``train_step`` computes losses and calls ``ctx.backward`` / ``ctx.step`` on the
:class:`StepContext`, ``eval_step`` returns validation values, ``on_best`` may write artifacts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from sesli.train.config import TrainConfig


@dataclass
class Built:
    """What ``Task.build`` returns. Schedulers missing for an optimizer get the engine's default."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    train_data: DataLoader
    val_data: DataLoader | None = None
    schedulers: dict[str, Any] = field(default_factory=dict)
    ema_module: str | None = None  # module EMA follows when cfg.ema_decay is set (default: the first)


class StepContext:
    """Handed to ``train_step``/``eval_step``: modules, and the backward/step helpers.

    Attributes:
        modules, optimizers, schedulers: what ``build`` returned, prepared by Accelerate.
        device: where batches already are (the engine moves them).
        global_step: optimizer steps completed so far (``step`` is the method that takes one).
        epoch: the current epoch (0-based).
        sync: True on the batch that ends an accumulation group (``step`` acts only then).
        grad_norms: the last pre-clipping gradient norm per optimizer name.
    """

    def __init__(self, accelerator: Accelerator, built: Built, cfg: TrainConfig) -> None:
        self.accelerator = accelerator
        self.device = accelerator.device
        self.modules = built.modules
        self.optimizers = built.optimizers
        self.schedulers = built.schedulers
        self.cfg = cfg
        self.global_step = 0  # optimizer steps completed so far
        self.epoch = 0
        self.sync = True  # True on the batch that ends an accumulation group
        self.grad_norms: dict[str, torch.Tensor] = {}

    def unwrap(self, name: str) -> nn.Module:
        """The module without its DDP/compile wrapper (for saving or reading attributes)."""
        return self.accelerator.unwrap_model(self.modules[name])

    @contextlib.contextmanager
    def frozen(self, name: str) -> Iterator[None]:
        """Turn off gradients of module ``name`` inside the block (e.g. D while G's loss backprops)."""
        params = list(self.modules[name].parameters())
        flags = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in zip(params, flags, strict=True):
                p.requires_grad_(flag)

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` (divided by ``grad_accum``; scaled under fp16)."""
        self.accelerator.backward(loss / self.cfg.grad_accum)

    def step(self, name: str = "main") -> None:
        """On a sync batch: unscale, clip, step optimizer ``name`` and its scheduler, zero grads."""
        if not self.sync:
            return
        opt = self.optimizers[name]
        if self.cfg.grad_clip is not None:
            self.accelerator.unscale_gradients(opt)
            params = [p for g in opt.param_groups for p in g["params"]]
            self.grad_norms[name] = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        opt.step()
        if name in self.schedulers:
            self.schedulers[name].step()
        opt.zero_grad(set_to_none=True)


class Task:
    """Base class of training tasks (one level: subclass it, override the three methods)."""

    def build(self, accelerator: Accelerator, cfg: TrainConfig) -> Built:
        raise NotImplementedError

    def train_step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def eval_step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def on_best(self, run_dir: Path, ctx: StepContext) -> None:
        """Called after a new best checkpoint is written (default: nothing)."""
