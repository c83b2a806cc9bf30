"""``sesli sound prepare|loop|eval|export``: data in, loops and figures and ONNX out.

sesli sound prepare SRC --out DATA [--format auto|folder|nsynth|maestro] [--sample-rate 16000]
      [--families keyboard,mallet] [--instrument-sources acoustic] [--pitch-range 48-72] [--qualities bright]
      [--split train] [--crop-seconds 4] [--crops-per-file 4] [--seed 0] [--val-split 0.1] [--workers N]
sesli sound loop IN.wav|RUN --out DIR [--name N] [--seconds 30] [--crossfade 0.5] [--lufs -23]
      [--true-peak -1] [--mono] [--tone-hz F] [--binaural BEAT_HZ] [--isochronic BEAT_HZ] [--carrier-hz 200]
      [--label L] [--seed 0] [--source-seconds 8]   (RUN: a sound is sampled first)
sesli sound eval RUN --data DATA [--out DIR] [--clips 16] [--samples 8] [--seconds 2]
sesli sound export RUN --out DIR [--vocoder VOC] [--opset 17]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path


class SoundCliError(ValueError):
    """A command line that cannot be carried out (the message says what to change)."""


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(x.strip() for x in text.split(",") if x.strip()) if text else None


def _pitch_range(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[-:]\s*(\d+)\s*", text)
    if not m or int(m[1]) > int(m[2]):
        raise SoundCliError(f"--pitch-range wants LO-HI MIDI pitches such as 48-72, got {text!r}")
    return int(m[1]), int(m[2])


def add_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source", metavar="SRC", help="a folder of sounds (sub-folders = labels), NSynth or MAESTRO"
    )
    p.add_argument("--out", required=True, metavar="DATA", help="the data folder to create or resume")
    p.add_argument("--format", default="auto", help="auto (default), folder, nsynth, maestro")
    p.add_argument("--sample-rate", type=int, default=16000, help="Hz (default 16000, NSynth's)")
    n = p.add_argument_group("NSynth filters")
    n.add_argument(
        "--families", default=None, help="instrument families, comma-separated (e.g. keyboard,mallet)"
    )
    n.add_argument(
        "--instrument-sources", default=None, help="acoustic, electronic, synthetic (comma-separated)"
    )
    n.add_argument("--pitch-range", default=None, metavar="LO-HI", help="MIDI pitches, e.g. 48-72")
    n.add_argument(
        "--qualities", default=None, help="notes having all of these qualities (e.g. bright,reverb)"
    )
    m = p.add_argument_group("MAESTRO")
    m.add_argument("--split", default=None, help="train, validation or test (default: all)")
    m.add_argument("--crop-seconds", type=float, default=None, help="random crop length (default 4)")
    m.add_argument("--crops-per-file", type=int, default=4, help="random crops per recording (default 4)")
    m.add_argument("--seed", type=int, default=0, help="seed of crop positions and of the validation split")
    p.add_argument("--piece-seconds", type=float, default=10.0,
                   help="recordings over 60 s are cut into pieces this long (default 10; 0: reject them)")  # fmt: skip
    p.add_argument("--val-split", type=float, default=0.1,
                   help="fraction held out for validation (default 0.1)")  # fmt: skip
    p.add_argument("--split-by", choices=["utterance", "speaker"], default="utterance",
                   help="speaker: hold out whole instruments (NSynth), composers (MAESTRO), sub-folders")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--overwrite", action="store_true", help="discard an existing run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_prepare(args: argparse.Namespace) -> int:
    from sesli.data.sound_prepare import SOUND_PROCESS, prepare_sound
    from sesli.data.sources import SourceOptions

    if not Path(args.source).exists():
        raise SoundCliError(f"{args.source} does not exist")
    options = SourceOptions(
        split=args.split, families=_names(args.families), instrument_sources=_names(args.instrument_sources),
        pitch_range=_pitch_range(args.pitch_range), qualities=_names(args.qualities),
        crop_seconds=args.crop_seconds, crops_per_file=args.crops_per_file, seed=args.seed,
    )  # fmt: skip
    if args.piece_seconds < 0 or 0 < args.piece_seconds < 0.1:
        raise SoundCliError(f"--piece-seconds must be 0 (off) or at least 0.1, got {args.piece_seconds}")
    process = dataclasses.replace(
        SOUND_PROCESS, sample_rate=args.sample_rate, piece_seconds=args.piece_seconds or None
    )
    s = prepare_sound(
        args.source, args.out, fmt=args.format, process=process, options=options,
        val_split=args.val_split, seed=args.seed, split_by=args.split_by, workers=args.workers, overwrite=args.overwrite,
        progress=not args.no_progress,
    )  # fmt: skip
    kept, secs = s.kept, sum(s.seconds.values())
    print(
        f"{kept['train']} training + {kept['val']} validation clips ({secs / 60:.1f} min) at {s.sample_rate} Hz in {args.out}"
    )
    from sesli.data.manifest import read_split
    from sesli.train.tasks.sound_data import label_list

    labels = ", ".join(label_list([*read_split(args.out, "train"), *read_split(args.out, "val")])) or "none"
    print(f"labels: {labels}")
    for reason, count in sorted(s.rejected.items()):
        print(f"  rejected {count}: {reason}   (details in {args.out}/rejects.jsonl)")
    print(f"next: sesli sound train {args.out} --out runs/sound --config vae-tiny")
    return 0


def add_loop(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="IN|RUN", help="an audio file, or a sound model run to sample from")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for NAME.wav + NAME.json")
    p.add_argument("--name", default=None, help="asset name (default: the input's stem or the label)")
    p.add_argument("--seconds", type=float, default=30.0, help="loop length, any (default 30)")
    p.add_argument("--crossfade", type=float, default=0.5, help="equal-power crossfade, s (default 0.5)")
    p.add_argument("--lufs", type=float, default=-23.0, help="integrated loudness target (default -23)")
    p.add_argument("--true-peak", type=float, default=-1.0, help="true-peak ceiling, dBTP (default -1)")
    p.add_argument("--mono", action="store_true", help="one channel (default: stereo)")
    p.add_argument("--tone-hz", type=float, default=None, help="a steady tone's fundamental: whole cycles")
    b = p.add_argument_group("procedural layers (2-D, non-spatialised stereo)")
    b.add_argument("--binaural", type=float, default=None, metavar="BEAT_HZ", help="binaural beat (stereo)")
    b.add_argument("--isochronic", type=float, default=None, metavar="BEAT_HZ", help="isochronic pulses")
    b.add_argument("--carrier-hz", type=float, default=200.0, help="the layers' tone (default 200)")
    b.add_argument("--layer-db", type=float, default=-12.0, help="layer level relative to the sound")
    s = p.add_argument_group("from a model (IN is a run)")
    s.add_argument("--label", default=None, help="label to sample")
    s.add_argument("--seed", type=int, default=0, help="sample seed")
    s.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    s.add_argument("--source-seconds", type=float, default=8.0, help="seconds sampled before looping")
    s.add_argument("--vocoder", default=None, help="spectrogram models: VOC or griffin-lim")


def run_loop(args: argparse.Namespace) -> int:
    from sesli.export.ue import BeatSpec, export_ue_loop

    src = Path(args.input)
    if not src.exists():
        raise SoundCliError(f"{args.input} does not exist")
    if src.is_dir():
        from sesli.inference.sound import SoundGenerator

        gen = SoundGenerator.load(src, vocoder=args.vocoder)
        clip = gen.sample(args.label, args.source_seconds, temperature=args.temperature, seed=args.seed)[0]
        audio, sr, label, seed, model = clip.audio, clip.sample_rate, clip.label, clip.seed, str(src)
        name = args.name or (args.label or "sound")
    else:
        from sesli.audio.io import load_audio

        audio, sr = load_audio(src, mono=False)
        label, seed, model, name = args.label, None, None, args.name or src.stem
    beats = []
    if args.binaural is not None:
        beats.append(BeatSpec("binaural", args.binaural, args.carrier_hz, args.layer_db))
    if args.isochronic is not None:
        beats.append(BeatSpec("isochronic", args.isochronic, args.carrier_hz, args.layer_db))
    out = export_ue_loop(
        audio, sr, args.out, re.sub(r"[^A-Za-z0-9_-]", "_", name), label=label, seed=seed, model=model,
        seconds=args.seconds, channels=1 if args.mono else 2, lufs=args.lufs, true_peak_db=args.true_peak,
        crossfade=args.crossfade, tone_hz=args.tone_hz, beats=beats,
    )  # fmt: skip
    print(out.wav)
    print(out.manifest)
    return 0


def add_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="RUN", help="a `sesli sound train` run")
    p.add_argument("--data", required=True, metavar="DATA", help="the prepared data (its val.jsonl is used)")
    p.add_argument("--out", default=None, metavar="DIR", help="report folder (default RUN/eval)")
    p.add_argument("--clips", type=int, default=16, help="held-out clips reconstructed (default 16)")
    p.add_argument(
        "--samples", type=int, default=8, help="sounds sampled for diversity and Fréchet (default 8)"
    )
    p.add_argument("--seconds", type=float, default=2.0, help="length of each clip and sample (default 2)")
    p.add_argument("--vocoder", default=None, help="spectrogram models: VOC or griffin-lim (default)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")


def run_eval(args: argparse.Namespace) -> int:
    from sesli.eval.sound import evaluate_sound

    out = Path(args.out) if args.out else Path(args.model) / "eval"
    report = evaluate_sound(args.model, args.data, out, clips=args.clips, samples=args.samples,
                            seconds=args.seconds, vocoder=args.vocoder, seed=args.seed)  # fmt: skip
    for key, value in report["summary"].items():
        print(f"{key:<28} {value}")
    print(f"report: {out / 'report.json'}")
    return 0


def add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="RUN", help="a `sesli sound train` run (or its model/ artifact)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the .onnx files + sound.json")
    p.add_argument(
        "--vocoder", default=None, metavar="VOC", help="spectrogram models: also export this vocoder"
    )
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")


def run_export(args: argparse.Namespace) -> int:
    from sesli.export.sound import export_sound

    result = export_sound(args.model, args.out, vocoder=args.vocoder, opset=args.opset)
    for path in sorted(Path(args.out).iterdir()):
        print(path)
    del result
    return 0
