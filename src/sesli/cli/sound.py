"""``sesli sound``: VAE, VQ-VAE and VAE-GAN sound models, from data to Unreal Engine loops.

sesli sound prepare SRC --out DATA [--format auto|folder|nsynth|maestro] [--sample-rate 16000] ...
sesli sound train DATA --out RUN [--config vae-tiny|vqvae-tiny|vaegan-tiny|FILE] [--steps N]
sesli sound train --prior RUN [--config prior-tiny|prior]          # the latent prior, RUN/prior
sesli sound train DATA --vocoder --out VOC [--config vocoder-tiny]  # HiFi-GAN for spectrogram models
sesli sound sample RUN --label rain --seconds 10 --n 4 --temperature 0.8 --out samples/
sesli sound interpolate RUN A.wav B.wav --steps 5 --out interp/
sesli sound continue RUN IN.wav --seconds 10 --out cont.wav
sesli sound vary RUN IN.wav --n 4 --amount 0.5 --out vary/
sesli sound loop IN.wav|RUN --seconds 30 --out ue/ [--label rain] [--lufs -23] [--mono] [--binaural 6]
sesli sound eval RUN --data DATA [--out report/]
sesli sound export RUN --out onnx/ [--vocoder VOC]

Each verb is a subcommand registered in :data:`COMMANDS` as ``(add_arguments, run, help)``, its
heavy imports inside ``run``. Bad input exits 2 with one line saying why; Ctrl-C exits 130 and a
training run resumes when the same command runs again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from sesli.cli import sound_data, sound_make, sound_train

COMMANDS: dict[
    str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]
] = {
    "prepare": (
        sound_data.add_prepare,
        sound_data.run_prepare,
        "sounds (folder, NSynth, MAESTRO) to a data folder",
    ),
    "train": (
        sound_train.add_arguments,
        sound_train.run,
        "train a sound model, its prior or a vocoder (resumable)",
    ),
    "sample": (
        sound_make.add_sample,
        sound_make.run_sample,
        "new sounds from a model (per label, temperature)",
    ),
    "interpolate": (
        sound_make.add_interpolate,
        sound_make.run_interpolate,
        "sounds between two clips in latent space",
    ),
    "continue": (sound_make.add_continue, sound_make.run_continue, "a clip's continuation (needs the prior)"),
    "vary": (sound_make.add_vary, sound_make.run_vary, "variations of a clip"),
    "loop": (
        sound_data.add_loop,
        sound_data.run_loop,
        "a click-free loop for Unreal Engine (48 kHz WAV + smpl + JSON)",
    ),
    "eval": (sound_data.add_eval, sound_data.run_eval, "reconstruction, latent, sample and loop figures"),
    "export": (sound_data.add_export, sound_data.run_export, "the decoders as ONNX for a game runtime"),
}


# optional packages a verb may need -> how to get them
_OPTIONAL = {"pyloudnorm": "sesli[sound]", "onnx": "sesli[export]", "onnxruntime": "sesli[export]"}


def _errors() -> tuple[type[BaseException], ...]:
    """The error classes that mean bad input (exit 2), imported only when a verb fails."""
    from sesli.artifacts import ArtifactError
    from sesli.audio.beats import BeatError
    from sesli.audio.io import AudioDecodeError
    from sesli.audio.loops import LoopError, LoudnessError
    from sesli.audio.wavchunks import WavChunkError
    from sesli.cli.sound_data import SoundCliError
    from sesli.data.prepare import PrepareError
    from sesli.data.sources import DataSourceError
    from sesli.eval.sound_metrics import MetricError
    from sesli.export.ue import UeExportError
    from sesli.inference.sound import SoundGenerationError
    from sesli.models.sound.config import SoundConfigError
    from sesli.models.sound.prior import PriorConfigError, PriorMismatchError
    from sesli.models.sound.vocoder import VocoderConfigError, VocoderMismatchError
    from sesli.train.checkpoint import CheckpointError
    from sesli.train.config import ConfigError
    from sesli.train.tasks.sound import SoundTrainError
    from sesli.train.tasks.sound_data import SoundDataError
    from sesli.train.tasks.sound_prior import PriorTrainError
    from sesli.train.tasks.sound_vocoder import VocoderTrainError

    return (
        ArtifactError, AudioDecodeError, LoopError, LoudnessError, PrepareError, DataSourceError,
        SoundGenerationError, SoundConfigError, PriorConfigError, PriorMismatchError, VocoderConfigError,
        VocoderMismatchError, CheckpointError, ConfigError, SoundTrainError, SoundDataError,
        PriorTrainError, VocoderTrainError, SoundCliError, FileNotFoundError, BeatError, WavChunkError,
        MetricError, UeExportError,
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli sound", description="sound generation: VAE, VQ-VAE, VAE-GAN")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for verb, (add, _, help_) in COMMANDS.items():
        add(sub.add_parser(verb, help=help_, description=help_))
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``sesli sound COMMAND``; 0 on success, 2 on bad input, 130 when interrupted."""
    args = build_parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command][1](args) or 0)
    except ModuleNotFoundError as err:
        if err.name not in _OPTIONAL:
            raise
        print(f"sesli sound {args.command}: {err.name} is not installed: pip install '{_OPTIONAL[err.name]}'",
              file=sys.stderr)  # fmt: skip
        return 2
    except KeyboardInterrupt:
        print(
            f"sesli sound {args.command}: interrupted; run the same command again to resume", file=sys.stderr
        )
        return 130
    except Exception as err:
        if not isinstance(err, _errors()):
            raise
        print(f"sesli sound {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
