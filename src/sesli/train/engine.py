"""The one training loop every sesli model trains through.

A task says *what* to train; the engine says *how*: devices and mixed precision (Hugging Face
Accelerate, so ``accelerate launch`` runs the same code on many GPUs), AdamW with warm-up and
cosine/exponential decay, gradient accumulation and clipping, EMA, validation, early stopping,
best/last checkpoints, exact resume, SIGINT/SIGTERM handling, metrics, plots and a progress bar.

A task is a :class:`Task` with three methods::

    class MyTask(Task):
        def build(self, accelerator, cfg):             # cfg: TrainConfig
            model = MyModel(dim=64)
            return Built(
                modules={"model": model},
                optimizers={"main": make_optimizer(model, cfg)},   # schedulers filled in by default
                train_data=DataLoader(train_set, batch_size=cfg.batch_size,
                                      sampler=EpochSampler(len(train_set), seed=cfg.seed)),
                val_data=DataLoader(val_set, batch_size=cfg.batch_size),
            )

        def train_step(self, batch, ctx):              # called once per batch
            loss = ctx.modules["model"](batch).loss
            ctx.backward(loss)                          # scales for accumulation / fp16
            ctx.step("main")                            # clip + step + LR schedule, on sync only
            return {"loss": loss}                       # logged as train/loss

        def eval_step(self, batch, ctx):               # under no_grad, modules in eval()
            return {"loss": ctx.modules["model"](batch).loss}   # logged as val/loss

    result = fit(MyTask(), TrainConfig(epochs=3), "runs/my-run")

A GAN task builds two optimizers and, inside ``train_step``, calls ``ctx.backward(d_loss);
ctx.step("disc")`` and then ``ctx.backward(g_loss); ctx.step("gen")``. Frozen parameters are
simply left out of the optimizers (``make_optimizer`` skips ``requires_grad=False``). Every
gradient is cleared after each step; within an accumulation group, compute G's loss under
``with ctx.frozen("disc"):`` so it leaves no gradient on D. A task that
must write extra artifacts when a new best model is saved overrides ``on_best(run_dir, ctx)``.
A ``train_step`` may return ``"tokens"`` and ``"flops"`` (counts for its batch): the progress line
and ``metrics.csv`` then show ``perf/tokens_per_s`` (all processes together) and ``perf/mfu``, the
FLOP/s of one process over its device's peak (``sesli.train.throughput``; an estimate). Both are
timings, so they differ between a resumed run and an uninterrupted one; every other value matches.
``ctx.global_step`` is the number of optimizer steps done; ``ctx.step(name)`` is the method.

The training DataLoader's sampler must be seeded per epoch (``EpochSampler``, or anything with
``set_epoch``); a plain ``shuffle=True`` loader is refused because resume could not replay it.
The best checkpoint is chosen by ``cfg.metric`` (e.g. ``val/loss``) in ``cfg.mode``.

Run directory: ``config.yaml`` (frozen config), ``metrics.csv``, ``loss.png``, ``tensorboard/``,
``checkpoints/step-N/`` (the last ``keep_last``) and ``checkpoints/best/``.

Steps are optimizer steps: one step is ``grad_accum`` batches (the last group of an epoch may be
shorter). Validation runs every ``eval_every`` steps, or at the end of each epoch when it is None.

Resume refuses changed settings: a run resumed with a config whose values differ from its
``config.yaml`` (other than :data:`RESUMABLE`, which only say how long to run and how often to log,
validate and save) stops with the differences listed, ``key: old -> new``, instead of keeping
the checkpoint's optimizer and schedule under a config.yaml that says otherwise. ``restart=True``
moves the old run directory aside to ``<run>.old-<timestamp>`` and starts fresh.

Mixed precision: Accelerate keeps one ``AcceleratorState`` per process, fixed by the first
``Accelerator``; the engine releases it when no run is active, so runs one after the other in a
process (tests, a notebook) may each choose theirs. A run nested inside another (the aligner a
fine-tuning run trains first) passes ``accelerator=LocalAccelerator(device)``
(``sesli.train.local``): this process only, float32, no second ``Accelerator``.

Exact resume: a checkpoint (``checkpoint.py``) holds weights, optimizers, schedulers, the grad
scaler, EMA, the Python/NumPy/torch RNG states, the step, the epoch and how many batches of that
epoch were consumed. The data order depends only on ``seed + epoch`` (:class:`EpochSampler`), so a
resumed run skips exactly the consumed batches and, on CPU, ends with bit-identical weights. With
several processes the RNG state saved is the main process's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState, PartialState
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from sesli.train import checkpoint as ckpt
from sesli.train.config import ConfigError, TrainConfig, dump_config, to_dict
from sesli.train.logging import MetricsLog
from sesli.train.sampler import check_replayable
from sesli.train.schedule import EMA, make_scheduler
from sesli.train.task import Built, StepContext, Task

__all__ = [
    "RESUMABLE", "Built", "Engine", "FitResult", "StepContext", "Task", "fit", "fit_keeping_artifact",
    "settings_changed",
]  # fmt: skip

# TrainConfig fields a resumed run may change: how long to run, how often to log, plot, validate
# and save, when to give up, and data-loading workers. None of them is in the checkpoint's
# optimizer, scheduler or data order (the schedule's length is fixed by the first run's settings).
RESUMABLE = (
    "epochs",
    "max_steps",
    "early_stopping_patience",
    "eval_every",
    "log_every",
    "plot_every",
    "save_every",
    "keep_last",
    "num_workers",
)
_ACTIVE_RUNS = 0  # engines inside run() in this process; Accelerate's state is released for the first


@dataclass
class FitResult:
    """How a run ended: ``stopped_by`` is "epochs", "max_steps", "early_stopping" or "signal"."""

    run_dir: Path
    step: int
    epoch: int
    stopped_by: str
    best_metric: float | None
    best_step: int | None
    last_checkpoint: Path | None


def _hms(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _resolve_precision(cfg: TrainConfig) -> str:
    if cfg.mixed_precision != "auto":
        return cfg.mixed_precision
    if not cfg.cpu and torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"  # CPU autocast is slower than fp32 for small models; MPS autocast is partial


def _accelerator(cfg: TrainConfig) -> Accelerator:
    """A new ``Accelerator`` for ``cfg``, after releasing the state a finished run left behind.

    In a process of several ranks the process group (``PartialState``) stays.
    """
    if _ACTIVE_RUNS <= 1 and AcceleratorState._shared_state:  # no run but the one setting up
        single = PartialState._shared_state.get("num_processes", 1) == 1
        AcceleratorState._reset_state(reset_partial_state=single)
        GradientState._reset_state()
    from accelerate.utils import DistributedDataParallelKwargs

    ddp = [DistributedDataParallelKwargs(find_unused_parameters=True)] if cfg.find_unused_parameters else []
    return Accelerator(
        cpu=cfg.cpu, mixed_precision=_resolve_precision(cfg), step_scheduler_with_optimizer=False,
        kwargs_handlers=ddp,
    )  # fmt: skip


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flatten(v, f"{prefix}{k}."))
    return {k.rstrip("."): v for k, v in out.items()}


def settings_changed(old: dict[str, Any], new: dict[str, Any], allowed: set[str]) -> list[str]:
    """``"key: old -> new"`` for every dotted key whose value differs, except ``allowed`` ones.

    Keys the old tree does not hold (settings added to sesli since that run) are not compared.
    """
    a, b = _flatten(old), _flatten(new)
    return [
        f"{k}: {a[k]!r} -> {b.get(k, '(unset)')!r}"
        for k in sorted(a)
        if k not in allowed and a[k] != b.get(k, "(unset)")
    ]


class Engine:
    """Runs one task in one run directory. Use :func:`fit` unless you need the pieces."""

    def __init__(
        self,
        task: Task,
        cfg: TrainConfig,
        run_dir: str | Path,
        *,
        config: Any = None,
        quiet: bool = False,
        accelerator: Any = None,
    ):
        self.task, self.cfg, self.run_dir = task, cfg, Path(run_dir)
        self.config = config if config is not None else cfg  # the full tree frozen to config.yaml
        self.quiet = quiet
        self._given_acc = accelerator  # None: an Accelerate Accelerator made from cfg in setup()
        self.moved_to: Path | None = None  # where restart=True moved the old run
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.epoch = self.consumed = 0
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.last_ckpt: Path | None = None
        self._signal: int | None = None
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._tokens = self._flops = 0.0
        self._peak: float | None = None
        self._t0 = time.perf_counter()

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self, *, restart: bool = False) -> None:
        cfg = self.cfg
        if cfg.grad_accum < 1 or cfg.batch_size < 1:
            raise ValueError(
                f"grad_accum and batch_size must be >= 1, got {cfg.grad_accum}, {cfg.batch_size}"
            )
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.acc = self._given_acc if self._given_acc is not None else _accelerator(cfg)
        if restart:  # rank 0 moves the old run aside; the others wait until it is gone
            if self.acc.is_main_process:
                self.moved_to = ckpt.move_run_aside(self.run_dir)
                if self.moved_to is not None:  # said even when quiet: it is about the user's files
                    print(f"restart: moved the old run {self.run_dir} to {self.moved_to}", flush=True)
            self.acc.wait_for_everyone()
        set_seed(cfg.seed)
        built = self.task.build(self.acc, cfg)
        check_replayable(built.train_data)
        # DataLoader iterators draw a worker base seed from the global RNG unless they own a
        # generator; give each loader one, reseeded per epoch/evaluation, so iterating data never
        # shifts dropout masks and a resumed run draws exactly what an uninterrupted one draws.
        self._gens = {}
        for name, dl in (("train", built.train_data), ("val", built.val_data)):
            if dl is not None:
                dl.generator = dl.generator if dl.generator is not None else torch.Generator()
                self._gens[name] = dl.generator
        n_mod = len(built.modules)
        prepared = self.acc.prepare(*built.modules.values(), *built.optimizers.values())
        prepared = prepared if isinstance(prepared, tuple) else (prepared,)
        built.modules = dict(zip(built.modules, prepared[:n_mod], strict=True))
        built.optimizers = dict(zip(built.optimizers, prepared[n_mod:], strict=True))
        built.train_data = self.acc.prepare(built.train_data)
        if built.val_data is not None:
            built.val_data = self.acc.prepare(built.val_data)
        self.steps_per_epoch = math.ceil(len(built.train_data) / cfg.grad_accum)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        for name, opt in built.optimizers.items():
            if name not in built.schedulers:
                built.schedulers[name] = make_scheduler(opt, cfg, self.total_steps)
        self.ema = None
        if cfg.ema_decay is not None:
            built.ema_module = built.ema_module or next(iter(built.modules))
            self.ema = EMA(self.acc.unwrap_model(built.modules[built.ema_module]), cfg.ema_decay)
        self.built = built
        self.ctx = StepContext(self.acc, built, cfg)

    # ---- the loop ------------------------------------------------------------------------------
    def run(self, *, resume: bool = True, restart: bool = False) -> FitResult:
        """Train to the end (resuming the newest checkpoint unless ``resume`` is False).

        Args:
            resume: continue from the run's checkpoints; False refuses a run that has some.
            restart: move an existing run directory aside (``<run>.old-<timestamp>``), start fresh.

        Raises:
            ConfigError: resuming with settings other than the run's (the differences listed).
            ValueError: ``resume=False`` on a run directory that holds checkpoints.
        """
        global _ACTIVE_RUNS
        if not restart:
            if not resume and ckpt.latest_checkpoint(self.ckpt_dir) is not None:
                raise ValueError(
                    f"{self.run_dir} already holds checkpoints; to start over choose another run "
                    "directory or delete this one (its checkpoints would mix with the new run's)"
                )
            if resume:
                self.check_resumable()
        _ACTIVE_RUNS += 1
        try:
            return self._run(resume=resume and not restart, restart=restart)
        finally:
            _ACTIVE_RUNS -= 1

    def check_resumable(self) -> None:
        """Refuse to resume a run whose ``config.yaml`` differs from this config (see RESUMABLE).

        Raises:
            ConfigError: the differing keys, ``key: old -> new``.
        """
        frozen = self.run_dir / "config.yaml"
        if ckpt.latest_checkpoint(self.ckpt_dir) is None or not frozen.is_file():
            return
        old = yaml.safe_load(frozen.read_text(encoding="utf-8")) or {}
        diff = settings_changed(old, to_dict(self.config), {self._train_prefix() + k for k in RESUMABLE})
        if diff:
            raise ConfigError(
                f"{self.run_dir} was trained with other settings; resuming would keep the old ones. "
                "Changed:\n  " + "\n  ".join(diff) + "\nUse the run's settings, another run directory, or "
                f"restart (moves this run aside). Settings a resume may change: {', '.join(RESUMABLE)}."
            )

    def _train_prefix(self) -> str:
        """Where the TrainConfig sits in the frozen tree: "" at the root, else e.g. "train."."""
        if self.config is self.cfg:
            return ""
        names = [f.name for f in dataclasses.fields(self.config) if getattr(self.config, f.name) is self.cfg]
        return f"{names[0]}." if names else "train."

    def _run(self, *, resume: bool, restart: bool) -> FitResult:
        self.setup(restart=restart)
        resumed = self.resume() if resume else None
        main = self.acc.is_main_process
        self.log = MetricsLog(self.run_dir, resume_step=resumed, enabled=main)
        if main:
            dump_config(self.config, self.run_dir / "config.yaml")
            self._describe(resumed)
        old_handlers = self._install_signals()
        bar = tqdm(
            total=self.total_steps,
            initial=self.ctx.global_step,
            unit="step",
            dynamic_ncols=True,
            disable=self.quiet or not main or not sys.stderr.isatty(),
        )
        # no terminal (nohup, CI): a plain line per log step instead of the bar
        self._plain_progress = not self.quiet and main and not sys.stderr.isatty()
        self._fit_t0, self._fit_step0 = time.perf_counter(), self.ctx.global_step
        self._last_eval_step = None
        stopped_by = self._already_done()
        train_data = self.built.train_data
        self._t0 = time.perf_counter()
        try:
            while stopped_by is None and self.epoch < self.cfg.epochs:
                train_data.set_epoch(self.epoch)
                self._gens["train"].manual_seed(self.cfg.seed + self.epoch)
                self.ctx.epoch = self.epoch
                n_batches = len(train_data)
                batches = (
                    self.acc.skip_first_batches(train_data, self.consumed) if self.consumed else train_data
                )
                for batch in batches:
                    self.consumed += 1
                    self.ctx.sync = self.consumed % self.cfg.grad_accum == 0 or self.consumed == n_batches
                    self._train_batch(batch)
                    if not self.ctx.sync:
                        continue
                    for opt in self.built.optimizers.values():  # e.g. D's grads left by G's loss
                        opt.zero_grad(set_to_none=True)
                    self.ctx.global_step += 1
                    bar.update(1)
                    stopped_by = self._after_step(bar, end_of_epoch=self.consumed == n_batches)
                    if stopped_by is not None:
                        break
                else:
                    self.epoch, self.consumed = self.epoch + 1, 0
            stopped_by = stopped_by or "epochs"
            # the last step was not a validation step: validate once more, so best/ reflects the end
            final_eval = stopped_by not in ("signal", "early_stopping") and self.ctx.global_step > 0
            if (
                final_eval
                and self.built.val_data is not None
                and self._last_eval_step != self.ctx.global_step
            ):
                self._validate()
            if self.last_ckpt is None or ckpt.step_dir_name(self.ctx.global_step) != self.last_ckpt.name:
                self.save()
        finally:
            bar.close()
            self._restore_signals(old_handlers)
            self.log.plot()
            self.log.close()
            self.acc.end_training()
        return FitResult(
            self.run_dir,
            self.ctx.global_step,
            self.epoch,
            stopped_by,
            self.best,
            self.best_step,
            self.last_ckpt,
        )

    def _already_done(self) -> str | None:
        """A run resumed from its final checkpoint has nothing left to do."""
        if self.cfg.max_steps is not None and self.ctx.global_step >= self.cfg.max_steps:
            return "max_steps"
        patience = self.cfg.early_stopping_patience
        if patience is not None and self.bad_evals >= patience:
            return "early_stopping"
        return None

    def _train_batch(self, batch: Any) -> None:
        modules = self.built.modules.values()
        no_sync = contextlib.ExitStack()
        if not self.ctx.sync:  # skip the DDP all-reduce on batches that only accumulate
            for m in modules:
                if any(p.requires_grad for p in m.parameters()):
                    no_sync.enter_context(self.acc.no_sync(m))
        with no_sync:
            logs = self.task.train_step(batch, self.ctx)
        for k, v in logs.items():
            if k == "tokens":
                self._tokens += float(v)
                continue
            if k == "flops":
                self._flops += float(v)
                continue
            v = v.detach().float() if torch.is_tensor(v) else torch.tensor(float(v))
            self._sums[k] = self._sums[k] + v if k in self._sums else v
        self._count += 1

    def _after_step(self, bar: tqdm, *, end_of_epoch: bool) -> str | None:
        cfg, step = self.cfg, self.ctx.global_step
        if self.ema is not None:
            self.ema.update(self.acc.unwrap_model(self.built.modules[self.built.ema_module]))
        if step % cfg.log_every == 0 or end_of_epoch:
            self._flush_train_logs(bar)
        if cfg.plot_every and step % cfg.plot_every == 0:
            self.log.plot()
        stopped_by = None
        eval_due = step % cfg.eval_every == 0 if cfg.eval_every else end_of_epoch
        if eval_due and self.built.val_data is not None and self._validate():
            stopped_by = "early_stopping"
        if cfg.max_steps is not None and step >= cfg.max_steps:
            stopped_by = stopped_by or "max_steps"
        if end_of_epoch and self.epoch + 1 >= cfg.epochs:
            stopped_by = stopped_by or "epochs"
        if self._signal is not None:
            stopped_by = "signal"
        if stopped_by is not None or (cfg.save_every and step % cfg.save_every == 0):
            self.save()
        return stopped_by

    def _validate(self) -> bool:
        """Evaluate, log, keep the best; True when early stopping's patience has run out."""
        cfg, step = self.cfg, self.ctx.global_step
        metrics = self.evaluate()
        self._last_eval_step = step
        self.log.log(step, self.epoch, metrics)
        if cfg.metric not in metrics:
            raise KeyError(f"metric {cfg.metric!r} is not among the validation metrics {sorted(metrics)}")
        value = metrics[cfg.metric]
        if self._plain_progress:
            print(f"step {step}: {cfg.metric} {value:.4g}", file=sys.stderr, flush=True)
        improved = self.best is None or (value < self.best if cfg.mode == "min" else value > self.best)
        if improved:
            self.best, self.best_step, self.bad_evals = value, step, 0
            if cfg.save_best:
                self.save(best=True)
                self.task.on_best(self.run_dir, self.ctx)
            return False
        self.bad_evals += 1
        return cfg.early_stopping_patience is not None and self.bad_evals >= cfg.early_stopping_patience

    def _plain_line(self, values: dict[str, float]) -> None:
        """One progress line for logs that are not a terminal (nohup, CI): step, loss, rate, ETA."""
        step, total = self.ctx.global_step, self.total_steps
        done = step - self._fit_step0
        rate = (time.perf_counter() - self._fit_t0) / max(done, 1)  # s/step over this run
        eta = f", ETA {_hms(rate * (total - step))}" if total else ""
        loss = values.get("train/loss")
        loss_txt = f" loss {loss:.4g}" if loss is not None else ""
        if "perf/tokens_per_s" in values:
            loss_txt += f", {values['perf/tokens_per_s']:.0f} tok/s"
        if "perf/mfu" in values:
            loss_txt += f", MFU {values['perf/mfu']:.1%}"
        print(f"step {step}/{total or '?'}{loss_txt}, {rate:.2f} s/step{eta}", file=sys.stderr, flush=True)

    def _flush_train_logs(self, bar: tqdm) -> None:
        if not self._count:
            return
        values = {f"train/{k}": (v / self._count).item() for k, v in self._sums.items()}
        for name, norm in self.ctx.grad_norms.items():
            values[f"train/grad_norm_{name}"] = float(norm)
        sched = next(iter(self.built.schedulers.values()), None)
        if sched is not None:
            values["lr"] = sched.get_last_lr()[0]
        if self._flops and self._peak is None:  # once; a CPU's peak is measured (0.1 s), uncharged
            from sesli.train.throughput import peak_flops

            t = time.perf_counter()
            self._peak = peak_flops(self.acc.device) or 0.0
            self._t0 += time.perf_counter() - t
        now = time.perf_counter()
        postfix = {k.split("/")[-1]: f"{v:.4g}" for k, v in values.items() if k in ("train/loss", "lr")}
        values.update(self._throughput(now - self._t0))
        if "perf/tokens_per_s" in values:
            postfix["tok/s"] = f"{values['perf/tokens_per_s']:.0f}"
        if "perf/mfu" in values:
            postfix["mfu"] = f"{values['perf/mfu']:.1%}"
        bar.set_postfix(postfix, refresh=False)
        if self._plain_progress:
            self._plain_line(values)
        self.log.log(self.ctx.global_step, self.epoch, values)
        self._sums, self._count, self._tokens, self._flops, self._t0 = {}, 0, 0.0, 0.0, now

    def _throughput(self, seconds: float) -> dict[str, float]:
        """``perf/tokens_per_s`` (all processes) and ``perf/mfu`` (per device) over ``seconds``."""
        out: dict[str, float] = {}
        seconds = max(seconds, 1e-9)
        if self._tokens:
            out["perf/tokens_per_s"] = self._tokens * self.acc.num_processes / seconds
        if self._flops and self._peak:
            out["perf/mfu"] = self._flops / seconds / self._peak
        return out

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Average ``eval_step`` over the validation data (EMA weights when EMA is on)."""
        modules = self.built.modules
        flags = {m: m.training for mod in modules.values() for m in mod.modules()}
        for mod in modules.values():
            mod.eval()
        if self.ema is not None:
            self.ema.swap(self.acc.unwrap_model(modules[self.built.ema_module]))
        sums: dict[str, torch.Tensor] = {}
        n = 0
        self._gens["val"].manual_seed(self.cfg.seed)
        try:
            for batch in self.built.val_data:
                for k, v in self.task.eval_step(batch, self.ctx).items():
                    v = torch.as_tensor(v, dtype=torch.float32, device=self.acc.device).detach()
                    sums[k] = sums[k] + v if k in sums else v
                n += 1
        finally:
            if self.ema is not None:
                self.ema.swap(self.acc.unwrap_model(modules[self.built.ema_module]))
            for m, flag in flags.items():
                m.train(flag)
        if n == 0:
            raise ValueError("the validation data yielded no batches")
        return {f"val/{k}": self.acc.reduce(v / n, reduction="mean").item() for k, v in sums.items()}

    # ---- checkpoints ---------------------------------------------------------------------------
    def save(self, *, best: bool = False) -> None:
        """Write ``checkpoints/step-N`` (and prune to ``keep_last``) or ``checkpoints/best``."""
        self.acc.wait_for_everyone()
        path = self.ckpt_dir / ckpt.step_dir_name(self.ctx.global_step)
        if self.acc.is_main_process:
            if best:
                self._save_best()
            else:
                ckpt.save_checkpoint(
                    path,
                    weights={n: self.acc.unwrap_model(m).state_dict() for n, m in self.built.modules.items()},
                    state=self._state(),
                    step=self.ctx.global_step,
                )
                ckpt.prune_checkpoints(self.ckpt_dir, self.cfg.keep_last)
        if not best:  # every rank records it: the final-save decision must agree across ranks
            self.last_ckpt = path
        self.acc.wait_for_everyone()

    def _save_best(self) -> None:
        ema_name = self.built.ema_module
        if self.ema is not None:  # the best model is the one validated: the averaged weights
            self.ema.swap(self.acc.unwrap_model(self.built.modules[ema_name]))
        try:
            ckpt.save_checkpoint(
                self.ckpt_dir / "best",
                weights={n: self.acc.unwrap_model(m).state_dict() for n, m in self.built.modules.items()},
                state={
                    "step": self.ctx.global_step,
                    "epoch": self.epoch,
                    "metric": self.cfg.metric,
                    "value": self.best,
                },
                step=self.ctx.global_step,
            )
        finally:
            if self.ema is not None:
                self.ema.swap(self.acc.unwrap_model(self.built.modules[ema_name]))

    def _state(self) -> dict[str, Any]:
        b = self.built
        return {
            "step": self.ctx.global_step,
            "epoch": self.epoch,
            "consumed": self.consumed,
            "best": self.best,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "optimizers": {n: o.state_dict() for n, o in b.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in b.schedulers.items()},
            "scaler": self.acc.scaler.state_dict() if self.acc.scaler is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": ckpt.rng_state(),
            # train metrics accumulated since the last log line, so a resumed run logs the same averages
            "pending_logs": {"sums": dict(self._sums), "count": self._count, "tokens": self._tokens},
        }

    def resume(self) -> int | None:
        """Load the newest checkpoint of the run directory, if any; return its step."""
        ckpt.clean_stale(self.ckpt_dir)
        latest = ckpt.latest_checkpoint(self.ckpt_dir)
        if latest is None:
            return None
        loaded = ckpt.load_checkpoint(latest)
        b, s = self.built, loaded.state
        if set(loaded.weights) != set(b.modules) or set(s["optimizers"]) != set(b.optimizers):
            raise ckpt.CheckpointError(
                f"checkpoint {latest} holds modules {sorted(loaded.weights)} / optimizers "
                f"{sorted(s['optimizers'])}, but the task built {sorted(b.modules)} / {sorted(b.optimizers)}"
            )
        for name, module in b.modules.items():
            self.acc.unwrap_model(module).load_state_dict(loaded.weights[name])
        for name, opt in b.optimizers.items():
            opt.load_state_dict(s["optimizers"][name])
        for name, sched in b.schedulers.items():
            sched.load_state_dict(s["schedulers"][name])
        if self.acc.scaler is not None and s["scaler"] is not None:
            self.acc.scaler.load_state_dict(s["scaler"])
        if self.ema is not None and s["ema"] is not None:
            self.ema.load_state_dict(s["ema"])
        self.ctx.global_step, self.epoch, self.consumed = s["step"], s["epoch"], s["consumed"]
        self.best, self.best_step, self.bad_evals = s["best"], s["best_step"], s["bad_evals"]
        pending = s["pending_logs"]
        # tokens (and FLOPs) counted before the kill were timed by the killed process: not restored,
        # so the first rate after a resume covers only what this process did
        self._sums, self._count = dict(pending["sums"]), pending["count"]
        ckpt.set_rng_state(s["rng"])
        self.last_ckpt = latest
        return self.ctx.global_step

    # ---- signals and messages ------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, frame: Any) -> None:
            if self._signal is not None:  # a second signal: stop now, without saving
                raise KeyboardInterrupt
            self._signal = signum
            self.acc.print(f"\nsignal {signum}: saving a checkpoint at the end of this step, then stopping")

        return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def _restore_signals(self, old: dict[int, Any]) -> None:
        for s, h in old.items():
            signal.signal(s, h)

    def _describe(self, resumed: int | None) -> None:
        if self.quiet:
            return
        for name, m in self.built.modules.items():
            total = sum(p.numel() for p in m.parameters())
            trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
            self.acc.print(f"{name}: {total:,} parameters ({trainable:,} trainable)")
        where = f"resumed from step {resumed}" if resumed is not None else "fresh start"
        self.acc.print(
            f"run {self.run_dir}: {where}; {self.total_steps} steps, {self.steps_per_epoch} per epoch; "
            f"device {self.acc.device}, precision {self.acc.mixed_precision}"
        )


def fit(
    task: Task,
    cfg: TrainConfig,
    run_dir: str | Path,
    *,
    config: Any = None,
    resume: bool = True,
    restart: bool = False,
    quiet: bool = False,
    accelerator: Any = None,
) -> FitResult:
    """Train ``task`` in ``run_dir``, resuming from its newest checkpoint when there is one.

    Args:
        task: what to train (see the module docstring).
        cfg: the engine's settings.
        run_dir: where config.yaml, metrics.csv, loss.png, tensorboard/ and checkpoints/ go.
        config: the full config tree to freeze to config.yaml (default: ``cfg``).
        resume: continue from ``run_dir/checkpoints`` (False refuses a run that has checkpoints).
        restart: move an existing ``run_dir`` aside to ``<run_dir>.old-<timestamp>``, start fresh.
        quiet: no progress bar or start-up messages.
        accelerator: None (an Accelerate ``Accelerator`` from ``cfg``), or a
            ``sesli.train.local.LocalAccelerator`` for a run nested inside another run's process.

    Raises:
        CheckpointError: the newest checkpoint is truncated, corrupt or does not fit the task.
        ConfigError: resuming with settings that differ from the run's (other than RESUMABLE).
    """
    engine = Engine(task, cfg, run_dir, config=config, quiet=quiet, accelerator=accelerator)
    return engine.run(resume=resume, restart=restart)


def fit_keeping_artifact(
    task: Task,
    cfg: TrainConfig,
    run_dir: str | Path,
    *,
    artifact: str | Path,
    save_final: Callable[[StepContext, int], Any],
    config: Any = None,
    restart: bool = False,
    quiet: bool = False,
) -> FitResult:
    """:func:`fit`, then ``save_final(ctx, step)`` when the run left no artifact at ``artifact``.

    Tasks write their inference artifact when a validation improves; a run that never validated
    (``max_steps`` below ``eval_every``, no validation clips) would otherwise end with none, so
    its final weights are kept instead.
    """
    from sesli.artifacts import is_artifact

    engine = Engine(task, cfg, run_dir, config=config, quiet=quiet)
    result = engine.run(restart=restart)
    if not is_artifact(artifact):
        save_final(engine.ctx, result.step)
    return result

