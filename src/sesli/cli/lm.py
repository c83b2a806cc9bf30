"""``sesli lm``: prepare a text dataset, train the tiny language model, sample from it.

    sesli lm prepare --input-file corpus.txt --output-dir data/lm [--val-split 0.1]
    sesli lm train --config tiny --data-dir data/lm --epochs 10 --batch-size 4 --seq-len 512 \\
        --learning-rate 3e-4 --warmup-steps 100 --save-best-model --early-stopping-patience 5
    sesli lm sample --run-dir runs/lm-tiny --prompt "Bir varmış"

``train`` takes dotted overrides after its options (``train.grad_accum=4 model.n_layers=2``) and
resumes by itself when the run directory already holds checkpoints. Multi-GPU: ``accelerate
launch -m sesli lm train ...``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli lm", description="tiny language model: prepare, train, sample")
    sub = p.add_subparsers(dest="cmd", required=True)

    pp = sub.add_parser(
        "prepare",
        help="write train.txt and val.txt from text, or token shards from a large corpus",
        description="Text files (--input-file, --input-dir, --download-tiny-shakespeare) become train.txt "
        "and val.txt. A hub dataset (--hf-dataset) or a local corpus (--input: save_to_disk folder, "
        "parquet, JSONL, Wikipedia XML dump, .txt) becomes sharded token files with index.json, e.g. "
        "sesli lm prepare --hf-dataset wikimedia/wikipedia --config 20231101.tr --streaming "
        "--tokenizer bpe --turkish-lower --output-dir data/wiki-tr",
    )
    src = pp.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--download-tiny-shakespeare", action="store_true", help="download the corpus (needs network)"
    )
    src.add_argument("--input-file", type=Path, help="one UTF-8 text file")
    src.add_argument("--input-dir", type=Path, help="a directory of .txt files")
    src.add_argument("--hf-dataset", metavar="ID", help="a hub dataset (shards), e.g. Skylion007/openwebtext")
    src.add_argument(
        "--input",
        type=Path,
        metavar="PATH",
        help="a save_to_disk folder, parquet / JSONL / .txt files or folders, or an .xml(.bz2) dump (shards)",
    )
    pp.add_argument("--output-dir", type=Path, required=True)
    pp.add_argument(
        "--val-split",
        type=float,
        help="validation fraction: of lines from the end for text files (default 0.1), of documents "
        "by hash for shards (default 0.05)",
    )
    sh = pp.add_argument_group("shards (--hf-dataset or --input)")
    sh.add_argument("--config", help="hub config, e.g. 20231101.tr or en")
    sh.add_argument("--split", default="train", help="dataset split to read (default train)")
    sh.add_argument("--text-column", default="text", help="column or JSONL key with the text (default text)")
    sh.add_argument("--streaming", action="store_true", help="stream the hub dataset instead of downloading")
    sh.add_argument("--num-proc", type=int, default=1, help="tokenizing processes (output is the same)")
    sh.add_argument("--max-docs", type=int, help="read at most this many documents")
    sh.add_argument(
        "--tokenizer", default="bytes", help="bytes (default), bpe (trained here) or hf:ID_OR_PATH"
    )
    sh.add_argument("--vocab-size", type=int, default=32000, help="BPE vocabulary size (default 32000)")
    sh.add_argument("--bpe-sample-mb", type=float, default=100.0, help="train the BPE on this much text")
    sh.add_argument("--bpe-sample-docs", type=int, help="... or on at most this many documents")
    sh.add_argument("--shard-tokens", type=int, default=50_000_000, help="tokens per shard (default 50M)")
    sh.add_argument("--dtype", choices=["uint16", "uint32"], help="default: from the vocabulary size")
    sh.add_argument("--turkish-lower", action="store_true", help="Turkish lower case (I->ı, İ->i) first")
    sh.add_argument("--seed", type=int, default=0, help="seed of the train/val hash")
    sh.add_argument("--overwrite", action="store_true", help="replace shards made with other settings")
    sh.add_argument("--quiet", action="store_true", help="no progress bar")

    pt = sub.add_parser("train", help="train the LM (resumes from the run directory's last checkpoint)")
    pt.add_argument(
        "--config", default="tiny", help="a name shipped in sesli/configs/lm (tiny, small) or a YAML path"
    )
    pt.add_argument(
        "--data-dir", type=Path, help="token shards (index.json) or a folder with train.txt and val.txt"
    )
    pt.add_argument("--run-dir", type=Path, help="default: runs/lm-<config>")
    pt.add_argument("--epochs", type=int)
    pt.add_argument("--max-steps", type=int)
    pt.add_argument("--batch-size", type=int)
    pt.add_argument("--seq-len", type=int)
    pt.add_argument("--learning-rate", type=float)
    pt.add_argument("--warmup-steps", type=int)
    pt.add_argument("--save-best-model", action="store_true", default=None)
    pt.add_argument("--early-stopping-patience", type=int)
    pt.add_argument("--tokenizer", choices=["byte", "sentencepiece", "phonemes"])
    pt.add_argument("--objective", choices=["causal", "masked"], help="masked: PL-BERT-style encoder")
    pt.add_argument(
        "--verify-shards",
        action="store_true",
        help="check each shard's sha256 against index.json first (reads all data; sizes are always checked)",
    )
    pt.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")
    pt.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    pt.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides, e.g. train.lr=1e-3"
    )

    ps = sub.add_parser("sample", help="generate text from the best checkpoint")
    ps.add_argument("--run-dir", type=Path, required=True)
    ps.add_argument("--prompt", default="")
    ps.add_argument("--max-new-tokens", type=int, default=200)
    ps.add_argument("--temperature", type=float, default=0.8)
    ps.add_argument("--top-k", type=int, default=50)
    ps.add_argument("--seed", type=int, default=0)
    ps.add_argument("--checkpoint", choices=["best", "last"], default="best")
    return p


def _config_path(name: str) -> Path:
    """A YAML path, or a name shipped in ``sesli/configs/lm`` (tiny, small), from any directory."""
    from sesli.train.config import config_path

    return config_path(name, "lm")


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    pairs = {
        "data.data_dir": args.data_dir,
        "train.epochs": args.epochs,
        "train.max_steps": args.max_steps,
        "train.batch_size": args.batch_size,
        "data.seq_len": args.seq_len,
        "train.lr": args.learning_rate,
        "train.warmup_steps": args.warmup_steps,
        "train.save_best": args.save_best_model,
        "train.early_stopping_patience": args.early_stopping_patience,
        "data.tokenizer": args.tokenizer,
        "objective": args.objective,
    }
    return [f"{k}={v}" for k, v in pairs.items() if v is not None]


def _prepare_shards(args: argparse.Namespace) -> int:
    from sesli.data.lm_shards import prepare_shards
    from sesli.data.lm_sources import LMSource

    source = LMSource(
        hf_dataset=args.hf_dataset,
        input_path=args.input,
        config=args.config,
        split=args.split,
        text_column=args.text_column,
        streaming=args.streaming,
    )
    res = prepare_shards(
        args.output_dir,
        source,
        tokenizer=args.tokenizer,
        vocab_size=args.vocab_size,
        dtype=args.dtype,
        val_split=0.05 if args.val_split is None else args.val_split,
        seed=args.seed,
        shard_tokens=args.shard_tokens,
        max_docs=args.max_docs,
        num_proc=args.num_proc,
        turkish_lower=args.turkish_lower,
        bpe_sample_docs=args.bpe_sample_docs,
        bpe_sample_mb=args.bpe_sample_mb,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    index = res.index
    tok = index["tokenizer"]
    print(f"{res.output_dir}: {tok['type']} tokenizer, {tok['vocab_size']} ids, {index['dtype']}")
    for name, split in index["splits"].items():
        print(f"  {name}: {split['docs']} docs, {split['tokens']} tokens in {len(split['shards'])} shard(s)")
    if index["skipped"]:
        print("  skipped: " + ", ".join(f"{k} {v}" for k, v in index["skipped"].items()))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    if args.hf_dataset is not None or args.input is not None:
        return _prepare_shards(args)
    from sesli.train.tasks.lm_data import prepare_text

    shard_only = {"--config": args.config, "--max-docs": args.max_docs, "--dtype": args.dtype}
    shard_only.update({"--tokenizer": args.tokenizer != "bytes", "--turkish-lower": args.turkish_lower})
    shard_only.update({"--streaming": args.streaming, "--num-proc": args.num_proc != 1})
    given = [k for k, v in shard_only.items() if v not in (None, False)]
    if given:
        raise ValueError(f"{', '.join(given)} apply to --hf-dataset / --input (token shards) only")
    out = args.output_dir
    res = prepare_text(
        out,
        input_file=args.input_file,
        input_dir=args.input_dir,
        download_tiny_shakespeare_to=out / "tinyshakespeare.txt" if args.download_tiny_shakespeare else None,
        val_split=0.1 if args.val_split is None else args.val_split,
    )
    print(f"{res.train_path}: {res.train_lines} lines, {res.train_chars} chars")
    print(f"{res.val_path}: {res.val_lines} lines, {res.val_chars} chars")
    return 0


def _train(args: argparse.Namespace) -> int:
    from sesli.train.config import load_config
    from sesli.train.engine import fit
    from sesli.train.tasks.lm import LMRunConfig, LMTask

    cfg = load_config(LMRunConfig, _config_path(args.config), _flag_overrides(args) + list(args.overrides))
    if not cfg.data.data_dir:
        raise ValueError("no data directory: pass --data-dir (a folder written by `sesli lm prepare`)")
    run_dir = args.run_dir or Path("runs") / f"lm-{Path(args.config).stem}"
    task = LMTask(cfg, run_dir, verify=args.verify_shards)
    result = fit(task, cfg.train, run_dir, config=cfg, resume=not args.no_resume, quiet=args.quiet)
    if not args.quiet and os.environ.get("RANK", "0") == "0":
        best = (
            f"{result.best_metric:.4f} at step {result.best_step}"
            if result.best_metric is not None
            else "n/a"
        )
        print(f"stopped by {result.stopped_by} at step {result.step}; best {cfg.train.metric} {best}")
        print(f"run directory: {result.run_dir}")
    if result.stopped_by == "signal":
        return 130  # interrupted after saving a checkpoint: the same command resumes
    return 0


def _sample(args: argparse.Namespace) -> int:
    from sesli.train.tasks.lm import load_lm, sample_text

    lm = load_lm(args.run_dir, checkpoint=args.checkpoint)
    text = sample_text(
        lm,
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k if args.top_k > 0 else None,
        seed=args.seed,
    )
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``sesli lm prepare|train|sample``; clear one-line errors for bad input."""
    args = _parser().parse_args(argv)
    from sesli.train.checkpoint import CheckpointError
    from sesli.train.config import ConfigError
    from sesli.train.tasks.lm_data import TextDataError

    try:
        return {"prepare": _prepare, "train": _train, "sample": _sample}[args.cmd](args)
    except (TextDataError, ConfigError, CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"sesli lm {args.cmd}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
