"""Training data from a manifest: waveform, mel and symbol ids per utterance, collated into a Batch.

Letters: B batch, L symbols, T samples, M mel bands, F frames.

The dataset only loads (16-bit wav, symbol ids) and computes the mel with
:func:`sesli.audio.features.mel_spectrogram`, the one mel in sesli; it never filters or cleans,
which ``sesli prepare`` has done. Batching by seconds is :class:`sesli.data.sampler.DurationBatchSampler`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from sesli.audio.features import MelConfig, mel_spectrogram
from sesli.data.manifest import Utterance, read_manifest


class DatasetError(ValueError):
    """A manifest entry cannot be loaded (missing wav, wrong rate, symbols the table lacks)."""


@dataclass
class SpeechItem:
    """One loaded utterance."""

    utt_id: str
    speaker: str
    ids: torch.Tensor  # (L,) long
    wav: torch.Tensor  # (T,) float in [-1, 1]
    mel: torch.Tensor | None  # (M, F) log-mel, or None when the dataset has no MelConfig


@dataclass
class Batch:
    """Padded tensors plus lengths; padding is 0 (the pad id of every symbol table)."""

    ids: torch.Tensor  # (B, L) long
    id_lengths: torch.Tensor  # (B,) long
    wavs: torch.Tensor  # (B, T)
    wav_lengths: torch.Tensor  # (B,) long
    mels: torch.Tensor | None  # (B, M, F)
    mel_lengths: torch.Tensor | None  # (B,) long
    utt_ids: list[str]
    speakers: list[str]

    def to(self, device: torch.device | str) -> Batch:
        """The batch with every tensor on ``device``."""
        move = {k: v.to(device) for k, v in self.__dict__.items() if isinstance(v, torch.Tensor)}
        return Batch(**{**self.__dict__, **move})


class SpeechDataset(Dataset):
    """Utterances of a ``train.jsonl``/``val.jsonl`` manifest.

    Args:
        manifest: path of the manifest; relative audio paths are taken from its folder.
        symbols: symbol table for the ids (``kokoro``, ``sesli`` or ``chars``).
        mel: mel settings (None: no mel, e.g. for a dataset that only needs waveforms).
        text_field: manifest field to encode (default: ``normalized_text`` for ``chars``,
            ``phonemes`` otherwise).
    """

    def __init__(
        self,
        manifest: str | os.PathLike,
        symbols: str = "kokoro",
        mel: MelConfig | None = MelConfig(),
        text_field: str | None = None,
    ):
        from sesli.text.symbols import get_table

        self.root = Path(manifest).parent
        self.utterances: list[Utterance] = read_manifest(manifest)
        self.table = get_table(symbols)
        self.mel = mel
        self.text_field = text_field or ("normalized_text" if symbols == "chars" else "phonemes")
        if mel is not None:
            wrong = [u.id for u in self.utterances if u.sample_rate != mel.sample_rate]
            if wrong:
                raise DatasetError(
                    f"{manifest}: {len(wrong)} utterance(s) at a rate other than the mel's "
                    f"{mel.sample_rate} Hz (first: {wrong[0]}); prepare with --sample-rate {mel.sample_rate}"
                )

    @property
    def durations(self) -> list[float]:
        """Seconds per index (for :class:`~sesli.data.sampler.DurationBatchSampler`)."""
        return [u.duration for u in self.utterances]

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> SpeechItem:
        utt = self.utterances[index]
        path = utt.resolve_audio(self.root)
        try:
            pcm, sr = sf.read(str(path), dtype="int16", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise DatasetError(f"utterance {utt.id}: cannot read {path}: {err}") from None
        if sr != utt.sample_rate:
            raise DatasetError(f"utterance {utt.id}: {path} is {sr} Hz, manifest says {utt.sample_rate}")
        wav = torch.from_numpy(pcm.mean(axis=1, dtype=np.float32) / 32768.0)  # (T,)
        text = getattr(utt, self.text_field)
        try:
            ids = torch.tensor(self.table.encode(text), dtype=torch.long)  # (L,)
        except ValueError as err:
            raise DatasetError(f"utterance {utt.id}: {err}") from None
        mel = mel_spectrogram(wav, self.mel)[0] if self.mel is not None else None  # (M, F)
        return SpeechItem(utt.id, utt.speaker, ids, wav, mel)


def _pad(tensors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad along the last axis with zeros; returns (stacked, lengths)."""
    lengths = torch.tensor([t.shape[-1] for t in tensors], dtype=torch.long)
    out = tensors[0].new_zeros((len(tensors), *tensors[0].shape[:-1], int(lengths.max())))
    for i, t in enumerate(tensors):
        out[i, ..., : t.shape[-1]] = t
    return out, lengths


def collate(items: list[SpeechItem]) -> Batch:
    """Pad a list of items into a :class:`Batch`."""
    if not items:
        raise ValueError("cannot collate an empty list of items")
    ids, id_lengths = _pad([it.ids for it in items])  # (B, L)
    wavs, wav_lengths = _pad([it.wav for it in items])  # (B, T)
    mels = mel_lengths = None
    if all(it.mel is not None for it in items):
        mels, mel_lengths = _pad([it.mel for it in items])  # (B, M, F)
    return Batch(ids, id_lengths, wavs, wav_lengths, mels, mel_lengths,
                 [it.utt_id for it in items], [it.speaker for it in items])  # fmt: skip
