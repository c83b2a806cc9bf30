"""Safe resume: changed settings are refused with the differences listed, the base weights' hash is
checked, --restart moves the old run aside; the local (nested-run) accelerator trains like Accelerate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sesli.train.config import ConfigError, TrainConfig
from sesli.train.engine import RESUMABLE, Built, Task, fit, settings_changed
from sesli.train.local import LocalAccelerator
from sesli.train.sampler import EpochSampler
from sesli.train.schedule import make_optimizer


class Line(Task):
    """y = 2x - 1 with a 1-unit linear model."""

    def build(self, accelerator, cfg):
        x = torch.linspace(-1, 1, 16).unsqueeze(-1)
        ds = TensorDataset(x, 2 * x - 1)
        model = nn.Linear(1, 1)
        return Built(
            modules={"model": model},
            optimizers={"main": make_optimizer(model, cfg)},
            train_data=DataLoader(
                ds, batch_size=cfg.batch_size, sampler=EpochSampler(len(ds), seed=cfg.seed)
            ),
            val_data=DataLoader(ds, batch_size=8),
        )

    def train_step(self, batch, ctx):
        x, y = batch
        loss = nn.functional.mse_loss(ctx.modules["model"](x), y)
        ctx.backward(loss)
        ctx.step("main")
        return {"loss": loss}

    def eval_step(self, batch, ctx):
        x, y = batch
        return {"loss": nn.functional.mse_loss(ctx.modules["model"](x), y)}


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(
        **{"epochs": 3, "batch_size": 4, "lr": 0.1, "mixed_precision": "no", "cpu": True, **kw}
    )


def test_settings_changed_lists_old_and_new_but_not_the_resumable_keys() -> None:
    old = {"train": {"lr": 0.1, "max_steps": 4, "betas": [0.9, 0.99]}, "finetune": {"targets": ["albert"]}}
    new = {"train": {"lr": 0.2, "max_steps": 8, "betas": [0.9, 0.99]}, "finetune": {"targets": ["decoder"]}}
    allowed = {f"train.{k}" for k in RESUMABLE}
    assert settings_changed(old, new, allowed) == [
        "finetune.targets: ['albert'] -> ['decoder']",
        "train.lr: 0.1 -> 0.2",
    ]


def test_engine_refuses_a_resume_with_other_settings(tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit(Line(), _cfg(max_steps=2), run, quiet=True)
    with pytest.raises(ConfigError, match=r"(?s)Changed:\n  batch_size: 4 -> 2\n  lr: 0\.1 -> 0\.2\n"):
        fit(Line(), _cfg(max_steps=4, lr=0.2, batch_size=2), run, quiet=True)
    assert yaml.safe_load((run / "config.yaml").read_text())["lr"] == 0.1  # not rewritten
    # how long to run and how often to log may change
    assert fit(Line(), _cfg(max_steps=4, log_every=1, eval_every=2), run, quiet=True).step == 4


def test_local_accelerator_trains_like_accelerate_on_cpu(tmp_path: Path) -> None:
    a = fit(Line(), _cfg(max_steps=6), tmp_path / "acc", quiet=True)
    b = fit(Line(), _cfg(max_steps=6), tmp_path / "local", quiet=True, accelerator=LocalAccelerator("cpu"))
    wa = load_file(a.last_checkpoint / "model.safetensors")
    wb = load_file(b.last_checkpoint / "model.safetensors")
    assert a.step == b.step == 6 and all(torch.equal(wa[k], wb[k]) for k in wa)


FAST = ["--base", "debug", "--targets", "albert,predictor,decoder", "--quiet"]
OVERRIDES = ["train.mixed_precision=no", "train.log_every=1", "train.early_stopping_patience=null"]


def test_kokoro_resume_refuses_changes_checks_the_base_and_restarts_cleanly(
    prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from sesli.cli.kokoro import main

    run = tmp_path / "run"

    def finetune(*extra: str, batch: str = "2", more: tuple[str, ...] = ()) -> int:
        argv = ["finetune", "--data", str(prepared), "--out", str(run), "--batch-size", batch, *FAST, *extra]
        return main([*argv, *OVERRIDES, *more])

    assert finetune("--max-steps", "1", "--lr", "0.01") == 0
    capsys.readouterr()

    # other optimizer, batch and LoRA settings: refused, each difference named
    assert finetune("--max-steps", "2", "--lr", "0.02", "--lora-r", "4", batch="1") == 2
    err = capsys.readouterr().err
    for line in ("train.lr: 0.01 -> 0.02", "train.batch_size: 2 -> 1", "finetune.lora_r: 8 -> 4"):
        assert line in err, err
    assert "train.max_steps" not in err
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["lr"] == 0.01

    # a longer run with another log frequency resumes
    assert finetune("--max-steps", "2", "--lr", "0.01", more=("train.plot_every=1",)) == 0
    assert "step 2" in capsys.readouterr().out

    # the same base name with other weights: refused
    card_path = run / "model_card.json"
    card = json.loads(card_path.read_text())
    card["base"]["weights_sha256"] = "0" * 64
    card_path.write_text(json.dumps(card))
    assert finetune("--max-steps", "3", "--lr", "0.01") == 2
    assert "other base weights" in capsys.readouterr().err

    # --restart: the old run moves aside (and says so), the new one starts at step 0 with its settings
    assert finetune("--max-steps", "1", "--lr", "0.02", "--restart") == 0
    out = capsys.readouterr().out
    (old,) = tmp_path.glob("run.old-*")
    assert f"moved the old run {run} to {old}" in out
    assert (old / "checkpoints").is_dir() and json.loads((old / "model_card.json").read_text())["steps"] == 2
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["lr"] == 0.02
    assert json.loads(card_path.read_text())["training"]["steps"] == 1
