"""The engine with a toy regression task: learning, early stopping, best checkpoint, accumulation,
exact in-process resume, and the run directory's files."""

from __future__ import annotations

import csv
import shutil

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sesli.train.checkpoint import CheckpointError
from sesli.train.config import TrainConfig
from sesli.train.engine import Built, Task, fit
from sesli.train.sampler import EpochSampler
from sesli.train.schedule import make_optimizer


class Regression(Task):
    """y = x @ w on 32 points; optional dropout (to test RNG resume) and scripted val losses."""

    def __init__(
        self, *, dropout: float = 0.0, scripted_val: list[float] | None = None, crash_at: int | None = None
    ):
        self.dropout = dropout
        self.scripted_val = scripted_val
        self.evals = 0
        self.crash_at = crash_at

    def build(self, accelerator, cfg):
        g = torch.Generator().manual_seed(123)
        x = torch.randn(32, 4, generator=g)
        y = x @ torch.tensor([1.0, -2.0, 3.0, 0.5])
        ds = TensorDataset(x, y)
        model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(self.dropout), nn.Linear(16, 1))
        return Built(
            modules={"model": model},
            optimizers={"main": make_optimizer(model, cfg)},
            train_data=DataLoader(
                ds, batch_size=cfg.batch_size, sampler=EpochSampler(len(ds), seed=cfg.seed)
            ),
            val_data=DataLoader(ds, batch_size=16),
        )

    def train_step(self, batch, ctx):
        if self.crash_at is not None and ctx.global_step + 1 == self.crash_at:
            raise RuntimeError("simulated crash")
        x, y = batch
        loss = nn.functional.mse_loss(ctx.modules["model"](x).squeeze(-1), y)
        ctx.backward(loss)
        ctx.step("main")
        return {"loss": loss}

    def eval_step(self, batch, ctx):
        x, y = batch
        return {"loss": nn.functional.mse_loss(ctx.modules["model"](x).squeeze(-1), y)}


