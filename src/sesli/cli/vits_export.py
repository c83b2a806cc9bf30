"""``sesli vits export``: a VITS voice to a Piper voice (``.onnx`` + ``.onnx.json``).

sesli vits export RUN_OR_VOICE --out DIR [--name NAME] [--quality medium] [--fp16] [--sdp-ratio R]
                  [--no-batch-mask]

RUN_OR_VOICE is a sesli VITS run directory (``vits.safetensors`` + ``vits.json``) or a Piper
``.onnx`` voice (re-exported through sesli's importer, which checks the export against a file Piper
made). The result is ``DIR/<lang>-<name>-<quality>.onnx`` and its ``.onnx.json``, which the Piper
runtime speaks from plain text::

    echo 'Merhaba, nasılsınız?' | python -m piper -m DIR/tr_TR-NAME-medium.onnx -f out.wav

(``piper-tts`` is GPL and a separate program; sesli never imports it.) Wired as the ``export``
verb of ``sesli vits`` through :func:`main_export`.
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sesli vits export",
        description="a VITS run or Piper voice to a Piper voice (.onnx + .onnx.json)",
    )
    p.add_argument("source", metavar="RUN_OR_VOICE", help="VITS run directory, or a Piper .onnx voice")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--name", default=None, help="voice name (default: the run's folder or the voice's name)")
    p.add_argument(
        "--quality",
        default=None,
        choices=["x_low", "low", "medium", "high"],
        help="Piper quality in the file name (default: medium, or the voice's own)",
    )
    p.add_argument("--fp16", action="store_true", help="float16 weights (inputs and output stay float32)")
    p.add_argument(
        "--sdp-ratio",
        type=float,
        default=None,
        help="stochastic vs deterministic duration mix, fixed in the graph (voices with both predictors)",
    )
    p.add_argument(
        "--no-batch-mask",
        action="store_true",
        help="5-7%% faster decoder, exact one sentence at a time (as Piper runs); batched items bleed into padding",
    )
    return p


def main_export(argv: list[str] | None = None) -> int:
    """Run ``sesli vits export``; returns 0, or 2 when the source cannot be read or exported."""
    args = _parser().parse_args(argv)
    from sesli.export.piper import PiperExportError, export_piper
    from sesli.export.vits_sources import load_export_source
    from sesli.models.vits import VitsLoadError

    try:
        src = load_export_source(args.source)
        result = export_piper(
            src.model,
            src.meta,
            args.out,
            name=args.name or src.name,
            quality=args.quality or src.quality,
            fp16=args.fp16,
            sdp_ratio=args.sdp_ratio if args.sdp_ratio is not None else src.sdp_ratio,
            batch_mask=not args.no_batch_mask,
        )
    except (PiperExportError, VitsLoadError) as err:
        print(f"sesli vits export: {err}", file=sys.stderr)
        return 2
    cfg = result.config
    print(f"wrote {result.onnx_path} ({result.onnx_bytes / 1e6:.1f} MB{', fp16' if result.fp16 else ''})")
    print(f"wrote {result.config_path}")
    print(
        f"{src.kind} {src.path} -> Piper voice: {cfg['audio']['sample_rate']} Hz, {cfg['num_symbols']} symbols, "
        f"{cfg['num_speakers']} speaker(s), inputs {', '.join(result.inputs)}; {result.seconds:.1f} s"
    )
    print(f"speak it: echo 'Merhaba!' | python -m piper -m {result.onnx_path} -f out.wav")
    return 0


main = main_export

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_export())
