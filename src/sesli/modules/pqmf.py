"""Pseudo-quadrature mirror filter bank (PQMF): audio <-> M critically sampled sub-bands.

A cosine-modulated filter bank (Nguyen 1994; Lin & Vaidyanathan 1998's Kaiser-window design, the
one RAVE and Multi-band MelGAN use). One linear-phase low-pass prototype ``p`` of cut-off
``wc ~ pi / 2M`` is shifted to M bands:

    h_k(n) = 2 p(n) cos((2k + 1) pi / 2M (n - (L - 1) / 2) + (-1)^k pi / 4)     analysis
    g_k(n) = h_k(L - 1 - n)                                                      synthesis

Analysis filters with ``h_k`` and keeps every M-th sample; synthesis inserts M - 1 zeros, filters
with ``g_k`` and sums the bands (times M). The aliasing between neighbouring bands cancels; the
reconstruction is near-perfect when ``p * p~`` (the prototype's autocorrelation) vanishes at every
non-zero multiple of 2M, so ``wc`` is chosen by a 1-D search for that (once, at build).
With the default 100 dB stop band the round trip of white noise errs by about -60 dB (energy
relative to the input, away from the first and last L / 2 samples; tested).

Both directions are one strided convolution (``conv1d`` / ``conv_transpose1d``, centred: no
delay), so they cost about ``L`` multiply-adds per audio sample and run in any dtype.

Letters: B batch, M bands, N samples (a multiple of M), L filter taps.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _kaiser_order(attenuation: float, width: float) -> tuple[int, float]:
    """Kaiser's formulas: odd taps and beta for ``attenuation`` dB and a transition ``width`` (x pi)."""
    a = attenuation
    beta = (
        0.1102 * (a - 8.7) if a > 50 else (0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21) if a > 21 else 0.0)
    )
    taps = int(math.ceil((a - 7.95) / (2.285 * math.pi * width) + 1))
    return 2 * (taps // 2) + 1, beta  # odd: a whole-sample centre, so the round trip adds no delay


def _lowpass(taps: int, beta: float, wc: float) -> np.ndarray:
    """Kaiser-windowed ideal low-pass of cut-off ``wc`` (radians): (L,) float64."""
    n = np.arange(taps) - (taps - 1) / 2
    return wc / np.pi * np.sinc(wc / np.pi * n) * np.kaiser(taps, beta)


def _prototype(n_bands: int, attenuation: float) -> np.ndarray:
    """The Kaiser-window low-pass prototype (L odd taps) with the best cut-off for ``n_bands``.

    The cut-off minimises the largest autocorrelation value at non-zero multiples of 2M (a
    golden-section search on (0.1, 1) x pi / M; numpy only, so building a bank costs milliseconds).
    """
    taps, beta = _kaiser_order(attenuation, 1.0 / (2 * n_bands))  # width: the band half-width
    centre = taps - 1
    lags = np.arange(2 * n_bands, centre + 1, 2 * n_bands)

    def leakage(wc: float) -> float:
        h = _lowpass(taps, beta, wc)
        auto = np.convolve(h, h[::-1])  # (2L - 1,), centre at L - 1
        return float(np.abs(auto[centre + lags]).max()) if len(lags) else 0.0

    lo, hi = 0.1 * np.pi / n_bands, np.pi / n_bands
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = leakage(a), leakage(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = leakage(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = leakage(b)
    return _lowpass(taps, beta, (lo + hi) / 2)


def pqmf_filters(n_bands: int, attenuation: float = 100.0) -> np.ndarray:
    """The analysis filters ``h_k`` of an ``n_bands`` PQMF bank: (M, L) float64 (a fresh copy)."""
    return _filters(int(n_bands), float(attenuation)).copy()


@functools.lru_cache(maxsize=8)
def _filters(n_bands: int, attenuation: float) -> np.ndarray:
    p = _prototype(n_bands, attenuation)
    taps = len(p)
    n = np.arange(taps) - (taps - 1) / 2
    k = np.arange(n_bands)[:, None]
    phase = (-1.0) ** k * np.pi / 4
    return 2 * p[None, :] * np.cos((2 * k + 1) * np.pi / (2 * n_bands) * n[None, :] + phase)


class PQMF(nn.Module):
    """Split audio into ``n_bands`` sub-bands and merge them back (near-perfectly).

    Args:
        n_bands: M, the number of bands (and the down-sampling factor); 1 is the identity.
        attenuation: stop-band attenuation of the prototype in dB (more: longer filters).

    The filters are buffers (not parameters, not in the state dict): a bank is fixed by its two
    arguments, so loading a model never depends on saved filters.
    """

    def __init__(self, n_bands: int = 16, attenuation: float = 100.0) -> None:
        super().__init__()
        if n_bands < 1:
            raise ValueError(f"PQMF needs n_bands >= 1, got {n_bands}")
        self.n_bands = int(n_bands)
        h = pqmf_filters(self.n_bands, attenuation) if self.n_bands > 1 else np.ones((1, 1))
        # conv1d is a correlation: analysis by h_k is a correlation with g_k = reversed h_k
        g = torch.from_numpy(h[:, ::-1].copy()).float()  # (M, L)
        self.register_buffer("g", g.unsqueeze(1), persistent=False)  # (M, 1, L)
        self.taps = g.shape[-1]

    def analysis(self, x: Tensor) -> Tensor:
        """(B, 1, N) audio -> (B, M, N / M) bands (N is zero-padded to a multiple of M first)."""
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"PQMF.analysis: expected audio (B, 1, N), got {tuple(x.shape)}")
        m = self.n_bands
        if m == 1:
            return x
        rest = -x.shape[-1] % m
        if rest:
            x = F.pad(x, (0, rest))
        pad = (self.taps - 1) // 2
        return F.conv1d(x, self.g.to(x.dtype), stride=m, padding=pad)  # (B, M, N / M)

    def synthesis(self, bands: Tensor) -> Tensor:
        """(B, M, T) bands -> (B, 1, T * M) audio."""
        m = self.n_bands
        if bands.dim() != 3 or bands.shape[1] != m:
            raise ValueError(f"PQMF.synthesis: expected bands (B, {m}, T), got {tuple(bands.shape)}")
        if m == 1:
            return bands
        pad = (self.taps - 1) // 2
        # transposed conv = zero insertion + convolution with g_k; output_padding restores T * M
        weight = self.g.to(bands.dtype)  # (in = M, out = 1, L)
        out = F.conv_transpose1d(bands, weight, stride=m, padding=pad, output_padding=m - 1)
        return out * m  # (B, 1, T * M)

    def extra_repr(self) -> str:
        return f"n_bands={self.n_bands}, taps={self.taps}"


def frames_for(samples: int, n_bands: int) -> int:
    """Band frames of ``samples`` samples (rounded up, as :meth:`PQMF.analysis` pads)."""
    return math.ceil(samples / n_bands)


__all__ = ["PQMF", "frames_for", "pqmf_filters"]