class ScriptedEvals(Regression):
    def eval_step(self, batch, ctx):  # one value per evaluation (two val batches each)
        out = {"loss": torch.tensor(self.scripted_val[self.evals // 2])}
        self.evals += 1
        return out


def _cfg(**kw) -> TrainConfig:
    base = dict(epochs=50, batch_size=4, lr=1e-2, warmup_steps=2, mixed_precision="no", cpu=True, log_every=1)
    base.update(kw)
    return TrainConfig(**base)


def _rows(run_dir):
    with open(run_dir / "metrics.csv", encoding="utf-8") as fh:
        return [(int(r["step"]), r["key"], float(r["value"])) for r in csv.DictReader(fh)]


def test_fit_learns_and_writes_run_files(tmp_path):
    run = tmp_path / "run"
    res = fit(Regression(), _cfg(max_steps=60, eval_every=20, plot_every=20), run, quiet=True)
    assert res.step == 60 and res.stopped_by == "max_steps"
    losses = [v for s, k, v in _rows(run) if k == "train/loss"]
    assert losses[-1] < 0.2 * losses[0]
    val = [v for s, k, v in _rows(run) if k == "val/loss"]
    assert len(val) == 3 and res.best_metric == pytest.approx(min(val))
    for name in ("config.yaml", "loss.png", "metrics.csv"):
        assert (run / name).is_file()
    assert any((run / "tensorboard").iterdir())
    assert (run / "checkpoints" / "step-00000060" / "manifest.json").is_file()
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_early_stopping_on_plateau_and_best_is_minimum(tmp_path):
    run = tmp_path / "run"
    scripted = [5.0, 4.0, 3.0, 3.5, 3.2, 3.0, 1.0, 0.5]  # no improvement after step 3 (3.0 ties)
    cfg = _cfg(eval_every=1, early_stopping_patience=3, save_every=1, keep_last=100)
    res = fit(ScriptedEvals(scripted_val=scripted), cfg, run, quiet=True)
    assert res.stopped_by == "early_stopping"
    assert res.step == 6
    assert res.best_metric == 3.0 and res.best_step == 3
    val = [v for s, k, v in _rows(run) if k == "val/loss"]
    assert val == pytest.approx(scripted[:6]) and min(val) == res.best_metric
    best = load_file(run / "checkpoints" / "best" / "model.safetensors")
    at3 = load_file(run / "checkpoints" / "step-00000003" / "model.safetensors")
    at6 = load_file(run / "checkpoints" / "step-00000006" / "model.safetensors")
    assert all(torch.equal(best[k], at3[k]) for k in best)
    assert not all(torch.equal(best[k], at6[k]) for k in best)


def test_gradient_accumulation_equals_a_bigger_batch(tmp_path):
    big = fit(Regression(), _cfg(max_steps=5, batch_size=8, grad_clip=None), tmp_path / "a", quiet=True)
    acc = fit(
        Regression(),
        _cfg(max_steps=5, batch_size=4, grad_accum=2, grad_clip=None),
        tmp_path / "b",
        quiet=True,
    )
    assert big.step == acc.step == 5
    wa = load_file(big.last_checkpoint / "model.safetensors")
    wb = load_file(acc.last_checkpoint / "model.safetensors")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_resume_after_crash_matches_uninterrupted_run(tmp_path):
    # 8 batches per epoch; the crash at step 13 loses steps 11-12, resume starts mid-epoch 1 at step 10.
    cfg = _cfg(max_steps=20, save_every=5, eval_every=4, ema_decay=0.9)
    ref = fit(Regression(dropout=0.3), cfg, tmp_path / "ref", quiet=True)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(Regression(dropout=0.3, crash_at=13), cfg, tmp_path / "run", quiet=True)
    resumed = fit(Regression(dropout=0.3), cfg, tmp_path / "run", quiet=True)
    assert resumed.step == ref.step == 20
    a = load_file(ref.last_checkpoint / "model.safetensors")
    b = load_file(resumed.last_checkpoint / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.best_metric == ref.best_metric
    steps = [(s, k) for s, k, _ in _rows(tmp_path / "run")]
    assert len(steps) == len(set(steps))  # the lost steps are not logged twice
    assert _rows(tmp_path / "run") == _rows(tmp_path / "ref")


def test_corrupt_latest_checkpoint_stops_resume_with_clear_error(tmp_path):
    run = tmp_path / "run"
    fit(Regression(), _cfg(max_steps=4, save_every=2), run, quiet=True)
    weights = run / "checkpoints" / "step-00000004" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is truncated"):
        fit(Regression(), _cfg(max_steps=8, save_every=2), run, quiet=True)


def test_missing_metric_is_named(tmp_path):
    with pytest.raises(KeyError, match="val/accuracy"):
        fit(Regression(), _cfg(max_steps=2, eval_every=1, metric="val/accuracy"), tmp_path / "r", quiet=True)


class TwoPlayers(Task):
    """A GAN-shaped task: two optimizers stepped in turn, plus a frozen module."""

    def build(self, accelerator, cfg):
        g = torch.Generator().manual_seed(5)
        ds = TensorDataset(torch.randn(24, 3, generator=g))
        gen, disc, frozen = nn.Linear(3, 3), nn.Linear(3, 1), nn.Linear(3, 3).requires_grad_(False)
        return Built(
            modules={"gen": gen, "disc": disc, "frozen": frozen},
            optimizers={"gen": make_optimizer(gen, cfg), "disc": make_optimizer(disc, cfg)},
            train_data=DataLoader(
                ds, batch_size=cfg.batch_size, sampler=EpochSampler(len(ds), seed=cfg.seed)
            ),
            val_data=DataLoader(ds, batch_size=8),
        )

    def train_step(self, batch, ctx):
        (x,) = batch
        fake = ctx.modules["gen"](ctx.modules["frozen"](x) + 0.1 * torch.randn_like(x))
        d_loss = (ctx.modules["disc"](fake.detach()) - 1).pow(2).mean() + ctx.modules["disc"](x).pow(2).mean()
        ctx.backward(d_loss)
        ctx.step("disc")
        with ctx.frozen("disc"):
            g_loss = ctx.modules["disc"](fake).pow(2).mean()
            ctx.backward(g_loss)
        assert all(p.requires_grad for p in ctx.modules["disc"].parameters())
        ctx.step("gen")
        return {"d_loss": d_loss, "g_loss": g_loss}

    def eval_step(self, batch, ctx):
        (x,) = batch
        return {"loss": ctx.modules["disc"](ctx.modules["gen"](x)).pow(2).mean()}


def test_two_optimizers_and_a_frozen_module_resume_exactly(tmp_path):
    cfg = _cfg(max_steps=12, save_every=4, eval_every=3, grad_accum=2)
    ref = fit(TwoPlayers(), cfg, tmp_path / "ref", quiet=True)
    fit(
        TwoPlayers(),
        _cfg(max_steps=12, save_every=4, eval_every=3, grad_accum=2),
        tmp_path / "run",
        quiet=True,
    )
    # drop the final checkpoints: the run resumes from step 4 and must redo 5..12 identically
    for step in (8, 12):
        shutil.rmtree(tmp_path / "run" / "checkpoints" / f"step-{step:08d}", ignore_errors=True)
    resumed = fit(TwoPlayers(), cfg, tmp_path / "run", quiet=True)
    assert resumed.step == 12
    a = load_file(ref.last_checkpoint / "gen.safetensors")
    b = load_file(resumed.last_checkpoint / "gen.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    state = torch.load(resumed.last_checkpoint / "state.pt", weights_only=True)
    assert set(state["optimizers"]) == set(state["schedulers"]) == {"gen", "disc"}
    first = load_file(tmp_path / "run" / "checkpoints" / "step-00000004" / "frozen.safetensors")
    last = load_file(resumed.last_checkpoint / "frozen.safetensors")
    assert all(torch.equal(first[k], last[k]) for k in first)  # frozen stays frozen
    keys = {k for _, k, _ in _rows(tmp_path / "run")}
    assert {"train/d_loss", "train/g_loss", "train/grad_norm_gen", "train/grad_norm_disc", "val/loss"} <= keys


def test_unreplayable_shuffle_is_refused(tmp_path):
    class Shuffled(Regression):
        def build(self, accelerator, cfg):
            built = super().build(accelerator, cfg)
            built.train_data = DataLoader(built.train_data.dataset, batch_size=4, shuffle=True)
            return built

    with pytest.raises(ValueError, match="EpochSampler"):
        fit(Shuffled(), _cfg(max_steps=2), tmp_path / "r", quiet=True)


def test_starting_over_refuses_to_mix_with_old_checkpoints(tmp_path):
    fit(Regression(), _cfg(max_steps=2), tmp_path / "r", quiet=True)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        fit(Regression(), _cfg(max_steps=2), tmp_path / "r", quiet=True, resume=False)
    again = fit(Regression(), _cfg(max_steps=2), tmp_path / "r", quiet=True)  # resumes: nothing left to do
    assert again.step == 2 and again.stopped_by == "max_steps"


def test_final_validation_when_the_last_step_was_not_one(tmp_path):
    # eval every 20 steps, stop at 30: the engine validates at 30 too, so best/ reflects the end
    res = fit(Regression(), _cfg(max_steps=30, eval_every=20), tmp_path / "r", quiet=True)
    evals = [s for s, k, _ in _rows(tmp_path / "r") if k == "val/loss"]
    assert evals == [20, 30]
    assert res.best_metric is not None and res.best_step in (20, 30)
    assert any(p.is_dir() for p in (tmp_path / "r").rglob("best"))


def test_plain_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    fit(Regression(), _cfg(max_steps=10, log_every=5, eval_every=10), tmp_path / "r")
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("step ")]
    assert any(ln.startswith("step 5/10 loss ") and "s/step, ETA" in ln for ln in lines), err
    assert any(ln.startswith("step 10: val/loss") for ln in lines), err
