"""``sesli vc export``: the converter as ONNX (content features and f0 in, audio out).

sesli vc export --model EXP|VOICE.pth --out FILE.onnx [--opset 17] [--source-noise]

Inputs, output and metadata of the graph: :mod:`sesli.export.vc`. Registered as the ``export``
verb of :mod:`sesli.cli.vc`.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sesli vc export``."""
    p.add_argument("--model", required=True, metavar="EXP|FILE", help="experiment folder or RVC .pth voice")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="the ONNX file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--source-noise", action="store_true",
                   help="keep the NSF source's random noise in the graph (RVC's export; not deterministic)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Export; 0 on success, 2 when the voice cannot be read."""
    from sesli.export.vc import VcExportError, export_vc

    try:
        result = export_vc(args.model, args.out, opset=args.opset, source_noise=args.source_noise)
    except VcExportError as err:
        print(f"sesli vc export: {err}", file=sys.stderr)
        return 2
    m = result.metadata
    print(
        f"wrote {result.path} ({result.onnx_bytes / 1e6:.1f} MB, opset {result.opset}, {result.seconds:.1f} s)"
    )
    print(f"inputs {', '.join(result.inputs)} -> audio at {m['sample_rate']} Hz; {m['version']}, "
          f"{m['feature_dim']}-d features, f0 {m['f0']}, {m['n_speakers']} speaker(s); "
          f"noise (1, {m['inter_channels']}, T) = randn * {m['noise_scale']}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """``sesli vc export`` on its own (normally reached through ``sesli vc``)."""
    p = argparse.ArgumentParser(prog="sesli vc export", description="export the converter to ONNX")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
