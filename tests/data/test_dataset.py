"""sesli.data.dataset: a prepared folder read back as tensors, collated into a Batch."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from sesli.audio.features import MelConfig
from sesli.audio.io import save_wav
from sesli.data.dataset import Batch, DatasetError, SpeechDataset, collate
from sesli.data.manifest import Utterance, write_manifest
from sesli.data.sampler import DurationBatchSampler
from sesli.testing.audio import speech_like

torch.set_num_threads(1)


@pytest.fixture
def folder(tmp_path):
    utts = []
    for i, (dur, text) in enumerate([(0.5, "merhaba dünya."), (0.8, "ağaç."), (0.3, "çiçek güzel")]):
        save_wav(tmp_path / "wavs" / f"u{i}.wav", speech_like(dur, 24000, seed=i), 24000)
        utts.append(
            Utterance(f"u{i}", f"wavs/u{i}.wav", dur, 24000, f"s{i % 2}", text, text, text, f"u{i}.wav")
        )
    write_manifest(tmp_path / "train.jsonl", utts)
    return tmp_path


def test_items_and_collate(folder):
    cfg = MelConfig()
    ds = SpeechDataset(folder / "train.jsonl", symbols="chars", mel=cfg)
    assert len(ds) == 3 and ds.durations == [0.5, 0.8, 0.3]
    item = ds[1]
    assert item.wav.shape == (19200,) and item.mel.shape == (80, cfg.num_frames(19200))
    assert item.ids.tolist() and item.ids.dtype == torch.long and 0 not in item.ids.tolist()
    batch = collate([ds[0], ds[1], ds[2]])
    assert isinstance(batch, Batch)
    assert batch.wavs.shape == (3, 19200) and batch.wav_lengths.tolist() == [12000, 19200, 7200]
    assert batch.mels.shape == (3, 80, cfg.num_frames(19200))
    assert batch.mel_lengths.tolist() == [cfg.num_frames(n) for n in (12000, 19200, 7200)]
    assert (
        batch.ids.shape == (3, int(batch.id_lengths.max()))
        and batch.ids[1, batch.id_lengths[1] :].eq(0).all()
    )
    assert torch.equal(batch.wavs[2, :7200], ds[2].wav) and batch.wavs[2, 7200:].eq(0).all()
    assert batch.utt_ids == ["u0", "u1", "u2"] and batch.speakers == ["s0", "s1", "s0"]
    assert batch.to("cpu").wavs.device.type == "cpu"


def test_loader_with_duration_sampler(folder):
    ds = SpeechDataset(folder / "train.jsonl", symbols="chars", mel=None)
    loader = DataLoader(
        ds, batch_sampler=DurationBatchSampler(ds.durations, 1.2, shuffle=False), collate_fn=collate
    )
    batches = list(loader)
    assert [b.utt_ids for b in batches] == [["u2", "u0"], ["u1"]]
    assert batches[0].mels is None


def test_clear_errors(folder):
    with pytest.raises(DatasetError, match="prepare with --sample-rate 22050"):
        SpeechDataset(folder / "train.jsonl", symbols="chars", mel=MelConfig(sample_rate=22050))
    (folder / "wavs" / "u0.wav").unlink()
    ds = SpeechDataset(folder / "train.jsonl", symbols="chars", mel=None)
    with pytest.raises(DatasetError, match="utterance u0: cannot read"):
        ds[0]
    with pytest.raises(DatasetError, match="utterance u1"):
        SpeechDataset(folder / "train.jsonl", symbols="sesli", mel=None)[1]  # letters are not phonemes
