"""How fast `sesli prepare` turns raw audio into an experiment folder: hours of audio per minute.

Builds a synthetic LJSpeech-style corpus (default 200 clips x 5 s of speech-like audio at 44.1 kHz,
16-bit, with Turkish transcripts), prepares it to 24 kHz with 1 and 2 workers (each run in a fresh
output folder), prints a table and writes bench/results/prepare_speed.json.

    python bench/prepare_speed.py [--clips 200] [--seconds 5] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sesli.data.prepare import PrepareConfig, prepare
from sesli.fileio import write_json
from sesli.testing.audio import SENTENCES, speech_like, write_wav


def make_corpus(root: Path, clips: int, seconds: float, sr: int) -> Path:
    lines = []
    for i in range(clips):
        write_wav(root / "wavs" / f"b{i:05d}.wav", speech_like(seconds, sr, seed=i), sr)
        lines.append(f"b{i:05d}|{SENTENCES[i % len(SENTENCES)]}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=200)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--source-rate", type=int, default=44100)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "prepare_speed.json"))
    args = p.parse_args(argv)
    # Import the plotting stack once before timing, so the first run does not pay for it alone.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    rows = []
    with tempfile.TemporaryDirectory(prefix="sesli-bench-") as tmp:
        src = make_corpus(Path(tmp) / "corpus", args.clips, args.seconds, args.source_rate)
        for workers in args.workers:
            out = Path(tmp) / f"out{workers}"
            start = time.perf_counter()
            summary = prepare(src, out, PrepareConfig(workers=workers, progress=False))
            wall = time.perf_counter() - start
            kept = summary.kept["train"] + summary.kept["val"]
            input_hours = args.clips * args.seconds / 3600
            rows.append({
                "workers": workers, "clips": args.clips, "kept": kept, "wall_s": round(wall, 3),
                "input_hours": round(input_hours, 4), "kept_hours": round(summary.hours, 4),
                "hours_per_minute": round(input_hours / (wall / 60), 3), "clips_per_s": round(args.clips / wall, 2),
            })  # fmt: skip
            shutil.rmtree(out)
    print(f"{'workers':>7} {'clips':>6} {'kept':>5} {'wall s':>8} {'h/min':>7} {'clips/s':>8}")
    for r in rows:
        print(
            f"{r['workers']:>7} {r['clips']:>6} {r['kept']:>5} {r['wall_s']:>8.2f} {r['hours_per_minute']:>7.3f} {r['clips_per_s']:>8.1f}"
        )
    result = {
        "benchmark": "prepare_speed",
        "corpus": {
            "clips": args.clips,
            "seconds_each": args.seconds,
            "source_rate": args.source_rate,
            "target_rate": 24000,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "rows": rows,
    }
    write_json(args.out, result)
    print(f"wrote {args.out}")
    print(json.dumps({r["workers"]: r["hours_per_minute"] for r in rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
