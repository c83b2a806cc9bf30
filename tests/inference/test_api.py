"""The Python API: ``sesli.load(...).generate(text).save(path)``, and a cheap ``import sesli``."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import sesli

TEXT = "merhaba, size nasıl yardımcı olabilirim?"


def test_load_generate_save_writes_a_24khz_wav(tmp_path):
    tts = sesli.load("debug", noise=False)
    audio = tts.generate(TEXT)
    path = audio.save(tmp_path / "nested" / "out.wav")
    assert path == tmp_path / "nested" / "out.wav"
    info = sf.info(path)
    assert info.samplerate == 24000 and info.subtype == "PCM_16" and info.channels == 1
    assert info.frames == len(audio.audio) and info.duration == pytest.approx(audio.duration)
    assert audio.duration > 0.5 and audio.phonemes.startswith("mˈeɾhaba")
    read, _ = sf.read(path, dtype="float32")
    np.testing.assert_allclose(read, audio.audio, atol=1 / 32767)
    np.testing.assert_array_equal(audio.audio, tts.synthesize(TEXT).audio)  # generate is synthesize
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]  # no temp file left


def test_sesli_load_is_the_inference_load():
    import sesli.inference

    assert sesli.load is sesli.inference.load and "load" in dir(sesli)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sesli.nope  # noqa: B018


def test_import_sesli_does_not_import_torch():
    code = "import sys, sesli; print(sorted(m for m in ('torch', 'sesli.inference') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
