"""Data for the sound models: a prepared folder's clips as fixed-length random crops with labels.

``load_sound_data`` reads a ``sesli sound prepare`` folder (``train.jsonl`` / ``val.jsonl``),
numbers the clips' labels (:func:`clip_label`: ``labels["label"]``, else the speaker, which the
folder source sets to the first sub-folder, ``rain/``) and serves crops of ``segment`` samples.

Exact resume: the crop of clip ``i`` in epoch ``e`` starts at an offset drawn from
``np.random.default_rng([seed, e, i])``, never from a global RNG. :class:`CropSampler` (an
:class:`~sesli.train.sampler.EpochSampler`) hands the dataset ``(epoch, index)`` keys instead of
bare indices, so the epoch travels with each request: worker processes and the engine's skipping
of consumed batches see the same crops, an epoch replayed gives the same crops and the next epoch
other ones. Validation crops are fixed (``default_rng([seed, i])``), so validation losses compare
across steps. Clips shorter than ``segment`` are zero-padded and ``lengths`` says how many samples
are real. Only the crop is read from disk (``soundfile`` seeks), so long clips cost nothing extra.

Letters: B batch, N samples (``segment``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from sesli.train.sampler import EpochSampler


class SoundDataError(ValueError):
    """Sound training data cannot be used: no prepared folder, no clips, wrong rate or labels."""


@dataclass
class SoundBatch:
    """A batch of crops; everything past an item's ``lengths`` samples is zero."""

    audio: Tensor  # (B, 1, N) float32
    lengths: Tensor  # (B,) int64 valid samples (<= N)
    labels: Tensor  # (B,) int64 ids into the run's label list (-1: unconditional)
    pitch: Tensor  # (B,) int64 MIDI pitch, -1 when unknown
    ids: list[str] = field(default_factory=list)

    def to(self, device: torch.device | str) -> SoundBatch:
        return SoundBatch(
            audio=self.audio.to(device),
            lengths=self.lengths.to(device),
            labels=self.labels.to(device),
            pitch=self.pitch.to(device),
            ids=self.ids,
        )


@dataclass
class SoundClip:
    """One prepared clip, ready to crop."""

    id: str
    path: Path
    frames: int  # samples in the file (from the manifest's duration)
    label: int  # id into the label list, -1 for unconditional
    pitch: int = -1


def clip_label(utt: Any) -> str:
    """A clip's label: ``utt.labels["label"]`` when set, else its speaker (the folder's sub-folder)."""
    labels = getattr(utt, "labels", None) or {}
    return str(labels.get("label") or utt.speaker)


def label_list(utts: Sequence[Any]) -> list[str]:
    """The sorted unique labels of ``utts`` (the model's label table)."""
    return sorted({clip_label(u) for u in utts})


def _pitch(utt: Any) -> int:
    value = (getattr(utt, "labels", None) or {}).get("pitch")
    try:
        return int(value) if value is not None else -1
    except (TypeError, ValueError):
        return -1


class CropSampler(EpochSampler):
    """An :class:`EpochSampler` yielding ``(epoch, index)`` keys, so crops depend on the epoch."""

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        epoch = self.epoch
        return iter([(epoch, i) for i in super().__iter__()])


