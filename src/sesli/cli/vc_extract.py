"""``sesli vc extract EXP``: pitch and content features of every prepared clip (resumable).

sesli vc extract EXP [--f0-method harvest|dio|rmvpe|fcpe|crepe] [--f0-model PATH]
                     [--content-model PATH|HUB_ID|tiny] [--device cpu] [--filter-radius 3]
"""

from __future__ import annotations

import argparse

F0_CHOICES = ("harvest", "dio", "rmvpe", "fcpe", "crepe")  # crepe: refused with advice (sesli.audio.pitch)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sesli vc extract``."""
    p.add_argument("exp", metavar="EXP", help="a prepared experiment folder")
    p.add_argument("--f0-method", choices=F0_CHOICES, default="harvest",
                   help="pitch extractor (harvest: robust, slow; dio: fast; rmvpe: best, needs --f0-model)")  # fmt: skip
    p.add_argument("--f0-model", metavar="PATH", default=None,
                   help="rmvpe.pt (RVC/Applio assets/rmvpe/rmvpe.pt), or a torchfcpe .pt")  # fmt: skip
    p.add_argument("--content-model", metavar="PATH|HUB_ID|tiny", default=None,
                   help="transformers ContentVec/HuBERT folder or hub id (default lengyue233/content-vec-best); "
                   "'tiny': a random tiny HuBERT for tests")  # fmt: skip
    p.add_argument("--device", default="cpu", help="torch device for the content model and rmvpe/fcpe")
    p.add_argument(
        "--filter-radius", type=int, default=3, help="median-filter harvest's pitch when >= 3 (RVC)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Extract, print what was done and the next command; model errors become clear exit-2 messages."""
    from sesli.audio.pitch import PitchError
    from sesli.cli.vc import _next_command
    from sesli.data.vc_experiment import Experiment, ExperimentError
    from sesli.models.vc.content import ContentInputError, ContentModelError
    from sesli.train.vc_steps import extract_vc

    exp = Experiment.open(args.exp)
    try:
        r = extract_vc(
            exp, f0_method=args.f0_method, f0_model=args.f0_model, content_model=args.content_model,
            device=args.device, filter_radius=args.filter_radius, progress=not args.no_progress,
        )  # fmt: skip
    except (PitchError, ContentModelError, ContentInputError) as err:
        raise ExperimentError(str(err)) from err
    pitch = f"pitch by {r['f0_method']} ({r['voiced_fraction']:.0%} voiced), " if r["f0_method"] else ""
    print(f"{r['clips']} clips: {pitch}{r['frames']} content frames from {r['content_model']} "
          f"in {exp.feature_dir}")  # fmt: skip
    print(f"next: {_next_command(exp.path, exp.next_step())}")
    return 0
