"""The text/mel aligner as an engine task, and loading a trained one back.

Kokoro ships no aligner, so before fine-tuning sesli trains :class:`sesli.models.aligner.Aligner`
on the user's own prepared clips: forward-sum (CTC) loss from the start, plus a bin loss towards
the MAS path after ``bin_start_step`` steps (RAD-TTS's schedule). On every new best validation loss
the task writes ``aligner.safetensors`` + ``aligner.json`` (the constructor kwargs) to the run, and
:func:`train_aligner` writes the final weights there at the end, so :func:`load_aligner` needs
neither the training config nor a checkpoint.

Letters: B batch, N tokens, M mel bands, T mel frames (hop 300).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sesli.audio.features import MelConfig, mel_spectrogram
from sesli.fileio import atomic_path, write_json
from sesli.losses.alignment import bin_loss, forward_sum_loss
from sesli.models.aligner import Aligner
from sesli.models.kokoro.config import SAMPLE_RATE, SAMPLES_PER_FRAME
from sesli.train.engine import Built, StepContext, Task
from sesli.train.sampler import EpochSampler
from sesli.train.schedule import make_optimizer

WEIGHTS, META = "aligner.safetensors", "aligner.json"


class AlignerError(RuntimeError):
    """No usable data or no trained aligner (the message says what and where)."""


@dataclass
class AlignerModelConfig:
    """Constructor kwargs of :class:`Aligner` (``n_tokens`` comes from the symbol table)."""

    channels: int = 192
    attn_channels: int = 80
    kernel_size: int = 1
    temperature: float = 1e-2
    prior_scaling: float = 1.0


@dataclass
class AlignerTaskConfig:
    """Loss settings and model size of the aligner task."""

    model: AlignerModelConfig = field(default_factory=AlignerModelConfig)
    blank_logprob: float = -1.0
    bin_weight: float = 1.0
    bin_start_step: int = 100


@dataclass
class AlignerItem:
    """One clip for the aligner: token ids (pads included) and 24 kHz audio (a path or samples)."""

    id: str
    tokens: Sequence[int]
    audio: str | Path | np.ndarray


class AlignerDataset(Dataset):
    """Yields ``{"tokens": (N,), "mel": (M, T)}``; mel computed on the fly with sesli's features."""

    def __init__(self, items: Sequence[AlignerItem], mel_cfg: MelConfig = MelConfig()) -> None:
        if not items:
            raise AlignerError("the aligner has no clips to train on")
        self.items = list(items)
        self.mel_cfg = mel_cfg

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        item = self.items[k]
        if isinstance(item.audio, np.ndarray):
            wav = item.audio
        else:
            from sesli.audio.io import load_audio

            wav, _ = load_audio(item.audio, sr=self.mel_cfg.sample_rate)
        mel = mel_spectrogram(torch.as_tensor(np.asarray(wav, np.float32)), self.mel_cfg)[0]  # (M, T)
        if (mel.shape[-1] - 1) // 2 < len(item.tokens):
            raise AlignerError(f"clip {item.id!r} is too short for its {len(item.tokens)} tokens")
        return {"tokens": torch.as_tensor(list(item.tokens), dtype=torch.long), "mel": mel}


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad tokens with 0 and mel with log(1e-5) (silence) into a batch dict."""
    n = max(len(it["tokens"]) for it in items)
    t = max(it["mel"].shape[-1] for it in items)
    m = items[0]["mel"].shape[0]
    tokens = torch.zeros(len(items), n, dtype=torch.long)  # (B, N)
    mel = torch.full((len(items), m, t), float(np.log(1e-5)))  # (B, M, T)
    for k, it in enumerate(items):
        tokens[k, : len(it["tokens"])] = it["tokens"]
        mel[k, :, : it["mel"].shape[-1]] = it["mel"]
    return {
        "tokens": tokens,
        "text_lengths": torch.tensor([len(it["tokens"]) for it in items]),
        "mel": mel,
        "mel_lengths": torch.tensor([it["mel"].shape[-1] for it in items]),
    }


def aligner_losses(
    model: Aligner, batch: dict[str, torch.Tensor], cfg: AlignerTaskConfig, *, use_bin: bool
) -> dict[str, torch.Tensor]:
    """Forward the aligner and return ``{"loss", "forward_sum", "bin"}``."""
    out = model(batch["tokens"], batch["text_lengths"], batch["mel"], batch["mel_lengths"], hard=use_bin)
    fs = forward_sum_loss(out.log_attn, out.text_lengths, out.frame_lengths, cfg.blank_logprob)
    terms = {"forward_sum": fs}
    loss = fs
    if use_bin and out.attn_hard is not None:
        terms["bin"] = bin_loss(out.attn_hard, out.log_attn)
        loss = loss + cfg.bin_weight * terms["bin"]
    terms["loss"] = loss
    return terms


class AlignerTask(Task):
    """Trains an :class:`Aligner` with the engine.

    Args:
        train_items: training clips.
        val_items: validation clips (None: no validation).
        n_tokens: symbol table size.
        cfg: loss and model settings.
        run_dir: where ``aligner.safetensors`` / ``aligner.json`` are written on each new best.
    """

    def __init__(
        self,
        train_items: Sequence[AlignerItem],
        val_items: Sequence[AlignerItem] | None,
        *,
        n_tokens: int,
        cfg: AlignerTaskConfig = AlignerTaskConfig(),
        run_dir: str | Path | None = None,
    ) -> None:
        self.train_items, self.val_items = list(train_items), list(val_items or [])
        self.n_tokens = n_tokens
        self.cfg = cfg
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.model: Aligner | None = None

    def build(self, accelerator, cfg) -> Built:
        model = Aligner(n_tokens=self.n_tokens, **asdict(self.cfg.model))
        self.model = model  # the engine restores checkpoints into this object
        train = DataLoader(
            AlignerDataset(self.train_items),
            batch_size=cfg.batch_size,
            sampler=EpochSampler(len(self.train_items), seed=cfg.seed),
            collate_fn=collate,
            num_workers=cfg.num_workers,
        )
        val = None
        if self.val_items:
            val = DataLoader(AlignerDataset(self.val_items), batch_size=cfg.batch_size, collate_fn=collate)
        return Built(modules={"model": model}, optimizers={"main": make_optimizer(model, cfg)},
                     train_data=train, val_data=val)  # fmt: skip

    def train_step(self, batch: dict[str, torch.Tensor], ctx: StepContext) -> dict[str, torch.Tensor]:
        terms = aligner_losses(
            ctx.modules["model"], batch, self.cfg, use_bin=ctx.global_step >= self.cfg.bin_start_step
        )
        ctx.backward(terms["loss"])
        ctx.step("main")
        return {k: v.detach() for k, v in terms.items()}

    def eval_step(self, batch: dict[str, torch.Tensor], ctx: StepContext) -> dict[str, torch.Tensor]:
        return {"loss": aligner_losses(ctx.modules["model"], batch, self.cfg, use_bin=False)["loss"]}

    def on_best(self, run_dir: Path, ctx: StepContext) -> None:
        """Write the aligner's weights and kwargs for :func:`load_aligner`."""
        save_aligner(ctx.unwrap("model"), self.run_dir or run_dir, n_tokens=self.n_tokens,
                     model_cfg=self.cfg.model)  # fmt: skip


