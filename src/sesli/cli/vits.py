"""``sesli vits``: train a VITS (Piper-style) Turkish voice, and export it for the Piper runtime.

sesli vits train --data PREPARED_DIR --out RUN [--preset medium|tiny|x_low|high|tr-24k|tr-44k]
                 [--config YAML] [--init VOICE.onnx|G_*.pth|*.ckpt|RUN] [--epochs N]
                 [--batch-size N] [--max-steps N] [--lr X] [--restart] [--quiet] [key=value ...]
sesli vits export RUN_OR_VOICE --out DIR [--name NAME] [--quality medium] [--fp16]   (sesli.cli.vits_export)

The defaults are Piper medium's (``sesli/configs/vits/medium.yaml``); ``--config tiny`` is a
seconds-on-a-CPU smoke run. ``--init`` warm-starts from a Piper voice, a PyTorch checkpoint or
another sesli VITS run: tensors whose names and shapes match are copied, and what was and was not
copied is printed and recorded in RUN/vits.json. Every new best validation mel loss rewrites
RUN/vits.safetensors + RUN/vits.json (``sesli.train.tasks.vits_io.load_run`` reads them).

A run directory that holds checkpoints resumes; with other settings than it was trained with it
refuses and lists them. --restart moves the old run aside to RUN.old-<timestamp>.
``sesli vits export`` writes a Piper voice (``tr_TR-NAME-QUALITY.onnx`` + ``.onnx.json``).
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli vits", description="VITS (Piper-style) voices: training, export")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "export", help="a VITS run or Piper voice to a Piper .onnx voice (see `sesli vits export -h`)"
    )

    t = sub.add_parser("train", help="train a VITS voice on a `sesli prepare` folder")
    t.add_argument("--data", required=True, help="experiment folder from `sesli prepare`")
    t.add_argument("--out", required=True, help="run directory (vits.safetensors/json, checkpoints, plots)")
    t.add_argument("--preset", default=None, help="model preset (default: the config's, medium)")
    t.add_argument("--config", default=None, help="YAML path or shipped name: medium (default), tiny")
    t.add_argument(
        "--init", default=None, help="warm start: Piper .onnx voice, G_*.pth / .ckpt, or a VITS run"
    )
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--max-steps", type=int, default=None)
    t.add_argument("--lr", type=float, default=None, help="both optimizers (default 2e-4)")
    t.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU exists")
    t.add_argument(
        "--restart",
        action="store_true",
        help="start over: move an existing --out aside to OUT.old-<timestamp> (resuming refuses changed settings)",
    )
    t.add_argument("--quiet", action="store_true", help="no messages or progress bars")
    t.add_argument("overrides", nargs="*", help="dotted overrides, e.g. vits.model.segment_size=4096")
    return p


def _overrides(args: argparse.Namespace) -> list[str]:
    pairs = {
        "vits.data": args.data,
        "vits.preset": args.preset,
        "vits.init": args.init,
        "train.epochs": args.epochs,
        "train.batch_size": args.batch_size,
        "train.max_steps": args.max_steps,
        "train.lr": args.lr,
        "train.cpu": True if args.cpu else None,
    }
    return [f"{k}={v}" for k, v in pairs.items() if v is not None] + list(args.overrides)


def main(argv: list[str] | None = None) -> int:
    """Run ``sesli vits train|export``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        from sesli.cli.vits_export import main_export

        return main_export(argv[1:])
    args = _parser().parse_args(argv)
    from sesli.train.checkpoint import CheckpointError
    from sesli.train.config import ConfigError
    from sesli.train.tasks.vits import train
    from sesli.train.tasks.vits_data import VitsTrainError

    try:
        result = train(
            args.out, config=args.config, overrides=_overrides(args), restart=args.restart, quiet=args.quiet
        )
    except (ConfigError, VitsTrainError, CheckpointError) as err:
        print(f"sesli vits {args.command}: {err}", file=sys.stderr)
        return 2
    if result.stopped_by == "signal":
        print(f"stopped by a signal at step {result.step}; run the same command again to resume")
        return 130
    print(f"done ({result.stopped_by}, step {result.step}); voice in {args.out}/vits.safetensors + vits.json")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
