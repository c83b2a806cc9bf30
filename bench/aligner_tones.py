"""How well the aligner recovers known durations, over several random corpora (and how fast MAS is).

For each seed: a synthetic corpus (``sesli.testing.alignment``: tones of known durations in
600-sample frames), the aligner trained full-batch with the task's losses (forward-sum, then bin
loss), then MAS durations compared with the truth. Reports the largest and mean boundary error
(cumulative durations, frames), the mean absolute per-phoneme duration error, the share of exact
durations and the training time; plus MAS time on a (16, 100, 400) batch.

    python bench/aligner_tones.py [--seeds 5] [--utts 20] [--steps 300] [--threads 1]

Prints a table and writes bench/results/aligner_tones.json.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sesli.fileio import write_json
from sesli.models.aligner import Aligner
from sesli.modules.monotonic_align import maximum_path
from sesli.testing.alignment import synthetic_alignment_corpus
from sesli.train.tasks.aligner import AlignerDataset, AlignerItem, AlignerTaskConfig, aligner_losses, collate


def run_seed(seed: int, n_utts: int, steps: int) -> dict:
    torch.manual_seed(seed)
    corpus = synthetic_alignment_corpus(n_utts, seed=seed)
    ds = AlignerDataset([AlignerItem(u.id, u.tokens, u.audio) for u in corpus])
    batch = collate([ds[k] for k in range(len(ds))])
    cfg = AlignerTaskConfig()
    model = Aligner(n_tokens=9, channels=64, attn_channels=32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    t0 = time.perf_counter()
    for step in range(steps):
        terms = aligner_losses(model, batch, cfg, use_bin=step >= cfg.bin_start_step)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        out = model(batch["tokens"], batch["text_lengths"], batch["mel"], batch["mel_lengths"])
    dur, bound = [], []
    for k, utt in enumerate(corpus):
        pred = out.durations[k, : len(utt.tokens)].numpy()
        dur.append(np.abs(pred - utt.durations))
        bound.append(np.abs(np.cumsum(pred) - np.cumsum(utt.durations)))
    dur, bound = np.concatenate(dur), np.concatenate(bound)
    return {"seed": seed, "boundary_max": int(bound.max()), "boundary_mean": float(bound.mean()),
            "duration_mae": float(dur.mean()), "exact": float((dur == 0).mean()), "train_s": seconds}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--utts", type=int, default=20)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [run_seed(s, args.utts, args.steps) for s in range(args.seeds)]
    lp = np.random.default_rng(0).normal(size=(16, 100, 400))
    maximum_path(lp[:1])  # compile
    t0 = time.perf_counter()
    maximum_path(lp)
    mas_ms = (time.perf_counter() - t0) * 1e3
    print(f"{'seed':>4} {'bound max':>9} {'bound mean':>10} {'dur MAE':>8} {'exact':>6} {'train s':>8}")
    for r in rows:
        print(f"{r['seed']:>4} {r['boundary_max']:>9} {r['boundary_mean']:>10.3f} {r['duration_mae']:>8.3f} "
              f"{r['exact']:>6.2f} {r['train_s']:>8.1f}")  # fmt: skip
    print(f"MAS on (16, 100, 400): {mas_ms:.1f} ms")
    out = Path(__file__).parent / "results" / "aligner_tones.json"
    write_json(out, {"args": vars(args), "rows": rows, "mas_ms_16x100x400": mas_ms,
                     "torch": torch.__version__, "machine": platform.platform()})  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
