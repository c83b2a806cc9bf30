"""Evaluation metrics and the `sesli eval` report on known signals."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from sesli.audio.io import save_wav
from sesli.data.manifest import Utterance, write_manifest
from sesli.eval.evaluate import EvalError, evaluate
from sesli.eval.metrics import (
    ErrorCount,
    cer,
    char_errors,
    corpus_rate,
    dtw_path,
    duration_error,
    edit_distance,
    f0_metrics,
    mcd_dtw,
    mel_l1,
    text_for_scoring,
    wer,
)
from sesli.eval.report import write_report

SR = 24000


def _voiced(seconds: float, freq: float, n_harm: int = 5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return sum(0.3 / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, n_harm + 1)).astype(np.float32)


def test_mcd_zero_for_identical_and_grows_with_difference():
    rng = np.random.default_rng(0)
    ref = _voiced(0.5, 150) + 0.01 * rng.normal(size=12000).astype(np.float32)
    assert mcd_dtw(ref, ref).mcd == pytest.approx(0.0, abs=1e-6)
    near = mcd_dtw(ref, _voiced(0.5, 155) + 0.01 * rng.normal(size=12000).astype(np.float32)).mcd
    far = mcd_dtw(ref, _voiced(0.5, 400, n_harm=2) + 0.01 * rng.normal(size=12000).astype(np.float32)).mcd
    noise = mcd_dtw(ref, 0.3 * rng.normal(size=12000).astype(np.float32)).mcd
    assert 0 < near < far < noise


def test_dtw_handles_different_lengths_and_time_stretch():
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([[0.0], [0.0], [1.0], [1.0], [2.0], [3.0], [3.0]])
    i, j = dtw_path(x, y)
    assert i[0] == 0 and j[0] == 0 and i[-1] == 3 and j[-1] == 6
    assert np.all(np.diff(i) >= 0) and np.all(np.diff(j) >= 0)
    assert np.allclose(x[i], y[j])  # a perfect warp exists, DTW finds it
    # A clip and its slowed copy (each sample twice) align with a small MCD despite 2x length.
    ref = _voiced(0.4, 180)
    slow = np.repeat(_voiced(0.4, 360), 2)  # same spectrum shape (f0 halves back to 180 Hz)
    res = mcd_dtw(ref, slow)
    assert res.syn_frames > 1.8 * res.ref_frames and res.mcd < mcd_dtw(ref, _voiced(0.4, 300)).mcd
    with pytest.raises(ValueError, match="empty"):
        dtw_path(np.zeros((0, 2)), x)


def test_f0_rmse_on_two_tracks_and_voicing():
    ref = np.array([200.0, 200.0, 200.0, 0.0, 0.0])
    syn = np.array([210.0, 190.0, 0.0, 0.0, 150.0])
    res = f0_metrics(ref, syn)
    assert res.rmse_hz == pytest.approx(10.0)
    assert res.voicing_error == pytest.approx(2 / 5)
    assert res.voiced_pairs == 2
    cents = np.sqrt(np.mean([(1200 * np.log2(200 / 210)) ** 2, (1200 * np.log2(200 / 190)) ** 2]))
    assert res.rmse_cents == pytest.approx(cents)
    assert np.isnan(f0_metrics(np.zeros(3), np.zeros(3)).rmse_hz)


def test_f0_rmse_of_two_voiced_tones_via_pyworld():
    from sesli.audio.features import f0

    a, b = _voiced(0.5, 200), _voiced(0.5, 220)
    res = f0_metrics(f0(a, SR, 300), f0(b, SR, 300), mcd_dtw(a, b).path)
    assert res.rmse_hz == pytest.approx(20.0, abs=1.5)
    assert res.rmse_cents == pytest.approx(1200 * np.log2(220 / 200), abs=10)
    assert res.voicing_error < 0.1


def test_duration_error_and_mel_l1():
    assert duration_error([2, 3, 4], [2, 5, 4]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="2 predicted vs 3"):
        duration_error([1, 2], [1, 2, 3])
    x = _voiced(0.3, 200)
    assert mel_l1(x, x) == 0.0 and mel_l1(x, 0.5 * x) > 0.5


@dataclass
class _Result:
    audio: np.ndarray
    sample_rate: int
    durations: np.ndarray | None = None


class _EchoTTS:
    """Speaks every text as a 200 Hz tone at 16 kHz; knows its durations; can teacher-force."""

    def synthesize(self, text: str) -> _Result:
        t = np.arange(8000) / 16000
        audio = sum(0.3 / k * np.sin(2 * np.pi * 200 * k * t) for k in range(1, 6)).astype(np.float32)
        return _Result(audio, 16000, np.array([1, 3, 1]))

    def teacher_forced(self, utt, audio, sample_rate):
        return audio  # perfect resynthesis


def test_evaluate_and_report(tmp_path):
    for uid, freq in (("a", 200.0), ("b", 250.0)):
        save_wav(tmp_path / f"{uid}.wav", _voiced(0.5, freq), SR)
    utts = [Utterance("a", "a.wav", 0.5, SR, text="bir"), Utterance("b", "b.wav", 0.5, SR, text="iki"),
            Utterance("c", "missing.wav", 0.5, SR, text="üç"), Utterance("d", "a.wav", 0.5, SR)]  # fmt: skip
    report = evaluate(_EchoTTS(), utts, tmp_path, reference_durations={"a": np.array([1, 2, 1])})
    by_id = {u.id: u for u in report.utterances}
    assert set(by_id) == {"a", "b"} and set(report.skipped) == {"c", "d"}
    assert by_id["a"].f0_rmse_hz < 3 < by_id["b"].f0_rmse_hz  # 200 vs 200 Hz, 250 vs 200 Hz
    assert by_id["a"].duration_error == pytest.approx(1 / 3) and by_id["b"].duration_error is None
    assert by_id["a"].teacher_forced_mel_l1 == 0.0
    assert report.summary["utterances"] == 2 and report.summary["duration_error"] == pytest.approx(1 / 3)
    json_path, png_path = write_report(report, tmp_path / "out", title="echo")
    data = json.loads(json_path.read_text())
    assert data["summary"]["mcd"] == pytest.approx(report.summary["mcd"]) and len(data["utterances"]) == 2
    assert png_path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(EvalError, match="no synthesize"):
        evaluate(object(), utts, tmp_path)
    with pytest.raises(EvalError, match="no utterances"):
        evaluate(_EchoTTS(), [], tmp_path)


def test_cli_eval_with_debug_model_and_bad_input(tmp_path, capsys):
    from sesli.cli.eval import main

    save_wav(tmp_path / "a.wav", _voiced(0.6, 180), SR)
    write_manifest(tmp_path / "val.jsonl", [Utterance("a", "a.wav", 0.6, SR, text="merhaba")])
    assert (
        main(["--run", "debug", "--manifest", str(tmp_path / "val.jsonl"), "--out", str(tmp_path / "r")]) == 0
    )
    assert json.loads((tmp_path / "r" / "report.json").read_text())["summary"]["utterances"] == 1
    assert (tmp_path / "r" / "report.png").is_file()
    assert (
        main(["--run", "debug", "--manifest", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r")])
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    code = main(["--run", str(tmp_path / "no-model"), "--manifest", str(tmp_path / "val.jsonl"),
                 "--out", str(tmp_path / "r2"), "--local-files-only"])  # fmt: skip
    assert code == 2 and "cannot load model" in capsys.readouterr().err


# ----------------------------------------------------------------------------- CER / WER


def test_edit_distance_known_values():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3 and edit_distance("", "") == 0
    assert edit_distance("abc", "abc") == 0 and edit_distance("ab", "ba") == 2  # no transpositions
    assert edit_distance(["bir", "iki", "üç"], ["bir", "üç"]) == 1


def test_cer_wer_known_values_and_turkish_casing():
    assert cer("bir iki üç", "bir iki üç") == 0.0
    assert wer("bir iki üç", "bir üç") == pytest.approx(1 / 3)
    assert wer("bir iki", "bir iki üç dört") == pytest.approx(1.0)  # insertions can pass 1
    assert cer("ev", "ef") == pytest.approx(0.5)
    # Turkish casing: I -> ı and İ -> i, so these agree, and dotless/dotted i are different letters.
    assert cer("IĞDIR İLİ", "ığdır ili") == 0.0 and cer("İstanbul", "istanbul") == 0.0
    assert cer("ışık", "isik") == pytest.approx(3 / 4) and wer("ışık", "isik") == 1.0
    # Spaces count as characters: a merged word costs one edit.
    assert char_errors("bu arada", "buarada") == ErrorCount(1, 8)


def test_scoring_normalises_numbers_punctuation_and_apostrophes():
    assert cer("3 kedi", "üç kedi") == 0.0 and wer("3 kedi", "üç kedi") == 0.0
    assert text_for_scoring("İstanbul'a 3 kedi geldi!") == "istanbula üç kedi geldi"
    assert text_for_scoring("  “Evet,”  dedi —   (sonra) Türkiye’den… ") == "evet dedi sonra türkiyeden"
    assert cer("Merhaba, dünya!", "merhaba dünya") == 0.0
    assert char_errors("", "") == ErrorCount(0, 0) and cer("", "") == 0.0 and cer("...", "ses") == 1.0


def test_corpus_rate_weighs_by_reference_length():
    counts = [char_errors("a", "b"), char_errors("abcdefghi", "abcdefghi")]  # 1/1 and 0/9
    assert corpus_rate(counts) == pytest.approx(0.1)
    assert np.mean([c.rate for c in counts]) == pytest.approx(0.5)
    assert np.isnan(corpus_rate([]))


class _EchoASR:
    """Hears what ``texts`` says for audio of that many samples ("" otherwise)."""

    name = "echo"

    def __init__(self, texts: dict[int, str]):
        self.texts = texts

    def transcribe(self, audio, sample_rate):
        return self.texts.get(len(audio), "")


class _BrokenASR:
    def transcribe(self, audio, sample_rate):
        raise RuntimeError("decoder broke")


def test_evaluate_with_a_fake_asr(tmp_path):
    save_wav(tmp_path / "a.wav", _voiced(0.5, 200), SR)
    save_wav(tmp_path / "b.wav", _voiced(0.25, 200), SR)
    utts = [Utterance("a", "a.wav", 0.5, SR, text="Bir kedi!"), Utterance("b", "b.wav", 0.25, SR, text="iki")]
    # recordings: 12000 and 6000 samples at 24 kHz; every synthesis: the 8000-sample tone at 16 kHz
    asr = _EchoASR({12000: "1 kedi", 6000: "üç", 8000: "bir kedi"})
    seen = []
    report = evaluate(_EchoTTS(), utts, tmp_path, asr=asr, spectral=False, progress=lambda *a: seen.append(a))
    a, b = report.utterances
    assert (a.asr_text, a.cer, a.wer, a.reference_asr_text, a.reference_cer) == (
        "bir kedi",
        0,
        0,
        "1 kedi",
        0,
    )
    assert b.cer == pytest.approx(5 / 3) and b.wer == 2.0  # "iki" -> "bir kedi": 5 chars inserted
    assert b.reference_cer == 1.0 and b.reference_wer == 1.0  # "iki" -> "üç"
    assert a.mcd is None and a.teacher_forced_mel_l1 is None and a.ref_seconds == pytest.approx(0.5)
    s = report.summary  # corpus rates over 8 + 3 reference chars, 2 + 1 words; then means
    assert s["cer"] == pytest.approx(5 / 11) and s["cer_mean"] == pytest.approx(5 / 6)
    assert s["wer"] == pytest.approx(2 / 3) and s["wer_mean"] == pytest.approx(1.0)
    assert s["reference_cer"] == pytest.approx(3 / 11) and s["reference_wer"] == pytest.approx(1 / 3)
    assert seen == [(1, 2, "a"), (2, 2, "b")]
    json_path, png_path = write_report(report, tmp_path / "out", title="asr")
    data = json.loads(json_path.read_text())
    assert data["summary"]["reference_cer"] == pytest.approx(3 / 11) and data["utterances"][0]["mcd"] is None
    assert data["utterances"][1]["reference_asr_text"] == "üç" and png_path.read_bytes()[:4] == b"\x89PNG"
    # With spectral metrics too; and a clip the ASR fails on keeps its other scores and is recorded.
    report = evaluate(_EchoTTS(), utts, tmp_path, asr=asr)
    assert report.summary["cer"] == pytest.approx(5 / 11) and report.utterances[0].mcd > 0
    report = evaluate(_EchoTTS(), utts, tmp_path, asr=_BrokenASR())
    assert set(report.skipped) == {"a:asr", "b:asr"} and "decoder broke" in report.skipped["a:asr"]
    assert report.utterances[0].cer is None and report.summary["cer"] is None and len(report.utterances) == 2
    with pytest.raises(EvalError, match="no transcribe"):
        evaluate(_EchoTTS(), utts, tmp_path, asr=object())


def test_cli_eval_model_alias_and_no_spectral_needs_asr(tmp_path, capsys):
    from sesli.cli.eval import main

    save_wav(tmp_path / "a.wav", _voiced(0.6, 180), SR)
    write_manifest(tmp_path / "val.jsonl", [Utterance("a", "a.wav", 0.6, SR, text="merhaba")])
    args = ["--manifest", str(tmp_path / "val.jsonl"), "--out", str(tmp_path / "r")]
    with pytest.raises(SystemExit):
        main(["--model", "debug", "--no-spectral", *args])
    assert "without --asr" in capsys.readouterr().err
    assert main(["--model", "debug", *args]) == 0
    assert "cer" not in json.loads((tmp_path / "r" / "report.json").read_text())["summary"]
