"""``sesli vc convert``: speech in, the trained voice out (a file, or every audio file of a folder).

sesli vc convert --model EXP|VOICE.pth --input IN.wav|DIR --output OUT.wav|DIR [--pitch N]
                 [--f0-method harvest|dio|rmvpe|fcpe] [--f0-model rmvpe.pt] [--index FILE | --no-index]
                 [--index-rate 0.75] [--protect 0.33] [--filter-radius 3] [--rms-mix-rate 0.25]
                 [--speaker ID] [--content-model DIR|HUB_ID|tiny] [--device cpu] [--seed 0]

The defaults are RVC's. Warnings (a missing index, with the command that builds it) go to stderr;
the conversion still runs. Registered as the ``convert`` verb of :mod:`sesli.cli.vc`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

F0_METHODS = ("harvest", "dio", "rmvpe", "fcpe")  # sesli.audio.pitch.F0_METHODS (not imported: startup)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sesli vc convert``."""
    p.add_argument("--model", required=True, metavar="EXP|FILE", help="experiment folder or RVC .pth voice")
    p.add_argument(
        "--input", required=True, metavar="IN", help="audio file, or a folder (its files, not subfolders)"
    )
    p.add_argument(
        "--output", required=True, metavar="OUT", help="WAV file, or a folder (for a folder input)"
    )
    p.add_argument("--pitch", type=float, default=0.0, help="shift in semitones (+12: an octave up)")
    p.add_argument(
        "--f0-method", choices=F0_METHODS, default="harvest", help="pitch extractor (default harvest)"
    )
    p.add_argument("--f0-model", default=None, metavar="PATH", help="rmvpe.pt for --f0-method rmvpe")
    idx = p.add_mutually_exclusive_group()
    idx.add_argument("--index", default="auto", metavar="FILE",
                     help="retrieval index (default: the experiment's added_*.index)")  # fmt: skip
    idx.add_argument("--no-index", action="store_true", help="no retrieval (and no warning about it)")
    p.add_argument("--index-rate", type=float, default=0.75, help="share of retrieved features, 0..1")
    p.add_argument("--protect", type=float, default=0.33,
                   help="unvoiced frames keep 1 - protect of their own features (0.5: off)")  # fmt: skip
    p.add_argument("--filter-radius", type=int, default=3, help="harvest median filter on from 3")
    p.add_argument("--rms-mix-rate", type=float, default=0.25,
                   help="1 keeps the output's loudness, 0 follows the input's envelope")  # fmt: skip
    p.add_argument(
        "--speaker", type=int, default=None, help="speaker id (default: the one the voice was trained as)"
    )
    p.add_argument("--content-model", default=None, metavar="DIR|HUB_ID|tiny",
                   help="HuBERT/ContentVec (default: the experiment's, else lengyue233/content-vec-best)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator noise")


def _options(args: argparse.Namespace) -> dict:
    return {
        "pitch": args.pitch,
        "f0_method": args.f0_method,
        "index_rate": args.index_rate,
        "protect": args.protect,
        "filter_radius": args.filter_radius,
        "rms_mix_rate": args.rms_mix_rate,
        "speaker": args.speaker,
    }


def run(args: argparse.Namespace) -> int:
    """Convert; 0 on success, 2 on bad input (the reason on stderr)."""
    from sesli.inference.vc import ConvertError, load_converter

    src, dst = Path(args.input), Path(args.output)
    try:
        if not src.exists():
            raise ConvertError(f"input not found: {src}")
        conv = load_converter(args.model, index=None if args.no_index else args.index,
                              content_model=args.content_model, f0_model=args.f0_model,
                              device=args.device, seed=args.seed)  # fmt: skip
        for note in conv.notes:
            print(note, file=sys.stderr)
        opts = _options(args)
        if src.is_dir():
            folder = conv.convert_folder(src, dst, **opts)
            for w in folder.warnings:
                print(f"warning: {w}", file=sys.stderr)
            for path, reason in folder.skipped:
                print(f"  skipped {path}: {reason}")
            print(f"converted {len(folder.converted)} file(s) into {dst}, skipped {len(folder.skipped)}")
            return 0 if folder.converted or not folder.skipped else 2
        if dst.is_dir():
            dst = dst / f"{src.stem}.wav"
        result = conv.convert_file(src, dst, **opts)
    except ConvertError as err:
        print(f"sesli vc convert: {err}", file=sys.stderr)
        return 2
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    t = result.timings
    rtf = t["total"] / max(result.duration, 1e-9)
    parts = ", ".join(f"{k} {t[k]:.2f}" for k in ("features", "f0", "index", "generate"))
    print(f"wrote {dst} ({result.duration:.2f} s at {result.sample_rate} Hz, {len(result.segments)} piece(s); "
          f"RTF {rtf:.2f}: {parts} s)")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """``sesli vc convert`` on its own (the verb is normally reached through ``sesli vc``)."""
    p = argparse.ArgumentParser(prog="sesli vc convert", description="convert speech to a trained voice")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
