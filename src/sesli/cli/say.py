"""``sesli say``: Turkish text to a WAV file, with any model family (Kokoro, VITS/Piper).

sesli say "Merhaba, size nasıl yardımcı olabilirim?" -o merhaba.wav
echo "Merhaba." | sesli say - -o merhaba.wav --model debug
sesli say --file metin.txt -o kitap.wav --voice af_heart --speed 1.1 --plot
sesli say --model runs/vits "Merhaba!" --noise-scale 0.5 --noise-w 0.6 --speaker 0   # a VITS voice
sesli say --batch lines.tsv --out-dir wavs/      # one 'id<TAB>text' a line; resumes after a kill

The family is read from the model (``sesli.inference.registry``): a VITS run or a Piper .onnx with
its .onnx.json is VITS, anything else Kokoro.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

EPILOG = """\
--batch FILE.tsv --out-dir DIR says one 'id<TAB>text' line at a time (UTF-8; blank lines and
lines starting with # are skipped) into DIR/<id>.wav, and appends {"id", "text", "phonemes",
"seconds"} to DIR/manifest.jsonl as each file is done. Run it again on the same DIR to resume:
ids already in the manifest with their WAV (and unchanged text) are skipped. Lines that cannot be
said are reported as FILE:LINE and listed in DIR/errors.jsonl; the rest goes on.

exit status:
  0  everything was said
  1  a single text: it could not be said, or the model could not be loaded;
     --batch: some lines failed
  2  unusable input: bad arguments; --batch: an unreadable FILE, a DIR that cannot be made,
     a model that cannot be loaded, a bad --voice or --speed
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sesli say",
        description="Synthesise Turkish speech to a WAV file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("text", nargs="?", help="text to say; '-' or nothing reads stdin")
    p.add_argument("--file", "-f", type=Path, help="read the text from this UTF-8 file")
    p.add_argument("-o", "--output", type=Path, help="output WAV (default sesli.wav)")
    p.add_argument("--batch", type=Path, metavar="FILE.tsv", help="say every 'id<TAB>text' line of FILE")
    p.add_argument("--out-dir", type=Path, metavar="DIR", help="where --batch writes its WAVs")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar with --batch")
    p.add_argument(
        "--model",
        help="a VITS run or Piper .onnx voice; or (Kokoro) 'debug', a hub id, a sesli bundle, a folder, a .pth "
        "or kokoro-onnx .onnx file, or a fine-tuned run directory (default: the official Kokoro-82M when "
        "cached, else the packaged int8 weights)",
    )
    p.add_argument("--voice", help="voice name in the model's voices/ folder, or a .pt voice pack")
    p.add_argument("--voices", type=Path, metavar="FILE",
                   help="extra voices: kokoro-onnx .npz, sherpa-onnx raw .bin or a .pt pack")  # fmt: skip
    p.add_argument(
        "--speed", type=float, default=1.0, help="speaking rate (default 1.0; VITS: 1/length_scale)"
    )
    v = p.add_argument_group("VITS voices (defaults from the voice, Piper's 0.667 / 0.8)")
    v.add_argument("--noise-scale", type=float, default=None, help="prior noise (expressiveness)")
    v.add_argument("--noise-w", type=float, default=None, help="duration noise (rhythm variation)")
    v.add_argument("--sdp-ratio", type=float, default=None, help="stochastic vs deterministic durations, 0-1")
    v.add_argument("--speaker", default=None, help="speaker name or id of a multi-speaker voice")
    v.add_argument("--sentence-silence", type=float, default=None, help="seconds of silence after a sentence")
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                   help="Kokoro: onnx runs a `sesli kokoro export` with onnxruntime (exports once if needed)")  # fmt: skip
    p.add_argument("--onnx-dtype", choices=["int8", "fp32", "fp16"], default="int8",
                   help="weights of the ONNX export (default int8: 1.12x fp32's speed, CER within a point)")  # fmt: skip
    p.add_argument("--offline", action="store_true", help="never use the network")
    p.add_argument("--plot", action="store_true", help="also write a spectrogram PNG next to the WAV")
    return p


