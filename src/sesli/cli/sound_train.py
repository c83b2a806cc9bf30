"""``sesli sound train``: a sound model, the latent prior of one, or a neural vocoder.

sesli sound train DATA --out RUN [--config vae-tiny|vae|vae-wave-tiny|vqvae-tiny|vqvae|vaegan-tiny|vaegan|FILE]
sesli sound train --prior RUN [--config prior-tiny|prior|FILE]
sesli sound train DATA --vocoder --out VOC [--config vocoder-tiny|vocoder|FILE]
   ... [--steps N] [--batch-size B] [--cpu] [--restart] [--quiet] [key=value ...] [--set key=value]

Every run resumes when the same command runs again (other settings than the run's are refused;
``--restart`` moves the old run aside). The run directory holds ``config.yaml``, ``metrics.csv``,
``loss.png``, ``tensorboard/``, ``checkpoints/`` and the artifact: ``RUN/model`` (the sound model),
``RUN/prior`` (its prior) or ``VOC/model`` (the vocoder). ``--config`` defaults to the tiny preset
of each kind (``vae-tiny``, ``prior-tiny``, ``vocoder-tiny``), which trains in minutes on a CPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sesli sound train``."""
    p.add_argument("data", metavar="DATA", nargs="?", help="a `sesli sound prepare` folder")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides right after DATA, e.g. train.lr=1e-3 sound.segment=16384")  # fmt: skip
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--prior", metavar="RUN", default=None,
                      help="train the latent prior of the sound model in RUN (into RUN/prior)")  # fmt: skip
    kind.add_argument(
        "--vocoder", action="store_true", help="train a HiFi-GAN vocoder on DATA (spectrogram models)"
    )
    p.add_argument("--out", metavar="RUN", default=None, help="run directory (sound model or vocoder)")
    p.add_argument("--config", default=None,
                   help="shipped preset or YAML file (default: vae-tiny, prior-tiny or vocoder-tiny)")  # fmt: skip
    p.add_argument("--sound-model", metavar="RUN", default=None,
                   help="--vocoder: the spectrogram model whose STFT settings to take")  # fmt: skip
    p.add_argument("--steps", type=int, default=None, help="stop after N optimizer steps")
    p.add_argument("--batch-size", type=int, default=None, help="clips per step")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU exists")
    p.add_argument("--restart", action="store_true", help="move the old run aside and start over")
    p.add_argument("--quiet", action="store_true", help="no messages or progress bars")
    p.add_argument("--set", dest="more_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a dotted override, anywhere on the line (repeatable)")  # fmt: skip


def overrides(args: argparse.Namespace) -> list[str]:
    """The flags as dotted overrides, then the user's own."""
    pairs = {
        "train.max_steps": args.steps,
        "train.batch_size": args.batch_size,
        "train.cpu": "true" if args.cpu else None,
    }
    return [f"{k}={v}" for k, v in pairs.items() if v is not None] + [*args.overrides, *args.more_overrides]


def run(args: argparse.Namespace) -> int:
    """Train; print where the artifact is and what to run next."""
    from sesli.cli.sound_data import SoundCliError

    given = overrides(args)
    if args.prior is not None:
        from sesli.train.tasks.sound_prior import train_prior

        if args.data is not None:  # `train --prior RUN key=value`: the positional is an override
            given = [args.data, *given] if "=" in args.data else given
        r = train_prior(args.prior, config=args.config or "prior-tiny", overrides=given,
                        restart=args.restart, quiet=args.quiet)  # fmt: skip
        what, nxt = "prior", f"sesli sound sample {args.prior} --seconds 4 --out samples/"
    else:
        if args.data is None or args.out is None:
            raise SoundCliError("give DATA and --out RUN (or --prior RUN to train a prior)")
        if not Path(args.data).is_dir():
            raise SoundCliError(f"{args.data} is not a folder; make one with `sesli sound prepare`")
        if args.vocoder:
            from sesli.train.tasks.sound_vocoder import train_vocoder

            if args.sound_model:
                given = [f"vocoder.sound_model={json.dumps(str(args.sound_model))}", *given]
            r = train_vocoder(args.data, args.out, config=args.config or "vocoder-tiny", overrides=given,
                              restart=args.restart, quiet=args.quiet)  # fmt: skip
            what, nxt = "vocoder", f"sesli sound sample RUN --vocoder {args.out} --out samples/"
        else:
            from sesli.train.tasks.sound import train

            r = train(args.data, args.out, config=args.config or "vae-tiny", overrides=given,
                      restart=args.restart, quiet=args.quiet)  # fmt: skip
            what, nxt = (
                "model",
                f"sesli sound train --prior {args.out}   (then: sesli sound sample {args.out})",
            )
    if r.fit.stopped_by == "signal":
        print(f"stopped at step {r.fit.step}; run the same command again to resume")
        return 130
    print(f"done ({r.fit.stopped_by}, step {r.fit.step}); {what}: {r.artifact}")
    print(f"next: {nxt}")
    return 0
