"""The tiny language model task: next-token prediction (or masked-LM) on a prepared text folder.

``data.data_dir`` is one of two things ``sesli lm prepare`` writes:

- token shards with an ``index.json`` (corpora of any size): windows of ``data.seq_len`` tokens
  are read by memory map at random offsets (``lm_shards``); the tokenizer and the vocabulary are
  the shards' (``data.tokenizer`` is not used), and the run directory keeps a copy of the index
  (``shards_index.json``) and of a trained ``tokenizer.json`` so sampling needs no data folder;
- ``train.txt`` and ``val.txt`` (small texts): the task tokenizes both in memory (bytes by
  default), cuts non-overlapping windows and shuffles them per epoch with :class:`EpochSampler`.

Either way it trains :class:`TinyLM`. The run directory gets ``config.yaml`` (the engine freezes
it) and, for SentencePiece, ``tokenizer.model``; :func:`load_lm` rebuilds the model from those for
``sesli lm sample``. Each step reports its tokens and FLOPs, which the engine turns into tokens/s
and MFU (:func:`flops_per_token`).

``objective: masked`` trains the same transformer bidirectionally to restore masked tokens
(BERT's recipe: ``mask_prob`` of the positions are chosen; of those 80% become ``[MASK]``, 10% a
random token, 10% stay). With ``data.tokenizer: phonemes`` this is PL-BERT-style pretraining on
phonemised Turkish, the kind of text encoder Kokoro's ALBERT is.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from sesli.models.lm import TinyLM
from sesli.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from sesli.train.config import TrainConfig, load_config
from sesli.train.engine import Built, StepContext, Task
from sesli.train.sampler import EpochSampler
from sesli.train.schedule import make_optimizer
from sesli.train.tasks.lm_data import (
    ByteTokenizer,
    PhonemeTokenizer,
    SentencePieceTokenizer,
    TextDataError,
    TokenWindows,
    read_text,
)
from sesli.train.tasks.lm_shards import has_shards, open_shards

SHARDS_INDEX = "shards_index.json"  # the run directory's copy of the data's index.json


@dataclass
class LMModelConfig:
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    dropout: float = 0.1
    max_seq_len: int | None = None  # None: data.seq_len


@dataclass
class LMDataConfig:
    data_dir: str = ""
    tokenizer: Literal["byte", "sentencepiece", "phonemes"] = "byte"
    vocab_size: int = 2000  # SentencePiece only
    seq_len: int = 256
    val_windows: int | None = None  # shards only: validation windows, evenly spread (None: all)


@dataclass
class LMRunConfig:
    """The whole config of an LM run (``sesli/configs/lm/*.yaml``)."""

    objective: Literal["causal", "masked"] = "causal"
    mask_prob: float = 0.15  # masked objective only
    model: LMModelConfig = field(default_factory=LMModelConfig)
    data: LMDataConfig = field(default_factory=LMDataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


Tokenizer = ByteTokenizer | SentencePieceTokenizer | PhonemeTokenizer  # or lm_tokenizers' (shards)


def make_tokenizer(cfg: LMRunConfig, run_dir: Path) -> Tokenizer:
    """Bytes, or SentencePiece trained on ``train.txt`` once and kept as ``run_dir/tokenizer.model``."""
    if cfg.data.tokenizer == "byte":
        return ByteTokenizer()
    if cfg.data.tokenizer == "phonemes":
        return PhonemeTokenizer()
    model_file = run_dir / "tokenizer.model"
    if model_file.is_file():
        return SentencePieceTokenizer(model_file)
    return SentencePieceTokenizer.train(
        Path(cfg.data.data_dir) / "train.txt", model_file, vocab_size=cfg.data.vocab_size
    )


def build_model(cfg: LMRunConfig, vocab_size: int) -> TinyLM:
    """The run's model; a masked LM gets one extra id, ``[MASK]`` = ``vocab_size``."""
    m = cfg.model
    masked = cfg.objective == "masked"
    return TinyLM(
        vocab_size=vocab_size + 1 if masked else vocab_size,
        causal=not masked,
        d_model=m.d_model,
        n_layers=m.n_layers,
        n_heads=m.n_heads,
        max_seq_len=m.max_seq_len or cfg.data.seq_len,
        dropout=m.dropout,
    )


def flops_per_token(model: TinyLM, seq_len: int) -> float:
    """Training FLOPs per token: ``6 N`` for the weights' matmuls (forward + backward) plus
    ``12 L C T`` for attention's (PaLM, Chowdhery et al. 2022, appendix B); ``N`` leaves out the
    position table, which is looked up, not multiplied (the tied token table is the output matmul).
    """
    n = sum(p.numel() for p in model.parameters()) - model.pos.weight.numel()
    return 6.0 * n + 12.0 * len(model.blocks) * model.tok.embedding_dim * seq_len


def keep_tokenizer(data_dir: Path, index: dict, run_dir: Path) -> None:
    """Copy the shards' index (and a tokenizer file kept beside them) into the run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SHARDS_INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
    path = index["tokenizer"].get("path")
    if path and not Path(path).is_absolute() and (data_dir / path).is_file():
        shutil.copyfile(data_dir / path, run_dir / path)


def mask_tokens(
    ids: torch.Tensor, *, vocab_size: int, prob: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of ``ids`` (B, T): returns inputs (B, T) and targets (B, T), -100 where unmasked.

    The mask id is ``vocab_size``. Draws come from ``generator`` (CPU) or the global RNG.
    """

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=generator).to(ids.device)

    chosen = rand(*ids.shape) < prob  # (B, T)
    chosen[..., 0] |= ~chosen.any(dim=-1)  # at least one target per row
    targets = ids.masked_fill(~chosen, -100)
    r = rand(*ids.shape)
    random_ids = (rand(*ids.shape) * vocab_size).long().clamp_max(vocab_size - 1)
    inputs = torch.where(chosen & (r < 0.8), torch.full_like(ids, vocab_size), ids)
    inputs = torch.where(chosen & (r >= 0.8) & (r < 0.9), random_ids, inputs)
    return inputs, targets


class LMTask(Task):
    """Next-token (or masked-token) cross-entropy; logs ``loss`` and the token count (for tokens/s)."""

    def __init__(self, cfg: LMRunConfig, run_dir: str | Path, *, verify: bool = False) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.verify = verify  # shards: compare every shard's sha256 with the index before training

    def build(self, accelerator: Accelerator, cfg: TrainConfig) -> Built:
        data_dir = Path(self.cfg.data.data_dir)
        if not data_dir.is_dir():
            raise TextDataError(f"data dir {data_dir} does not exist (run `sesli lm prepare` first)")
        if has_shards(data_dir):
            d = self.cfg.data
            shards = open_shards(
                data_dir, d.seq_len, seed=cfg.seed, val_windows=d.val_windows, verify=self.verify
            )
            if accelerator.is_main_process:
                keep_tokenizer(data_dir, shards.index, self.run_dir)
            self.vocab_size = shards.vocab_size
            train_set, train_order = shards.train, shards.train_sampler
            val_set, val_order = shards.val, shards.val_sampler
        else:
            train_set, val_set = self._text_windows(data_dir)
            train_order, val_order = EpochSampler(len(train_set), seed=cfg.seed), None
        model = build_model(self.cfg, self.vocab_size)
        self.token_flops = flops_per_token(model, self.cfg.data.seq_len)

        def loader(data, order) -> DataLoader:
            return DataLoader(data, batch_size=cfg.batch_size, sampler=order, num_workers=cfg.num_workers)

        return Built(
            modules={"model": model},
            optimizers={"main": make_optimizer(model, cfg)},
            train_data=loader(train_set, train_order),
            val_data=loader(val_set, val_order) if val_set is not None else None,
        )

    def _text_windows(self, data_dir: Path) -> tuple[TokenWindows, TokenWindows]:
        """train.txt and val.txt tokenized in memory, cut into windows (sets ``vocab_size``)."""
        for name in ("train.txt", "val.txt"):
            if not (data_dir / name).is_file():
                raise TextDataError(
                    f"data dir {data_dir} has no {name} and no index.json (token shards); run "
                    "`sesli lm prepare` first"
                )
        tok = make_tokenizer(self.cfg, self.run_dir)
        self.vocab_size = tok.vocab_size
        train, val = (
            TokenWindows(
                torch.tensor(tok.encode(read_text(data_dir / f"{name}.txt")), dtype=torch.long),
                self.cfg.data.seq_len,
                name=str(data_dir / f"{name}.txt"),
            )
            for name in ("train", "val")
        )
        return train, val

    def _inputs(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None):
        if self.cfg.objective == "causal":
            return batch["ids"], batch["targets"]
        return mask_tokens(
            batch["ids"], vocab_size=self.vocab_size, prob=self.cfg.mask_prob, generator=generator
        )

    def train_step(self, batch: dict[str, torch.Tensor], ctx: StepContext) -> dict[str, torch.Tensor]:
        out = ctx.modules["model"](*self._inputs(batch))
        ctx.backward(out.loss)
        ctx.step("main")
        n = batch["ids"].numel()
        return {"loss": out.loss, "tokens": n, "flops": n * self.token_flops}

    def eval_step(self, batch: dict[str, torch.Tensor], ctx: StepContext) -> dict[str, torch.Tensor]:
        # masked: fixed masks per batch, so validation losses compare across evaluations
        gen = torch.Generator().manual_seed(int(batch["ids"].sum()))
        return {"loss": ctx.modules["model"](*self._inputs(batch, gen)).loss}


@dataclass
class LoadedLM:
    model: TinyLM
    tokenizer: Tokenizer
    config: LMRunConfig
    checkpoint: Path


def load_lm(run_dir: str | Path, *, checkpoint: str = "best") -> LoadedLM:
    """Rebuild a trained LM from its run directory (``best`` checkpoint, or the newest ``last``).

    Raises:
        CheckpointError: no usable checkpoint in the run directory.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(f"{run_dir} is not an LM run directory (no config.yaml)")
    cfg = load_config(LMRunConfig, run_dir / "config.yaml")
    ckdir = run_dir / "checkpoints"
    path = ckdir / "best" if checkpoint == "best" else latest_checkpoint(ckdir)
    if checkpoint == "best" and not path.is_dir():
        path = latest_checkpoint(ckdir)  # a run without validation has no best/
    if path is None or not path.is_dir():
        raise CheckpointError(f"{run_dir} has no checkpoint yet")
    weights = load_checkpoint(path, weights_only=True).weights["model"]
    tok: Tokenizer
    vocab_size = None
    if (run_dir / SHARDS_INDEX).is_file():  # trained from shards: their tokenizer, kept in the run
        from sesli.data.lm_tokenizers import from_index

        index = json.loads((run_dir / SHARDS_INDEX).read_text(encoding="utf-8"))
        tok = from_index(index, run_dir)
        vocab_size = int(index["tokenizer"]["vocab_size"])  # what the model was built with
    elif cfg.data.tokenizer == "byte":
        tok = ByteTokenizer()
    elif cfg.data.tokenizer == "phonemes":
        tok = PhonemeTokenizer()
    else:
        tok = SentencePieceTokenizer(run_dir / "tokenizer.model")
    model = build_model(cfg, vocab_size or tok.vocab_size)
    model.load_state_dict(weights)
    return LoadedLM(model=model.eval(), tokenizer=tok, config=cfg, checkpoint=path)


def sample_text(
    lm: LoadedLM,
    prompt: str,
    *,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int | None = 50,
    seed: int = 0,
) -> str:
    """Continue ``prompt``; returns prompt + generated text."""
    if not lm.model.causal:
        raise ValueError(f"{lm.checkpoint} is a masked-LM encoder: it cannot generate text left to right")
    ids = lm.tokenizer.encode(prompt) or lm.tokenizer.encode("\n") or [0]  # empty prompt: start a line
    gen = torch.Generator().manual_seed(seed)
    out = lm.model.generate(
        torch.tensor([ids], dtype=torch.long),
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        generator=gen,
    )
    return lm.tokenizer.decode(out[0].tolist())
