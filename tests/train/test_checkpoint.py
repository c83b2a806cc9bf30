"""Checkpoint directories: round trip, tied weights, atomic replace, and clear errors on damage."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from sesli.train.checkpoint import (
    CheckpointError,
    clean_stale,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
    step_dir_name,
)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.emb.weight


def _save(path, step=1):
    m = Tied()
    opt = torch.optim.AdamW(m.parameters())
    state = {"step": step, "optimizer": opt.state_dict(), "rng": torch.get_rng_state(), "best": None}
    save_checkpoint(path, weights={"model": m.state_dict()}, state=state, step=step)
    return m


def test_round_trip_with_tied_weights(tmp_path):
    m = _save(tmp_path / "ck", step=7)
    ck = load_checkpoint(tmp_path / "ck")
    assert ck.manifest["step"] == 7 and ck.state["step"] == 7
    fresh = Tied()
    fresh.load_state_dict(ck.weights["model"])
    assert torch.equal(fresh.emb.weight, m.emb.weight)
    assert fresh.head.weight is fresh.emb.weight
    assert ck.state["rng"].dtype == torch.uint8 and ck.state["best"] is None


def test_truncated_file_is_named(tmp_path):
    _save(tmp_path / "ck")
    f = tmp_path / "ck" / "state.pt"
    f.write_bytes(f.read_bytes()[:-5])
    with pytest.raises(CheckpointError, match=r"state\.pt is truncated"):
        load_checkpoint(tmp_path / "ck")


def test_flipped_byte_is_detected(tmp_path):
    _save(tmp_path / "ck")
    f = tmp_path / "ck" / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt"):
        load_checkpoint(tmp_path / "ck")


def test_missing_manifest_and_missing_dir(tmp_path):
    _save(tmp_path / "ck")
    (tmp_path / "ck" / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="incomplete: manifest.json is missing"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "ck" / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="manifest.json is corrupt"):
        load_checkpoint(tmp_path / "ck")


def test_replace_prune_and_stale_cleanup(tmp_path):
    d = tmp_path / "checkpoints"
    for step in (1, 2, 3, 4):
        _save(d / step_dir_name(step), step=step)
    _save(d / "best", step=2)
    _save(d / "best", step=3)  # replaced atomically
    assert json.loads((d / "best" / "manifest.json").read_text())["step"] == 3
    assert [s for s, _ in list_checkpoints(d)] == [1, 2, 3, 4]
    prune_checkpoints(d, keep_last=2)
    assert [s for s, _ in list_checkpoints(d)] == [3, 4]
    assert (d / "best").is_dir()
    assert latest_checkpoint(d).name == "step-00000004"
    (d / ".tmp-step-00000005-123").mkdir()  # a run killed while writing
    clean_stale(d)
    assert not (d / ".tmp-step-00000005-123").exists()
    assert latest_checkpoint(tmp_path / "empty") is None


def test_killed_between_best_swaps_restores_old_best(tmp_path):
    d = tmp_path / "checkpoints"
    _save(d / "best", step=2)
    (d / "best").rename(d / ".old-best-999")  # state right after moving the old best aside
    clean_stale(d)
    assert load_checkpoint(d / "best").manifest["step"] == 2
