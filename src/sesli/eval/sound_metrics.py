"""Objective metrics for generated and reconstructed sounds, all offline (numpy/torch, no downloads).

Reconstruction (estimate against reference, same length):

* :func:`multi_resolution_stft_distance`: per STFT resolution, spectral convergence
  ``||R| - |E||_F / ||R||_F`` plus the mean absolute log-magnitude difference, averaged over
  resolutions (the distance RAVE and Parallel WaveGAN train on). 0 for identical signals.
* :func:`log_spectral_distance`: ``mean_frames sqrt(mean_bins (20 log10 |R| - 20 log10 |E|)^2)`` in dB.
* :func:`si_sdr`: scale-invariant SDR (Le Roux et al., 2019) in dB; infinite for a scaled copy.

Sets of samples:

* :func:`sample_diversity`: mean pairwise Euclidean distance between per-clip MFCC summaries
  (mean and standard deviation of c1..c19 over frames); 0 when every sample is the same.
* :func:`frechet_mfcc_distance`: the Fréchet distance between Gaussians fitted to the MFCC frames
  of two sets, ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``. It is *not* FAD (which uses
  VGGish embeddings): numbers compare sesli runs with each other, not with papers.
* :func:`codebook_usage`: fraction of codes used and perplexity ``exp(H)`` from code counts.

Loops: :func:`loop_seam` says whether a loop clicks where it wraps. Two measures, each compared
with the same measure everywhere else in the clip (its own distribution), so a noisy clip is not
flagged for being noisy:

* *jump*: the linear-prediction residual at the seam. An order-32 predictor fitted to the clip
  (autocorrelation method, circular) predicts each sample from the 32 before it; a click (a jump
  in value or slope) is a sample no predictor expects (the click detector of audio restoration,
  Godsill & Rayner 1998). The seam's value is the largest residual of the predictions whose
  history crosses the seam. Unlike the raw sample difference, it does not call a cut in white
  noise a click (it is not one) and does flag a jump in smooth, low-passed noise.
* *flux*: spectral flux across the seam, ``sum_bins max(0, Y_t - Y_{t-1})`` on the compressed
  magnitude ``Y = log(1 + gamma |X| / max|X|)`` (the novelty function of onset detection, Müller
  2015, section 6.1), on frames of about 20 ms with hop n_fft/4; the seam's value is the largest
  flux of the frame pairs whose windows hold the seam.

The report gives each as a ratio to the clip's median, a percentile of the clip's values and a
ratio to the clip's maximum elsewhere. A seam is *click-free* when both ratios to the maximum stay
under a tolerance (1.25): one seam value against the largest of N others exceeds it by chance
with probability about 1/N even on a perfect loop of noise, while the clicks of a naive cut sit
8-500 times above the clip's maximum (the tests show both).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sesli.audio.features import MelConfig, log_magnitude, mfcc

DEFAULT_RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128), (256, 64))
_DB = 20.0 / math.log(10.0)


class MetricError(ValueError):
    """Inputs a metric cannot compare (lengths, shapes, too few clips); the message says what."""


def _np(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _pair(estimate, reference) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (T,) or (B, T) signals of one shape as (B, T) float64 tensors."""
    e, r = _np(estimate), _np(reference)
    if e.shape != r.shape or e.ndim not in (1, 2) or e.shape[-1] == 0:
        raise MetricError(f"estimate {e.shape} and reference {r.shape} must share one shape (T,) or (B, T)")
    return torch.from_numpy(np.atleast_2d(e)), torch.from_numpy(np.atleast_2d(r))


# --- reconstruction ------------------------------------------------------------------------


def multi_resolution_stft_distance(
    estimate: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    *,
    resolutions: Sequence[tuple[int, int]] = DEFAULT_RESOLUTIONS,
    floor: float = 1e-5,
) -> float:
    """Spectral convergence + mean |log-magnitude difference|, averaged over STFT resolutions.

    Args:
        estimate, reference: audio (T,) or (B, T) of one shape (the batch is averaged).
        resolutions: (n_fft, hop) pairs.
        floor: magnitude floor of the log (as :func:`sesli.audio.features.log_magnitude`).
    """
    e, r = _pair(estimate, reference)
    total = 0.0
    for n_fft, hop in resolutions:
        le, lr = (
            log_magnitude(e, n_fft, hop, floor=floor),
            log_magnitude(r, n_fft, hop, floor=floor),
        )  # (B, K, F)
        me, mr = le.exp(), lr.exp()
        sc = torch.linalg.norm(mr - me, dim=(1, 2)) / torch.linalg.norm(mr, dim=(1, 2)).clamp_min(1e-12)
        total += float((sc + (lr - le).abs().mean(dim=(1, 2))).mean())
    return total / len(resolutions)


