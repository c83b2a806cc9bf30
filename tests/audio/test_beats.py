"""Beat layers: the frequencies asked for, seamless as loops, stereo as promised, no claims in the text."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import sesli.audio.beats as beats_module
from sesli.audio.beats import BeatError, binaural_beat, isochronic_beat, mix_stereo
from sesli.eval.sound_metrics import loop_seam

SR = 48000


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size), 8 * x.size))
    return float(np.argmax(spec) * SR / (8 * x.size))


def test_binaural_puts_one_tone_in_each_ear():
    layer = binaural_beat(2 * SR, SR, carrier_hz=200.0, beat_hz=6.0, level_db=-20.0)
    assert layer.audio.shape == (2 * SR, 2) and layer.audio.dtype == np.float32
    assert (layer.left_hz, layer.right_hz, layer.beat_hz, layer.carrier_hz) == (197.0, 203.0, 6.0, 200.0)
    assert _peak_hz(layer.audio[:, 0]) == pytest.approx(197.0, abs=0.1)
    assert _peak_hz(layer.audio[:, 1]) == pytest.approx(203.0, abs=0.1)
    assert np.abs(layer.audio).max() == pytest.approx(0.1, rel=1e-3)  # -20 dBFS peak


def test_periodic_layers_round_to_whole_cycles_and_loop_without_a_seam():
    n = round(1.37 * SR)
    layer = binaural_beat(n, SR, carrier_hz=200.0, beat_hz=5.0)
    for hz in (layer.left_hz, layer.right_hz):
        assert hz * n / SR == pytest.approx(round(hz * n / SR), abs=1e-9)
    assert layer.beat_hz == pytest.approx(5.0, abs=SR / n)
    assert loop_seam(layer.audio, SR).click_free
    iso = isochronic_beat(n, SR, carrier_hz=300.0, beat_hz=4.0)
    assert iso.beat_hz * n / SR == pytest.approx(round(iso.beat_hz * n / SR), abs=1e-9)
    assert loop_seam(iso.audio, SR).click_free


def test_isochronic_pulses_are_identical_in_both_channels_and_smooth():
    layer = isochronic_beat(SR, SR, carrier_hz=300.0, beat_hz=4.0, level_db=-6.0, duty=0.5)
    left, right = layer.audio[:, 0], layer.audio[:, 1]
    np.testing.assert_array_equal(left, right)
    envelope = np.abs(left).reshape(4, -1).max(axis=1)  # one value per pulse period
    np.testing.assert_allclose(envelope, 10 ** (-6 / 20), rtol=0.01)
    period = left.reshape(4, SR // 4)  # on for the first half of each, ramps of a tenth
    on = np.abs(period[:, SR // 16 - 500 : SR // 16 + 500]).max()
    off = np.abs(period[:, SR // 8 + 1 :]).max()
    assert on > 0.4 and off == 0.0
    # no clicks: no step larger than a full-level carrier makes between samples
    assert np.abs(np.diff(left)).max() <= 2 * np.pi * 300.0 / SR * 10 ** (-6 / 20) * 1.05


def test_mix_stereo_copies_mono_and_checks_shapes():
    layer = binaural_beat(SR, SR).audio
    mixed = mix_stereo(np.ones(SR, dtype=np.float32), layer)
    np.testing.assert_allclose(mixed, 1.0 + layer)
    with pytest.raises(BeatError, match="does not match"):
        mix_stereo(np.ones(10), layer)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beat_hz": 300.0, "carrier_hz": 200.0}, "beat_hz < carrier_hz"),
        ({"beat_hz": 0.0}, "beat_hz"),
        ({"carrier_hz": 23990.0, "beat_hz": 20.0}, "Nyquist"),
    ],
)
def test_bad_layers_are_clear_errors(kwargs, match):
    with pytest.raises(BeatError, match=match):
        binaural_beat(SR, SR, **kwargs)


def test_a_loop_too_short_for_one_beat_cycle_says_so():
    with pytest.raises(BeatError, match="one cycle"):
        binaural_beat(SR // 10, SR, beat_hz=2.0)  # 0.1 s cannot hold a 0.5 s beat period


def test_the_module_makes_no_health_claims():
    text = inspect.getsource(beats_module).lower()
    claims = (
        r"\b(relax\w*|sleep\w*|anxiety|stress|heal\w*|therap\w*|brainwave\w*|entrain\w*|meditat\w*|focus)\b"
    )
    assert re.findall(claims, text) == []
