"""Voice conversion through the public API and the CLI, with a random tiny voice and content model.

A random tiny generator's output follows its NSF sine source, so its pitch is measurable: the
pitch test holds without training. Inputs are synthetic harmonic "speech" (a 150 Hz buzz with
vibrato, voiced stretches and noise gaps), so harvest/dio find f0 in them.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from sesli.audio import features
from sesli.cli import main
from sesli.data.vc_experiment import Experiment
from sesli.inference import vc as vc_mod
from sesli.inference.vc import (
    ConvertError,
    Segmenting,
    VoiceConverter,
    load_converter,
    protect_features,
    split_points,
)
from sesli.models.vc.config import preset
from sesli.models.vc.index import build_index, save_index
from sesli.models.vc.model import VcModel
from sesli.models.vc.rvc_format import save_rvc_voice
from sesli.models.vc.tiny import tiny_content_encoder

FAST = {"f0_method": "dio"}  # harvest costs ~0.9 s per second of audio on one core


def _speech(seconds: float, sr: int = 16000, f0: float = 150.0, gaps=(), seed: int = 0) -> np.ndarray:
    """A harmonic buzz with vibrato; ``gaps`` (start, end) in seconds hold faint noise instead."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))) / sr
    x = 0.3 * sum(np.sin(k * phase) / k for k in range(1, 9))
    for a, b in gaps:
        x[int(a * sr) : int(b * sr)] = 0.01 * rng.standard_normal(int(b * sr) - int(a * sr))
    return x.astype(np.float32)


