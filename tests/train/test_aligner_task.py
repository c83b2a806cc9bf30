"""The aligner trains through the engine, and the run saves an aligner that loads back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sesli.train.config import TrainConfig
from sesli.train.engine import fit
from sesli.train.tasks.aligner import (
    AlignerItem,
    AlignerModelConfig,
    AlignerTask,
    AlignerTaskConfig,
    load_aligner,
)


def _items(n: int, seed: int = 0) -> list[AlignerItem]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        tokens = [0, *rng.integers(1, 6, size=4).tolist(), 0]
        wav = (0.1 * rng.normal(size=600 * 12)).astype(np.float32)
        out.append(AlignerItem(f"u{k}", tokens, wav))
    return out


def test_aligner_task_fits_and_saves(tmp_path):
    torch.manual_seed(0)
    cfg = AlignerTaskConfig(model=AlignerModelConfig(channels=16, attn_channels=8), bin_start_step=2)
    task = AlignerTask(_items(6), _items(2, seed=1), n_tokens=6, cfg=cfg, run_dir=tmp_path / "run")
    result = fit(task, TrainConfig(epochs=2, batch_size=3, lr=3e-3, cpu=True, log_every=1), tmp_path / "run",
                 quiet=True)  # fmt: skip
    assert result.step == 4
    model = load_aligner(tmp_path / "run")
    tokens = torch.tensor([[0, 1, 2, 3, 0]])
    mel = torch.randn(1, 80, 25) - 4
    out = model(tokens, torch.tensor([5]), mel, torch.tensor([25]))
    assert out.durations.sum().item() == 12
    metrics = (tmp_path / "run" / "metrics.csv").read_text()
    assert "train/forward_sum" in metrics and "train/bin" in metrics and "val/loss" in metrics


def test_train_aligner_on_prepared_folder_resumes_and_feeds_extraction(tmp_path):
    from sesli.audio.io import save_wav
    from sesli.data.manifest import Utterance, write_manifest
    from sesli.train.targets import extract_targets
    from sesli.train.tasks.aligner import AlignerError, train_aligner

    with pytest.raises(AlignerError, match="sesli prepare"):
        train_aligner(tmp_path / "nothing")
    rng = np.random.default_rng(0)
    utts = []
    for k, ph in enumerate(["mɛɾhaba", "bab", "aba", "mama"]):
        save_wav(tmp_path / f"{k}.wav", 0.1 * rng.normal(size=24000 // 2), 24000)
        utts.append(Utterance(f"u{k}", f"{k}.wav", 0.5, 24000, phonemes=ph))
    save_wav(tmp_path / "short.wav", np.zeros(1200), 24000)
    utts.append(Utterance("short", "short.wav", 0.05, 24000, phonemes="mɛɾhaba"))  # 2 frames, 9 tokens
    write_manifest(tmp_path / "train.jsonl", [*utts[:3], utts[4]])
    write_manifest(tmp_path / "val.jsonl", utts[3:])
    cfg = AlignerTaskConfig(model=AlignerModelConfig(channels=16, attn_channels=8))
    torch.manual_seed(0)
    model = train_aligner(tmp_path, steps=3, batch_size=2, cfg=cfg, cpu=True, quiet=True)
    assert (tmp_path / "aligner" / "aligner.safetensors").is_file()
    again = train_aligner(
        tmp_path, steps=3, batch_size=2, cfg=cfg, cpu=True, quiet=True
    )  # finished: no training
    for (k, v), (_, w) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    cache = extract_targets(tmp_path, tmp_path / "aligner")
    assert sorted(cache.ids) == ["u0", "u1", "u2", "u3"] and "frames for 9 tokens" in cache.skipped["short"]
    assert cache["u3"].durations.sum() == 20