class SoundCropDataset(Dataset):
    """Crops of ``segment`` samples (see the module docstring for how offsets are drawn).

    Args:
        clips: the clips.
        sample_rate: the model's rate (each read checks the file has it).
        segment: crop length in samples.
        seed: the run's seed.

    Indexing with an int gives the fixed (validation) crop; with ``(epoch, index)`` the random
    training crop of that epoch.
    """

    def __init__(self, clips: Sequence[SoundClip], *, sample_rate: int, segment: int, seed: int) -> None:
        self.clips = list(clips)
        self.sample_rate, self.segment, self.seed = sample_rate, segment, seed

    def __len__(self) -> int:
        return len(self.clips)

    def offset(self, index: int, epoch: int | None) -> int:
        """Start sample of clip ``index``'s crop in ``epoch`` (None: the fixed validation crop)."""
        spare = self.clips[index].frames - self.segment
        if spare <= 0:
            return 0
        key = [self.seed, index] if epoch is None else [self.seed, epoch, index]
        return int(np.random.default_rng(key).integers(0, spare + 1))

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (None, int(key))
        clip = self.clips[index]
        start = self.offset(index, epoch)
        try:
            audio, sr = sf.read(str(clip.path), start=start, stop=start + self.segment, dtype="float32",
                                always_2d=True)  # fmt: skip
        except (sf.LibsndfileError, RuntimeError) as err:
            raise SoundDataError(f"clip {clip.id}: cannot read {clip.path}: {err}") from None
        if sr != self.sample_rate:
            raise SoundDataError(
                f"clip {clip.id} is {sr} Hz but the model runs at {self.sample_rate} Hz; "
                "prepare the data again at the model's rate"
            )
        wav = np.zeros(self.segment, dtype=np.float32)
        n = min(len(audio), self.segment)
        wav[:n] = audio[:n].mean(axis=1)
        return {"id": clip.id, "audio": torch.from_numpy(wav), "length": n, "label": clip.label,
                "pitch": clip.pitch}  # fmt: skip


def collate(items: list[dict[str, Any]]) -> SoundBatch:
    """Stack :class:`SoundCropDataset` items into a :class:`SoundBatch`."""
    return SoundBatch(
        audio=torch.stack([it["audio"] for it in items]).unsqueeze(1),  # (B, 1, N)
        lengths=torch.tensor([it["length"] for it in items], dtype=torch.long),
        labels=torch.tensor([it["label"] for it in items], dtype=torch.long),
        pitch=torch.tensor([it["pitch"] for it in items], dtype=torch.long),
        ids=[it["id"] for it in items],
    )


@dataclass
class SoundData:
    """Loaders for the engine, the label table and a summary for the run's record."""

    train: DataLoader
    val: DataLoader | None
    labels: list[str]
    summary: dict[str, Any]


def _read(prepared: Path, name: str) -> list[Any]:
    from sesli.data.manifest import ManifestError, read_split

    try:
        return read_split(prepared, name)
    except ManifestError as err:
        raise SoundDataError(f"{prepared / (name + '.jsonl')}: {err}") from None


def _check_rates(utts: Sequence[Any], sample_rate: int, prepared: Path) -> None:
    rates = Counter(int(u.sample_rate) for u in utts)
    wrong = {r: c for r, c in rates.items() if r != sample_rate}
    if wrong:
        found = ", ".join(f"{c} clip(s) at {r} Hz" for r, c in sorted(wrong.items()))
        raise SoundDataError(
            f"{prepared}: {found}, but the model runs at {sample_rate} Hz; prepare the data again "
            f"with --sample-rate {sample_rate} (or choose a model at the data's rate)"
        )


def _clips(
    utts: Sequence[Any], table: dict[str, int] | None, sample_rate: int, root: Path
) -> list[SoundClip]:
    return [
        SoundClip(
            u.id,
            u.resolve_audio(root),
            int(round(u.duration * sample_rate)),
            -1 if table is None else table[clip_label(u)],
            _pitch(u),
        )
        for u in utts
    ]


def _pick_val(train: list[Any], val: list[Any], val_clips: int | None) -> tuple[list[Any], list[Any]]:
    """``(train, val)`` utterances; see :func:`load_sound_data` for ``val_clips``."""
    if val_clips is None:
        return train, val
    if val_clips <= 0:
        return train, []
    if val:
        step = len(val) / min(val_clips, len(val))
        return train, [val[int(i * step)] for i in range(min(val_clips, len(val)))]
    k = min(val_clips, len(train) - 1)  # hold out of train, evenly spaced; one clip always trains
    picked = {int((i + 0.5) * len(train) / k) for i in range(k)} if k > 0 else set()
    return [u for i, u in enumerate(train) if i not in picked], [
        u for i, u in enumerate(train) if i in picked
    ]


