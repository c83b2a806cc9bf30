"""VITS training cost on the CPU: seconds per task step and peak RSS, medium and tiny presets.

Each configuration runs in its own subprocess (so peak RSS is that configuration's): the task is
built by the engine exactly as ``sesli vits train`` builds it (generator + VITS discriminator,
AdamW, the per-epoch decay), one step warms up, then ``--steps`` steps of ``VitsTask.train_step``
(D step, then G step: posterior encoder on the whole clips, decoder and discriminators on the
``segment_size`` slices) are timed one by one. Validation, checkpoints and logging are not timed.

The data are tone stand-in clips from ``sesli.testing.demo_corpus`` (about 1-3 s each, 24 kHz,
resampled to the preset's rate on load), enough of them for one full batch.

    .venv/bin/python bench/vits_train.py [--steps 2] [--threads 2] [--only medium|tiny]

Writes bench/results/vits_train.json (``--only`` updates that configuration's entry). The CPUs
may be shared: ``step_times_s`` lists every timed step, and the median is less disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "vits_train.json"
CONFIGS = {
    "medium": {"config": "medium", "batch_size": 16, "segment_size": 8192},
    "tiny": {"config": "tiny", "batch_size": 2, "segment_size": 512},
}


def _data(root: Path, n: int) -> Path:
    """``n`` clips, all in train.jsonl (and val.jsonl), absolute audio paths."""
    from sesli.data.manifest import read_manifest, write_manifest
    from sesli.testing.demo_corpus import tiny_prepared

    prepared = tiny_prepared(root / "corpus", n=n)
    utts = [*read_manifest(prepared / "train.jsonl"), *read_manifest(prepared / "val.jsonl")]
    for u in utts:
        u.audio_path = str(u.resolve_audio(prepared))
    out = root / "all"
    out.mkdir()
    write_manifest(out / "train.jsonl", utts)
    write_manifest(out / "val.jsonl", utts[:2])
    return out


def _child(name: str, steps: int, threads: int) -> dict:
    import resource

    import torch

    torch.set_num_threads(threads)
    from sesli.train.engine import Engine
    from sesli.train.tasks.vits import VitsTask, load_run_config

    spec = CONFIGS[name]
    with tempfile.TemporaryDirectory() as tmp:
        data = _data(Path(tmp), max(spec["batch_size"], 4))
        over = [f"vits.data={data}", f"train.batch_size={spec['batch_size']}", "train.mixed_precision=no"]
        over += [f"vits.model.segment_size={spec['segment_size']}", "train.cpu=true"]
        cfg = load_run_config(spec["config"], over)
        task = VitsTask(cfg.vits, Path(tmp) / "run", quiet=True)
        engine = Engine(task, cfg.train, Path(tmp) / "run", config=cfg, quiet=True)
        t0 = time.perf_counter()
        engine.setup()
        build_s = time.perf_counter() - t0
        ctx = engine.ctx
        batch = next(iter(engine.built.train_data))  # the same full batch every step
        times = []
        for i in range(steps + 1):
            t = time.perf_counter()
            terms = task.train_step(batch, ctx)
            if i:
                times.append(time.perf_counter() - t)
        gen, disc = ctx.unwrap("gen"), ctx.unwrap("disc")
        return {
            "preset": cfg.vits.preset,
            "batch_size": spec["batch_size"],
            "segment_size": spec["segment_size"],
            "sample_rate": gen.config.sample_rate,
            "batch_seconds_of_audio": round(float(batch.wav_lengths.sum()) / gen.config.sample_rate, 2),
            "gen_parameters": sum(p.numel() for p in gen.parameters()),
            "disc_parameters": sum(p.numel() for p in disc.parameters()),
            "threads": threads,
            "build_s": round(build_s, 2),
            "timed_steps": steps,
            "s_per_step": round(sum(times) / len(times), 2),
            "s_per_step_median": round(sorted(times)[len(times) // 2], 2),
            "step_times_s": [round(t, 2) for t in times],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "last_losses": {k: round(float(v), 3) for k, v in terms.items()},
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2, help="timed steps per configuration (after one warm-up)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", choices=sorted(CONFIGS), default=None)
    p.add_argument("--child", choices=sorted(CONFIGS), default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.steps, args.threads)))
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    results = {}
    for name in [args.only] if args.only else list(CONFIGS):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, json.dumps(results[name]), flush=True)
    from sesli.fileio import write_json

    if args.only and RESULTS.is_file():  # keep the other configuration's last measurement
        results = {**json.loads(RESULTS.read_text(encoding="utf-8")).get("results", {}), **results}

    write_json(
        RESULTS,
        {
            "benchmark": "vits_train",
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            "note": "CPU, float32; one warm-up step, then the timed steps on one full batch (D step + G step)",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
