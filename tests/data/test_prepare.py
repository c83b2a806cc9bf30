"""sesli.data.prepare: a folder full of bad files, accounting, rates, splits, resumption, workers."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

import sesli.data.prepare as prep
from sesli.data.manifest import read_manifest, read_rejects
from sesli.data.prepare import PrepareConfig, PrepareError, prepare
from sesli.data.process import ProcessConfig
from sesli.data.sources import SourceOptions
from sesli.testing.audio import (
    SENTENCES,
    make_ljspeech,
    sine,
    speech_like,
    with_pauses,
    write_truncated_wav,
    write_wav,
)

GOOD = SENTENCES[0]


def _pair(root, name, audio, sr, text=GOOD, subtype="PCM_16"):
    write_wav(root / f"{name}.wav", audio, sr, subtype=subtype)
    if text is not None:
        (root / f"{name}.txt").write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


def bad_corpus(root):
    """Every bad-input case of the issue, beside good clips; returns {file: expected reason or None}."""
    root.mkdir(parents=True)
    speech = speech_like(1.0, 16000, seed=1)
    _pair(root, "good", speech, 16000)
    _pair(root, "şarkı ğüı", speech_like(1.0, 22050, seed=2), 22050, SENTENCES[1])
    _pair(root, "u8", speech_like(1.0, 8000, seed=3), 8000, SENTENCES[2], subtype="PCM_U8")
    _pair(root, "s24", speech_like(1.0, 96000, seed=4), 96000, SENTENCES[3], subtype="PCM_24")
    stereo = np.stack([speech_like(1.0, 44100, seed=5), speech_like(1.0, 44100, seed=6)], axis=1)
    _pair(root, "stereo", stereo, 44100, SENTENCES[4])
    (root / "zero.wav").write_bytes(b"")
    (root / "zero.txt").write_text(GOOD, encoding="utf-8")
    write_truncated_wav(root / "trunc.wav")
    (root / "trunc.txt").write_text(GOOD, encoding="utf-8")
    (root / "notaudio.wav").write_text("merhaba, ben bir ses dosyası değilim " * 20, encoding="utf-8")
    (root / "notaudio.txt").write_text(GOOD, encoding="utf-8")
    nan = speech_like(1.0, 16000, seed=7)
    nan[100:110] = np.nan
    _pair(root, "nan", nan, 16000, subtype="FLOAT")
    _pair(root, "missing", speech_like(1.0, 16000, seed=8), 16000, text=None)
    _pair(root, "empty", speech_like(1.0, 16000, seed=9), 16000, text="  \n")
    _pair(
        root,
        "cp1254",
        speech_like(1.0, 16000, seed=10),
        16000,
        text="Şu çiçeği gördün mü bugün?".encode("cp1254"),
    )
    _pair(root, "short", speech_like(1.0, 16000, seed=11), 16000, text="iki kelime.")
    _pair(root, "silent", np.zeros(16000, dtype=np.float32), 16000)
    _pair(root, "clipped", np.clip(4 * sine(1.0, 16000, freq=150.0), -1, 1), 16000)
    _pair(root, "zz_dup", speech, 16000)  # same audio as good.wav, listed later
    _pair(root, "unknown", speech_like(1.0, 16000, seed=12), 16000, text="Bu cümlede 漢字 var ama okunamaz.")
    expected = {
        "good.wav": None, "şarkı ğüı.wav": None, "u8.wav": None, "s24.wav": None, "stereo.wav": None,
        "zero.wav": "decode error", "trunc.wav": {"too short", "near-silent"}, "notaudio.wav": "decode error",
        "nan.wav": "non-finite samples", "missing.wav": "missing transcript", "empty.wav": "empty transcript",
        "cp1254.wav": "bad transcript", "short.wav": "too few words", "silent.wav": "near-silent",
        "clipped.wav": "clipping", "zz_dup.wav": "duplicate audio", "unknown.wav": "unreadable characters",
    }  # fmt: skip
    if shutil.which("ffmpeg"):
        src = write_wav(root.parent / "m4a_src.wav", speech_like(1.0, 44100, seed=13), 44100)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:a", "aac", str(root / "aac.m4a")], check=True
        )
        (root / "aac.txt").write_text(SENTENCES[5], encoding="utf-8")
        expected["aac.m4a"] = None
    return expected


def _cfg(**kw) -> PrepareConfig:
    kw.setdefault("progress", False)
    return PrepareConfig(**kw)


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bad_inputs_each_kept_or_rejected_with_reason(tmp_path):
    expected = bad_corpus(tmp_path / "in")
    summary = prepare(tmp_path / "in", tmp_path / "out", _cfg(val_split=0.2))
    out = tmp_path / "out"
    kept = read_manifest(out / "train.jsonl") + read_manifest(out / "val.jsonl")
    rejects = read_rejects(out / "rejects.jsonl")
    # every input clip in exactly one of the three files
    sources = [u.source for u in kept] + [r.source for r in rejects]
    assert sorted(sources) == sorted(expected)
    got = {r.source: r.reason for r in rejects}
    for name, reason in expected.items():
        if reason is None:
            assert name not in got, f"{name} rejected: {[r.detail for r in rejects if r.source == name]}"
        else:
            assert got[name] in (reason if isinstance(reason, set) else {reason}), (name, got[name])
    assert all(r.detail for r in rejects)
    assert "not UTF-8" in next(r.detail for r in rejects if r.source == "cp1254.wav")
    # outputs: 16-bit PCM at the target rate, durations as recorded, nothing else in wavs/
    assert (
        len(kept) == sum(v is None for v in expected.values()) == summary.kept["train"] + summary.kept["val"]
    )
    for utt in kept:
        info = sf.info(str(utt.resolve_audio(out)))
        assert (info.samplerate, info.subtype, info.channels) == (24000, "PCM_16", 1)
        assert abs(info.frames / 24000 - utt.duration) < 1e-3 and 0.5 < utt.duration < 1.2
        assert utt.phonemes and utt.normalized_text and utt.text
    assert sorted(p.name for p in (out / "wavs").iterdir()) == sorted(f"{u.id}.wav" for u in kept)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["inputs"] == len(expected) and stats["rejected"] == len(rejects)
    assert stats["rejected_by_reason"]["decode error"] == 2
    assert (out / "durations.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_after_interruption_redoes_nothing(tmp_path, monkeypatch):
    src = make_ljspeech(tmp_path / "lj", n=8, duration=0.8)
    calls = []
    real = prep.process_item
    monkeypatch.setattr(prep, "process_item", lambda item, *a: calls.append(item.ref) or real(item, *a))
    with pytest.raises(KeyboardInterrupt):
        prepare(src, tmp_path / "out", _cfg(stop_after=3))
    assert len(calls) == 3 and not (tmp_path / "out" / "train.jsonl").exists()
    journal = tmp_path / "out" / ".prepare" / "journal.jsonl"
    with open(journal, "a", encoding="utf-8") as fh:
        fh.write('{"ref": "wavs/LJ00')  # a line cut by a kill
    calls.clear()
    first = prepare(src, tmp_path / "out", _cfg())
    assert len(calls) == 5 and first.kept["train"] + first.kept["val"] == 8
    snapshot = {p: (tmp_path / "out" / p).read_text() for p in ("train.jsonl", "val.jsonl", "rejects.jsonl")}
    calls.clear()
    again = prepare(src, tmp_path / "out", _cfg())
    assert calls == [] and again.kept == first.kept
    assert snapshot == {p: (tmp_path / "out" / p).read_text() for p in snapshot}
    # a deleted wav is redone, nothing else
    victim = read_manifest(tmp_path / "out" / "train.jsonl")[0]
    victim.resolve_audio(tmp_path / "out").unlink()
    prepare(src, tmp_path / "out", _cfg())
    assert calls == [victim.source] and victim.resolve_audio(tmp_path / "out").is_file()


def test_other_settings_refuse_to_mix_unless_overwrite(tmp_path):
    src = make_ljspeech(tmp_path / "lj", n=2, duration=0.8)
    prepare(src, tmp_path / "out", _cfg())
    with pytest.raises(PrepareError, match="sample_rate"):
        prepare(src, tmp_path / "out", _cfg(process=ProcessConfig(sample_rate=16000)))
    prepare(src, tmp_path / "out", _cfg(process=ProcessConfig(sample_rate=16000), overwrite=True))
    assert {u.sample_rate for u in read_manifest(tmp_path / "out" / "train.jsonl")} == {16000}


def test_split_is_deterministic_and_seeded(tmp_path):
    src = make_ljspeech(tmp_path / "lj", n=16, duration=0.8)
    ids = {}
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        prepare(src, tmp_path / name, _cfg(val_split=0.3, seed=seed))
        ids[name] = sorted(u.id for u in read_manifest(tmp_path / name / "val.jsonl"))
    assert ids["a"] == ids["b"] and ids["a"] != ids["c"]
    assert 1 <= len(ids["a"]) <= 10
    assert (tmp_path / "a" / "train.jsonl").read_text() == (tmp_path / "b" / "train.jsonl").read_text()


def test_small_corpus_still_gets_a_val_clip_and_split_by_speaker(tmp_path):
    src = make_ljspeech(tmp_path / "lj", n=12, duration=0.8, speakers=["ali", "ayşe", "can", "deniz"])
    prepare(src, tmp_path / "o1", _cfg(val_split=0.01))
    assert len(read_manifest(tmp_path / "o1" / "val.jsonl")) == 1
    prepare(src, tmp_path / "o2", _cfg(val_split=0.5, split_by="speaker"))
    train = {u.speaker for u in read_manifest(tmp_path / "o2" / "train.jsonl")}
    val = {u.speaker for u in read_manifest(tmp_path / "o2" / "val.jsonl")}
    assert val and not train & val and train | val == {"ali", "ayşe", "can", "deniz"}


def test_two_workers_give_the_same_folder(tmp_path):
    src = make_ljspeech(tmp_path / "lj", n=6, duration=0.8)
    write_wav(src / "wavs" / "LJ005.wav", speech_like(0.8, 22050, seed=0), 22050)  # duplicate of LJ000
    prepare(src, tmp_path / "w1", _cfg(workers=1))
    prepare(src, tmp_path / "w2", _cfg(workers=2))
    for name in ("train.jsonl", "val.jsonl", "rejects.jsonl"):
        assert (tmp_path / "w1" / name).read_text() == (tmp_path / "w2" / name).read_text()
    assert [r.reason for r in read_rejects(tmp_path / "w2" / "rejects.jsonl")] == ["duplicate audio"]


def test_slicing_long_recordings_for_voice_conversion(tmp_path):
    root = tmp_path / "vc"
    write_wav(root / "uzun kayıt.wav", with_pauses([3.0, 6.0, 2.0], pause=0.8, sr=16000), 16000)
    write_wav(root / "sessiz.wav", np.zeros(16000, dtype=np.float32), 16000)
    cfg = _cfg(
        val_split=0.0,
        process=ProcessConfig(slice=True, highpass_hz=48.0),
        source=SourceOptions(transcripts=False),
    )
    prepare(root, tmp_path / "out", cfg)
    utts = read_manifest(tmp_path / "out" / "train.jsonl")
    assert len(utts) >= 4 and all(u.duration <= 4.0 + 1e-3 and u.text == "" for u in utts)
    assert all(u.source.startswith("uzun kayıt.wav#") for u in utts)
    assert sum(u.duration for u in utts) > 11.0
    assert [r.source for r in read_rejects(tmp_path / "out" / "rejects.jsonl")] == ["sessiz.wav"]


_SLOW_RUN = """
import sys, time
import sesli.data.prepare as prep
real = prep.process_item
prep.process_item = lambda *a: (time.sleep(0.15), real(*a))[1]
prep.prepare(sys.argv[1], sys.argv[2], prep.PrepareConfig(progress=False))
"""


def test_killed_run_leaves_no_partial_files_and_resumes(tmp_path):
    import signal
    import sys
    import time

    src = make_ljspeech(tmp_path / "lj", n=12, duration=0.8)
    out = tmp_path / "out"
    journal = out / ".prepare" / "journal.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_RUN, str(src), str(out)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not journal.is_file() or journal.read_text().count("\n") < 3):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = journal.read_text().count("\n")
    assert 3 <= done < 12 and not (out / "train.jsonl").exists()
    summary = prepare(src, out, _cfg())
    assert summary.kept["train"] + summary.kept["val"] == 12 and summary.n_rejected == 0
    assert journal.read_text().count("\n") == 12  # finished clips were not redone
    assert sorted(p.name for p in (out / "wavs").iterdir()) == sorted(
        f"{u.id}.wav" for u in read_manifest(out / "train.jsonl") + read_manifest(out / "val.jsonl")
    )  # no temp files or orphans left behind


def test_loudness_normalisation_and_keeping_duplicates(tmp_path):
    from sesli.audio.effects import gated_loudness_db

    root = tmp_path / "in"
    for i, amp in enumerate([0.03, 0.3, 0.9]):
        _pair(root, f"c{i}", speech_like(2.0, 16000, seed=i, amplitude=amp), 16000, SENTENCES[i])
    _pair(root, "c3", speech_like(2.0, 16000, seed=0, amplitude=0.03), 16000, SENTENCES[3])  # = c0's audio
    cfg = _cfg(val_split=0.0, dedup=False, process=ProcessConfig(normalize="loudness", loudness_db=-23.0))
    prepare(root, tmp_path / "out", cfg)
    utts = read_manifest(tmp_path / "out" / "train.jsonl")
    assert len(utts) == 4  # the duplicate is kept when asked
    for utt in utts:
        audio, sr = sf.read(str(utt.resolve_audio(tmp_path / "out")), dtype="float32")
        assert abs(gated_loudness_db(audio, sr) + 23.0) < 1.0
