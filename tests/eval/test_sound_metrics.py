"""Sound metrics on constructed cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sesli.eval.sound_metrics import (
    GaussianStats,
    MetricError,
    code_counts,
    codebook_usage,
    frechet_distance,
    frechet_mfcc_distance,
    log_spectral_distance,
    loop_seam,
    mean_pairwise_distance,
    multi_resolution_stft_distance,
    sample_diversity,
    si_sdr,
)
from sesli.testing.sound_corpus import render_calming

SR = 16000


def _noise(seed: int, n: int = SR) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal(n)


def _clips(label: str, seed: int, k: int = 3) -> list[np.ndarray]:
    return [render_calming(label, 0.5, SR, np.random.default_rng([seed, i])) for i in range(k)]


def test_identical_signals_are_at_distance_zero():
    x = _noise(0)
    assert multi_resolution_stft_distance(x, x) == 0.0
    assert log_spectral_distance(x, x) == 0.0
    assert multi_resolution_stft_distance(torch.from_numpy(x)[None], torch.from_numpy(x)[None]) == 0.0


def test_stft_distance_grows_with_the_error():
    x = _noise(0)
    d = [multi_resolution_stft_distance(x + e * _noise(1), x) for e in (0.01, 0.1, 1.0)]
    assert 0 < d[0] < d[1] < d[2]


def test_log_spectral_distance_of_a_gain_is_the_gain_in_db():
    x = _noise(0)
    assert log_spectral_distance(2.0 * x, x) == pytest.approx(20 * math.log10(2.0), abs=1e-3)


def test_si_sdr_of_a_scaled_copy_is_infinite_and_of_noise_the_snr():
    x = np.sin(2 * np.pi * 220 * np.arange(SR) / SR) + _noise(2)
    assert si_sdr(0.5 * x, x) > 100.0  # a scaled copy (float rounding stops short of inf)
    assert si_sdr(x, x) == math.inf
    noise = np.random.default_rng(3).standard_normal(SR)
    for snr in (0.0, 10.0, 20.0):
        scaled = noise * np.sqrt(np.sum(x**2) / np.sum(noise**2) / 10 ** (snr / 10))
        assert si_sdr(x + scaled, x) == pytest.approx(snr, abs=0.5)
    assert si_sdr(3.0 * (x + scaled), x) == pytest.approx(si_sdr(x + scaled, x))  # scale-invariant


def test_metrics_refuse_mismatched_or_silent_inputs():
    with pytest.raises(MetricError, match="one shape"):
        multi_resolution_stft_distance(np.zeros(100), np.zeros(101))
    with pytest.raises(MetricError, match="silent"):
        si_sdr(np.ones(100), np.zeros(100))


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    a = GaussianStats(np.array([0.0, 1.0]), np.diag([1.0, 4.0]), 100)
    b = GaussianStats(np.array([3.0, 1.0]), np.diag([4.0, 1.0]), 100)
    # |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2 = 9 + (1 - 2)^2 + (2 - 1)^2
    assert frechet_distance(a, b) == pytest.approx(11.0, abs=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_mfcc_distance_is_zero_for_one_set_and_ranks_sounds():
    rain, rain2, drone = _clips("rain", 0), _clips("rain", 1), _clips("drone", 0)
    assert frechet_mfcc_distance(rain, rain, SR) == pytest.approx(0.0, abs=1e-6)
    assert frechet_mfcc_distance(rain, rain2, SR) < frechet_mfcc_distance(rain, drone, SR)


def test_diversity_is_zero_for_copies_and_ignores_loudness():
    clip = _clips("wind", 0, 1)[0]
    assert sample_diversity([clip, clip, clip], SR) == pytest.approx(0.0, abs=1e-9)
    assert sample_diversity([clip, 0.5 * clip], SR) == pytest.approx(0.0, abs=1e-3)
    rain, bells = _clips("rain", 0), _clips("bells", 0)
    assert sample_diversity(rain + bells, SR) > sample_diversity(rain, SR)
    assert mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])) == pytest.approx(10.0 / 3)
    with pytest.raises(MetricError, match="two clips"):
        sample_diversity([clip], SR)


def test_codebook_usage_from_counts():
    uniform = codebook_usage(code_counts(torch.arange(64).repeat(3), 64))
    assert (uniform.used, uniform.usage) == (64, 1.0)
    assert uniform.perplexity == pytest.approx(64.0) and uniform.entropy_bits == pytest.approx(6.0)
    half = codebook_usage(code_counts(np.arange(32).reshape(2, 1, 16), 64))
    assert half.usage == 0.5 and half.perplexity == pytest.approx(32.0)
    collapsed = codebook_usage(np.array([0, 10, 0, 0]))
    assert (collapsed.used, collapsed.perplexity) == (1, pytest.approx(1.0))
    with pytest.raises(MetricError, match="0..63"):
        code_counts(np.array([64]), 64)
    with pytest.raises(MetricError, match="no codes"):
        codebook_usage(np.zeros(8))


def test_loop_seam_finds_a_planted_click():
    n = 2 * SR
    tone = np.sin(2 * np.pi * 200.0 * np.arange(n) / SR)  # 400 whole cycles: a perfect loop
    clean = loop_seam(tone, SR)
    assert clean.click_free and clean.jump_max_ratio < 1.0
    clicked = tone.copy()
    clicked[0] += 0.05  # a small step right after the seam
    report = loop_seam(clicked, SR)
    assert not report.click_free and report.jump_percentile == 100.0
    elsewhere = tone.copy()
    elsewhere[n // 2] += 0.05  # the same click in the middle is the clip's own, not the seam's
    assert loop_seam(elsewhere, SR).click_free
    with pytest.raises(MetricError, match="at least"):
        loop_seam(tone[:1000], SR)
