"""Kokoro-82M fine-tuning cost on this machine: LoRA presets, batch 1 and 2, 3 s clips, real weights.

The real Kokoro-82M v1.0 (the packaged int8 export imported into sesli, float32) with the LoRA
target presets ``albert`` (the shipped default) and ``all``, and the default preset with the
adversarial stage on (MPD + MRD at their shipped sizes, a 2 s crop, D step then G step). Each
configuration runs in its own subprocess, so its peak resident memory (``ru_maxrss``) is its own.
A step is a whole training step of ``sesli.train.tasks.kokoro_finetune``: teacher-forced forward
(decoder fed the predicted F0/energy, the default), the fine-tuning losses, backward and AdamW.
Prints a table; writes bench/results/kokoro_finetune.json.

    python bench/kokoro_finetune.py [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "kokoro_finetune.json"
SECONDS = 3.0


def _one(mode: str, batch: int, steps: int, threads: int) -> dict:
    import torch

    from sesli.losses.gan import discriminator_loss, feature_matching_loss, generator_loss
    from sesli.models.kokoro import lora
    from sesli.models.kokoro.base import load_base
    from sesli.train.tasks.kokoro_finetune import (
        FinetuneBatch,
        FinetuneConfig,
        FinetuneModel,
        base_style,
        build_discriminator,
        loss_terms,
        random_segments,
    )

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    kokoro, voices, _ = load_base(None)  # the default base: official if cached, else packaged int8
    total = sum(p.numel() for p in kokoro.parameters())
    preset, adversarial = mode.removesuffix("+adversarial"), mode.endswith("+adversarial")
    lora.apply_lora(kokoro, r=8, alpha=16, targets=preset)
    model = FinetuneModel(kokoro, base_style(voices, kokoro.config.ref_dim)).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    cfg = FinetuneConfig()
    disc = build_discriminator(cfg).train() if adversarial else None
    d_opt = torch.optim.AdamW(disc.parameters(), lr=1e-4) if disc is not None else None
    frames = int(SECONDS * 40)  # 40 frames of 600 samples per second
    tokens = 40  # ~13 phonemes per second of speech, plus the two boundaries
    dur = torch.full((batch, tokens), frames // tokens)
    dur[:, -1] += frames - dur.sum(dim=1)
    ids = torch.randint(1, 170, (batch, tokens))
    ids[:, 0] = ids[:, -1] = 0
    t = torch.arange(2 * frames) / 80.0
    f0 = (120 + 20 * torch.sin(2 * torch.pi * 0.5 * t)).expand(batch, -1).clone()
    fb = FinetuneBatch(
        ids=ids,
        id_lengths=torch.full((batch,), tokens),
        durations=dur,
        f0=f0,
        energy=torch.rand(batch, 2 * frames),
        wavs=0.1 * torch.randn(batch, 600 * frames),
        frame_lengths=torch.full((batch,), frames),
        utt_ids=[f"u{i}" for i in range(batch)],
    )
    times = []
    for _ in range(steps + 1):  # the first step warms up allocators and kernels
        t0 = time.perf_counter()
        out = model(fb)
        terms = loss_terms(out, fb, cfg, kokoro.samples_per_frame)
        loss = terms["loss"]
        if disc is not None:
            fake, real = random_segments(
                out.audio.float(), fb.wavs, out.audio_lengths, int(cfg.adversarial_segment * 24000)
            )
            d_opt.zero_grad(set_to_none=True)
            discriminator_loss(disc(real).scores, disc(fake.detach()).scores).backward()
            d_opt.step()
            for q in disc.parameters():
                q.requires_grad_(False)
            d_fake, d_real = disc(fake), disc(real)
            loss = (
                loss
                + generator_loss(d_fake.scores)
                + 2 * feature_matching_loss(d_real.features, d_fake.features)
            )
            for q in disc.parameters():
                q.requires_grad_(True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    step_s = sorted(times[1:])[len(times[1:]) // 2]
    return {
        "mode": mode,
        "batch": batch,
        "clip_seconds": SECONDS,
        "seconds_per_step": round(step_s, 3),
        "audio_seconds_per_second": round(batch * SECONDS / step_s, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "trainable_parameters": sum(p.numel() for p in params),
        "total_parameters": total,
        "threads": threads,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", nargs=2, metavar=("MODE", "BATCH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(_one(args.child[0], int(args.child[1]), args.steps, args.threads)))
        return 0
    rows = []
    for mode in ("albert", "all", "albert+adversarial"):
        for batch in (1, 2):
            cmd = [sys.executable, __file__, "--child", mode, str(batch), "--steps", str(args.steps)]
            cmd += ["--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(
                f"{r['mode']:>18}  batch {r['batch']}  {r['seconds_per_step']:7.2f} s/step  "
                f"{r['audio_seconds_per_second']:5.2f} audio-s/s  peak {r['peak_rss_mib']:8.1f} MiB  "
                f"trainable {r['trainable_parameters']:,} of {r['total_parameters']:,}",
                flush=True,
            )
    result = {
        "benchmark": "kokoro_finetune",
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "note": "CPU, fp32, real Kokoro-82M v1.0 weights (packaged int8 imported); peak_rss_mib is the whole process (model + step); "
        "seconds_per_step is the median of the timed steps after one warm-up step.",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from sesli.fileio import write_json

    write_json(RESULTS, result)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
