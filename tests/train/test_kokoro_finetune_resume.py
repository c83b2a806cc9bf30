"""Kokoro fine-tuning: a killed run resumes bit for bit; bad data gives clear errors (debug model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from sesli.train.tasks import kokoro_data
from sesli.train.tasks.kokoro_finetune import FinetuneError, KokoroFinetuneTask, finetune, load_run_config

FAST = [
    "finetune.base=debug",
    "finetune.targets=[albert,predictor,decoder]",
    "finetune.aligner_steps=20",
    "train.lr=1e-2",
    "train.batch_size=2",
    "train.epochs=100",
    "train.log_every=1",
    "train.mixed_precision=no",
    "train.early_stopping_patience=null",
]


def _overrides(prepared: Path, *extra: str) -> list[str]:
    return [f"finetune.data={prepared}", *FAST, *extra]


def test_killed_run_resumes_to_the_same_adapter(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that dies mid-way (no clean-up, as SIGKILL) and is started again ends where a run that
    never stopped ends, bit for bit."""
    over = _overrides(prepared, "train.max_steps=6", "train.save_every=2", "train.eval_every=3")
    ref = finetune(tmp_path / "ref", overrides=over, quiet=True)

    calls = {"n": 0}
    real_step = KokoroFinetuneTask.train_step

    def dying_step(self, batch, ctx):
        calls["n"] += 1
        if calls["n"] == 4:  # during step 4: the last checkpoint is step 2
            raise KeyboardInterrupt("killed")
        return real_step(self, batch, ctx)

    monkeypatch.setattr(KokoroFinetuneTask, "train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        finetune(tmp_path / "run", overrides=over, quiet=True)
    monkeypatch.setattr(KokoroFinetuneTask, "train_step", real_step)
    from sesli.train.checkpoint import list_checkpoints

    assert [s for s, _ in list_checkpoints(tmp_path / "run" / "checkpoints")] == [2]
    resumed = finetune(tmp_path / "run", overrides=over, quiet=True)
    assert resumed.step == ref.step == 6
    from safetensors.torch import load_file

    a = load_file(tmp_path / "ref" / "adapter_model.safetensors")
    b = load_file(tmp_path / "run" / "adapter_model.safetensors")
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert torch.equal(
        torch.load(tmp_path / "ref" / "voice.pt", weights_only=True),
        torch.load(tmp_path / "run" / "voice.pt", weights_only=True),
    )


def test_clear_errors_for_bad_data(prepared: Path, tmp_path: Path) -> None:
    from sesli.cli.kokoro import main

    # No prepared folder.
    with pytest.raises(FinetuneError, match="no train.jsonl"):
        finetune(tmp_path / "r0", overrides=_overrides(tmp_path / "nowhere"), quiet=True)
    # Every clip filtered out (all longer than 0.5 s): no valid clip, and the reason is named.
    with pytest.raises(FinetuneError, match=r"(?s)no valid training clip.*longer than 0.5 s"):
        finetune(tmp_path / "r1", overrides=_overrides(prepared, "finetune.max_seconds=0.5"), quiet=True)
    assert (
        main(["finetune", "--data", str(prepared), "--out", str(tmp_path / "r2"), "finetune.max_seconds=0.5"])
        == 2
    )

    # A clip over the 510-phoneme context is left out by name; the others still train.
    from sesli.data.manifest import read_manifest, write_manifest

    copy = tmp_path / "long"
    shutil.copytree(prepared, copy)
    utts = list(read_manifest(copy / "train.jsonl"))
    utts[0].phonemes = "a" * 600
    write_manifest(copy / "train.jsonl", utts)
    cfg = load_run_config(overrides=_overrides(copy))
    from sesli.models.kokoro import debug_config

    kept, left_out = kokoro_data.check_clips(utts, max_tokens=512, max_seconds=None)
    assert left_out == {"over the 510-phoneme context": [utts[0].id]}
    assert len(kept) == len(utts) - 1
    # The manifest changed, so the cache is stale: it is rebuilt, not used with wrong durations.
    splits = kokoro_data.load_splits(cfg.finetune, debug_config(), cfg.train, quiet=True)
    assert splits.summary["train_clips"] == len(utts) - 1
    assert splits.summary["left_out"] == {"over the 510-phoneme context": 1}
