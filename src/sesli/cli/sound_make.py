"""``sesli sound sample|interpolate|continue|vary``: sounds from a trained model.

sesli sound sample RUN [--label L] [--seconds 4] [--n 1] [--temperature 1.0] [--seed 0] --out DIR
sesli sound interpolate RUN A.wav B.wav [--steps 5] --out DIR
sesli sound continue RUN IN.wav [--seconds 4] [--temperature 1.0] --out OUT.wav
sesli sound vary RUN IN.wav [--n 4] [--amount 0.5] --out DIR
   common: [--prior PATH | --no-prior] [--vocoder VOC|griffin-lim] [--gl-iters 32]

DIR receives ``NAME-k.wav`` files and ``sounds.json`` (each file's label, seed, how it was made
and the model, prior and vocoder). See :mod:`sesli.inference.sound` for what each verb does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="RUN", help="a `sesli sound train` run (or its model/ artifact)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--prior", default=None, metavar="PATH", help="a prior artifact (default: RUN/prior if any)"
    )
    g.add_argument("--no-prior", action="store_true", help="do not use RUN/prior")
    p.add_argument("--vocoder", default=None, metavar="VOC",
                   help="spectrogram models: a `sesli sound train --vocoder` run, or griffin-lim (default)")  # fmt: skip
    p.add_argument("--gl-iters", type=int, default=32, help="Griffin-Lim iterations (default 32)")
    p.add_argument("--label", default=None, help="the label to condition on (see `--label list`)")
    p.add_argument(
        "--pitch", type=int, default=None, help="MIDI pitch, for a pitch-conditioned model (NSynth)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (the same seed, the same sound)")


def _generator(args: argparse.Namespace) -> Any:
    """The run's generator; None after printing the labels for ``--label list``."""
    from sesli.inference.sound import SoundGenerator

    prior = False if args.no_prior else args.prior
    gen = SoundGenerator.load(
        args.model, prior=prior, vocoder=args.vocoder, gl_iters=args.gl_iters, pitch=args.pitch
    )
    if args.label == "list":
        print("\n".join(gen.labels) or "(the model has no labels)")
        return None
    return gen


def _write(clips: list[Any], out: str, name: str) -> list[Path]:
    """``out/NAME-k.wav`` for each clip, and ``out/sounds.json``."""
    from sesli.fileio import write_json

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths, rows = [], []
    for k, clip in enumerate(clips):
        path = clip.save(folder / f"{name}-{k}.wav")
        paths.append(path)
        rows.append({"file": path.name, "label": clip.label, "seed": clip.seed, "how": clip.how,
                     "seconds": round(clip.duration, 3), "sample_rate": clip.sample_rate, **clip.info})  # fmt: skip
    write_json(folder / "sounds.json", rows)
    for p in paths:
        print(p)
    return paths


def add_sample(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--seconds", type=float, default=4.0, help="length of each sound (default 4)")
    p.add_argument("--n", type=int, default=1, help="how many sounds")
    p.add_argument("--temperature", type=float, default=1.0, help="0: the prior's most likely frames")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (required unless --label list)")


def run_sample(args: argparse.Namespace) -> int:
    from sesli.inference.sound import SoundGenerationError

    if args.n < 1:
        raise SoundGenerationError(f"--n must be at least 1, got {args.n}")
    gen = _generator(args)
    if gen is None:
        return 0
    if args.out is None:
        raise SoundGenerationError("give --out DIR (the folder for the sounds)")
    clips = gen.sample(args.label, args.seconds, n=args.n, temperature=args.temperature, seed=args.seed)
    _write(clips, args.out, args.label or "sample")
    return 0


def add_interpolate(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("a", metavar="A", help="first clip (any audio file)")
    p.add_argument("b", metavar="B", help="second clip")
    p.add_argument("--steps", type=int, default=5, help="sounds from A to B, both included (default 5)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")


def run_interpolate(args: argparse.Namespace) -> int:
    if (gen := _generator(args)) is None:
        return 0
    _write(
        gen.interpolate(args.a, args.b, steps=args.steps, label=args.label, seed=args.seed),
        args.out,
        "interp",
    )
    return 0


def add_continue(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("input", metavar="IN", help="the clip to continue")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds to add (default 4)")
    p.add_argument("--temperature", type=float, default=1.0, help="0: the prior's most likely frames")
    p.add_argument("--out", required=True, metavar="OUT.wav", help="output file")


def run_continue(args: argparse.Namespace) -> int:
    if (gen := _generator(args)) is None:
        return 0
    clip = gen.continue_clip(
        args.input, args.seconds, label=args.label, temperature=args.temperature, seed=args.seed
    )
    print(clip.save(args.out))
    return 0


def add_vary(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("input", metavar="IN", help="the clip to vary")
    p.add_argument("--n", type=int, default=4, help="how many variations (default 4)")
    p.add_argument("--amount", type=float, default=0.5, help="0: the clip re-synthesised; 1: far from it")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")


def run_vary(args: argparse.Namespace) -> int:
    if (gen := _generator(args)) is None:
        return 0
    _write(
        gen.vary(args.input, n=args.n, amount=args.amount, label=args.label, seed=args.seed), args.out, "vary"
    )
    return 0
