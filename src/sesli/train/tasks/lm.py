"""The tiny language model task: next-token prediction (or masked-LM) on a prepared text folder.

``data.data_dir`` holds ``train.txt`` and ``val.txt`` (``sesli lm prepare`` writes them). The
task tokenizes both (bytes by default), cuts non-overlapping windows of ``data.seq_len`` tokens,
shuffles training windows per epoch with :class:`EpochSampler` and trains :class:`TinyLM`. The
run directory gets ``config.yaml`` (the engine freezes it) and, for SentencePiece,
``tokenizer.model``; :func:`load_lm` rebuilds the model from those for ``sesli lm sample``.

``objective: masked`` trains the same transformer bidirectionally to restore masked tokens
(BERT's recipe: ``mask_prob`` of the positions are chosen; of those 80% become ``[MASK]``, 10% a
random token, 10% stay). With ``data.tokenizer: phonemes`` this is PL-BERT-style pretraining on
phonemised Turkish, the kind of text encoder Kokoro's ALBERT is.
"""

from __future__ import annotations

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


@dataclass
class LMRunConfig:
    """The whole config of an LM run (``sesli/configs/lm/*.yaml``)."""

    objective: Literal["causal", "masked"] = "causal"
    mask_prob: float = 0.15  # masked objective only
    model: LMModelConfig = field(default_factory=LMModelConfig)
    data: LMDataConfig = field(default_factory=LMDataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


Tokenizer = ByteTokenizer | SentencePieceTokenizer | PhonemeTokenizer


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

    def __init__(self, cfg: LMRunConfig, run_dir: str | Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)

    def build(self, accelerator: Accelerator, cfg: TrainConfig) -> Built:
        data_dir = Path(self.cfg.data.data_dir)
        if not data_dir.is_dir():
            raise TextDataError(f"data dir {data_dir} does not exist (run `sesli lm prepare` first)")
        for name in ("train.txt", "val.txt"):
            if not (data_dir / name).is_file():
                raise TextDataError(f"data dir {data_dir} has no {name} (run `sesli lm prepare` first)")
        tok = make_tokenizer(self.cfg, self.run_dir)
        self.vocab_size = tok.vocab_size
        seq_len = self.cfg.data.seq_len
        sets = {
            name: TokenWindows(
                torch.tensor(tok.encode(read_text(data_dir / f"{name}.txt")), dtype=torch.long),
                seq_len,
                name=str(data_dir / f"{name}.txt"),
            )
            for name in ("train", "val")
        }
        model = build_model(self.cfg, tok.vocab_size)
        sampler = EpochSampler(len(sets["train"]), seed=cfg.seed)
        train = DataLoader(
            sets["train"],
            batch_size=cfg.batch_size,
            sampler=sampler,
            num_workers=cfg.num_workers,
            drop_last=False,
        )
        val = DataLoader(sets["val"], batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.num_workers)
        return Built(
            modules={"model": model},
            optimizers={"main": make_optimizer(model, cfg)},
            train_data=train,
            val_data=val,
        )

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
        return {"loss": out.loss, "tokens": batch["ids"].numel()}

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
    if cfg.data.tokenizer == "byte":
        tok: Tokenizer = ByteTokenizer()
    elif cfg.data.tokenizer == "phonemes":
        tok = PhonemeTokenizer()
    else:
        tok = SentencePieceTokenizer(run_dir / "tokenizer.model")
    model = build_model(cfg, tok.vocab_size)
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
