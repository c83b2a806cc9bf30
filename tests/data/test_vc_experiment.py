"""sesli.data.vc_experiment + vc_prepare: the RVC experiment folder and its prepare step, on real clips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sesli.data.vc_prepare as vcp
from sesli.audio import effects
from sesli.data.vc_experiment import Experiment, ExperimentError
from sesli.data.vc_prepare import prepare_vc
from sesli.testing.audio import noise, write_wav

CLIPS = Path("/work/shared/data/cv-tr-sample50/clips")
needs_clips = pytest.mark.skipif(not CLIPS.is_dir(), reason="cv-tr-sample50 clips not present")


def real_clips(n: int) -> list[Path]:
    return sorted(CLIPS.glob("*.mp3"))[:n]


def snapshot(exp: Experiment) -> dict[str, int]:
    """mtime_ns of every file in the experiment (a rewritten file changes its mtime)."""
    return {str(p.relative_to(exp.path)): p.stat().st_mtime_ns for p in exp.path.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------ the folder
def test_create_open_and_refusing_to_change_settings(tmp_path):
    Experiment.create(tmp_path / "exp", sample_rate=48000, f0=False, version="v1")
    data = json.loads((tmp_path / "exp" / "experiment.json").read_text())
    assert data == {
        "format": 1,
        "name": "exp",
        "sample_rate": 48000,
        "f0": False,
        "version": "v1",
        "steps": {},
    }
    again = Experiment.open(tmp_path / "exp")
    assert (again.sample_rate, again.f0, again.version, again.name) == (48000, False, "v1", "exp")
    assert again.feature_dir.name == "3_feature256" and again.gt_dir.name == "0_gt_wavs"
    assert again.wav16k_dir.name == "1_16k_wavs" and again.f0_coarse_dir.name == "2a_f0"
    assert again.f0_hz_dir.name == "2b-f0nsf" and again.train_dir.name == "train" and again.index_path is None
    assert (
        Experiment.create(tmp_path / "exp", sample_rate=48000, f0=False, version="v1", name="ses").name
        == "ses"
    )
    with pytest.raises(ExperimentError, match=r"sample_rate 48000 -> 40000.*f0 False -> True.*delete"):
        Experiment.create(tmp_path / "exp")
    assert Experiment.create(tmp_path / "v2").feature_dir.name == "3_feature768"
    with pytest.raises(ExperimentError, match="24000, 32000, 40000, 48000"):
        Experiment.create(tmp_path / "bad", sample_rate=22050)
    with pytest.raises(ExperimentError, match="not a voice-conversion experiment"):
        Experiment.open(tmp_path / "nowhere")
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "a.wav").write_bytes(b"x")
    with pytest.raises(ExperimentError, match="not an experiment"):
        Experiment.create(tmp_path / "audio")
    assert not (tmp_path / "audio" / "experiment.json").exists()


def test_step_done_record_invalidate(tmp_path):
    exp = Experiment.create(tmp_path / "exp")
    assert exp.next_step() == "prepare" and not exp.step_done("prepare", {"a": 1})
    exp.record("prepare", {"a": 1}, {"pieces": 3})
    exp.record("extract", {"f0": "harvest"}, {"n": 3})
    exp.record("train", {"epochs": 2}, {"step": 10})
    assert exp.step_done("prepare", {"a": 1}) and not exp.step_done("prepare", {"a": 2})
    assert exp.next_step() == "index"
    exp.invalidate("extract")  # extract and everything after it
    assert exp.step_done("prepare", {"a": 1})
    assert not exp.step_done("extract", {"f0": "harvest"}) and not exp.step_done("train", {"epochs": 2})
    assert exp.next_step() == "extract" and exp.summary()["steps"]["train"]["finished"]  # record kept
    exp.record("extract", {"f0": "harvest"}, {"n": 3})
    exp.record("prepare", {"a": 1}, {"pieces": 3})  # the same again: later steps stay done
    assert exp.step_done("extract", {"f0": "harvest"})
    exp.record("prepare", {"a": 1}, {"pieces": 4})  # a new outcome: later steps are stale
    assert not exp.step_done("extract", {"f0": "harvest"})
    reopened = Experiment.open(tmp_path / "exp")
    assert reopened.step_done("prepare", {"a": 1}) and reopened.result("prepare") == {"pieces": 4}
    with pytest.raises(ExperimentError, match="unknown step"):
        exp.record("mix", {}, {})
    (tmp_path / "exp" / "added_IVF4_Flat.index").write_bytes(b"")
    assert exp.index_path.name == "added_IVF4_Flat.index"


def test_causal_highpass_is_rvc_lfilter():
    from scipy.signal import butter, lfilter

    x = noise(0.5, 40000, seed=3)
    b, a = butter(5, 48, btype="high", fs=40000)
    np.testing.assert_allclose(effects.highpass(x, 40000, 48.0, causal=True), lfilter(b, a, x), atol=1e-5)


# ------------------------------------------------------------------------------------ prepare
@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Three real clips prepared once: (experiment, result)."""
    exp = Experiment.create(tmp_path_factory.mktemp("vc") / "exp")
    return exp, prepare_vc(exp, real_clips(3), progress=False)


