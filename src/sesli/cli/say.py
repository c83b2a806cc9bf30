"""``sesli say``: Turkish text to a WAV file with Kokoro.

sesli say "Merhaba, size nasıl yardımcı olabilirim?" -o merhaba.wav
echo "Merhaba." | sesli say - -o merhaba.wav --model debug
sesli say --file metin.txt -o kitap.wav --voice af_heart --speed 1.1 --plot
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

DEFAULT_MODEL = "hexgrad/Kokoro-82M"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli say", description="Synthesise Turkish speech to a WAV file.")
    p.add_argument("text", nargs="?", help="text to say; '-' or nothing reads stdin")
    p.add_argument("--file", "-f", type=Path, help="read the text from this UTF-8 file")
    p.add_argument(
        "-o", "--output", type=Path, default=Path("sesli.wav"), help="output WAV (default sesli.wav)"
    )
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"'debug', a hub id (default {DEFAULT_MODEL}), a sesli bundle, a folder or a .pth file",
    )
    p.add_argument("--voice", help="voice name in the model's voices/ folder, or a .pt voice pack")
    p.add_argument("--speed", type=float, default=1.0, help="speaking rate (default 1.0)")
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


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, synthesise, write the WAV (16-bit PCM, atomic). Returns an exit code."""
    args = _parser().parse_args(argv)
    text = _read_text(args)

    import soundfile as sf

    from sesli.fileio import atomic_path
    from sesli.inference import ModelLoadError, SynthesisError, load

    try:
        synth = load(args.model, local_files_only=args.offline)
    except ModelLoadError as err:
        print(f"sesli say: {err}", file=sys.stderr)
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # unknown symbols are printed below
            result = synth.synthesize(text, voice=args.voice, speed=args.speed)
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
