"""Time to first audio of a VITS voice: whole-sentence streaming (Piper) vs sesli's windowed decode.

The real Piper voice en_US-joe-medium imported into sesli (torch eager, CPU), a long Turkish
paragraph of one sentence (no sentence break, so per-sentence streaming waits for all of it),
deterministic (noise scales 0). Reported: seconds to the first audio and to the last, for
``stream(chunk_frames=None)`` (one piece per sentence) and for windows of 32/64/128 latent frames,
interleaved over repeats, and the largest difference of the joined windows from the one-piece
audio (the seams). The machine's load average at the start and end is recorded (its 2 cores may be
shared with other jobs). Writes bench/results/vits_streaming.json.

    OMP_NUM_THREADS=2 .venv/bin/python bench/vits_streaming.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "vits_streaming.json"
TEXT = (
    "Dün akşam eve dönerken yağmur başladı, şemsiyemi ofiste unuttuğum için otobüs durağında "
    "yarım saat bekledim, sonunda eski bir arkadaşım arabasıyla geçerken beni gördü ve evime "
    "kadar bıraktı, yolda da çocukluğumuzun geçtiği mahalleyi, okulumuzu ve artık kapanmış olan "
    "o küçük kitapçıyı uzun uzun konuştuk"
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    load_start = [round(x, 2) for x in os.getloadavg()]
    import torch

    from sesli.fileio import write_json
    from sesli.inference import load
    from sesli.packaged import PIPER_JOE, resource

    torch.set_num_threads(args.threads)
    synth = load(resource(*PIPER_JOE.parts[0]), noise=False)
    full = np.concatenate(list(synth.stream(TEXT, chunk_frames=None)))
    modes = {"sentence": None, "window_32": 32, "window_64": 64, "window_128": 128}
    times: dict[str, dict[str, list[float]]] = {m: {"first": [], "total": []} for m in modes}
    seams = {}
    for _ in range(args.repeats):
        for name, frames in modes.items():  # interleaved
            t0 = time.perf_counter()
            pieces = []
            for piece in synth.stream(TEXT, chunk_frames=frames):
                if not pieces:
                    times[name]["first"].append(time.perf_counter() - t0)
                pieces.append(piece)
            times[name]["total"].append(time.perf_counter() - t0)
            seams[name] = float(np.abs(np.concatenate(pieces) - full).max())
    rows = {
        name: {
            "first_audio_s": round(statistics.median(t["first"]), 3),
            "total_s": round(statistics.median(t["total"]), 3),
            "max_abs_diff_vs_one_piece": seams[name],
        }
        for name, t in times.items()
    }
    result = {
        "what": "VITS time to first audio, one long sentence, Piper joe medium in sesli (torch eager, CPU)",
        "command": " ".join(["python", *sys.argv]),
        "audio_s": round(len(full) / synth.sample_rate, 2),
        "rows": rows,
        "repeats": args.repeats,
        "machine": {
            "platform": platform.platform(),
            "torch_threads": args.threads,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "loadavg_start": load_start,  # 1/5/15-minute load on 2 cores that other jobs may share
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
    }
    write_json(RESULTS, result)
    for name, r in rows.items():
        print(f"{name:11} first audio {r['first_audio_s']:.3f} s, all {r['total_s']:.3f} s, "
              f"seams {r['max_abs_diff_vs_one_piece']:.1e}")  # fmt: skip
    print(f"{result['audio_s']} s of audio; wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
