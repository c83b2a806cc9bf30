"""sesli.audio.io: decoding every common shape, resampling, atomic 16-bit writes."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from sesli.audio import io as aio
from sesli.audio.io import AudioDecodeError, load_audio, resample, save_wav
from sesli.testing.audio import sine, wav_bytes, write_truncated_wav, write_wav


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "FLOAT"])
def test_load_bit_depths_to_float(tmp_path, subtype):
    ref = sine(0.2, 16000, amplitude=0.5)
    path = write_wav(tmp_path / f"x_{subtype}.wav", ref, 16000, subtype=subtype)
    audio, sr = load_audio(path)
    assert sr == 16000 and audio.dtype == np.float32 and audio.shape == ref.shape
    tol = 0.01 if subtype == "PCM_U8" else 1e-3
    assert np.max(np.abs(audio - ref)) < tol


def test_stereo_is_averaged_and_kept_when_asked(tmp_path):
    left, right = sine(0.1, 8000, amplitude=0.4), np.zeros(800, dtype=np.float32)
    path = write_wav(tmp_path / "st.wav", np.stack([left, right], axis=1), 8000)
    mono, _ = load_audio(path)
    both, _ = load_audio(path, mono=False)
    assert mono.shape == (800,) and both.shape == (800, 2)
    assert np.allclose(mono, left / 2, atol=1e-3)


@pytest.mark.parametrize("sr_in", [8000, 44100, 96000])
def test_resample_on_load_keeps_duration_and_pitch(tmp_path, sr_in):
    path = write_wav(tmp_path / "r.wav", sine(0.5, sr_in, freq=440.0), sr_in)
    audio, sr = load_audio(path, sr=24000)
    assert sr == 24000 and abs(len(audio) - 12000) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 24000 / len(audio) - 440.0) < 3.0


def test_resample_identity_and_bad_rates():
    x = sine(0.1, 16000)
    assert resample(x, 16000, 16000) is not None and np.array_equal(resample(x, 16000, 16000), x)
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 16000)


def test_bytes_input(tmp_path):
    audio, sr = load_audio(wav_bytes(sine(0.1, 16000), 16000))
    assert sr == 16000 and len(audio) == 1600


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty file"),
        (b"this is not audio, just text with a .wav name" * 4, "not a readable audio file"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, content, match):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=match):
        load_audio(path)


def test_missing_file_and_truncated_wav(tmp_path):
    with pytest.raises(AudioDecodeError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    audio, sr = load_audio(write_truncated_wav(tmp_path / "cut.wav", sr=16000))
    assert sr == 16000 and 0 < len(audio) < 16000  # what is there is read; the header's promise is not


def test_save_wav_is_16bit_atomic_and_refuses_nan(tmp_path):
    path = save_wav(tmp_path / "sub" / "o.wav", np.array([0.0, 0.5, -1.5], dtype=np.float32), 24000)
    info = sf.info(str(path))
    assert (info.samplerate, info.subtype) == (24000, "PCM_16")
    pcm, _ = sf.read(str(path), dtype="int16")
    assert pcm.tolist() == [0, 16384, -32768]  # rounded, and clipped to full scale
    with pytest.raises(ValueError, match="non-finite"):
        save_wav(tmp_path / "n.wav", np.array([np.nan], dtype=np.float32), 24000)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["o.wav", "sub"]  # no temp files left


def test_ffmpeg_missing_gives_clear_reason(tmp_path, monkeypatch):
    path = tmp_path / "x.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 64)
    monkeypatch.setattr(aio.shutil, "which", lambda name: None)
    with pytest.raises(AudioDecodeError, match=r"ffmpeg not installed, cannot decode \.m4a"):
        load_audio(path)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_m4a_through_ffmpeg(tmp_path):
    src = write_wav(tmp_path / "s.wav", sine(0.5, 44100, freq=330.0), 44100)
    m4a = tmp_path / "ses ğü.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:a", "aac", str(m4a)], check=True)
    audio, sr = load_audio(m4a, sr=24000)
    assert sr == 24000 and abs(len(audio) / 24000 - 0.5) < 0.06
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 24000 / len(audio) - 330.0) < 5.0