def load_sound_data(
    data_dir: str | Path,
    *,
    sample_rate: int,
    segment: int,
    batch_size: int,
    seed: int,
    labels: Sequence[str] | None = None,
    val_clips: int | None = None,
    num_workers: int = 0,
) -> SoundData:
    """A prepared folder's clips as the engine's loaders of ``segment``-sample crops.

    Args:
        data_dir: a folder written by :func:`sesli.data.sound_prepare.prepare_sound`.
        sample_rate: the model's rate; every clip must have it.
        segment: crop length in samples (a model's ``samples_per_frame`` multiple, typically).
        batch_size: clips per batch (the last batch of an epoch may be smaller).
        seed: the run's seed (crop offsets and the shuffle).
        labels: the label table to use (a model's, when training on new data); None builds it
            from the data (:func:`label_list`); ``[]`` trains unconditionally (label ids -1).
        val_clips: None: every clip of ``val.jsonl``; 0: no validation; k: k clips of
            ``val.jsonl``, evenly spaced, or k held out of ``train.jsonl`` if it is empty.
        num_workers: DataLoader worker processes.

    Raises:
        SoundDataError: no ``train.jsonl``, no training clip, clips at another rate than
            ``sample_rate``, labels outside ``labels``, or a non-positive ``segment``.
    """
    prepared = Path(data_dir)
    if segment <= 0 or batch_size <= 0:
        raise SoundDataError(f"segment and batch_size must be positive, got {segment} and {batch_size}")
    if not (prepared / "train.jsonl").is_file():
        raise SoundDataError(
            f"{prepared} has no train.jsonl: make it with `sesli sound prepare SOURCE --out {prepared}`"
        )
    train_utts, val_utts = _pick_val(_read(prepared, "train"), _read(prepared, "val"), val_clips)
    if not train_utts:
        raise SoundDataError(f"{prepared}/train.jsonl holds no clips; see rejects.jsonl for why")
    _check_rates([*train_utts, *val_utts], sample_rate, prepared)
    names = label_list([*train_utts, *val_utts]) if labels is None else list(labels)
    table = {name: i for i, name in enumerate(names)} if names else None
    if table is not None:
        unknown = sorted({clip_label(u) for u in [*train_utts, *val_utts]} - table.keys())
        if unknown:
            raise SoundDataError(
                f"{prepared}: label(s) {', '.join(unknown)} are not among the model's labels "
                f"({', '.join(names)}); relabel the data or train a new model"
            )
    kw = {"sample_rate": sample_rate, "segment": segment, "seed": seed}
    train_set = SoundCropDataset(_clips(train_utts, table, sample_rate, prepared), **kw)
    val_set = SoundCropDataset(_clips(val_utts, table, sample_rate, prepared), **kw) if val_utts else None
    summary = {
        "data_dir": str(prepared.resolve()),
        "sample_rate": sample_rate,
        "segment": segment,
        "train_clips": len(train_set),
        "val_clips": len(val_set) if val_set is not None else 0,
        "train_seconds": round(sum(u.duration for u in train_utts), 3),
        "labels": dict(sorted(Counter(clip_label(u) for u in train_utts).items())),
        "with_pitch": sum(_pitch(u) >= 0 for u in train_utts),
    }
    return SoundData(
        train=DataLoader(
            train_set,
            batch_size=batch_size,
            sampler=CropSampler(len(train_set), seed=seed),
            collate_fn=collate,
            num_workers=num_workers,
        ),
        val=None
        if val_set is None
        else DataLoader(
            val_set, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers
        ),
        labels=names,
        summary=summary,
    )


__all__ = [
    "CropSampler",
    "SoundBatch",
    "SoundClip",
    "SoundCropDataset",
    "SoundData",
    "SoundDataError",
    "clip_label",
    "collate",
    "label_list",
    "load_sound_data",
]