def _median_f0(audio: np.ndarray, sr: int) -> float:
    f0 = features.f0(audio / (np.abs(audio).max() + 1e-9) * 0.5, sr, sr // 100, f0_ceil=1100)
    return float(np.median(f0[f0 > 0]))


@pytest.fixture(scope="module")
def voice(tmp_path_factory):
    """A tiny random voice file and an index of random 768-d features beside it."""
    d = tmp_path_factory.mktemp("voice")
    torch.manual_seed(0)
    save_rvc_voice(VcModel(preset("tiny")).eval(), None, d / "alice.pth")
    feats = np.random.default_rng(0).standard_normal((60, 768)).astype(np.float32)
    save_index(build_index(feats), d / "added_Flat_nprobe_1_alice_v2.index")
    return d


@pytest.fixture(scope="module")
def conv(voice) -> VoiceConverter:
    return load_converter(voice / "alice.pth", content_model="tiny")


def test_loads_voice_content_and_index_beside_it(conv, voice):
    assert conv.sample_rate == 16000 and conv.index is not None and conv.index.d == 768
    assert any("added_Flat_nprobe_1_alice_v2.index" in n for n in conv.notes)


def test_pitch_12_raises_median_f0_by_an_octave(conv):
    x = _speech(1.5)
    low = conv.convert(x, 16000, pitch=0, **FAST).audio
    high = conv.convert(x, 16000, pitch=12, **FAST).audio
    semitones = 12 * np.log2(_median_f0(high, 16000) / _median_f0(low, 16000))
    assert abs(semitones - 12) < 0.5, semitones


def test_index_rate_changes_output_and_searches_the_index(conv, monkeypatch):
    calls, fed = [], []
    real, real_infer = vc_mod.retrieve, conv.model.infer
    monkeypatch.setattr(vc_mod, "retrieve", lambda *a, **k: calls.append(k["index_rate"]) or real(*a, **k))
    monkeypatch.setattr(
        conv.model, "infer", lambda f, *a, **k: fed.append(f[0].numpy()) or real_infer(f, *a, **k)
    )
    x = _speech(1.0)
    off = conv.convert(x, 16000, index_rate=0.0, **FAST)
    assert calls == []
    again = conv.convert(x, 16000, index_rate=0.0, **FAST)
    np.testing.assert_array_equal(off.audio, again.audio)  # seeded noise: one input, one output
    full = conv.convert(x, 16000, index_rate=1.0, **FAST)
    assert calls == [1.0]
    # a random generator barely listens to its features (its sine source dominates), so the audio
    # moves a little; what the generator was fed moved a lot
    assert not np.array_equal(full.audio, off.audio)
    assert np.abs(fed[2] - fed[0]).mean() > 0.3 * np.abs(fed[0]).mean()


def test_protect_formula_keeps_unvoiced_frames():
    rng = np.random.default_rng(0)
    feats, feats0 = rng.standard_normal((2, 6, 4)).astype(np.float32)
    pitchf = np.array([120, 0, 130, 0, 0, 140], np.float32)
    unvoiced = pitchf == 0
    kept = protect_features(feats, feats0, pitchf, 0.0)
    np.testing.assert_array_equal(kept[unvoiced], feats0[unvoiced])
    np.testing.assert_array_equal(kept[~unvoiced], feats[~unvoiced])
    mixed = protect_features(feats, feats0, pitchf, 0.33)
    np.testing.assert_allclose(mixed[unvoiced], 0.33 * feats[unvoiced] + 0.67 * feats0[unvoiced], rtol=1e-6)
    assert protect_features(feats, feats0, pitchf, 0.5) is feats  # RVC: 0.5 switches it off


def test_protect_in_the_pipeline_gives_the_generator_unretrieved_unvoiced_frames(conv, monkeypatch):
    seen = {}
    real_retrieve, real_infer = vc_mod.retrieve, conv.model.infer

    def retrieve(index, feats, **kw):
        seen["feats0"] = feats.copy()
        return real_retrieve(index, feats, **kw)

    def infer(feats, lengths, pitch, pitchf, *a, **kw):
        seen["feats"], seen["pitchf"] = feats[0].numpy().copy(), pitchf[0].numpy().copy()
        return real_infer(feats, lengths, pitch, pitchf, *a, **kw)

    monkeypatch.setattr(vc_mod, "retrieve", retrieve)
    monkeypatch.setattr(conv.model, "infer", infer)
    conv.convert(_speech(1.2, gaps=[(0.4, 0.8)]), 16000, index_rate=1.0, protect=0.0, **FAST)
    feats0 = np.repeat(seen["feats0"], 2, axis=0)[: len(seen["feats"])]
    unvoiced = seen["pitchf"] == 0
    assert 10 < unvoiced.sum() < len(unvoiced) - 10
    np.testing.assert_allclose(seen["feats"][unvoiced], feats0[unvoiced], atol=1e-6)
    assert np.abs(seen["feats"][~unvoiced] - feats0[~unvoiced]).max() > 0.1  # voiced frames retrieved


def test_rmvpe_reads_the_given_f0_model(conv, monkeypatch):
    class Flat:  # what sesli.models.vc.rmvpe.RMVPE offers: infer(wav16k) -> Hz per 10 ms
        def infer(self, wav16k):
            return np.full(1 + len(wav16k) // 160, 220.0, np.float32)

    seen = []
    real = conv.model.infer
    monkeypatch.setattr(conv.model, "infer", lambda *a, **k: seen.append(a[3][0].numpy()) or real(*a, **k))
    VoiceConverter(conv.model, conv.content, f0_model=Flat()).convert(
        _speech(0.5), 16000, f0_method="rmvpe", pitch=12
    )
    np.testing.assert_allclose(seen[0], 440.0, rtol=1e-6)


def test_long_input_is_split_at_quiet_points(conv):
    seg = Segmenting(pad_s=0.2, query_s=0.3, center_s=1.0, max_s=1.2)
    split = VoiceConverter(conv.model, conv.content, index=conv.index, segmenting=seg)
    sr = 22050
    x = _speech(3.4, sr=sr, gaps=[(0.85, 1.05), (2.1, 2.3)])
    cuts = split_points(vc_mod.resample(x, sr, 16000), seg)
    assert len(cuts) == 3 and 0.85 < cuts[0] / 16000 < 1.05 and 2.1 < cuts[1] / 16000 < 2.3
    result = split.convert(x, sr, **FAST)
    assert len(result.segments) == 4 and result.segments[-1][1] == pytest.approx(3.4, abs=1e-3)
    assert len(result.audio) == round(len(x) * 16000 / sr)
    whole = VoiceConverter(conv.model, conv.content, index=conv.index).convert(x, sr, **FAST)
    assert len(whole.segments) == 1 and len(whole.audio) == len(result.audio)
    for a, b in result.segments:  # every piece made sound, and the joins are not louder than speech
        piece = result.audio[int(a * 16000) : int(b * 16000)]
        assert piece.std() > 0.1 * whole.audio.std()
    assert np.abs(result.audio).max() <= 0.99 + 1e-6


def test_missing_index_warns_with_the_command(voice, tmp_path, capsys):
    exp = Experiment.create(tmp_path / "bob", sample_rate=40000)
    (exp.path / "bob.pth").write_bytes((voice / "alice.pth").read_bytes())
    conv = load_converter(exp.path, content_model="tiny")
    assert conv.index is None
    x = _speech(0.6)
    result = conv.convert(x, 16000, **FAST)
    assert len(result.warnings) == 1 and f"`sesli vc index {exp.path}`" in result.warnings[0]
    assert conv.convert(x, 16000, index_rate=0, **FAST).warnings == []
    assert load_converter(exp.path, content_model="tiny", index=None).convert(x, 16000, **FAST).warnings == []

    sf.write(tmp_path / "in.wav", x, 16000)
    argv = ["vc", "convert", "--model", str(exp.path), "--input", str(tmp_path / "in.wav"),
            "--output", str(tmp_path / "out.wav"), "--content-model", "tiny", "--f0-method", "dio",
            "--pitch", "3"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "warning: no retrieval index" in captured.err and f"sesli vc index {exp.path}" in captured.err
    assert "wrote" in captured.out and "RTF" in captured.out
    audio, sr = sf.read(tmp_path / "out.wav")
    assert sr == 16000 and len(audio) == len(x)


@pytest.mark.parametrize(
    ("audio", "sr", "options", "message"),
    [
        (np.zeros(16000, np.float32), 16000, {}, "silent"),
        (_speech(0.1), 16000, {}, "0.10 s long"),
        ((_speech(0.5) * 32767).astype(np.int16), 16000, {}, "float audio"),
        (np.full(8000, np.nan, np.float32), 16000, {}, "NaN"),
        (np.zeros((2, 3, 4), np.float32), 16000, {}, "mono"),
        (_speech(0.5), 0, {}, "not an audio rate"),
        (_speech(0.5), 16000, {"index_rate": 2}, "index_rate"),
        (_speech(0.5), 16000, {"speaker": 9}, "out of range"),
        (_speech(0.5), 16000, {"f0_method": "crepe"}, "unknown f0 method"),
        (_speech(0.5), 16000, {"f0_method": "rmvpe"}, "rmvpe.pt"),
    ],
)
def test_bad_input_is_a_clear_error(conv, audio, sr, options, message):
    with pytest.raises(ConvertError, match=message):
        conv.convert(audio, sr, **options)


def test_bad_files_and_mismatched_features(conv, voice, tmp_path):
    (tmp_path / "notes.wav").write_text("not audio at all")
    with pytest.raises(ConvertError, match="cannot read .*notes.wav as audio"):
        conv.convert_file(tmp_path / "notes.wav", tmp_path / "out.wav")
    with pytest.raises(ConvertError, match="256-d features \\(v1\\) but this voice takes 768-d \\(v2\\)"):
        VoiceConverter(conv.model, tiny_content_encoder(version="v1"))
    small = build_index(np.random.default_rng(0).standard_normal((20, 256)).astype(np.float32))
    save_index(small, tmp_path / "added_v1.index")
    with pytest.raises(ConvertError, match="256-d"):
        load_converter(voice / "alice.pth", content_model="tiny", index=tmp_path / "added_v1.index")
    with pytest.raises(ConvertError, match="not a voice-conversion experiment"):
        load_converter(tmp_path, content_model="tiny")
    with pytest.raises(ConvertError, match="no voice at"):
        load_converter(tmp_path / "nothing.pth", content_model="tiny")


def test_folder_mode_converts_audio_and_skips_the_rest(conv, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    sf.write(src / "a.wav", _speech(0.5), 16000)
    sf.write(src / "b.flac", _speech(0.4, sr=24000), 24000)
    sf.write(src / "quiet.wav", np.zeros(8000, np.float32), 16000)
    (src / "broken.wav").write_text("RIFF? no")
    (src / "notes.txt").write_text("hello")
    result = conv.convert_folder(src, out, **FAST)
    assert [p.name for p, _ in result.converted] == ["a.wav", "b.flac"]
    reasons = {p.name: r for p, r in result.skipped}
    assert set(reasons) == {"sub", "quiet.wav", "broken.wav", "notes.txt"}
    assert "silent" in reasons["quiet.wav"] and "cannot read" in reasons["broken.wav"]
    assert "not an audio file" in reasons["notes.txt"] and "folder" in reasons["sub"]
    assert sorted(p.name for p in out.iterdir()) == ["a.wav", "b.wav"]  # no temporary files left
    assert sf.info(out / "b.wav").frames == round(0.4 * 16000)
    with pytest.raises(ConvertError, match="output folder is the input folder"):
        conv.convert_folder(src, src)


def test_stream_is_as_long_as_the_whole_conversion(conv):
    sr = 22050
    x = _speech(2.3, sr=sr, gaps=[(1.0, 1.2)])
    whole = conv.convert(x, sr, **FAST).audio
    rng = np.random.default_rng(1)
    edges = np.sort(rng.choice(np.arange(1, len(x)), size=12, replace=False))
    chunks = np.split(x, edges)
    blocks = list(conv.stream(chunks, sr, block_s=0.5, context_s=0.3, lookahead_s=0.1, **FAST))
    streamed = np.concatenate(blocks)
    assert len(blocks) >= 4 and all(len(b) for b in blocks)
    assert len(streamed) == len(whole)
    assert np.isfinite(streamed).all() and np.abs(streamed).max() <= 0.99
    assert 0.3 < streamed.std() / whole.std() < 3
    semitones = 12 * np.log2(_median_f0(streamed, 16000) / _median_f0(whole, 16000))
    assert abs(semitones) < 0.5
    with pytest.raises(ConvertError, match="finite float"):
        list(conv.stream([np.zeros(800, np.int16)], 16000))
    with pytest.raises(ConvertError, match="need at least"):
        list(conv.stream([x[:2000]], sr, **FAST))
