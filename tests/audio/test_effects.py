"""sesli.audio.effects: trimming, level, high-pass, clipping, silence slicing and windows."""

from __future__ import annotations

import numpy as np
import pytest

from sesli.audio import effects
from sesli.testing.audio import noise, sine, speech_like, with_pauses

SR = 16000


def test_trim_silence_cuts_padding_keeps_margin():
    core = speech_like(1.0, SR, pad=0.0)
    audio = np.concatenate([np.zeros(SR), core, np.zeros(SR)])
    out = effects.trim_silence(audio, SR, pad_ms=50)
    assert 1.0 <= len(out) / SR <= 1.15
    assert effects.trim_silence(np.zeros(SR, dtype=np.float32), SR).size == 0


def test_peak_and_loudness_normalize():
    x = sine(1.0, SR, amplitude=0.1)
    assert np.isclose(np.max(np.abs(effects.peak_normalize(x, -1.0))), 10 ** (-1 / 20), atol=1e-4)
    quiet, loud = speech_like(2.0, SR, seed=1, amplitude=0.02), speech_like(2.0, SR, seed=2, amplitude=0.6)
    a = effects.loudness_normalize(quiet, SR, -23.0)
    b = effects.loudness_normalize(loud, SR, -23.0)
    assert abs(effects.gated_loudness_db(a, SR) - effects.gated_loudness_db(b, SR)) < 0.5
    assert abs(effects.gated_loudness_db(a, SR) + 23.0) < 0.5
    # a very low target on a peaky clip: the peak ceiling wins
    assert (
        np.max(np.abs(effects.loudness_normalize(loud, SR, 0.0, max_peak_db=-1.0))) <= 10 ** (-1 / 20) + 1e-5
    )


def test_highpass_removes_rumble_keeps_speech_band():
    low, mid = sine(1.0, SR, freq=20.0), sine(1.0, SR, freq=1000.0)
    assert effects.rms_db(effects.highpass(low, SR, 48.0)) < effects.rms_db(low) - 20
    assert abs(effects.rms_db(effects.highpass(mid, SR, 48.0)) - effects.rms_db(mid)) < 0.1
    with pytest.raises(ValueError, match="cutoff"):
        effects.highpass(mid, SR, SR)


def test_clipped_fraction_tells_clipping_from_loud():
    clean = sine(1.0, 96000, freq=100.0, amplitude=1.0)
    clipped = np.clip(3.0 * sine(1.0, SR, freq=200.0), -1.0, 1.0)
    assert effects.clipped_fraction(clean) < 0.01
    assert effects.clipped_fraction(clipped) > 0.3
    assert effects.clipped_fraction(noise(1.0, SR)) == 0.0


def test_slice_on_silence_cuts_long_pauses_only():
    audio = with_pauses([2.0, 2.5, 2.0], pause=0.8, sr=SR)
    pieces = effects.slice_on_silence(audio, SR)
    assert len(pieces) == 3
    for piece, expected in zip(pieces, [2.0, 2.5, 2.0], strict=True):
        # the sound plus at most 0.5 s of kept silence
        assert expected - 0.05 <= len(piece) / SR <= expected + 0.55
    short_pauses = with_pauses([2.0, 2.0], pause=0.2, sr=SR)
    assert len(effects.slice_on_silence(short_pauses, SR)) == 1
    assert effects.slice_on_silence(np.zeros(SR, dtype=np.float32), SR) == []


def test_slice_merges_short_pieces():
    audio = with_pauses([0.5, 2.0], pause=0.8, sr=SR)  # 0.5 s is under the 1.5 s minimum
    pieces = effects.slice_on_silence(audio, SR)
    assert len(pieces) == 1 and len(pieces[0]) / SR > 2.5


def test_windows_rvc_layout():
    audio = np.arange(int(10.0 * SR), dtype=np.float32)
    pieces = effects.windows(audio, SR)
    assert [round(len(p) / SR, 2) for p in pieces] == [3.7, 3.7, 3.2]
    assert [int(p[0]) for p in pieces] == [0, int(3.4 * SR), int(6.8 * SR)]  # 0.3 s overlap
    assert len(effects.windows(audio[: int(3.9 * SR)], SR)) == 1  # at most 4.0 s stays whole
    with pytest.raises(ValueError, match="overlap"):
        effects.windows(audio, SR, 1.0, 1.0)