@needs_clips
def test_prepare_writes_pieces_at_both_rates(prepared):
    exp, result = prepared
    assert result["files"] == 3 and result["skipped"] == [] and result["pieces"] == len(exp.clips()) >= 3
    assert exp.clips()[0] == "0_0" and {c.split("_")[0] for c in exp.clips()} == {"0", "1", "2"}
    total = 0.0
    for stem in exp.clips():
        gt, low = sf.info(exp.gt_dir / f"{stem}.wav"), sf.info(exp.wav16k_dir / f"{stem}.wav")
        assert (gt.samplerate, low.samplerate, gt.subtype, low.channels) == (40000, 16000, "FLOAT", 1)
        # RVC's last piece of a slice takes the remainder: at most piece + overlap = 4.0 s.
        assert 0 < gt.duration <= 3.7 + 0.3 + 1e-6 and abs(low.duration - gt.duration) < 0.01
        audio, _ = sf.read(exp.gt_dir / f"{stem}.wav", dtype="float32")
        assert 0.6 < np.abs(audio).max() <= 0.9 + 1e-4  # levelled: 0.675 + 0.25 * peak
        total += gt.duration
    assert abs(result["seconds"] - total) < 0.05
    summary = exp.summary()
    assert summary["steps"]["prepare"]["done"] and summary["next"] == "extract"
    assert summary["clips"] == result["pieces"]


@needs_clips
def test_rerun_with_same_settings_is_a_no_op(prepared):
    exp, result = prepared
    before = snapshot(exp)
    assert prepare_vc(exp, real_clips(3), progress=False) == result
    assert snapshot(exp) == before


@needs_clips
def test_bad_files_are_skipped_with_reasons(tmp_path):
    src = tmp_path / "in"
    (src / "session2").mkdir(parents=True)
    good = real_clips(2)
    shutil.copy(good[0], src / "a.mp3")
    shutil.copy(good[1], src / "session2" / "b.mp3")  # folders are read recursively
    (src / "corrupt.wav").write_bytes(b"RIFF not really a wave file" * 40)
    write_wav(src / "silent.wav", np.zeros(32000, dtype=np.float32), 16000)
    write_wav(src / "short.wav", noise(0.1, 16000, amplitude=0.3), 16000)
    (src / "notes.md").write_text("not an audio extension: ignored")
    exp = Experiment.create(tmp_path / "exp", sample_rate=32000)
    result = prepare_vc(exp, src, progress=False)
    reasons = {Path(s["path"]).name: s["reason"] for s in result["skipped"]}
    assert set(reasons) == {"corrupt.wav", "silent.wav", "short.wav"}
    assert reasons["corrupt.wav"].startswith("decode error")
    assert reasons["silent.wav"].startswith("silent") and reasons["short.wav"].startswith("too short")
    assert result["files"] == 2 and result["inputs"] == 5 and result["recursive"]
    assert sf.info(exp.gt_dir / f"{exp.clips()[0]}.wav").samplerate == 32000
    with pytest.raises(ExperimentError, match="no audio files"):
        (tmp_path / "empty").mkdir()
        prepare_vc(exp, tmp_path / "empty", progress=False)
    with pytest.raises(ExperimentError, match="does not exist"):
        prepare_vc(exp, tmp_path / "missing.wav", progress=False)
    with pytest.raises(ExperimentError, match="no usable audio"):
        prepare_vc(
            Experiment.create(tmp_path / "exp2"), [src / "silent.wav", src / "corrupt.wav"], progress=False
        )


@needs_clips
def test_resume_after_kill_and_lost_outputs(tmp_path, monkeypatch):
    clips = real_clips(3)
    listing = tmp_path / "files.txt"
    listing.write_text("# my clips\n" + "\n".join(str(c) for c in clips) + "\n")
    exp = Experiment.create(tmp_path / "exp")
    calls, real = [], vcp._process_file

    def killed_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(vcp, "_process_file", killed_on_third)
    with pytest.raises(KeyboardInterrupt):
        prepare_vc(exp, listing, progress=False)
    assert not exp.steps.get("prepare") and len(exp.clips()) >= 2  # two files finished, not recorded
    assert len((exp.path / ".prepare" / "journal.jsonl").read_text().splitlines()) == 2
    monkeypatch.setattr(vcp, "_process_file", real)
    first = prepare_vc(exp, listing, progress=False)
    assert first["files"] == 3
    exp.record("extract", {"f0": "harvest"}, {"n": first["pieces"]})

    # Lose the pieces of file 0 and file 2's journal line, cut in half as by a kill while writing.
    journal = exp.path / ".prepare" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:20])
    lost = list(exp.gt_dir.glob("0_*.wav"))
    for p in lost:
        p.unlink()
    before = snapshot(exp)
    again = prepare_vc(exp, listing, progress=False)
    assert again == first and len(exp.clips()) == first["pieces"]
    after = snapshot(exp)
    untouched = [k for k in before if k.startswith(("0_gt_wavs/1_", "1_16k_wavs/1_"))]
    assert untouched and all(before[k] == after[k] for k in untouched)  # file 1 was kept as it was
    assert all(f"0_gt_wavs/{p.name}" in after for p in lost)
    assert exp.step_done("extract", {"f0": "harvest"})  # the same pieces again: extract stays valid

    # A journal line lost in the middle: that file gets a new index, so extract is stale.
    keep = [ln for ln in journal.read_text().splitlines() if json.loads(ln)["idx"] != 1]
    journal.write_text("\n".join(keep) + "\n")
    renamed = prepare_vc(exp, listing, progress=False)
    assert renamed["pieces"] == first["pieces"] and not exp.step_done("extract", {"f0": "harvest"})
    assert not any(c.startswith("1_") for c in exp.clips()) and len(exp.clips()) == first["pieces"]

    # Other processing settings redo every piece and make extract stale.
    shorter = prepare_vc(exp, listing, piece_s=2.0, progress=False)
    assert shorter["pieces"] > first["pieces"] and not exp.step_done("extract", {"f0": "harvest"})
    assert all(sf.info(exp.gt_dir / f"{c}.wav").duration <= 2.3 + 1e-6 for c in exp.clips())
