"""``sesli eval``: score a TTS run on a held-out manifest (MCD-DTW, F0, voicing, durations).

    sesli eval --run RUN --manifest exp/val.jsonl --out reports/run1

RUN is anything ``sesli.inference.load`` accepts ("debug", a hub id, a bundle or run folder).
Writes ``report.json`` and ``report.png`` to ``--out`` and prints the summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli eval", description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, help="model to evaluate (what `sesli say --model` takes)")
    p.add_argument("--manifest", required=True, type=Path, help="held-out manifest (JSONL)")
    p.add_argument("--out", required=True, type=Path, help="report folder")
    p.add_argument("--targets", type=Path, default=None,
                   help="targets cache for duration error (default: <manifest folder>/targets if present)")  # fmt: skip
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N utterances")
    p.add_argument("--device", default=None, help="torch device (default CPU)")
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


def main(argv: list[str] | None = None) -> int:
    """Parse, load the model and the manifest, evaluate, write the report."""
    args = _parser().parse_args(argv)
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
    durations = _reference_durations(args.manifest, args.targets)
    try:
        report = evaluate(model, utts, args.manifest.parent, reference_durations=durations)
    except EvalError as err:
        print(f"sesli eval: {err}", file=sys.stderr)
        return 1
    json_path, png_path = write_report(report, args.out, title=f"{args.run} on {args.manifest.name}")
    for key, value in report.summary.items():
        print(f"{key:>24}: {'n/a' if value is None else f'{value:.4g}'}")
    for uid, why in report.skipped.items():
        print(f"skipped {uid}: {why}", file=sys.stderr)
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
