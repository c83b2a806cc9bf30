"""``sesli kokoro``: LoRA fine-tuning of Kokoro-82M on Turkish speech, and merging an adapter.

sesli kokoro finetune --data PREPARED_DIR --out RUN [--base hexgrad/Kokoro-82M|PATH|debug]
                      [--epochs 5] [--batch-size 2] [--lr 1e-4] [--lora-r 8] [--lora-alpha 16]
                      [--targets all|albert|albert+text|SET,SET...] [--max-steps N]
                      [--adversarial [--adversarial-after N]] [--targets-dir DIR]
                      [--config YAML] [--restart] [--quiet] [key=value ...]
sesli kokoro align --data PREPARED_DIR [--targets-dir DIR] [--aligner-steps 300] [--rebuild]
sesli kokoro merge RUN --out DIR [--base PATH]
sesli kokoro export MODEL_OR_RUN --out DIR [--dtype fp32|fp16|int8] [--voice NAME ...] [--opset 17|20]
                   [--web [--words FILE]]

Training targets (durations from an aligner trained on the clips, F0, energy) are extracted once,
into PREPARED_DIR/targets unless --targets-dir says otherwise, and reused while the manifests and
the aligner settings stay the same; `align` builds them ahead of time (or again, with --rebuild).

A run directory that holds checkpoints resumes; with other settings than it was trained with it
refuses and lists them (epochs, max steps, patience and the log/plot/eval/save frequencies may
change). --restart moves the old run aside to RUN.old-<timestamp> and starts fresh.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli kokoro", description="Kokoro-82M: LoRA fine-tuning and merging")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("finetune", help="fine-tune Kokoro with LoRA on a `sesli prepare` folder")
    f.add_argument("--data", required=True, help="experiment folder from `sesli prepare`")
    f.add_argument("--out", required=True, help="run directory (adapter, voice, card, checkpoints, plots)")
    f.add_argument("--base", default=None, help="hexgrad/Kokoro-82M (default), a local path, or debug")
    f.add_argument(
        "--config",
        default=None,
        help="YAML path or shipped name, e.g. debug/kokoro_finetune (default: sesli/configs/kokoro/finetune.yaml values)",
    )
    f.add_argument("--epochs", type=int, default=None)
    f.add_argument("--batch-size", type=int, default=None)
    f.add_argument("--lr", type=float, default=None)
    f.add_argument("--lora-r", type=int, default=None)
    f.add_argument("--lora-alpha", type=float, default=None)
    f.add_argument(
        "--targets",
        default=None,
        help="a preset: all (default), albert+text, albert; or comma-separated sets (albert, predictor, text_encoder, decoder, lstm)",
    )
    f.add_argument("--voice", default=None, help="voice pack to start the new voice from (default: mean)")
    f.add_argument("--max-steps", type=int, default=None)
    f.add_argument("--patience", type=int, default=None, help="early-stopping patience (evaluations)")
    f.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU exists")
    f.add_argument(
        "--adversarial", action="store_true", help="add MPD + MRD discriminators and feature matching"
    )
    f.add_argument(
        "--adversarial-after",
        type=int,
        default=None,
        help="steps before the discriminator joins (implies --adversarial)",
    )
    f.add_argument("--targets-dir", default=None, help="where training targets live (default: DATA/targets)")
    f.add_argument(
        "--restart",
        action="store_true",
        help="start over: move an existing --out aside to OUT.old-<timestamp> (resuming refuses changed settings)",
    )
    f.add_argument("--quiet", action="store_true", help="no tables, messages or progress bars")
    f.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.eval_every=50")

    a = sub.add_parser("align", help="train the aligner and extract training targets for a prepared folder")
    a.add_argument("--data", required=True, help="experiment folder from `sesli prepare`")
    a.add_argument("--targets-dir", default=None, help="where to write them (default: DATA/targets)")
    a.add_argument("--aligner-steps", type=int, default=None, help="aligner training steps (default 300)")
    a.add_argument("--config", default=None, help="fine-tuning YAML whose finetune settings to use")
    a.add_argument("--rebuild", action="store_true", help="extract again even if the targets are up to date")
    a.add_argument("--quiet", action="store_true")
    a.add_argument("overrides", nargs="*", help="dotted overrides, e.g. finetune.boundary_shift=0")

    m = sub.add_parser("merge", help="fold a LoRA run into full weights (official checkpoint format)")
    m.add_argument("run", help="the fine-tuning run directory")
    m.add_argument("--out", required=True, help="output directory (kokoro-v1_0.pth, config.json, voices/)")
    m.add_argument("--base", default=None, help="the base model (default: the id in the run's model card)")

    e = sub.add_parser(
        "export", help="ONNX for kokoro-onnx and sherpa-onnx (+ voices, tokens.txt, config.json)"
    )
    e.add_argument("model", nargs="?", default=None,
                   help="a LoRA run, merged weights, hub id, debug, or none for the default Kokoro-82M")  # fmt: skip
    e.add_argument("--out", required=True, help="output directory")
    e.add_argument("--dtype", default="fp32", help="fp32 (default), fp16 or int8 weights")
    e.add_argument("--voice", action="append", default=None, help="export only this voice (repeatable)")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset: 17 (default) or 20")
    e.add_argument("--web", action="store_true",
                   help="also write the in-browser page (onnxruntime-web, lexicon.json) into --out")  # fmt: skip
    e.add_argument("--words", default=None,
                   help="with --web: a text file whose words join the precomputed lexicon")  # fmt: skip
    return p


def _export(args: argparse.Namespace) -> int:
    from sesli.export.kokoro import export_kokoro
    from sesli.models.kokoro.loading import ModelLoadError

    try:
        paths = export_kokoro(args.model, args.out, dtype=args.dtype, voices=args.voice, opset=args.opset)
    except ModelLoadError as err:
        print(f"sesli kokoro export: {err}", file=sys.stderr)
        return 2
    for key, path in paths.items():
        print(f"{key:>16}  {path}  ({path.stat().st_size / 1e6:.2f} MB)")
    if args.web:
        from sesli.serve.browser import build_site, default_words, words_of
        from sesli.serve.webruntime import WebRuntimeError

        words = default_words()
        if args.words:
            words += words_of(Path(args.words).read_text(encoding="utf-8").splitlines())
        try:
            build_site(args.out, words=words)
        except WebRuntimeError as err:
            print(f"sesli kokoro export: {err}", file=sys.stderr)
            return 2
        print(f"browser page: {args.out}/index.html (serve the folder: sesli serve --browser {args.out}, "
              f"then open /browser/)")  # fmt: skip
    print(f"kokoro-onnx: Kokoro({str(paths['onnx'])!r}, {str(paths['voices_npz'])!r}, "
          f"vocab_config={str(paths['config'])!r}); sherpa-onnx: the .onnx, voices.bin, tokens.txt")  # fmt: skip
    return 0


def _align_overrides(args: argparse.Namespace) -> list[str]:
    pairs = {
        "finetune.data": args.data,
        "finetune.targets_dir": args.targets_dir,
        "finetune.aligner_steps": args.aligner_steps,
    }
    return [f"{k}={v}" for k, v in pairs.items() if v is not None] + list(args.overrides)


def _align(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sesli.train.tasks import kokoro_data
    from sesli.train.tasks.kokoro_finetune import load_run_config

    cfg = load_run_config(args.config, _align_overrides(args)).finetune
    if not (Path(cfg.data) / "train.jsonl").is_file():
        print(
            f"sesli kokoro align: {cfg.data} has no train.jsonl; run `sesli prepare` first", file=sys.stderr
        )
        return 2
    cache = kokoro_data.load_targets(Path(cfg.data), cfg, quiet=args.quiet, rebuild=args.rebuild)
    print(f"targets for {len(cache)} clip(s) in {cache.root} ({len(cache.skipped)} skipped)")
    print(f"aligner: {kokoro_data.aligner_run_dir(cfg)}")
    if cfg.targets_dir:
        print(
            f"fine-tune with: sesli kokoro finetune --data {cfg.data} --targets-dir {cfg.targets_dir} --out RUN"
        )
    return 0


def _overrides(args: argparse.Namespace) -> list[str]:
    pairs = {
        "finetune.data": args.data,
        "finetune.base": args.base,
        "finetune.voice": args.voice,
        "finetune.lora_r": args.lora_r,
        "finetune.lora_alpha": args.lora_alpha,
        "finetune.targets": f"[{args.targets}]" if args.targets else None,
        "train.epochs": args.epochs,
        "train.batch_size": args.batch_size,
        "train.lr": args.lr,
        "train.max_steps": args.max_steps,
        "train.early_stopping_patience": args.patience,
        "train.cpu": True if args.cpu else None,
        "finetune.adversarial": True if args.adversarial or args.adversarial_after is not None else None,
        "finetune.adversarial_after": args.adversarial_after,
        "finetune.targets_dir": args.targets_dir,
    }
    return [f"{k}={v}" for k, v in pairs.items() if v is not None] + list(args.overrides)


def main(argv: list[str] | None = None) -> int:
    """Run ``sesli kokoro finetune|align|merge|export``; returns the exit status."""
    args = _parser().parse_args(argv)
    from sesli.export.kokoro_files import KokoroExportError
    from sesli.models.kokoro.adapter import AdapterError
    from sesli.models.kokoro.lora import LoraTargetError
    from sesli.train.checkpoint import CheckpointError
    from sesli.train.config import ConfigError
    from sesli.train.tasks.kokoro_finetune import FinetuneError, finetune, merge_run

    try:
        if args.command == "export":
            return _export(args)
        if args.command == "finetune":
            result = finetune(
                args.out,
                config=args.config,
                overrides=_overrides(args),
                restart=args.restart,
                quiet=args.quiet,
            )
            if result.stopped_by == "signal":
                print(f"stopped by a signal at step {result.step}; run the same command again to resume")
                return 130
            print(f"done ({result.stopped_by}, step {result.step}); adapter and voice in {args.out}")
            print(
                f'speak with: sesli say --model {args.out} "Merhaba, size nasıl yardımcı olabilirim?" -o out.wav'
            )
        elif args.command == "align":
            return _align(args)
        else:
            out = merge_run(args.run, args.out, base=args.base)
            print(f"merged weights written to {out}")
    except (
        ConfigError,
        FinetuneError,
        AdapterError,
        LoraTargetError,
        CheckpointError,
        KokoroExportError,
    ) as err:
        print(f"sesli kokoro {args.command}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
