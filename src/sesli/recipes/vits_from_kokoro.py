"""A Turkish VITS (Piper medium) voice distilled from Kokoro-82M, end to end.

1. ``sesli say --batch``: N Common Voice sentences (``data/cv_tr_sentences.txt``, CC0) spoken by the
   real Kokoro weights with one voice (default ``jm_kumo``, the most intelligible in
   ``bench/kokoro_intelligibility.py``) into ``OUT/kokoro/`` (resumes after a kill).
2. ``OUT/kokoro/metadata.csv`` (``id|text``) and ``sesli prepare --format ljspeech`` into ``OUT/prepared``.
3. ``sesli vits train --config tr-medium-from-kokoro`` into ``OUT/run`` (``--init`` a Piper voice to
   warm-start), then ``sesli eval --asr`` on the held-out sentences (Whisper CER).

    python -m sesli.recipes.vits_from_kokoro --out runs/kokoro-vits [--sentences 2000]
        [--init en_US-joe-medium.onnx] [--max-steps N] [key=value ...]

On a GPU the defaults train a usable voice (Piper trains medium voices for thousands of epochs);
on a CPU use ``--sentences 40 --max-steps 20 train.batch_size=2`` to see it run and learn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SENTENCES = Path(__file__).resolve().parents[3] / "data" / "cv_tr_sentences.txt"


def pick_sentences(n: int, source: Path = SENTENCES) -> list[str]:
    """``n`` sentences of 4-14 words without digits, spread evenly over the file (deterministic)."""
    lines = [s.strip() for s in source.read_text(encoding="utf-8").splitlines()]
    keep = [
        s for s in lines if 4 <= len(s.split()) <= 14 and not any(c.isdigit() for c in s) and "|" not in s
    ]
    step = max(len(keep) // max(n, 1), 1)
    return keep[::step][:n]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m sesli.recipes.vits_from_kokoro", description=__doc__.split("\n")[0]
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sentences", type=int, default=2000)
    p.add_argument(
        "--sentences-file", type=Path, default=SENTENCES, help="one sentence a line (default: data/)"
    )
    p.add_argument("--voice", default="jm_kumo", help="the Kokoro voice that speaks the corpus")
    p.add_argument(
        "--kokoro", default=None, help="Kokoro weights (default: official if cached, else packaged int8)"
    )
    p.add_argument(
        "--init", default=None, help="warm start: a Piper .onnx voice, a G_*.pth / .ckpt or a VITS run"
    )
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--no-eval", action="store_true", help="skip the Whisper CER at the end")
    p.add_argument("overrides", nargs="*", help="training overrides, e.g. train.batch_size=2")
    args = p.parse_args(argv)

    from sesli.cli import main as sesli

    out = args.out
    corpus = out / "kokoro"
    corpus.mkdir(parents=True, exist_ok=True)
    texts = pick_sentences(args.sentences, args.sentences_file)
    lines = corpus / "lines.tsv"
    lines.write_text("".join(f"kokoro_{k:05d}\t{t}\n" for k, t in enumerate(texts)), encoding="utf-8")
    say = ["say", "--batch", str(lines), "--out-dir", str(corpus / "wavs"), "--voice", args.voice, "--quiet"]
    if args.kokoro:
        say += ["--model", args.kokoro]
    if sesli(say) != 0:
        return 1
    (corpus / "metadata.csv").write_text(
        "".join(f"kokoro_{k:05d}|{t}\n" for k, t in enumerate(texts)), encoding="utf-8"
    )
    prepared = out / "prepared"
    if not (prepared / "train.jsonl").is_file():
        prep = [
            "prepare",
            str(corpus),
            "--format",
            "ljspeech",
            "--out",
            str(prepared),
            "--val-split",
            "0.05",
            "--min-words",
            "3",
        ]  # the sentences were picked with 4-14 words; keep them all
        if sesli(prep) != 0:
            return 1
    train = [
        "vits",
        "train",
        "--data",
        str(prepared),
        "--out",
        str(out / "run"),
        "--config",
        "tr-medium-from-kokoro",
    ]
    if args.init:
        train += ["--init", args.init]
    if args.max_steps is not None:
        train += ["--max-steps", str(args.max_steps)]
    if sesli([*train, *args.overrides]) != 0:
        return 1
    if not args.no_eval:
        ev = ["eval", "--model", str(out / "run"), "--manifest", str(prepared / "val.jsonl"),
              "--out", str(out / "eval"), "--asr", "base", "--no-spectral"]  # fmt: skip
        return sesli(ev)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
