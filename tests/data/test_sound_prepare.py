"""sesli.data.sound_prepare and the calming corpus: labels, bad input, resume, option guard, spectra."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from sesli.data.manifest import read_rejects, read_split
from sesli.data.prepare import PrepareError
from sesli.data.sound_prepare import SOUND_PROCESS, prepare_sound
from sesli.data.sources import SourceOptions
from sesli.testing.audio import sine, write_truncated_wav, write_wav
from sesli.testing.sound_corpus import (
    CALMING_LABELS,
    render_calming,
    write_calming_corpus,
    write_fake_maestro,
    write_fake_nsynth,
)


def _all(out):
    return read_split(out, "train") + read_split(out, "val")


def test_sound_defaults():
    cfg = SOUND_PROCESS
    assert (cfg.sample_rate, cfg.trim, cfg.use_text, cfg.min_words, cfg.normalize) == (
        16000,
        False,
        False,
        0,
        "peak",
    )
    assert cfg.max_duration == 60.0


def test_calming_folder_prepares_with_folder_labels(tmp_path):
    src = write_calming_corpus(tmp_path / "calm", per_label=2, seconds=1.0)
    summary = prepare_sound(src, tmp_path / "out", val_split=0.2)
    utts = _all(tmp_path / "out")
    assert summary.inputs == 10 and summary.n_rejected == 0 and len(utts) == 10
    assert sorted({u.speaker for u in utts}) == sorted(CALMING_LABELS)
    assert all(u.sample_rate == 16000 and u.duration == 1.0 and u.text == "" for u in utts)
    peak = max(np.max(np.abs(sf.read(u.resolve_audio(tmp_path / "out"))[0])) for u in utts)
    assert abs(20 * np.log10(peak) - (-1.0)) < 0.1  # peak-normalised to -1 dBFS, not trimmed


def test_bad_sound_input_is_rejected_with_reasons_and_mixed_rates_resampled(tmp_path):
    src = tmp_path / "mine"
    write_wav(src / "rain" / "ok-22k.wav", sine(0.5, 22050, 300.0), 22050)
    stereo = np.stack([sine(0.5, 48000, 300.0), sine(0.5, 48000, 500.0)], axis=1)
    write_wav(src / "rain" / "ok-48k-stereo.wav", stereo, 48000)
    write_wav(src / "waves" / "ok-44k.wav", sine(0.5, 44100, 200.0), 44100)
    write_wav(src / "waves" / "silence.wav", np.zeros(8000, np.float32), 16000)
    write_wav(src / "waves" / "one-sample.wav", np.array([0.5], np.float32), 16000)
    write_wav(src / "wind" / "one-sample-44k.wav", np.array([0.5], np.float32), 44100)
    write_truncated_wav(src / "wind" / "truncated.wav")  # the header promises 1 s, 10 ms follow
    (src / "wind" / "broken.wav").write_text("not a sound " * 50, encoding="utf-8")
    (src / "wind" / "empty.wav").write_bytes(b"")
    summary = prepare_sound(src, tmp_path / "out")
    kept = {u.source: u for u in _all(tmp_path / "out")}
    assert sorted(kept) == ["rain/ok-22k.wav", "rain/ok-48k-stereo.wav", "waves/ok-44k.wav"]
    assert {u.sample_rate for u in kept.values()} == {16000}
    assert all(abs(u.duration - 0.5) < 1e-3 for u in kept.values())  # resampled, not re-timed
    reasons = {r.source: r.reason for r in read_rejects(tmp_path / "out" / "rejects.jsonl")}
    assert reasons["waves/silence.wav"] == "near-silent"
    assert reasons["waves/one-sample.wav"] == "too short"
    assert reasons["wind/one-sample-44k.wav"] == "too short"  # no sample left at 16 kHz
    assert reasons["wind/truncated.wav"] in ("too short", "near-silent")
    assert reasons["wind/broken.wav"] == "decode error" and reasons["wind/empty.wav"] == "decode error"
    assert summary.inputs == 9 and summary.n_rejected == 6


def test_nsynth_and_maestro_through_prepare(tmp_path):
    ns = write_fake_nsynth(tmp_path / "ns", n=6, missing=1)
    summary = prepare_sound(ns, tmp_path / "out-ns", options=SourceOptions(families=("keyboard", "guitar")))
    utts = _all(tmp_path / "out-ns")
    assert summary.inputs == 4 and len(utts) == 4  # the missing note is a mallet: filtered first
    assert {u.labels["label"] for u in utts} == {"keyboard", "guitar"}
    assert all(isinstance(u.labels["pitch"], int) for u in utts)

    ma = write_fake_maestro(tmp_path / "ma", n=3, seconds=2.0, missing=1)
    opts = SourceOptions(crop_seconds=0.5, crops_per_file=3, seed=1)
    summary = prepare_sound(ma, tmp_path / "out-ma", options=opts)
    utts = _all(tmp_path / "out-ma")
    assert len(utts) == 6 and all(u.duration == 0.5 and u.labels["label"] == "piano" for u in utts)
    (reject,) = read_rejects(tmp_path / "out-ma" / "rejects.jsonl")
    assert reject.reason == "missing audio" and "maestro-v3.0.0.csv line 4" in reject.detail


def test_a_killed_sound_run_resumes_to_the_same_result(tmp_path):
    src = write_calming_corpus(tmp_path / "calm", per_label=2, seconds=0.5)
    with pytest.raises(KeyboardInterrupt):
        prepare_sound(src, tmp_path / "out", stop_after=4)
    journal = (tmp_path / "out" / ".prepare" / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 4
    prepare_sound(src, tmp_path / "out")
    prepare_sound(src, tmp_path / "ref")
    key = [(u.id, u.duration, u.labels) for u in _all(tmp_path / "out")]
    assert key == [(u.id, u.duration, u.labels) for u in _all(tmp_path / "ref")] and len(key) == 10


def test_resuming_with_other_source_options_is_refused(tmp_path):
    ma = write_fake_maestro(tmp_path / "ma", n=2, seconds=2.0)
    prepare_sound(ma, tmp_path / "out", options=SourceOptions(crop_seconds=0.5, crops_per_file=1, seed=0))
    stored = json.loads((tmp_path / "out" / ".prepare" / "sound_source.json").read_text())
    assert stored["format"] == "maestro" and stored["options"]["seed"] == 0
    with pytest.raises(PrepareError, match="seed"):
        prepare_sound(ma, tmp_path / "out", options=SourceOptions(crop_seconds=0.5, crops_per_file=1, seed=1))
    with pytest.raises(PrepareError, match="sample_rate"):
        prepare_sound(
            ma, tmp_path / "out", sample_rate=22050, options=SourceOptions(crop_seconds=0.5, crops_per_file=1)
        )
    opts = SourceOptions(crop_seconds=0.5, crops_per_file=2, seed=1)
    prepare_sound(ma, tmp_path / "out", options=opts, overwrite=True)
    assert len(_all(tmp_path / "out")) == 4
    with pytest.raises(ValueError, match="sample_rate"):
        prepare_sound(ma, tmp_path / "x", sample_rate=100)


def test_calming_corpus_is_deterministic_by_seed(tmp_path):
    a = write_calming_corpus(tmp_path / "a", per_label=1, seconds=0.5, seed=3)
    b = write_calming_corpus(tmp_path / "b", per_label=1, seconds=0.5, seed=3)
    c = write_calming_corpus(tmp_path / "c", per_label=1, seconds=0.5, seed=4)
    for label in CALMING_LABELS:
        name = f"{label}/{label}-000.wav"
        x, sr = sf.read(a / name, dtype="int16")
        assert sr == 16000 and len(x) == 8000
        assert np.array_equal(x, sf.read(b / name, dtype="int16")[0])
        assert not np.array_equal(x, sf.read(c / name, dtype="int16")[0])
    with pytest.raises(ValueError, match="unknown calming label"):
        render_calming("thunder", 1.0, 16000, 0)


def _band_fraction(audio, sr, lo, hi):
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1.0 / sr)
    return power[(freqs >= lo) & (freqs < hi)].sum() / power.sum()


def test_calming_spectra_are_as_documented():
    sr, rng = 16000, np.random.default_rng
    rain, waves, wind = (render_calming(k, 2.0, sr, rng(0)) for k in ("rain", "waves", "wind"))
    drone, bells = render_calming("drone", 2.0, sr, rng(0)), render_calming("bells", 2.0, sr, rng(0))
    assert _band_fraction(rain, sr, 500, 5000) > 0.8  # band-pass 500 Hz - 4 kHz + droplets
    expected = np.arctan(1000 / 400) / np.arctan(8000 / 400)  # first-order low-pass at 400 Hz: 0.78
    assert abs(_band_fraction(waves, sr, 0, 1000) - expected) < 0.05
    assert _band_fraction(wind, sr, 150, 2000) > 0.9  # resonance drifting 250-1100 Hz
    envelope = np.abs(waves).reshape(20, -1).mean(1)
    assert envelope.max() > 3 * envelope.min()  # the slow swell
    power = np.abs(np.fft.rfft(drone * np.hanning(len(drone)))) ** 2
    f0 = np.argmax(power) * sr / len(drone)  # the 1/k line spectrum peaks at f0
    assert 80 <= f0 <= 160
    for k in (2, 3, 4):  # every harmonic is a line: far above the spectrum between harmonics
        at = int(round(k * f0 * len(drone) / sr))
        between = int(round((k + 0.5) * f0 * len(drone) / sr))
        assert power[at - 2 : at + 3].max() > 1e3 * power[between]
    first, last = np.abs(bells[:1600]).mean(), np.abs(bells[4800:6400]).mean()
    assert first > last  # each strike decays (the next one comes after 0.6 s or more)
    for x in (rain, waves, wind, drone, bells):
        assert x.dtype == np.float32 and abs(np.max(np.abs(x)) - 0.5) < 1e-6