def _read_text(args: argparse.Namespace) -> str:
    if args.file is not None:
        try:
            return args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise SystemExit(f"sesli say: cannot read {args.file}: {err}") from err
    if args.text is None or args.text == "-":
        return sys.stdin.read()
    return args.text


def _plot(audio, sample_rate: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from sesli.audio.features import MelConfig, mel_spectrogram
    from sesli.fileio import atomic_path

    mel = mel_spectrogram(torch.from_numpy(audio), MelConfig(sample_rate=sample_rate))[0].numpy()
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma")
    ax.set(xlabel="frame", ylabel="mel bin", title=path.stem)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _load(args: argparse.Namespace):
    """The synthesizer, saying on stderr which weights it uses and how they were read."""
    from sesli.inference import load

    model, notes = args.model, []
    if args.backend == "onnx":
        from sesli.export.kokoro import onnx_source

        model, notes = onnx_source(
            model, dtype=args.onnx_dtype, local_files_only=args.offline, voices=args.voices
        )
    synth = load(model, local_files_only=args.offline, voices=args.voices, backend=args.backend)
    for note in [*notes, *synth.notes]:
        print(f"sesli say: {note}", file=sys.stderr)
    return synth


def _options(args: argparse.Namespace) -> dict:
    """The family options given on the command line (the synthesizer rejects those it lacks)."""
    names = ("noise_scale", "noise_w", "sdp_ratio", "speaker", "sentence_silence")
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def _batch(args: argparse.Namespace) -> int:
    """``--batch``: every line of the file to a WAV in ``--out-dir`` (:mod:`sesli.inference.batch`)."""
    try:
        lines = args.batch.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        print(f"sesli say: cannot read {args.batch}: {err}", file=sys.stderr)
        return 2
    try:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"sesli say: cannot make {args.out_dir}: {err}", file=sys.stderr)
        return 2

    from sesli.inference import ModelLoadError, SynthesisError
    from sesli.inference.batch import run_batch

    try:
        synth = _load(args)
        result = run_batch(
            synth,
            lines,
            args.out_dir,
            voice=args.voice,
            speed=args.speed,
            source=str(args.batch),
            progress=not args.quiet,
            log=sys.stderr,
            options=_options(args),
        )
    except (ModelLoadError, SynthesisError) as err:
        print(f"sesli say: {err}", file=sys.stderr)
        return 2
    print(
        f"{args.out_dir}: said {len(result.said)}, skipped {len(result.skipped)} (done before), "
        f"failed {len(result.failed)}; {result.seconds:.2f} s of audio"
    )
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, synthesise, write the WAV (16-bit PCM, atomic). Returns an exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.batch is not None:
        if args.text is not None or args.file is not None or args.output is not None or args.plot:
            parser.error("--batch takes no text, --file, --output or --plot")
        if args.out_dir is None:
            parser.error("--batch needs --out-dir")
        return _batch(args)
    if args.out_dir is not None or args.quiet:
        parser.error("--out-dir and --quiet go with --batch")
    if args.output is None:
        args.output = Path("sesli.wav")
    text = _read_text(args)

    import soundfile as sf

    from sesli.fileio import atomic_path
    from sesli.inference import ModelLoadError, SynthesisError

    try:
        synth = _load(args)
    except ModelLoadError as err:
        print(f"sesli say: {err}", file=sys.stderr)
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # unknown symbols are printed below
            result = synth.synthesize(text, voice=args.voice, speed=args.speed, **_options(args))
    except SynthesisError as err:
        print(f"sesli say: {err}", file=sys.stderr)
        return 1
    if result.unknown:
        print(f"skipped symbols the model cannot say: {' '.join(result.unknown)}", file=sys.stderr)
    with atomic_path(args.output) as tmp:
        sf.write(tmp, result.audio, result.sample_rate, subtype="PCM_16", format="WAV")
    print(f"{args.output}: {result.duration:.2f} s, {len(result.chunks)} chunk(s)")
    if args.plot:
        png = args.output.with_suffix(".png")
        _plot(result.audio, result.sample_rate, png)
        print(f"{png}: spectrogram")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
