"""Data for Kokoro fine-tuning: the clips with their targets, checked and batched.

``load_splits`` reads a ``sesli prepare`` folder (``train.jsonl``/``val.jsonl``), encodes phonemes
with the Kokoro symbol table, leaves out clips that cannot train (no phonemes, more than the
510-phoneme context, longer than ``max_seconds``) with a line saying which and why, attaches the
training targets (durations in 600-sample frames, F0 and energy at hop 300) from the cache next to
the manifests -- running alignment and extraction first when the cache is missing -- and returns
deterministic data loaders for the engine. The base model is loaded by
``sesli.models.kokoro.base.load_base``; the error type and the batch live in ``kokoro_common``.

Target extraction runs once per run, on the main process only: under ``accelerate launch`` rank 0
trains the aligner (in this process, on its device, in float32, with no second ``Accelerator``:
``sesli.train.local.LocalAccelerator``) and writes the cache while the other ranks wait at a
barrier, then every rank reads the cache.

Letters: T tokens (phonemes + 2 boundary tokens), F frames of 600 samples, N = 600 F samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from sesli.models.kokoro.config import SAMPLE_RATE, SAMPLES_PER_FRAME
from sesli.train.tasks.kokoro_common import FinetuneBatch, FinetuneError


@dataclass
class Clip:
    """One training clip with its targets."""

    utt_id: str
    audio_path: Path
    ids: np.ndarray  # (T,) int64, [0, phonemes..., 0]
    durations: np.ndarray  # (T,) int64 frames per token, sum = F
    f0: np.ndarray  # (2F,) Hz
    energy: np.ndarray  # (2F,)


@dataclass
class Splits:
    """Data loaders for the engine and a summary for the model card."""

    train: DataLoader
    val: DataLoader
    summary: dict[str, Any]


def encode_phonemes(phonemes: str) -> list[int]:
    """Kokoro ids with the two boundary tokens: ``[0, ids..., 0]``."""
    from sesli.text.symbols import get_table

    return [0, *get_table("kokoro").encode(phonemes, errors="report").ids, 0]


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad the last axis of ``x`` to ``n``."""
    if x.shape[-1] >= n:
        return x[..., :n]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])])


class ClipDataset(Dataset):
    """Loads each clip's audio (24 kHz) and cuts it to exactly 600 x sum(durations) samples."""

    def __init__(self, clips: Sequence[Clip]) -> None:
        self.clips = list(clips)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import soundfile as sf

        clip = self.clips[index]
        audio, sr = sf.read(clip.audio_path, dtype="float32", always_2d=True)
        if sr != SAMPLE_RATE:
            raise FinetuneError(f"{clip.audio_path}: {sr} Hz, expected {SAMPLE_RATE} (run `sesli prepare`)")
        frames = int(clip.durations.sum())
        return {
            "utt_id": clip.utt_id,
            "ids": torch.from_numpy(clip.ids.astype(np.int64)),
            "durations": torch.from_numpy(clip.durations.astype(np.int64)),
            "f0": torch.from_numpy(_fit_length(clip.f0.astype(np.float32), 2 * frames)),
            "energy": torch.from_numpy(_fit_length(clip.energy.astype(np.float32), 2 * frames)),
            "wav": torch.from_numpy(_fit_length(audio[:, 0], SAMPLES_PER_FRAME * frames)),
            "frames": frames,
        }


def _pad(tensors: list[Tensor]) -> Tensor:
    return torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)


def collate(items: list[dict[str, Any]]) -> FinetuneBatch:
    """Pad a list of :class:`ClipDataset` items into a ``FinetuneBatch``."""
    return FinetuneBatch(
        ids=_pad([it["ids"] for it in items]),  # (B, T)
        id_lengths=torch.tensor([len(it["ids"]) for it in items]),
        durations=_pad([it["durations"] for it in items]),  # (B, T)
        f0=_pad([it["f0"] for it in items]),  # (B, 2F)
        energy=_pad([it["energy"] for it in items]),  # (B, 2F)
        wavs=_pad([it["wav"] for it in items]),  # (B, N)
        frame_lengths=torch.tensor([it["frames"] for it in items]),
        utt_ids=[it["utt_id"] for it in items],
    )


def _read_split(prepared: Path, name: str) -> list[Any]:
    from sesli.data.manifest import ManifestError, read_split

    try:
        return read_split(prepared, name)
    except ManifestError as err:
        raise FinetuneError(f"{prepared / (name + '.jsonl')}: {err}") from None


