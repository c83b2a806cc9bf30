"""``sesli eval``: score a TTS run on a held-out manifest (MCD-DTW, F0, voicing, durations, CER/WER).

    sesli eval --run RUN --manifest exp/val.jsonl --out reports/run1
    sesli eval --model RUN --manifest exp/val.jsonl --asr --out reports/run1      # + intelligibility
    sesli eval --model RUN --manifest exp/val.jsonl --asr --no-spectral --out r   # CER/WER only

RUN (``--run`` or ``--model``) is anything ``sesli.inference.load`` accepts ("debug", a hub id, a
bundle or run folder; default: the default base). ``--asr`` alone transcribes with Whisper
large-v3-turbo when the hub answers, else with the packaged Whisper base (offline); ``--asr base``
always uses the packaged base; ``--asr DIR`` takes a CTranslate2 Whisper folder, ``--asr ID`` a hub id or faster-whisper size name
(online). The recordings are transcribed too: their CER is the floor for the model's.
Writes ``report.json`` and ``report.png`` to ``--out`` and prints the summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli eval", description=__doc__.split("\n")[0])
    p.add_argument("--run", "--model", dest="run", default=None,
                   help="model to evaluate (what `sesli say --model` takes; default: the default base)")  # fmt: skip
    p.add_argument("--manifest", required=True, type=Path, help="held-out manifest (JSONL)")
    p.add_argument("--out", required=True, type=Path, help="report folder")
    p.add_argument("--targets", type=Path, default=None,
                   help="targets cache for duration error (default: <manifest folder>/targets if present)")  # fmt: skip
    p.add_argument("--asr", nargs="?", const="auto", default=None, metavar="base|DIR|ID",
                   help="add CER/WER with Whisper (alone: large-v3-turbo online, else the packaged base; "
                        "'base': always the packaged base)")  # fmt: skip
    p.add_argument("--no-spectral", action="store_true",
                   help="skip MCD/F0/teacher-forced metrics (quick CER runs; needs --asr)")  # fmt: skip
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N utterances")
    p.add_argument(
        "--device", default=None, help="torch device (default CPU; a cuda device also runs the ASR)"
    )
    p.add_argument("--local-files-only", action="store_true", help="never use the network")
    return p


def _reference_durations(manifest: Path, targets: Path | None) -> dict | None:
    from sesli.train.targets import TargetsError, default_out, open_targets

    root = targets if targets is not None else default_out(manifest)
    if targets is None and not root.is_dir():
        return None
    try:
        cache = open_targets(manifest.parent, root)
    except TargetsError as err:
        print(f"sesli eval: no duration error: {err}", file=sys.stderr)
        return None
    return {uid: cache[uid].durations for uid in cache.ids}


def _load_asr(args: argparse.Namespace):
    from sesli.eval.asr import ASRError, load_asr

    device = args.device if args.device and args.device.startswith("cuda") else "cpu"
    try:
        spec = None if args.asr == "auto" else args.asr
        return load_asr(spec, device=device, local_files_only=args.local_files_only)
    except ASRError as err:
        print(f"sesli eval: {err}", file=sys.stderr)
        return None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _print_summary(summary: dict, asr_name: str | None) -> None:
    for key, value in summary.items():
        print(f"{key:>24}: {_fmt(value)}")
    if asr_name is not None:
        get = summary.get
        print(f"intelligibility ({asr_name}, corpus rates): model CER {_fmt(get('cer'))} WER {_fmt(get('wer'))}"
              f"; recordings CER {_fmt(get('reference_cer'))} WER {_fmt(get('reference_wer'))}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Parse, load the model and the manifest, evaluate, write the report."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.no_spectral and args.asr is None:
        parser.error("--no-spectral leaves nothing to measure without --asr")
    from sesli.data.manifest import ManifestError, read_manifest
    from sesli.eval.evaluate import EvalError, evaluate
    from sesli.eval.report import write_report

    if not args.manifest.is_file():
        print(f"sesli eval: manifest {args.manifest} does not exist", file=sys.stderr)
        return 2
    try:
        utts = read_manifest(args.manifest)
    except ManifestError as err:
        print(f"sesli eval: {err}", file=sys.stderr)
        return 2
    utts = utts[: args.limit] if args.limit else utts
    try:
        from sesli.inference import ModelLoadError, load

        model = load(args.run, device=args.device, local_files_only=args.local_files_only)
    except (ModelLoadError, ImportError, OSError) as err:
        print(f"sesli eval: cannot load model {args.run!r}: {err}", file=sys.stderr)
        return 2
    asr = _load_asr(args) if args.asr is not None else None
    if args.asr is not None and asr is None:
        return 2
    durations = _reference_durations(args.manifest, args.targets)
    from tqdm import tqdm

    with tqdm(total=len(utts), desc="sesli eval", unit="utt", file=sys.stderr) as bar:
        try:
            report = evaluate(model, utts, args.manifest.parent, reference_durations=durations, asr=asr,
                              spectral=not args.no_spectral, progress=lambda *_: bar.update(1))  # fmt: skip
        except EvalError as err:
            print(f"sesli eval: {err}", file=sys.stderr)
            return 1
    asr_name = getattr(asr, "name", args.asr) if asr is not None else None
    title = f"{args.run or model.loaded.source} on {args.manifest.name}" + (
        f", ASR {asr_name}" if asr_name else ""
    )
    json_path, png_path = write_report(report, args.out, title=title)
    _print_summary(report.summary, asr_name)
    for uid, why in report.skipped.items():
        print(f"skipped {uid}: {why}", file=sys.stderr)
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
