"""Data for Kokoro fine-tuning: the base model, the clips with their targets, checked and batched.

``load_splits`` reads a ``sesli prepare`` folder (``train.jsonl``/``val.jsonl``), encodes phonemes
with the Kokoro symbol table, leaves out clips that cannot train (no phonemes, more than the
510-phoneme context, longer than ``max_seconds``) with a line saying which and why, attaches the
training targets (durations in 600-sample frames, F0 and energy at hop 300) from the cache next to
the manifests -- running alignment and extraction first when the cache is missing -- and returns
deterministic data loaders for the engine.

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

SAMPLE_RATE = 24000
SAMPLES_PER_FRAME = 600


class FinetuneError(RuntimeError):
    """Fine-tuning cannot start: bad data, no valid clip, unusable targets or base (message says why)."""


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


def collate(items: list[dict[str, Any]]):
    """Pad a list of :class:`ClipDataset` items into a ``FinetuneBatch``."""
    from sesli.train.tasks.kokoro_finetune import FinetuneBatch

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
    from sesli.data.manifest import ManifestError, read_manifest

    path = prepared / f"{name}.jsonl"
    if not path.is_file():
        return []
    try:
        return list(read_manifest(path))
    except ManifestError as err:
        raise FinetuneError(f"{path}: {err}") from None


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


def load_targets(prepared: Path, cfg: Any, *, quiet: bool = False) -> Any:
    """The targets cache of a prepared folder, extracted first when missing, stale or interrupted.

    Extraction trains the aligner (``<prepared>/aligner``, an engine run, so it resumes too) and
    then writes ``<prepared>/targets`` with a progress bar; a finished cache is reused as is.

    Raises:
        FinetuneError: the cache cannot be (re)built (the message says why).
    """
    from sesli.train.targets import TargetsError, extract_targets, open_targets

    try:
        return open_targets(prepared)
    except TargetsError as err:
        if not quiet:
            print(f"training targets: {err}")
            print("training targets: aligning the clips and extracting durations, F0 and energy (once)")
    from sesli.train.tasks.aligner import train_aligner  # PROVISIONAL name, H6

    try:
        aligner = train_aligner(prepared, steps=cfg.aligner_steps, quiet=quiet)
        with _progress(quiet, "targets") as progress:
            cache = extract_targets(prepared, aligner, progress=progress)
    except (TargetsError, OSError, ValueError) as err:
        raise FinetuneError(f"could not extract training targets for {prepared}: {err}") from None
    if not quiet and cache.skipped:
        print(
            f"targets: {len(cache.skipped)} clip(s) without targets, e.g. {next(iter(cache.skipped.items()))}"
        )
    return cache


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


def load_splits(cfg: Any, model_config: Any, train_cfg: Any, *, quiet: bool = False) -> Splits:
    """Checked clips with targets from a prepared folder, as the engine's data loaders.

    Args:
        cfg: ``FinetuneConfig`` (``data``, ``max_seconds``, ``aligner_steps``).
        model_config: the base model's ``KokoroConfig`` (its phoneme context).
        train_cfg: the engine's ``TrainConfig`` (batch size, seed).
        quiet: no messages about left-out clips.

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
    cache = load_targets(prepared, cfg, quiet=quiet)
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


def _as_pack(source: Tensor | Path | str) -> Tensor:
    if isinstance(source, Tensor):
        return source
    try:
        pack = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a bad pickle/zip
        raise FinetuneError(f"cannot read voice pack {source}: {type(err).__name__}") from None
    if not isinstance(pack, Tensor):
        raise FinetuneError(f"voice pack {source} does not hold a tensor")
    return pack


def load_base(base: str | None, *, voice: str | None = None) -> tuple[Any, Tensor | None, dict[str, str]]:
    """The base Kokoro model, the voice pack(s) the new style starts from, and where they came from.

    Args:
        base: ``"debug"``, a hub id (``hexgrad/Kokoro-82M``), a local path, or None for the default
            base (official when cached, else the packaged int8 weights).
        voice: a voice name of the base or a ``.pt`` path; None takes every voice the base has
            locally (their mean becomes the start), else its default voice.

    Returns:
        ``(model, voices (P, 1, R) or None, {"id", "source"})``; ``id`` is what a later load
        needs (local paths made absolute).

    Raises:
        FinetuneError: the base or the voice cannot be loaded.
    """
    from sesli.models.kokoro.loading import ModelLoadError, from_pretrained

    try:
        loaded = from_pretrained(base)
    except ModelLoadError as err:
        raise FinetuneError(f"cannot load the base model {base!r}: {err}") from None
    if base is None:  # the default base: record what it resolved to, so a later load is the same
        base_id = loaded.source
    else:
        local = Path(base).expanduser()
        base_id = str(local.resolve()) if base != "debug" and local.exists() else str(base)
    packs: list[Tensor] = []
    try:
        if voice is not None:
            source = loaded.voices.get(voice) or (Path(voice) if Path(voice).is_file() else None)
            if source is None and loaded.fetch_voice is not None:
                source = loaded.fetch_voice(voice)
            if source is None:
                raise FinetuneError(
                    f"unknown voice {voice!r}; {base} has: {', '.join(loaded.voices) or 'none'}"
                )
            packs = [_as_pack(source)]
        elif loaded.voices:
            packs = [_as_pack(v) for v in loaded.voices.values()]
        elif loaded.default_voice and loaded.fetch_voice is not None:
            packs = [_as_pack(loaded.fetch_voice(loaded.default_voice))]
    except ModelLoadError as err:
        raise FinetuneError(str(err)) from None
    r = loaded.model.config.ref_dim
    packs = [p.reshape(-1, 1, p.shape[-1]).float() for p in packs if p.shape[-1] == r]
    voices = torch.cat(packs) if packs else None
    return loaded.model, voices, {"id": base_id, "source": loaded.source}