def check_clips(
    utterances: Sequence[Any], *, max_tokens: int, max_seconds: float | None
) -> tuple[list[tuple[Any, list[int]]], dict[str, list[str]]]:
    """Encode each utterance and sort out the ones that cannot train.

    Returns:
        ``(kept, left_out)``: kept ``(utterance, ids)`` pairs, and ids of the clips left out by
        reason ("no phonemes", "over the N-phoneme context", "longer than S s").
    """
    kept, left_out = [], {}
    for utt in utterances:
        ids = encode_phonemes(utt.phonemes) if utt.phonemes else [0, 0]
        reason = None
        if len(ids) <= 2:
            reason = "no phonemes"
        elif len(ids) > max_tokens:
            reason = f"over the {max_tokens - 2}-phoneme context"
        elif max_seconds is not None and utt.duration > max_seconds:
            reason = f"longer than {max_seconds:g} s"
        if reason:
            left_out.setdefault(reason, []).append(utt.id)
        else:
            kept.append((utt, ids))
    return kept, left_out


def describe_left_out(split: str, left_out: dict[str, list[str]]) -> str:
    """One line per reason, naming up to five clips."""
    lines = []
    for reason, ids in left_out.items():
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        lines.append(f"{split}: {len(ids)} clip(s) left out, {reason}: {', '.join(ids[:5])}{more}")
    return "\n".join(lines)


def targets_settings(cfg: Any) -> dict[str, Any]:
    """What makes a targets cache: the aligner's training steps, model and losses, the boundary shift.

    A cache (and an aligner run) made with other values is stale and rebuilt.
    """
    from dataclasses import asdict

    from sesli.train.tasks.aligner import AlignerTaskConfig

    return {"aligner_steps": cfg.aligner_steps, "aligner": asdict(AlignerTaskConfig()),
            "boundary_shift": cfg.boundary_shift}  # fmt: skip


def targets_root(cfg: Any, prepared: str | Path | None = None) -> Path:
    """Where the targets of ``prepared`` (default ``cfg.data``) are written: ``cfg.targets_dir``
    or ``<prepared>/targets``."""
    from sesli.train.targets import default_out

    return Path(cfg.targets_dir) if cfg.targets_dir else default_out(prepared or cfg.data)


def aligner_run_dir(cfg: Any, prepared: str | Path | None = None) -> Path:
    """The aligner's run folder: ``<targets>/aligner-<8 hex of its settings>``."""
    import hashlib
    import json

    key = hashlib.sha256(json.dumps(targets_settings(cfg), sort_keys=True).encode()).hexdigest()[:8]
    return targets_root(cfg, prepared) / f"aligner-{key}"


def load_targets(
    prepared: Path, cfg: Any, *, quiet: bool = False, accelerator: Any = None, rebuild: bool = False
) -> Any:
    """The targets cache of a prepared folder, extracted first when missing, stale or interrupted.

    Extraction trains the aligner (:func:`aligner_run_dir`, an engine run, so it resumes too) and
    then writes :func:`targets_root` with a progress bar; a finished cache made from the same
    manifests and :func:`targets_settings` is reused as is.

    Args:
        prepared: the ``sesli prepare`` folder.
        cfg: ``FinetuneConfig`` (``aligner_steps``, ``boundary_shift``, ``targets_dir``).
        quiet: no messages, progress bars or tables (the aligner's run included).
        accelerator: the fine-tuning run's accelerator, when called from inside it: only its main
            process extracts, on its device, and the others wait for it. None: this process alone,
            the aligner in an Accelerate run of its own.
        rebuild: extract again even if the cache is up to date (the trained aligner is kept).

    Raises:
        FinetuneError: the cache cannot be (re)built (the message says why).
    """
    from sesli.train.targets import TargetsError, open_targets

    root, settings = targets_root(cfg, prepared), targets_settings(cfg)
    reason: Any = "rebuild asked for"
    if not rebuild:
        try:
            return open_targets(prepared, root, settings=settings)
        except TargetsError as err:
            reason = err
    main = accelerator is None or accelerator.is_main_process
    cache, failure = None, None
    if main:
        if not quiet:
            print(f"training targets: {reason}")
            print(f"training targets: aligning the clips and extracting durations, F0 and energy into {root}")
        device = accelerator.device if accelerator is not None else None
        try:
            cache = _extract(prepared, cfg, quiet=quiet, device=device, force=rebuild)
        except FinetuneError as err:  # the other ranks must still get past the barrier
            failure = err
    if accelerator is not None:
        accelerator.wait_for_everyone()
    if failure is not None:
        raise failure
    if cache is None:  # not the main process: read what it wrote
        try:
            cache = open_targets(prepared, root, settings=settings)
        except TargetsError as err:
            raise FinetuneError(
                f"the main process did not extract the targets for {prepared}: {err}"
            ) from None
    if not quiet and main and cache.skipped:
        print(
            f"targets: {len(cache.skipped)} clip(s) without targets, e.g. {next(iter(cache.skipped.items()))}"
        )
    return cache


