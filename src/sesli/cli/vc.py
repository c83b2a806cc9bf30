"""``sesli vc``: RVC-style voice conversion on one experiment folder.

sesli vc prepare EXP INPUT... [--sample-rate 40000] [--no-f0] [--version v2] [--name N] [--no-slice] ...
sesli vc info EXP [--json]
sesli vc extract EXP [--f0-method harvest] [--content-model PATH|HUB_ID|tiny] ...
sesli vc index EXP
sesli vc train EXP [--config tiny|v2-40k|FILE] [--steps N] [--batch-size B] [--epochs E] [--no-index] ...
sesli vc convert --model EXP|FILE --input IN.wav|DIR --output OUT.wav|DIR [--pitch N] [--index-rate 0.75] ...
sesli vc export --model EXP|FILE --out FILE.onnx

Each verb is a subcommand registered in :data:`COMMANDS` as ``(add_arguments, run, help)``, its
heavy imports inside ``run``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from sesli.cli import vc_convert, vc_export, vc_extract, vc_index, vc_train

_RATES = (24000, 32000, 40000, 48000)


def _add_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument("exp", metavar="EXP", help="experiment folder to create or resume")
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="folder (read recursively), audio files, or a text file listing paths")  # fmt: skip
    p.add_argument("--sample-rate", type=int, choices=_RATES, default=None,
                   help="model rate in Hz (new experiment: 40000; RVC's configs are 32k/40k/48k)")  # fmt: skip
    p.add_argument("--f0", action=argparse.BooleanOptionalAction, default=None,
                   help="model uses pitch (default yes; --no-f0 is lighter but unfit for singing)")  # fmt: skip
    p.add_argument("--version", choices=["v2", "v1"], default=None, help="v2: 768-d features (default)")
    p.add_argument("--name", default=None, help="model name (default: the folder's name)")
    s = p.add_argument_group("slicing and levelling (RVC's defaults)")
    s.add_argument("--no-slice", action="store_true", help="do not split on silence; only cut pieces")
    s.add_argument("--threshold-db", type=float, default=-42.0, help="silence below this, dBFS")
    s.add_argument("--min-length", type=float, default=1.5, help="shortest slice, s")
    s.add_argument("--min-interval", type=float, default=0.4, help="shortest pause cut at, s")
    s.add_argument("--hop", type=float, default=0.015, help="slicer hop, s")
    s.add_argument("--max-silence", type=float, default=0.5, help="silence kept around a cut, s")
    s.add_argument("--piece", type=float, default=3.7, help="piece length, s (3.0 on small GPUs)")
    s.add_argument("--overlap", type=float, default=0.3, help="piece overlap, s")
    s.add_argument("--highpass", type=float, default=48.0, help="causal high-pass cutoff, Hz (0: off)")
    s.add_argument("--no-normalize", action="store_true", help="keep each piece's level")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_prepare(args: argparse.Namespace) -> int:
    from sesli.data.vc_experiment import FILE, Experiment, ExperimentError
    from sesli.data.vc_prepare import prepare_vc

    missing = [i for i in args.inputs if not Path(i).expanduser().exists()]
    if missing:  # before creating anything, so a typo leaves no experiment behind
        raise ExperimentError(f"input {missing[0]} does not exist")
    given = {"sample_rate": args.sample_rate, "f0": args.f0, "version": args.version}
    if (Path(args.exp) / FILE).is_file():
        old = Experiment.open(args.exp)  # unspecified settings keep the experiment's own
        given = {k: getattr(old, k) if v is None else v for k, v in given.items()}
    kwargs = {k: v for k, v in given.items() if v is not None}
    exp = Experiment.create(args.exp, name=args.name, **kwargs)
    result = prepare_vc(
        exp, args.inputs, slice=not args.no_slice, threshold_db=args.threshold_db,
        min_length_s=args.min_length, min_interval_s=args.min_interval, hop_s=args.hop,
        max_silence_s=args.max_silence, piece_s=args.piece, overlap_s=args.overlap,
        highpass_hz=args.highpass or None, normalize=not args.no_normalize, progress=not args.no_progress,
    )  # fmt: skip
    print(f"{result['pieces']} pieces ({result['seconds'] / 60:.1f} min) from {result['files']} of "
          f"{result['inputs']} file(s) at {exp.sample_rate} Hz and 16 kHz in {exp.path}")  # fmt: skip
    for s in result["skipped"]:
        print(f"  skipped {s['path']}: {s['reason']}")
    print(f"next: {_next_command(exp.path, exp.next_step())}")
    return 0


def _next_command(exp: object, step: str | None) -> str:
    if step is None:
        return f"sesli vc convert --model {exp} --input IN.wav --output OUT.wav"
    if step == "prepare":
        return f"sesli vc prepare {exp} INPUT..."
    return f"sesli vc {step} {exp}"


def _add_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("exp", metavar="EXP", help="experiment folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _run_info(args: argparse.Namespace) -> int:
    from sesli.data.vc_experiment import Experiment

    s = Experiment.open(args.exp).summary()
    if args.json:
        print(json.dumps(s, ensure_ascii=False, indent=2))
        return 0
    print(f"{s['name']}: {s['path']}  ({s['sample_rate']} Hz, {'f0' if s['f0'] else 'no f0'}, {s['version']}, "
          f"{s['feature_dim']}-d features)")  # fmt: skip
    for step, rec in s["steps"].items():
        state = "done" if rec["done"] else ("stale" if rec["finished"] else "not run")
        when = f" {rec['finished']}" if rec["finished"] else ""
        print(f"  {step:<8} {state}{when}")
    print(f"  clips    {s['clips']} ({s['seconds'] / 60:.1f} min)")
    print(f"  index    {s['index'] or 'none'}")
    print(f"next: {_next_command(s['path'], s['next'])}")
    return 0


# verb -> (add its arguments, run it, one-line help). Add later verbs here.
COMMANDS: dict[
    str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]
] = {
    "prepare": (_add_prepare, _run_prepare, "audio files to the experiment's training pieces"),
    "info": (_add_info, _run_info, "what each step did and the command to run next"),
    "extract": (vc_extract.add_arguments, vc_extract.run, "pitch and content features of every clip"),
    "index": (vc_index.add_arguments, vc_index.run, "the faiss retrieval index over the features"),
    "train": (vc_train.add_arguments, vc_train.run, "train the voice (checkpoints, samples, EXP/NAME.pth)"),
    "convert": (vc_convert.add_arguments, vc_convert.run, "speech in, the trained voice out"),
    "export": (vc_export.add_arguments, vc_export.run, "the converter as ONNX"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sesli vc", description="RVC-style voice conversion, one experiment folder"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for verb, (add, _, help_) in COMMANDS.items():
        add(sub.add_parser(verb, help=help_, description=help_))
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``sesli vc COMMAND``; 0 on success, 2 on bad input, 130 when interrupted."""
    args = build_parser().parse_args(argv)
    from sesli.data.vc_experiment import ExperimentError

    try:
        return int(COMMANDS[args.command][1](args) or 0)
    except ExperimentError as err:
        print(f"sesli vc {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sesli vc {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
