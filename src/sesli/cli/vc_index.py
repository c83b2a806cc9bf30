"""``sesli vc index EXP``: RVC's faiss retrieval index over the experiment's content features."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sesli vc index``."""
    p.add_argument("exp", metavar="EXP", help="an experiment folder whose features are extracted")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Build (or keep) the index and print where it is; a missing faiss is a clear exit-2 message."""
    from sesli.cli.vc import _next_command
    from sesli.data.vc_experiment import Experiment, ExperimentError
    from sesli.train.vc_steps import build_index_vc

    exp = Experiment.open(args.exp)
    try:
        path = build_index_vc(exp, progress=not args.no_progress)
    except ImportError as err:
        if "faiss" not in str(err):
            raise
        raise ExperimentError(str(err)) from err
    r = exp.result("index") or {}
    print(f"index of {r.get('vectors', '?')} {r.get('dim', exp.feature_dim)}-d vectors: {path}")
    print(f"next: {_next_command(exp.path, exp.next_step())}")
    return 0
