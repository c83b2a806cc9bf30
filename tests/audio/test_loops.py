"""Loops: no click at the seam (a naive cut does click under the same measure), lengths, loudness."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import butter, lfilter

from sesli.audio.loops import (
    LoopError,
    LoudnessError,
    integrated_loudness,
    make_loop,
    normalize_loudness,
    true_peak,
)
from sesli.eval.sound_metrics import loop_seam

SR = 48000
SOURCE_S = 1.5


def _noise(n: int) -> np.ndarray:
    """Low-passed (300 Hz, 4th order) noise: smooth at the sample level, so a cut shows."""
    b, a = butter(4, 300 / (SR / 2))
    x = lfilter(b, a, np.random.default_rng(0).standard_normal(n))
    return 0.5 * x / np.abs(x).max()


def _drone(n: int) -> np.ndarray:
    t = np.arange(n) / SR
    return 0.3 * sum(np.sin(2 * np.pi * 110.0 * k * t + k) / k for k in range(1, 7))


def _bell(n: int) -> np.ndarray:
    """One strike of four inharmonic partials decaying over about a second."""
    t = np.arange(n) / SR
    partials = [(440.0, 1.0, 1.2), (1193.0, 0.5, 0.8), (2210.0, 0.3, 0.5), (3510.0, 0.2, 0.3)]
    return 0.4 * sum(a * np.exp(-t / tau) * np.sin(2 * np.pi * f * t) for f, a, tau in partials)


SOUNDS = {"noise": (_noise, None), "drone": (_drone, 110.0), "bell": (_bell, None)}


@pytest.mark.parametrize("seconds", [1.0023, 3.7], ids=["shorter", "longer-than-source"])
@pytest.mark.parametrize("kind", list(SOUNDS))
def test_loop_has_no_click_at_the_seam(kind, seconds):
    render, tone = SOUNDS[kind]
    loop = make_loop(render(round(SOURCE_S * SR)), SR, seconds, crossfade=0.3, tone_hz=tone)
    report = loop_seam(loop.audio, SR)
    assert report.click_free, report
    assert loop.tiled == (seconds > SOURCE_S)


@pytest.mark.parametrize("kind", list(SOUNDS))
def test_a_naive_cut_clicks_under_the_same_measure(kind):
    render, _ = SOUNDS[kind]
    naive = render(round(SOURCE_S * SR))[: round(1.0023 * SR)]  # 1.0023 s: not whole drone cycles
    report = loop_seam(naive, SR)
    assert not report.click_free
    assert report.jump_max_ratio > 10.0 * report.tolerance  # far outside the clip's own range
    assert report.jump_percentile == 100.0


def test_loop_length_and_points():
    loop = make_loop(_noise(SR), SR, 0.5, crossfade=0.1)
    assert loop.audio.shape == (SR // 2,) and loop.audio.dtype == np.float32
    assert (loop.loop_start, loop.loop_end) == (0, SR // 2 - 1)
    assert loop.crossfade == round(0.1 * SR)
    assert loop.seconds == pytest.approx(0.5)


def test_tone_loop_completes_whole_cycles_without_swelling():
    source = _drone(SR)
    loop = make_loop(source, SR, 0.5013, crossfade=0.1, tone_hz=110.0)
    assert loop.cycles == round(0.5013 * 110)
    assert abs(loop.audio.shape[0] * 110.0 / SR - loop.cycles) <= 0.5 * 110.0 / SR + 1e-9
    assert loop.correlation > 0.99  # head and tail in phase: amplitude-preserving gains
    assert np.abs(loop.audio).max() <= np.abs(source).max() * 1.01  # no +3 dB mid-fade swell


def test_crossfade_keeps_the_power_of_noise():
    loop = make_loop(np.random.default_rng(1).standard_normal(2 * SR), SR, 1.0, crossfade=0.25)
    fade, rest = loop.audio[: loop.crossfade], loop.audio[loop.crossfade :]
    assert abs(loop.correlation) < 0.05
    assert np.std(fade) == pytest.approx(np.std(rest), rel=0.05)


def test_stereo_keeps_its_channels():
    stereo = np.stack([_noise(SR), _drone(SR)], axis=1)
    loop = make_loop(stereo, SR, 0.6, crossfade=0.1)
    assert loop.audio.shape == (round(0.6 * SR), 2)
    assert loop_seam(loop.audio, SR).click_free


@pytest.mark.parametrize(
    "audio, seconds, kwargs, match",
    [
        (np.zeros(8), 1.0, {}, "at least 16"),
        (np.full(SR, np.nan), 1.0, {}, "finite"),
        (np.ones(SR), 0.0, {}, "positive"),
        (np.ones(SR), 1.0, {"tone_hz": SR}, "tone_hz"),
        (np.ones(SR), 1.0, {"crossfade": -1.0}, "crossfade"),
        (np.ones(100), 1.0, {"tone_hz": 50.0}, "one cycle"),
    ],
)
def test_bad_loops_are_clear_errors(audio, seconds, kwargs, match):
    with pytest.raises(LoopError, match=match):
        make_loop(audio, SR, seconds, **kwargs)


def test_true_peak_sees_an_inter_sample_peak():
    # A sine at fs/4 with a 45 degree phase: every sample is at +-0.707, the wave itself peaks at 1.
    x = np.sin(2 * np.pi * 0.25 * np.arange(4800) + np.pi / 4)
    assert 20 * math.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)
    assert true_peak(x, periodic=True) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("kind", list(SOUNDS))
def test_loudness_hits_the_target_under_the_peak_ceiling(kind):
    render, tone = SOUNDS[kind]
    loop = make_loop(render(2 * SR), SR, 1.2, crossfade=0.2, tone_hz=tone)
    out = normalize_loudness(loop.audio, SR, -23.0, -1.0, periodic=True)
    assert not out.peak_limited
    assert abs(integrated_loudness(out.audio, SR, periodic=True) - (-23.0)) <= 0.5
    assert true_peak(out.audio, periodic=True) <= -1.0
    assert out.lufs == pytest.approx(-23.0, abs=1e-6)


def test_a_peaky_sound_stops_at_the_true_peak_ceiling():
    x = np.zeros(SR)
    x[::4800] = 1.0  # ten clicks a second: loud peaks, little loudness
    out = normalize_loudness(x, SR, -10.0, -1.0)
    assert out.peak_limited and out.lufs < -10.0
    assert true_peak(out.audio) <= -1.0


def test_loudness_errors():
    with pytest.raises(LoudnessError, match="silent"):
        normalize_loudness(np.zeros(SR), SR)
    with pytest.raises(LoudnessError, match="periodic"):
        integrated_loudness(_noise(SR // 10), SR)
    assert math.isfinite(integrated_loudness(_noise(SR // 10), SR, periodic=True))  # a short loop repeats