def log_spectral_distance(
    estimate: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    floor: float = 1e-5,
) -> float:
    """Log-spectral distance in dB: RMS over bins of the dB difference, mean over frames (and batch)."""
    e, r = _pair(estimate, reference)
    diff_db = _DB * (
        log_magnitude(r, n_fft, hop_length, floor=floor) - log_magnitude(e, n_fft, hop_length, floor=floor)
    )
    return float(diff_db.pow(2).mean(dim=1).sqrt().mean())  # (B, K, F) -> (B, F) -> scalar


def si_sdr(estimate: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (both signals made zero-mean first).

    ``10 log10(|a r|^2 / |e - a r|^2)`` with ``a = <e, r> / <r, r>``: infinite when ``estimate`` is
    a scaled copy of ``reference``; for ``reference + noise`` it is the SNR.

    Raises:
        MetricError: shapes differ, or the reference is silent (constant).
    """
    e, r = (t.reshape(-1).numpy() for t in _pair(estimate, reference))
    e, r = e - e.mean(), r - r.mean()
    energy = float(r @ r)
    if energy == 0.0:
        raise MetricError("si_sdr: the reference is silent (constant), the ratio is undefined")
    target = (float(e @ r) / energy) * r
    noise = e - target
    noise_energy = float(noise @ noise)
    if noise_energy == 0.0:
        return math.inf
    return 10.0 * math.log10(float(target @ target) / noise_energy)


# --- sets of samples -------------------------------------------------------------------------


def feature_config(sample_rate: int) -> MelConfig:
    """The mel settings behind the MFCC metrics: ~32 ms windows (a power of two), hop n_fft/4, 40 bands."""
    n_fft = 1 << math.ceil(math.log2(0.032 * sample_rate))
    return MelConfig(sample_rate=sample_rate, n_fft=n_fft, win_length=n_fft, hop_length=n_fft // 4, n_mels=40)


def mfcc_frames(audio: np.ndarray | torch.Tensor, sample_rate: int, n_mfcc: int = 20) -> np.ndarray:
    """MFCC frames of one mono clip: (T,) -> (F, n_mfcc)."""
    x = torch.from_numpy(_np(audio).reshape(-1).astype(np.float32))
    return mfcc(x, feature_config(sample_rate), n_mfcc)[0].T.double().numpy()  # (F, n_mfcc)


@dataclass
class GaussianStats:
    """Mean and covariance of a set of feature frames."""

    mean: np.ndarray  # (D,)
    cov: np.ndarray  # (D, D)
    n: int  # frames pooled


def mfcc_statistics(clips: Sequence[np.ndarray], sample_rate: int, n_mfcc: int = 20) -> GaussianStats:
    """Mean and covariance of the MFCC frames of all ``clips`` pooled (mono (T,) each, one rate)."""
    frames = (
        np.concatenate([mfcc_frames(c, sample_rate, n_mfcc) for c in clips]) if clips else np.empty((0, 0))
    )
    if frames.shape[0] < 2:
        raise MetricError("mfcc_statistics: need at least two MFCC frames (give longer or more clips)")
    return GaussianStats(frames.mean(axis=0), np.cov(frames, rowvar=False), frames.shape[0])


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Fréchet (2-Wasserstein) distance between two Gaussians, ``|mu_a - mu_b|^2 + tr(...)``."""
    from scipy.linalg import sqrtm

    covmean = sqrtm(a.cov @ b.cov)
    if not np.all(np.isfinite(covmean)):  # near-singular products: nudge the diagonals (as pytorch-fid)
        eps = 1e-6 * np.eye(a.cov.shape[0])
        covmean = sqrtm((a.cov + eps) @ (b.cov + eps))
    covmean = np.real(covmean)
    diff = a.mean - b.mean
    value = float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


def frechet_mfcc_distance(
    reference: Sequence[np.ndarray], generated: Sequence[np.ndarray], sample_rate: int, n_mfcc: int = 20
) -> float:
    """Fréchet MFCC distance between two sets of mono clips at one rate (0 for the same set)."""
    return frechet_distance(
        mfcc_statistics(reference, sample_rate, n_mfcc), mfcc_statistics(generated, sample_rate, n_mfcc)
    )


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows of ``features`` (N, D), N >= 2."""
    f = _np(features)
    if f.ndim != 2 or f.shape[0] < 2:
        raise MetricError(f"mean_pairwise_distance: need (N >= 2, D) features, got {f.shape}")
    from scipy.spatial.distance import pdist

    return float(pdist(f).mean())  # N (N - 1) / 2 distances, computed from differences (exact 0 for copies)


def sample_diversity(clips: Sequence[np.ndarray], sample_rate: int, n_mfcc: int = 20) -> float:
    """Diversity of a set of samples: mean pairwise distance of their MFCC summaries.

    Each clip is scaled to an RMS of 0.1 (so a louder copy is not a different sound: the log-mel
    floor would otherwise reshape its quiet bands) and becomes the mean and standard deviation over
    frames of c1..c_{n-1} (c0, the level, left out).
    """
    summaries = []
    for clip in clips:
        x = _np(clip).reshape(-1)
        rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
        frames = mfcc_frames(0.1 * x / rms if rms > 0 else x, sample_rate, n_mfcc)[:, 1:]  # (F, n_mfcc - 1)
        summaries.append(np.concatenate([frames.mean(axis=0), frames.std(axis=0)]))
    if len(summaries) < 2:
        raise MetricError("sample_diversity: need at least two clips")
    return mean_pairwise_distance(np.stack(summaries))


@dataclass
class CodebookUsage:
    """How a VQ codebook is used."""

    used: int  # codes that occur at least once
    size: int  # codebook size
    usage: float  # used / size
    perplexity: float  # exp(entropy), between 1 and size
    entropy_bits: float


def code_counts(codes: np.ndarray | torch.Tensor, codebook_size: int) -> np.ndarray:
    """Occurrences of each code in ``codes`` (any shape; one VQ stage): -> (codebook_size,) int64."""
    flat = np.asarray(codes.detach().cpu() if isinstance(codes, torch.Tensor) else codes).reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= codebook_size):
        raise MetricError(f"codes must lie in 0..{codebook_size - 1}, got {flat.min()}..{flat.max()}")
    return np.bincount(flat.astype(np.int64), minlength=codebook_size)


def codebook_usage(counts: np.ndarray | torch.Tensor) -> CodebookUsage:
    """Usage and perplexity from code counts (K,) (see :func:`code_counts`)."""
    c = _np(counts).reshape(-1)
    total = c.sum()
    if total <= 0:
        raise MetricError("codebook_usage: no codes counted")
    p = c[c > 0] / total
    entropy = float(-(p * np.log(p)).sum())
    used = int((c > 0).sum())
    return CodebookUsage(used, c.size, used / c.size, math.exp(entropy), entropy / math.log(2.0))


# --- loop seams (module docstring) -----------------------------------------------------------


@dataclass
class SeamReport:
    """How the seam of a loop compares with the rest of the clip (worst channel).

    ``*_median_ratio``: seam value over the clip's median; ``*_percentile``: percent of the clip's
    values below the seam's; ``*_max_ratio``: seam value over the clip's maximum.
    """

    jump: float  # prediction residual at the seam
    jump_median_ratio: float
    jump_percentile: float
    jump_max_ratio: float
    flux: float
    flux_median_ratio: float
    flux_percentile: float
    flux_max_ratio: float
    tolerance: float = 1.25

    @property
    def click_free(self) -> bool:
        """Jump and flux at the seam are within the clip's own range (``max_ratio <= tolerance``)."""
        return self.jump_max_ratio <= self.tolerance and self.flux_max_ratio <= self.tolerance


def _compare(seam: float, others: np.ndarray) -> tuple[float, float, float, float]:
    med, top = float(np.median(others)), float(np.max(others))
    ratio = lambda v: seam / v if v > 0 else (math.inf if seam > 0 else 0.0)  # noqa: E731
    return seam, ratio(med), 100.0 * float(np.mean(others < seam)), ratio(top)


def _prediction_residual(x: np.ndarray, order: int) -> np.ndarray:
    """|x[n] - sum_k a_k x[n-k]| of the loop ``x`` (T,) taken circularly; index 0 follows the seam."""
    from scipy.linalg import solve_toeplitz
    from scipy.signal import lfilter

    spec = np.fft.rfft(x, 2 * x.size)
    r = np.fft.irfft(np.abs(spec) ** 2)[: order + 1]
    r[0] = r[0] * (1.0 + 1e-9) + 1e-20  # a -90 dB white floor keeps pure tones solvable
    a = solve_toeplitz(r[:order], r[1 : order + 1])
    ext = np.concatenate([x[-order:], x])
    return np.abs(lfilter(np.concatenate([[1.0], -a]), [1.0], ext)[order:])  # (T,)


def _seam_flux(x: np.ndarray, n_fft: int, gamma: float) -> tuple[float, np.ndarray]:
    hop = n_fft // 4
    n = x.size
    ext = np.concatenate([x[-n_fft:], x, x[:n_fft]])  # the seam sits at n_fft and n_fft + n
    mag = log_magnitude(torch.from_numpy(ext), n_fft, hop).exp()[0].numpy()  # (K, F)
    y = np.log1p(gamma * mag / max(float(mag.max()), 1e-12))
    flux = np.maximum(np.diff(y, axis=1), 0.0).sum(axis=0)  # pair (f, f + 1) -> flux[f]
    starts = np.arange(flux.size) * hop  # centre of the earlier frame of each pair
    ends = starts + hop

    def holds(seam: int) -> np.ndarray:
        return (np.abs(starts - seam) < n_fft // 2) | (np.abs(ends - seam) < n_fft // 2)

    first, second = holds(n_fft), holds(n_fft + n)
    inside = (starts >= n_fft) & (ends <= n_fft + n)
    return float(flux[first].max()), flux[inside & ~first & ~second]


def loop_seam(
    audio: np.ndarray | torch.Tensor,
    sample_rate: int,
    *,
    order: int = 32,
    gamma: float = 1000.0,
    tolerance: float = 1.25,
) -> SeamReport:
    """Compare the wrap of a loop (last frame back to the first) with the rest of the clip.

    Args:
        audio: the loop, (T,) or (T, C); it is taken to repeat from frame T to frame 0.
        sample_rate: Hz (sets the ~20 ms spectral frames).
        order: linear-prediction order of the jump measure.
        gamma: compression of the flux measure.
        tolerance: how far over the clip's maximum a seam may go and still be click-free.

    Returns:
        A :class:`SeamReport` (of the channel whose seam stands out most).

    Raises:
        MetricError: the loop is shorter than eight spectral frames.
    """
    x = _np(audio)
    x = x[:, None] if x.ndim == 1 else x
    n_fft = 1 << math.ceil(math.log2(0.02 * sample_rate))
    if x.shape[0] < 8 * n_fft:
        raise MetricError(
            f"loop_seam: need at least {8 * n_fft} frames at {sample_rate} Hz, got {x.shape[0]}"
        )
    worst: SeamReport | None = None
    for ch in x.T:
        e = _prediction_residual(ch, order)
        jump = _compare(float(e[:order].max()), e[order:])
        seam_flux, others = _seam_flux(ch, n_fft, gamma)
        report = SeamReport(*jump, *_compare(seam_flux, others), tolerance=tolerance)
        if worst is None or max(report.jump_max_ratio, report.flux_max_ratio) > max(
            worst.jump_max_ratio, worst.flux_max_ratio
        ):
            worst = report
    assert worst is not None
    return worst


__all__ = [
    "CodebookUsage",
    "DEFAULT_RESOLUTIONS",
    "GaussianStats",
    "MetricError",
    "SeamReport",
    "code_counts",
    "codebook_usage",
    "feature_config",
    "frechet_distance",
    "frechet_mfcc_distance",
    "log_spectral_distance",
    "loop_seam",
    "mean_pairwise_distance",
    "mfcc_frames",
    "mfcc_statistics",
    "multi_resolution_stft_distance",
    "sample_diversity",
    "si_sdr",
]
