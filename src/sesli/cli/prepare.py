"""``sesli prepare SOURCE --out DIR``: any speech source to an experiment folder.

SOURCE is a path (LJSpeech folder, Melo list, Common Voice release, folder of audio, dataset saved
with save_to_disk, parquet, audiofolder) or a Hugging Face dataset id.
"""

from __future__ import annotations

import argparse
import sys

from sesli.data.sources.hf import DEFAULT_DATASET


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli prepare", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "source", nargs="?", default=DEFAULT_DATASET, help=f"path or dataset id (default {DEFAULT_DATASET})"
    )
    p.add_argument("--out", required=True, help="experiment folder to create or resume")
    p.add_argument(
        "--format", default="auto", choices=["auto", "hf", "ljspeech", "melo", "commonvoice", "folder"]
    )
    p.add_argument("--sample-rate", type=int, default=24000, help="output rate in Hz (default 24000)")
    p.add_argument("--val-split", type=float, default=0.1, help="fraction for val.jsonl (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    p.add_argument("--split-by", choices=["utterance", "speaker"], default="utterance",
                   help="hold out utterances, or whole speakers")  # fmt: skip
    p.add_argument(
        "--min-words",
        type=int,
        default=5,
        help="reject transcripts with fewer words, counted after normalising (0: off)",
    )
    p.add_argument("--min-duration", type=float, default=0.5, help="seconds, after trimming")
    p.add_argument("--max-duration", type=float, default=30.0, help="seconds, after trimming")
    p.add_argument("--workers", type=int, default=1, help="parallel processes")
    hf = p.add_argument_group("Hugging Face / Common Voice")
    hf.add_argument("--split", default=None, help="dataset split (HF default train; Common Voice: validated)")
    hf.add_argument("--text-column", default=None, help="default: sentence, text or transcription")
    hf.add_argument("--audio-column", default=None, help="default: audio")
    hf.add_argument("--speaker-column", default=None, help="default: client_id, speaker_id or speaker")
    hf.add_argument("--streaming", action="store_true", help="stream a hub dataset instead of downloading it")
    proc = p.add_argument_group("processing and filters")
    proc.add_argument("--normalize", choices=["peak", "loudness", "none"], default="peak")
    proc.add_argument("--peak-db", type=float, default=-1.0, help="peak level (and loudness ceiling), dBFS")
    proc.add_argument("--loudness-db", type=float, default=-23.0, help="target gated loudness, dB")
    proc.add_argument("--highpass", action="store_true", help="48 Hz high-pass, as RVC does")
    proc.add_argument("--no-trim", action="store_true", help="keep leading/trailing silence")
    proc.add_argument("--max-clipping", type=float, default=0.01, help="reject above this clipped fraction")
    proc.add_argument("--silence-db", type=float, default=-50.0, help="reject clips quieter than this, dBFS")
    proc.add_argument(
        "--keep-unknown", action="store_true", help="keep transcripts with characters G2P cannot read"
    )
    proc.add_argument(
        "--keep-duplicates", action="store_true", help="keep clips whose audio repeats an earlier one"
    )
    proc.add_argument("--no-text", action="store_true", help="ignore transcripts (voice conversion, sound)")
    proc.add_argument("--slice", action="store_true",
                      help="slice long recordings on silence into 3.7 s windows (voice conversion; implies --no-text)")  # fmt: skip
    run = p.add_argument_group("run")
    run.add_argument(
        "--overwrite", action="store_true", help="discard a previous run in --out instead of resuming"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, prepare, print the summary; 0 on success, 2 on bad input."""
    args = build_parser().parse_args(argv)
    from sesli.data.prepare import PrepareConfig, PrepareError, prepare
    from sesli.data.process import ProcessConfig
    from sesli.data.sources import DataSourceError, SourceOptions

    if not 0.0 <= args.val_split < 1.0:
        print(f"sesli prepare: --val-split must be in [0, 1), got {args.val_split}", file=sys.stderr)
        return 2
    if args.workers < 1 or args.sample_rate < 1000:
        print("sesli prepare: --workers must be >= 1 and --sample-rate >= 1000", file=sys.stderr)
        return 2
    cfg = PrepareConfig(
        format=args.format,
        source=SourceOptions(
            split=args.split,
            text_column=args.text_column,
            audio_column=args.audio_column,
            speaker_column=args.speaker_column,
            streaming=args.streaming,
            transcripts=False if (args.no_text or args.slice) else None,
        ),
        process=ProcessConfig(
            sample_rate=args.sample_rate,
            trim=not args.no_trim,
            normalize=args.normalize,
            peak_db=args.peak_db,
            loudness_db=args.loudness_db,
            highpass_hz=48.0 if args.highpass else None,
            min_words=args.min_words,
            min_duration=args.min_duration,
            max_duration=args.max_duration,
            max_clipping=args.max_clipping,
            silence_db=args.silence_db,
            reject_unknown=not args.keep_unknown,
            slice=args.slice,
            use_text=not (args.no_text or args.slice),
        ),
        val_split=args.val_split,
        seed=args.seed,
        split_by=args.split_by,
        workers=args.workers,
        dedup=not args.keep_duplicates,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    try:
        summary = prepare(args.source, args.out, cfg)
    except (DataSourceError, PrepareError) as err:
        print(f"sesli prepare: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sesli prepare: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    print(summary.text())
    print(f"wrote {args.out}/train.jsonl, val.jsonl, rejects.jsonl, stats.json, durations.png")
    return 0
