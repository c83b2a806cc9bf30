"""Front-end speed: sentences per second for normalise + G2P, beside espeak-ng (via phonemizer).

    .venv/bin/python bench/g2p_speed.py [--lines 10000] [--loop-lines 1000]

Input: the first ``--lines`` lines of data/cv_tr_sentences.txt. sesli is timed one sentence at a
time through ``G2P.phonemize`` (normalisation included; a fresh G2P, so its word cache starts
empty), plus the normaliser alone. espeak-ng (Turkish voice, stress and punctuation kept) is timed
through phonemizer's ``EspeakBackend('tr')`` both batched (one call for all lines, one job) and
one sentence per call over ``--loop-lines`` lines. phonemizer is GPL and only a benchmark
dependency (``pip install phonemizer``, ``apt-get install espeak-ng``); without it the espeak rows
are skipped with a message and sesli's figures are still reported. One CPU thread throughout.
Writes bench/results/g2p_speed.json.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from sesli.fileio import write_json
from sesli.text.g2p import G2P
from sesli.text.normalize import normalize

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _espeak(lines: list[str], loop_lines: int) -> dict:
    try:
        from phonemizer.backend import EspeakBackend
    except ImportError:
        print("phonemizer is not installed: `.venv/bin/pip install -c constraints.txt phonemizer` (GPL)")
        return {"error": "phonemizer not installed"}
    try:
        backend = EspeakBackend("tr", preserve_punctuation=True, with_stress=True)
    except RuntimeError as err:  # espeak-ng library missing
        print(f"espeak-ng is not usable ({err}): `apt-get install espeak-ng`")
        return {"error": str(err)}
    backend.phonemize(lines[:10])  # warm up
    batched = _timed(lambda: backend.phonemize(lines, njobs=1))
    sample = lines[:loop_lines]
    looped = _timed(lambda: [backend.phonemize([line]) for line in sample])
    return {
        "version": ".".join(map(str, backend.version())),
        "batched_sentences_per_s": len(lines) / batched,
        "loop_sentences_per_s": len(sample) / looped,
        "loop_lines": len(sample),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "data" / "cv_tr_sentences.txt")
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--loop-lines", type=int, default=1_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "g2p_speed.json")
    args = ap.parse_args(argv)
    lines = [ln for ln in args.corpus.read_text(encoding="utf-8").splitlines() if ln.strip()][: args.lines]
    n = len(lines)
    words = sum(len(ln.split()) for ln in lines)

    norm_s = _timed(lambda: [normalize(ln) for ln in lines])
    g2p = G2P()
    cold_s = _timed(lambda: [g2p.phonemize(ln) for ln in lines])
    warm_s = _timed(lambda: [g2p.phonemize(ln) for ln in lines])  # every word now cached
    espeak = _espeak(lines, args.loop_lines)

    rows = [
        ("sesli normalise only", n / norm_s),
        ("sesli normalise + G2P (cold cache)", n / cold_s),
        ("sesli normalise + G2P (warm cache)", n / warm_s),
    ]
    if "error" not in espeak:
        rows += [
            (f"espeak-ng {espeak['version']} batched", espeak["batched_sentences_per_s"]),
            (f"espeak-ng one call per sentence ({espeak['loop_lines']})", espeak["loop_sentences_per_s"]),
        ]
    print(
        f"{n} sentences, {words} words, {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(f"{'system':48} {'sentences/s':>12}")
    for name, rate in rows:
        print(f"{name:48} {rate:12.0f}")
    result = {
        "sentences": n,
        "words": words,
        "sesli": {
            "normalize_sentences_per_s": n / norm_s,
            "g2p_cold_sentences_per_s": n / cold_s,
            "g2p_warm_sentences_per_s": n / warm_s,
        },
        "espeak": espeak,
    }
    if "error" not in espeak:
        ratio = (n / cold_s) / espeak["batched_sentences_per_s"]
        result["ratio_sesli_cold_over_espeak_batched"] = ratio
        print(f"\nsesli (cold) / espeak-ng (batched): {ratio:.2f}x")
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