def save_aligner(
    model: Aligner, run_dir: str | Path, *, n_tokens: int, model_cfg: AlignerModelConfig
) -> None:
    """``aligner.safetensors`` + ``aligner.json`` (kwargs) into ``run_dir``, atomically."""
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(run_dir / WEIGHTS) as tmp:
        save_file(state, str(tmp))
    write_json(
        run_dir / META, {"format": "sesli-aligner/1", "kwargs": {"n_tokens": n_tokens, **asdict(model_cfg)}}
    )


def load_aligner(run_dir: str | Path, device: str | torch.device = "cpu") -> Aligner:
    """Load the aligner an :class:`AlignerTask` run saved.

    Raises:
        AlignerError: the run has no ``aligner.json``/``aligner.safetensors`` or they do not match.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    meta_path, weights = run_dir / META, run_dir / WEIGHTS
    if not meta_path.is_file() or not weights.is_file():
        raise AlignerError(f"{run_dir} has no trained aligner ({META} + {WEIGHTS}); train one first")
    try:
        kwargs = json.loads(meta_path.read_text(encoding="utf-8"))["kwargs"]
        model = Aligner(**kwargs)
        model.load_state_dict(load_file(str(weights)))
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError, json.JSONDecodeError) as err:
        raise AlignerError(f"{run_dir}: the saved aligner cannot be loaded ({err})") from None
    return model.to(device).eval()


__all__ = [
    "AlignerDataset",
    "AlignerError",
    "AlignerItem",
    "AlignerModelConfig",
    "AlignerTask",
    "AlignerTaskConfig",
    "aligner_losses",
    "collate",
    "items_from_manifest",
    "load_aligner",
    "save_aligner",
    "train_aligner",
]


def train_aligner(
    prepared_dir: str | Path,
    run_dir: str | Path | None = None,
    *,
    steps: int = 300,
    batch_size: int = 8,
    lr: float = 3e-3,
    cfg: AlignerTaskConfig = AlignerTaskConfig(),
    table: str = "kokoro",
    cpu: bool = False,
    quiet: bool = False,
    device: str | torch.device | None = None,
) -> Aligner:
    """Train (or finish training) an aligner on a prepared folder and return it.

    The run lives in ``run_dir`` (default ``<prepared_dir>/aligner``) as an engine run, so a killed
    run resumes; a finished one is loaded without training. The final weights are written to the
    run as ``aligner.safetensors`` + ``aligner.json``. It always trains in float32.

    Args:
        prepared_dir: ``sesli prepare`` folder with ``train.jsonl`` (``val.jsonl`` used if present).
        run_dir: the aligner's run folder.
        steps: optimizer steps.
        batch_size: clips per step.
        lr: learning rate.
        cfg: loss and model settings (``bin_start_step`` is capped at a third of ``steps``).
        table: symbol table of the phonemes.
        cpu: force CPU (an Accelerate run; ignored when ``device`` is given).
        quiet: no progress bar or start-up messages.
        device: train in this process only, on this device, without Accelerate
            (``LocalAccelerator``): for a caller already inside an Accelerate run, such as the
            main process of a fine-tuning run. None: an Accelerate run of its own.

    Raises:
        AlignerError: no manifest, or no clip with usable phonemes.
    """
    from sesli.text.symbols import get_table
    from sesli.train.config import TrainConfig
    from sesli.train.engine import fit

    prepared = Path(prepared_dir)
    run = Path(run_dir) if run_dir is not None else prepared / "aligner"
    if not (prepared / "train.jsonl").is_file():
        raise AlignerError(f"{prepared} has no train.jsonl; run `sesli prepare` first")
    train_items, skipped = items_from_manifest(prepared / "train.jsonl", table)
    val_items = (
        items_from_manifest(prepared / "val.jsonl", table)[0] if (prepared / "val.jsonl").is_file() else []
    )
    if not train_items:
        raise AlignerError(f"no clip in {prepared / 'train.jsonl'} has usable phonemes (e.g. {skipped})")
    cfg = AlignerTaskConfig(cfg.model, cfg.blank_logprob, cfg.bin_weight, min(cfg.bin_start_step, steps // 3))
    n_tokens = get_table(table).vocab_size
    task = AlignerTask(train_items, val_items, n_tokens=n_tokens, cfg=cfg, run_dir=run)
    engine_cfg = TrainConfig(epochs=10**6, max_steps=steps, batch_size=batch_size, lr=lr,
                             schedule="constant", mixed_precision="no", cpu=cpu, log_every=10)  # fmt: skip
    if device is not None:
        from sesli.train.local import LocalAccelerator

        fit(task, engine_cfg, run, quiet=quiet, accelerator=LocalAccelerator(device))
    else:
        fit(task, engine_cfg, run, quiet=quiet)
    save_aligner(task.model, run, n_tokens=n_tokens, model_cfg=cfg.model)
    return task.model.eval()


def items_from_manifest(path: str | Path, table: str = "kokoro") -> tuple[list[AlignerItem], dict[str, str]]:
    """Aligner items of a manifest (tokens ``[pad, *phonemes, pad]``) and the ids left out, with why."""
    from sesli.data.manifest import read_manifest
    from sesli.text.symbols import get_table

    path = Path(path)
    symbols = get_table(table)
    items, skipped = [], {}
    for utt in read_manifest(path):
        try:
            ids = symbols.encode(utt.phonemes)
        except ValueError as err:
            skipped[utt.id] = str(err)
            continue
        if not ids:
            skipped[utt.id] = "no phonemes"
            continue
        frames = int(utt.duration * SAMPLE_RATE) // SAMPLES_PER_FRAME
        if frames < len(ids) + 2:  # MAS needs a frame per token (pads included)
            skipped[utt.id] = f"{utt.duration:.2f} s gives {frames} frames for {len(ids) + 2} tokens"
            continue
        items.append(
            AlignerItem(utt.id, [symbols.pad_id, *ids, symbols.pad_id], utt.resolve_audio(path.parent))
        )
    return items, skipped
