"""``sesli vc train EXP``: train the experiment's voice (RVC v2 on sesli's one engine), resumable.

sesli vc train EXP [key=value ...] [--config tiny|v2-40k|FILE] [--steps N] [--batch-size B]
                   [--epochs E] [--save-every N] [--pretrained-g f0G40k.pth] [--pretrained-d f0D40k.pth]
                   [--no-index] [--cpu] [--restart] [--quiet] [--set key=value ...]

A *step* is one batch (``--batch-size`` clips, one optimizer update of G and of D); an *epoch*
shows every training clip once, so it is ``clips / batch`` steps; the run lasts ``--epochs``
epochs unless ``--steps`` stops it sooner. At every save (``--save-every`` steps; by default every
5 epochs, RVC's) it validates on held-out clips, writes converted samples to EXP/train/samples/
and rewrites the voice: EXP/train (model.json + weights.safetensors) and EXP/NAME.pth (RVC's
format). Running the same command again resumes; other settings than the run's are refused.

Dotted overrides (``train.lr=2e-4``) go right after EXP, or anywhere as ``--set key=value``
(argparse takes positionals only before the first option).
"""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sesli vc train``."""
    p.add_argument("exp", metavar="EXP", help="an experiment folder whose features are extracted")
    p.add_argument("--config", default=None,
                   help="tiny (seconds on a CPU), v2-40k, or a YAML file (default: RVC v2 at the experiment's rate)")  # fmt: skip
    p.add_argument("--steps", type=int, default=None, help="stop after N steps (a step = one batch)")
    p.add_argument("--batch-size", type=int, default=None, help="clips per step (RVC: 4; GPU memory GB // 2)")
    p.add_argument("--epochs", type=int, default=None, help="passes over the training clips (RVC: 20)")
    p.add_argument("--save-every", type=int, default=None, metavar="N",
                   help="save, validate and write samples every N steps (default: every 5 epochs)")  # fmt: skip
    p.add_argument("--pretrained-g", default=None, metavar="PATH", help="RVC pretrained G, e.g. f0G40k.pth")
    p.add_argument("--pretrained-d", default=None, metavar="PATH", help="RVC pretrained D, e.g. f0D40k.pth")
    p.add_argument("--no-index", action="store_true", help="do not build the retrieval index afterwards")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU exists")
    p.add_argument("--restart", action="store_true",
                   help="start over: move EXP/train aside to train.old-<timestamp>")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no messages or progress bars")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides right after EXP, e.g. train.lr=2e-4 vc.val_clips=4")  # fmt: skip
    p.add_argument("--set", dest="more_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a dotted override, anywhere on the line (repeatable)")  # fmt: skip


def overrides(args: argparse.Namespace) -> list[str]:
    """The flags as dotted overrides (paths JSON-quoted: valid YAML whatever they contain)."""
    pairs = {
        "train.max_steps": args.steps,
        "train.batch_size": args.batch_size,
        "train.epochs": args.epochs,
        "train.save_every": args.save_every,
        "vc.pretrained_g": None if args.pretrained_g is None else json.dumps(str(args.pretrained_g)),
        "vc.pretrained_d": None if args.pretrained_d is None else json.dumps(str(args.pretrained_d)),
        "train.cpu": "true" if args.cpu else None,
    }
    given = [*args.overrides, *getattr(args, "more_overrides", [])]
    return [f"{k}={v}" for k, v in pairs.items() if v is not None] + given


def run(args: argparse.Namespace) -> int:
    """Train, then print where the voice is and the next command; bad settings exit 2 with the reason."""
    from sesli.cli.vc import _next_command
    from sesli.data.vc_experiment import Experiment, ExperimentError
    from sesli.train.checkpoint import CheckpointError
    from sesli.train.config import ConfigError
    from sesli.train.tasks.vc import train
    from sesli.train.tasks.vc_data import VcTrainError

    try:
        r = train(
            args.exp, config=args.config, overrides=overrides(args), restart=args.restart,
            build_index=not args.no_index, quiet=args.quiet,
        )  # fmt: skip
    except (ConfigError, VcTrainError, CheckpointError) as err:
        raise ExperimentError(str(err)) from err
    if r.fit.stopped_by == "signal":
        print(f"stopped at step {r.fit.step}; run the same command again to resume")
        return 130
    print(f"done ({r.fit.stopped_by}, step {r.fit.step}); voice: {r.voice} and {r.artifact}/model.json")
    print(f"next: {_next_command(args.exp, Experiment.open(args.exp).next_step())}")
    return 0