def _extract(prepared: Path, cfg: Any, *, quiet: bool, device: Any, force: bool = False) -> Any:
    """Train the aligner and extract the cache (in this process; ``device`` None: Accelerate's)."""
    from sesli.train.targets import INDEX, TargetsError, extract_targets
    from sesli.train.tasks.aligner import AlignerError, train_aligner

    root = targets_root(cfg, prepared)
    try:
        aligner = train_aligner(
            prepared, aligner_run_dir(cfg, prepared), steps=cfg.aligner_steps, quiet=quiet, device=device
        )
        if force:
            for old in root.glob("*.npz"):
                old.unlink()
            (root / INDEX).unlink(missing_ok=True)
        with _progress(quiet, "targets") as progress:
            return extract_targets(prepared, aligner, root, progress=progress,
                                   settings=targets_settings(cfg), boundary_shift=cfg.boundary_shift)  # fmt: skip
    except (AlignerError, TargetsError, OSError, ValueError) as err:
        raise FinetuneError(f"could not extract training targets for {prepared}: {err}") from None


class _progress:
    """A tqdm bar driven by ``extract_targets``'s ``progress(done, total, id)`` callback."""

    def __init__(self, quiet: bool, desc: str) -> None:
        self.quiet, self.desc, self.bar = quiet, desc, None

    def __enter__(self):
        return None if self.quiet else self._update

    def _update(self, done: int, total: int, utt_id: str) -> None:
        from tqdm.auto import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="clip")
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _clips(
    prepared: Path, kept: list[tuple[Any, list[int]]], cache: Any, left_out: dict[str, list[str]]
) -> list[Clip]:
    """Attach targets; clips the extraction had to skip join ``left_out`` with its reason."""
    clips = []
    for utt, _ in kept:
        if utt.id not in cache:
            why = cache.skipped.get(utt.id, "not in the targets cache")
            left_out.setdefault(f"no training targets ({why.split(':')[0]})", []).append(utt.id)
            continue
        t = cache[utt.id]
        clips.append(Clip(utt.id, utt.resolve_audio(prepared), t.tokens, t.durations, t.f0, t.energy))
    return clips


def load_splits(
    cfg: Any, model_config: Any, train_cfg: Any, *, quiet: bool = False, accelerator: Any = None
) -> Splits:
    """Checked clips with targets from a prepared folder, as the engine's data loaders.

    Args:
        cfg: ``FinetuneConfig`` (``data``, ``max_seconds``, ``aligner_steps``).
        model_config: the base model's ``KokoroConfig`` (its phoneme context).
        train_cfg: the engine's ``TrainConfig`` (batch size, seed).
        quiet: no messages about left-out clips, no progress bars while extracting targets.
        accelerator: the run's accelerator (targets are extracted by its main process only).

    Raises:
        FinetuneError: no prepared folder, no valid clip, or unusable targets.
    """
    from sesli.train.sampler import EpochSampler

    prepared = Path(cfg.data)
    if not (prepared / "train.jsonl").is_file():
        raise FinetuneError(
            f"{prepared} has no train.jsonl: make it with `sesli prepare SOURCE --out {prepared}`"
        )
    max_tokens = model_config.max_phonemes + 2
    train_utts, val_utts = _read_split(prepared, "train"), _read_split(prepared, "val")
    train_kept, train_out = check_clips(train_utts, max_tokens=max_tokens, max_seconds=cfg.max_seconds)
    val_kept, val_out = check_clips(val_utts, max_tokens=max_tokens, max_seconds=cfg.max_seconds)
    if not train_kept:
        notes = describe_left_out("train", train_out)
        raise FinetuneError(
            f"no valid training clip in {prepared} ({len(train_utts)} in train.jsonl):\n{notes}"
        )
    cache = load_targets(prepared, cfg, quiet=quiet, accelerator=accelerator)
    train = ClipDataset(_clips(prepared, train_kept, cache, train_out))
    val = ClipDataset(_clips(prepared, val_kept, cache, val_out))
    notes = "\n".join(
        x for x in (describe_left_out("train", train_out), describe_left_out("val", val_out)) if x
    )
    if not len(train):
        raise FinetuneError(
            f"no valid training clip in {prepared} ({len(train_utts)} in train.jsonl):\n{notes}"
        )
    if notes and not quiet:
        print(notes)
    if not len(val):
        if not quiet:
            print(
                "val: no valid clip; validating on the training clips (early stopping cannot see overfitting)"
            )
        val = train
    bs = train_cfg.batch_size
    seconds = sum(float(c.durations.sum()) for c in train.clips) * SAMPLES_PER_FRAME / SAMPLE_RATE
    summary = {
        "prepared_dir": str(prepared.resolve()),
        "train_clips": len(train),
        "val_clips": len(val),
        "train_hours": round(seconds / 3600, 4),
        "left_out": {reason: len(ids) for d in (train_out, val_out) for reason, ids in d.items()},
    }
    return Splits(
        train=DataLoader(
            train, batch_size=bs, sampler=EpochSampler(len(train), seed=train_cfg.seed), collate_fn=collate
        ),
        val=DataLoader(val, batch_size=bs, shuffle=False, collate_fn=collate),
        summary=summary,
    )
