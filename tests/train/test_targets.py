"""Target extraction: exact frame sums, F0 of a sine, cache reuse, stale and interrupted caches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sesli.audio.io import save_wav
from sesli.data.manifest import Utterance, write_manifest
from sesli.models.aligner import Aligner
from sesli.text.symbols import get_table
from sesli.train.targets import (
    SAMPLES_PER_FRAME,
    TargetsError,
    extract_targets,
    kokoro_frames,
    open_targets,
)
from sesli.train.tasks.aligner import AlignerError, AlignerModelConfig, load_aligner, save_aligner

SR = 24000


def _sine(seconds: float, freq: float) -> np.ndarray:
    """A 'voiced' tone: fundamental plus four harmonics (Harvest calls a pure sine unvoiced)."""
    t = np.arange(int(seconds * SR)) / SR
    return sum(0.3 / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 6)).astype(np.float32)


@pytest.fixture()
def prepared(tmp_path):
    root = tmp_path / "exp"
    clips = {"a": (0.61, 200.0, "mɛɾhaba"), "b": (0.5, 150.0, "bab"), "c": (0.43, 300.0, "aba")}
    utts = []
    for uid, (sec, freq, ph) in clips.items():
        save_wav(root / "wavs" / f"{uid}.wav", _sine(sec, freq), SR)
        utts.append(Utterance(uid, f"wavs/{uid}.wav", sec, SR, phonemes=ph))
    write_manifest(root / "train.jsonl", utts[:2])
    write_manifest(root / "val.jsonl", utts[2:])
    return root


@pytest.fixture()
def aligner():
    torch.manual_seed(0)
    return Aligner(n_tokens=get_table("kokoro").vocab_size, channels=16, attn_channels=8).eval()


def test_extract_exact_sums_f0_and_energy(prepared, aligner):
    cache = extract_targets(prepared, aligner)
    assert sorted(cache.ids) == ["a", "b", "c"] and not cache.skipped
    assert (prepared / "targets" / "index.json").is_file()
    a = cache["a"]
    n = kokoro_frames(int(0.61 * SR))
    assert n == int(0.61 * SR) // SAMPLES_PER_FRAME == 24
    assert a.durations.sum() == n and a.n_frames == n and (a.durations >= 1).all()
    assert a.tokens.tolist() == [0, *get_table("kokoro").encode("mɛɾhaba"), 0]
    assert len(a.durations) == len(a.tokens)
    assert a.f0.shape == (2 * n,) and a.energy.shape == (2 * n,)
    assert np.median(a.f0[4:-4]) == pytest.approx(200.0, abs=2.0)
    assert np.median(cache["c"].f0[4:-4]) == pytest.approx(300.0, abs=3.0)
    assert np.isfinite(a.energy).all() and a.energy[4:-4].std() < 0.5  # a steady tone
    with pytest.raises(TargetsError, match="no targets for 'zz'"):
        cache["zz"]


def test_cache_reused_and_stale_detected(prepared, aligner):
    with pytest.raises(TargetsError, match="no targets cache"):
        open_targets(prepared)
    extract_targets(prepared, aligner)
    npz = prepared / "targets" / "a.npz"
    before = npz.stat().st_mtime_ns
    cache = open_targets(prepared)
    assert len(cache) == 3 and cache["b"].durations.sum() == kokoro_frames(int(0.5 * SR))
    extract_targets(prepared, aligner)  # nothing to redo
    assert npz.stat().st_mtime_ns == before
    with open(prepared / "val.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"id": "d", "audio_path": "wavs/c.wav", "duration": 0.43, "sample_rate": 24000}\n')
    with pytest.raises(TargetsError, match="stale"):
        open_targets(prepared)


def test_interrupted_extraction_resumes(prepared, aligner):
    def crash(done, total, uid):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_targets(prepared, aligner, progress=crash)
    with pytest.raises(TargetsError, match="incomplete"):
        open_targets(prepared)
    first = (prepared / "targets" / "a.npz").stat().st_mtime_ns
    assert not (prepared / "targets" / "c.npz").exists()
    seen = []
    cache = extract_targets(prepared, aligner, progress=lambda d, t, u: seen.append(u))
    assert (prepared / "targets" / "a.npz").stat().st_mtime_ns == first  # not recomputed
    assert seen == ["a", "b", "c"] and len(open_targets(prepared)) == 3 == len(cache)


def test_bad_utterances_are_skipped_with_reasons(prepared, aligner):
    save_wav(prepared / "wavs" / "short.wav", _sine(0.05, 200), SR)
    extra = [
        Utterance("short", "wavs/short.wav", 0.05, SR, phonemes="mɛɾhaba"),
        Utterance("weird", "wavs/a.wav", 0.61, SR, phonemes="ab☃"),
    ]
    write_manifest(prepared / "val.jsonl", extra)
    cache = extract_targets(prepared, aligner)
    assert sorted(cache.ids) == ["a", "b"]
    assert "frames for 9 tokens" in cache.skipped["short"]
    assert "☃" in cache.skipped["weird"]
    with pytest.raises(TargetsError, match="frames for 9 tokens"):
        cache["short"]


def test_aligner_run_roundtrip(prepared, aligner, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(AlignerError, match="no trained aligner"):
        load_aligner(run)
    save_aligner(aligner, run, n_tokens=aligner.embedding.num_embeddings,
                 model_cfg=AlignerModelConfig(channels=16, attn_channels=8))  # fmt: skip
    loaded = load_aligner(run)
    for (k, v), (_, w) in zip(aligner.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    a = extract_targets(prepared, run, out=tmp_path / "t2")["a"]
    b = extract_targets(prepared, aligner, out=tmp_path / "t3")["a"]
    assert np.array_equal(a.durations, b.durations)
    with pytest.raises(TargetsError, match="run `sesli prepare`"):
        extract_targets(tmp_path / "nothing", aligner)
