"""Which LoRA target preset learns Turkish best: real Kokoro-82M weights, real Common Voice speech.

For each preset (``albert`` = the shipped default, ``albert+text``, ``all``) the same fine-tune
runs for the same number of steps from the same start (the packaged int8 Kokoro-82M v1.0 imported
into sesli, the mean of its voice packs as the starting style, the shipped fine-tune config
otherwise) on ``data/cv-tr-sample50`` (51 CC0 clips, 29 speakers, prepared with ``--min-words 3
--val-split 0.15``). Reported per preset: trainable parameters, CPU seconds per step, the
validation mel L1 at the start and at the end (the engine's own validation), and Whisper base CER/WER
on the held-out sentences with the adapter; the base zero-shot (default voice) and the recordings
themselves are the reference rows. Each fine-tune runs in its own subprocess (``sesli kokoro
finetune``), so peak memory and timing are its own; the training targets are extracted once first.

Honest limits: a few dozen CPU steps on 44 clips of 29 different speakers is a taste of
fine-tuning, and 5 held-out sentences make a noisy CER (one word is ~3 points).

    .venv/bin/python bench/kokoro_finetune_presets.py [--steps 30] [--presets albert,albert+text,all]

Writes bench/results/kokoro_finetune_presets.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "kokoro_finetune_presets.json"
CV = ROOT / "data" / "cv-tr-sample50"


def _metrics(run: Path) -> dict[str, list[tuple[int, float]]]:
    from sesli.train.logging import read_metrics

    out: dict[str, list[tuple[int, float]]] = {}
    for step, _, key, value in read_metrics(run / "metrics.csv"):
        out.setdefault(key, []).append((step, value))
    return out


def _cer(model: str, prepared: Path, asr) -> dict:
    from sesli.data.manifest import read_manifest
    from sesli.eval.evaluate import evaluate
    from sesli.inference import load

    utts = read_manifest(prepared / "val.jsonl")
    report = evaluate(load(model, noise=False), utts, prepared, asr=asr, spectral=False)
    s = report.summary
    return {
        "cer": s.get("cer"),
        "wer": s.get("wer"),
        "reference_cer": s.get("reference_cer"),
        "transcripts": [{"id": u.id, "asr": u.asr_text, "cer": u.cer} for u in report.utterances],
    }


def _start_validation(prepared: Path, base: str) -> dict[str, float]:
    """The engine's validation of the untrained fine-tune model (LoRA B = 0, the mean style): step 0."""
    from sesli.train.engine import Engine
    from sesli.train.tasks.kokoro_finetune import KokoroFinetuneTask, load_run_config

    cfg = load_run_config(
        overrides=[f"finetune.data={prepared}", f"finetune.base={base}", "train.batch_size=1"]
    )
    run = Path(tempfile.mkdtemp(prefix="sesli-start-"))
    engine = Engine(KokoroFinetuneTask(cfg.finetune, run, quiet=True), cfg.train, run, config=cfg, quiet=True)
    engine.setup()
    return {k: round(float(v), 4) for k, v in engine.evaluate().items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--presets", default="albert,albert+text,all")
    p.add_argument("--lr", type=float, default=None, help="override the shipped learning rate")
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    args = p.parse_args()

    import torch

    from sesli.cli import main as sesli_main
    from sesli.eval.asr import load_asr
    from sesli.models.kokoro.defaults import PACKAGED_ID
    from sesli.train.tasks import kokoro_data
    from sesli.train.tasks.kokoro_finetune import load_run_config

    torch.set_num_threads(2)
    work = args.work or Path(tempfile.mkdtemp(prefix="sesli-presets-"))
    prepared = work / "prepared"
    if not (prepared / "train.jsonl").is_file():
        argv = [str(CV), "--format", "commonvoice", "--min-words", "3", "--val-split", "0.15"]
        assert sesli_main(["prepare", *argv, "--out", str(prepared), "--workers", "1"]) == 0
    t = time.perf_counter()
    cfg = load_run_config(overrides=[f"finetune.data={prepared}"]).finetune
    kokoro_data.load_targets(prepared, cfg, quiet=True)
    targets_s = time.perf_counter() - t
    asr = load_asr("base")
    rows = {"zero_shot": _cer(PACKAGED_ID, prepared, asr)}
    rows["zero_shot"]["val_at_start"] = _start_validation(prepared, PACKAGED_ID)
    print(f"validation before training: {rows['zero_shot']['val_at_start']}")
    print(
        f"zero-shot CER {rows['zero_shot']['cer']:.3f} (recordings {rows['zero_shot']['reference_cer']:.3f})"
    )
    for preset in args.presets.split(","):
        run = work / f"run-{preset.replace('+', '_')}"
        cmd = [sys.executable, "-m", "sesli.cli", "kokoro", "finetune", "--data", str(prepared), "--out", str(run),
               "--base", PACKAGED_ID, "--batch-size", "1", "--max-steps", str(args.steps), "--targets", preset,
               "--quiet", "train.eval_every=" + str(max(args.steps // 3, 1))]  # fmt: skip
        if args.lr is not None:
            cmd += ["--lr", str(args.lr)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            print(done.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"fine-tune {preset} failed")
        m = _metrics(run)
        card = json.loads((run / "model_card.json").read_text())
        row = {
            "trainable_parameters": card["lora"]["trainable_parameters"],
            "wall_s": round(wall, 1),
            "cpu_s": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1),
            "peak_rss_mib": round(after.ru_maxrss / 1024),
            "val_mel": m.get("val/mel"),
            "val_loss": m.get("val/loss"),
            "train_mel_first_last": [m["train/mel"][0][1], m["train/mel"][-1][1]]
            if "train/mel" in m
            else None,
        }
        row.update(_cer(str(run), prepared, asr))
        rows[preset] = row
        print(f"{preset:12} val mel {row['val_mel']}  CER {row['cer']:.3f}  {wall:.0f} s")
    result = {
        "what": "LoRA target presets, same steps, real Kokoro-82M v1.0 int8 import, cv-tr-sample50",
        "command": " ".join(["python", *sys.argv]),
        "steps": args.steps,
        "batch_size": 1,
        "targets_extraction_s": round(targets_s, 1),
        "asr": "whisper base (packaged, int8, greedy, no_repeat_ngram_size=3)",
        "val_utterances": len((prepared / "val.jsonl").read_text().splitlines()),
        "rows": rows,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": 2,
            "python": platform.python_version(),
        },
        "note": "2-core CPU, possibly shared with other jobs: times are indicative",
    }
    from sesli.fileio import write_json

    write_json(RESULTS, result)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
