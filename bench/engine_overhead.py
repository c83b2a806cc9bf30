"""What the training engine costs: tiny-LM tokens/s through ``sesli.train.fit`` vs a bare loop.

Both sides train the same model (configs/lm/tiny.yaml), on the same batches (same sampler and
seed), with the same AdamW, warm-up/cosine schedule and gradient clipping. The bare loop is what
one would write by hand: no Accelerate, no logging, no checkpoints. Throughput is measured
between step ``--warmup`` and the last step (start-up, data tokenization and the final checkpoint
are outside the window), and runs alternate engine/bare ``--repeats`` times. The figure is
tokens per step / the median step time over all runs (robust to other jobs on a shared machine);
whole-run throughputs are kept in the JSON too.

    python bench/engine_overhead.py [--steps 60] [--repeats 3] [--threads 2] [--device cpu]

Prints a table and writes bench/results/engine_overhead.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from sesli.fileio import write_json
from sesli.train.config import load_config
from sesli.train.engine import fit
from sesli.train.sampler import EpochSampler
from sesli.train.schedule import make_optimizer, make_scheduler
from sesli.train.tasks.lm import LMRunConfig, LMTask, build_model
from sesli.train.tasks.lm_data import ByteTokenizer, TokenWindows, prepare_text, read_text

REPO = Path(__file__).resolve().parents[1]


class TimedLMTask(LMTask):
    """The LM task, noting the clock at each step (the engine itself is untouched)."""

    def __init__(self, cfg, run_dir, marks: list[float]):
        super().__init__(cfg, run_dir)
        self.marks = marks

    def train_step(self, batch, ctx):
        out = super().train_step(batch, ctx)
        if ctx.device.type == "cuda":
            torch.cuda.synchronize()
        self.marks.append(time.perf_counter())
        return out


def bare_loop(cfg: LMRunConfig, device: torch.device, marks: list[float]) -> None:
    torch.manual_seed(cfg.train.seed)
    tok = ByteTokenizer()
    data = Path(cfg.data.data_dir) / "train.txt"
    ds = TokenWindows(torch.tensor(tok.encode(read_text(data))), cfg.data.seq_len)
    model = build_model(cfg, tok.vocab_size).to(device)
    opt = make_optimizer(model, cfg.train)
    sched = make_scheduler(opt, cfg.train, cfg.train.max_steps)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=cfg.train.batch_size, sampler=EpochSampler(len(ds), seed=cfg.train.seed)
    )
    step = 0
    model.train()
    while step < cfg.train.max_steps:
        for batch in loader:
            ids, targets = batch["ids"].to(device), batch["targets"].to(device)
            loss = model(ids, targets).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            marks.append(time.perf_counter())
            step += 1
            if step >= cfg.train.max_steps:
                break


def tokens_per_s(marks: list[float], warmup: int, tokens_per_step: int) -> float:
    return (len(marks) - 1 - warmup) * tokens_per_step / (marks[-1] - marks[warmup])


def step_times(marks: list[float], warmup: int) -> list[float]:
    return [b - a for a, b in zip(marks[warmup:-1], marks[warmup + 1 :], strict=True)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--text", type=Path, default=REPO / "data" / "cv_tr_sentences.txt")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "engine_overhead.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prepare_text(tmp / "data", input_file=args.text, val_split=0.05)
        overrides = [
            f"data.data_dir={tmp / 'data'}",
            f"train.max_steps={args.steps}",
            "train.eval_every=1000000",
            "train.save_best=false",
            "train.early_stopping_patience=null",
            f"train.cpu={device.type == 'cpu'}",
            "train.mixed_precision=no",
        ]
        cfg = load_config(LMRunConfig, REPO / "configs" / "lm" / "tiny.yaml", overrides)
        tps = cfg.train.batch_size * cfg.data.seq_len
        engine, bare, engine_steps, bare_steps = [], [], [], []
        for r in range(args.repeats):
            marks: list[float] = []
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            fit(TimedLMTask(cfg, tmp / f"run{r}", marks), cfg.train, tmp / f"run{r}", config=cfg, quiet=True)
            engine.append(tokens_per_s(marks, args.warmup, tps))
            engine_steps += step_times(marks, args.warmup)
            marks = []
            bare_loop(cfg, device, marks)
            bare.append(tokens_per_s(marks, args.warmup, tps))
            bare_steps += step_times(marks, args.warmup)
    # On a shared machine whole runs swing with other load; the median step time is robust to it.
    e, b = tps / statistics.median(engine_steps), tps / statistics.median(bare_steps)
    result = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(),
        "torch_threads": args.threads,
        "model": "configs/lm/tiny.yaml",
        "batch_size": cfg.train.batch_size,
        "seq_len": cfg.data.seq_len,
        "steps": args.steps,
        "warmup_steps_excluded": args.warmup,
        "engine_tokens_per_s_per_run": engine,
        "bare_tokens_per_s_per_run": bare,
        "engine_tokens_per_s": e,
        "bare_tokens_per_s": b,
        "engine_median_step_s": statistics.median(engine_steps),
        "bare_median_step_s": statistics.median(bare_steps),
        "overhead_percent": 100.0 * (b - e) / b,
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        result["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(f"{'loop':<8} {'tokens/s (median step)':>23}  whole runs")
    print(f"{'engine':<8} {e:>23.0f}  {', '.join(f'{x:.0f}' for x in engine)}")
    print(f"{'bare':<8} {b:>23.0f}  {', '.join(f'{x:.0f}' for x in bare)}")
    print(f"engine overhead: {result['overhead_percent']:.1f}%  ({result['device']}, {args.threads} threads)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
