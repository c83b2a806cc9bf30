"""The ``sesli`` command: one verb per module, imported only when that verb runs.

Each verb module exposes ``main(argv: list[str] | None) -> int`` with its own argparse parser,
so ``sesli VERB --help`` is that module's help and nothing heavy is imported at start-up.
"""

from __future__ import annotations

import importlib
import sys

# verb -> (module, one-line description). Order is the order shown in --help.
VERBS: dict[str, tuple[str, str]] = {
    "normalize": ("sesli.cli.normalize", "Turkish text to its spoken form (numbers, dates, abbreviations)"),
    "g2p": ("sesli.cli.g2p", "Turkish text to phonemes (or symbol ids)"),
    "prepare": (
        "sesli.cli.prepare",
        "raw speech (HF, LJSpeech, Melo, Common Voice, folder) to an experiment folder",
    ),
    "lm": ("sesli.cli.lm", "tiny language model: prepare, train, sample"),
    "say": ("sesli.cli.say", "synthesise Turkish speech to a WAV file"),
    "kokoro": ("sesli.cli.kokoro", "Kokoro-82M: LoRA fine-tuning, merge"),
    "vits": ("sesli.cli.vits", "VITS (Piper-style) voices: train"),
    "vc": ("sesli.cli.vc", "voice conversion (RVC-style): prepare, extract, train, index, convert, export, info"),
    "sound": (
        "sesli.cli.sound",
        "sound generation (VAE, VQ-VAE, VAE-GAN): prepare, train, sample, continue, vary, loop, eval, export",
    ),
    "eval": ("sesli.cli.eval", "evaluate a TTS run on a held-out manifest"),
    "serve": ("sesli.cli.serve", "OpenAI-compatible speech API, web page, Wyoming (Home Assistant)"),
}


def _usage() -> str:
    width = max(len(v) for v in VERBS)
    lines = ["usage: sesli VERB [options]   (sesli VERB --help for a verb's options)", "", "verbs:"]
    lines += [f"  {verb:<{width}}  {desc}" for verb, (_, desc) in VERBS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``sesli VERB ...`` to ``sesli.cli.<verb>.main``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        from sesli import __version__

        print(f"sesli {__version__}")
        return 0
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"sesli: unknown verb {verb!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(VERBS[verb][0])
    except ModuleNotFoundError as err:
        if err.name == VERBS[verb][0]:
            print(f"sesli: the verb {verb!r} is not available in this build", file=sys.stderr)
            return 2
        raise
    return int(module.main(rest) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
