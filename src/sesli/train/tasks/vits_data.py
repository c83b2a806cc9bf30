"""Data for VITS training: a prepared folder's clips as Piper-convention ids, audio and speakers.

``load_splits`` reads a ``sesli prepare`` folder (``train.jsonl``/``val.jsonl``), encodes each
clip's phonemes with :func:`sesli.text.piper_ids.encode` (``^ _ (id _)* $``, affricates split as
espeak-ng writes them, so an exported voice takes Piper's espeak-ng ids unchanged), numbers the
speakers, and leaves out what cannot train with a line naming the clips and why: no phonemes,
symbols the table lacks, longer than ``max_seconds``, or fewer spectrogram frames than ids
(monotonic alignment needs at least one frame per id).

Audio is read and resampled to the model's rate with soxr (``sesli.audio.io.load_audio``) on
every load: ``sesli prepare`` writes 24 kHz, Piper's medium voices are 22050 Hz. The linear
spectrogram is not computed here but on the batch's device in the task step (it is one STFT, and
it keeps the loader light). Batches are plain random order (:class:`EpochSampler`), not VITS's
length buckets: padding costs some compute, never correctness, since every block is masked.

Letters: B batch, T ids, N samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


class VitsTrainError(RuntimeError):
    """VITS training cannot start: no data, no valid clip, a bad ``init`` or bad settings."""


@dataclass
class VitsClip:
    """One training clip."""

    utt_id: str
    audio_path: Path
    ids: list[int]  # (T,) Piper-convention ids
    speaker: int


@dataclass
class VitsBatch:
    """A padded batch (see the module's letters)."""

    ids: Tensor  # (B, T) int64, 0 (pad) after each item's end
    id_lengths: Tensor  # (B,)
    wavs: Tensor  # (B, N) float32, zero after each item's end
    wav_lengths: Tensor  # (B,) samples
    speakers: Tensor  # (B,) int64
    utt_ids: list[str] = field(default_factory=list)

    def to(self, device: torch.device | str) -> VitsBatch:
        return VitsBatch(
            ids=self.ids.to(device),
            id_lengths=self.id_lengths.to(device),
            wavs=self.wavs.to(device),
            wav_lengths=self.wav_lengths.to(device),
            speakers=self.speakers.to(device),
            utt_ids=self.utt_ids,
        )


@dataclass
class VitsSplits:
    """Data loaders for the engine, the speaker table and a summary for the run's JSON."""

    train: DataLoader
    val: DataLoader
    speaker_id_map: dict[str, int]
    summary: dict[str, Any]


class VitsClipDataset(Dataset):
    """Loads each clip's audio at ``sample_rate`` (mono float32, resampled with soxr if needed)."""

    def __init__(self, clips: Sequence[VitsClip], sample_rate: int) -> None:
        self.clips = list(clips)
        self.sample_rate = sample_rate

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from sesli.audio.io import AudioDecodeError, load_audio

        clip = self.clips[index]
        try:
            audio, _ = load_audio(clip.audio_path, sr=self.sample_rate)
        except AudioDecodeError as err:
            raise VitsTrainError(f"clip {clip.utt_id}: {err}") from None
        return {
            "utt_id": clip.utt_id,
            "ids": torch.tensor(clip.ids, dtype=torch.long),
            "wav": torch.from_numpy(audio),
            "speaker": clip.speaker,
        }


def collate(items: list[dict[str, Any]]) -> VitsBatch:
    """Pad :class:`VitsClipDataset` items into a :class:`VitsBatch`."""
    pad = torch.nn.utils.rnn.pad_sequence
    return VitsBatch(
        ids=pad([it["ids"] for it in items], batch_first=True),  # (B, T)
        id_lengths=torch.tensor([len(it["ids"]) for it in items]),
        wavs=pad([it["wav"] for it in items], batch_first=True),  # (B, N)
        wav_lengths=torch.tensor([len(it["wav"]) for it in items]),
        speakers=torch.tensor([it["speaker"] for it in items], dtype=torch.long),
        utt_ids=[it["utt_id"] for it in items],
    )


def _read_split(prepared: Path, name: str) -> list[Any]:
    from sesli.data.manifest import ManifestError, read_split

    try:
        return read_split(prepared, name)
    except ManifestError as err:
        raise VitsTrainError(f"{prepared / (name + '.jsonl')}: {err}") from None


def speaker_table(utterances: Sequence[Any]) -> dict[str, int]:
    """Speaker name -> id, in sorted name order (``""``, an unnamed speaker, is a name too)."""
    return {name: i for i, name in enumerate(sorted({u.speaker for u in utterances}))}


def check_clips(
    utterances: Sequence[Any],
    speakers: dict[str, int],
    *,
    root: Path,
    sample_rate: int,
    hop: int,
    max_seconds: float | None,
) -> tuple[list[VitsClip], dict[str, list[str]]]:
    """Encode each utterance; sort out those that cannot train.

    Returns:
        ``(kept, left_out)``: the clips, and the ids left out by reason.
    """
    from sesli.text.piper_ids import encode
    from sesli.text.symbols import UnknownSymbolError

    kept, left_out = [], {}
    for utt in utterances:
        reason, ids = None, []
        if not utt.phonemes:
            reason = "no phonemes"
        else:
            try:
                ids = encode(utt.phonemes)
            except UnknownSymbolError as err:
                reason = f"symbols outside the VITS table ({', '.join(err.symbols)})"
        frames = int(utt.duration * sample_rate) // hop
        if reason is None and max_seconds is not None and utt.duration > max_seconds:
            reason = f"longer than {max_seconds:g} s"
        elif reason is None and frames < len(ids):
            reason = "fewer spectrogram frames than ids (too short for its text)"
        if reason:
            left_out.setdefault(reason, []).append(utt.id)
        else:
            kept.append(VitsClip(utt.id, utt.resolve_audio(root), ids, speakers[utt.speaker]))
    return kept, left_out


def describe_left_out(split: str, left_out: dict[str, list[str]]) -> str:
    """One line per reason, naming up to five clips."""
    lines = []
    for reason, ids in left_out.items():
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        lines.append(f"{split}: {len(ids)} clip(s) left out, {reason}: {', '.join(ids[:5])}{more}")
    return "\n".join(lines)


def load_splits(
    data: str | Path,
    *,
    sample_rate: int,
    hop: int,
    batch_size: int,
    seed: int,
    max_seconds: float | None = None,
    num_workers: int = 0,
    quiet: bool = False,
) -> VitsSplits:
    """Checked clips of a prepared folder as the engine's data loaders.

    Raises:
        VitsTrainError: no prepared folder, or no valid training clip (the reasons named).
    """
    from sesli.train.sampler import EpochSampler

    prepared = Path(data)
    if not (prepared / "train.jsonl").is_file():
        raise VitsTrainError(
            f"{prepared} has no train.jsonl: make it with `sesli prepare SOURCE --out {prepared}`"
        )
    train_utts, val_utts = _read_split(prepared, "train"), _read_split(prepared, "val")
    speakers = speaker_table([*train_utts, *val_utts])
    kw = {"root": prepared, "sample_rate": sample_rate, "hop": hop, "max_seconds": max_seconds}
    train_clips, train_out = check_clips(train_utts, speakers, **kw)
    val_clips, val_out = check_clips(val_utts, speakers, **kw)
    notes = "\n".join(
        x for x in (describe_left_out("train", train_out), describe_left_out("val", val_out)) if x
    )
    if not train_clips:
        raise VitsTrainError(
            f"no valid training clip in {prepared} ({len(train_utts)} in train.jsonl):\n{notes}"
        )
    if notes and not quiet:
        print(notes)
    if not val_clips:
        if not quiet:
            print("val: no valid clip; validating on the training clips")
        val_clips = train_clips
    train, val = VitsClipDataset(train_clips, sample_rate), VitsClipDataset(val_clips, sample_rate)
    seconds = sum(u.duration for u in train_utts if u.id in {c.utt_id for c in train_clips})
    summary = {
        "prepared_dir": str(prepared.resolve()),
        "train_clips": len(train),
        "val_clips": len(val),
        "train_hours": round(seconds / 3600, 4),
        "speakers": len(speakers),
        "left_out": {reason: len(ids) for d in (train_out, val_out) for reason, ids in d.items()},
    }
    return VitsSplits(
        train=DataLoader(
            train,
            batch_size=batch_size,
            sampler=EpochSampler(len(train), seed=seed),
            collate_fn=collate,
            num_workers=num_workers,
        ),
        val=DataLoader(
            val, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers
        ),
        speaker_id_map=speakers,
        summary=summary,
    )


__all__ = [
    "VitsBatch",
    "VitsClip",
    "VitsClipDataset",
    "VitsSplits",
    "VitsTrainError",
    "check_clips",
    "collate",
    "describe_left_out",
    "load_splits",
    "speaker_table",
]
