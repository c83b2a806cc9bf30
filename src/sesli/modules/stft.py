"""STFT and inverse STFT as fixed convolutions, for graphs that must not hold FFTs or complex tensors.

Letters: B batch, N samples, K frequency bins (``n_fft // 2 + 1``), F frames (``1 + N // hop``),
L ``n_fft``.

``sesli.audio.features`` stays the one STFT for features, losses and training; this module is the
same transform written with ``conv1d`` / ``conv_transpose1d`` over precomputed DFT bases, which every
ONNX runtime runs (no ``STFT``/``DFT`` op, no complex dtype, no per-item loops). It reproduces
``torch.stft(center=True, pad_mode="reflect", onesided=True, normalized=False)`` and
``torch.istft(center=True, length=None)`` with a (zero-padded, centred) window, to float32 rounding
(tests/modules/test_stft.py).

The maths, for window ``w`` padded to L:

* forward: ``X[k, t] = sum_n x[t hop + n] w[n] exp(-2 pi i k n / L)`` on the reflect-padded
  signal: one strided conv whose ``2K`` output channels are ``w cos`` (real) and ``-w sin`` (imag);
* inverse: the one-sided inverse DFT ``x[n] = (1/L) sum_k c_k (Re X_k cos - Im X_k sin)``, with
  ``c_k = 1`` for DC and (even L) Nyquist and 2 for the bins whose mirror image is implied,
  windowed again and overlap-added by a transposed conv, then divided by the window envelope
  ``sum_t w[n - t hop]^2`` (a transposed conv of ones) and trimmed by ``L // 2`` at both ends, as
  ``torch.istft`` does.

Unlike upstream Kokoro's ``custom_stft.py`` (replicate padding, no envelope normalisation, DC and
Nyquist doubled), nothing here is approximate. Basis entries that are zero in exact arithmetic
(``sin`` at DC and Nyquist, ``cos`` at quarter periods) are stored as exact zeros, so the imaginary
part of a real signal's DC and Nyquist bins is exactly 0, as an FFT gives it, and :func:`phase` puts
those bins on the same side of the branch cut as ``torch.angle``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _padded_window(window: Tensor | None, n_fft: int) -> Tensor:
    """The analysis window zero-padded (centred) to ``n_fft``, as ``torch.stft`` pads it."""
    if window is None:
        return torch.ones(n_fft, dtype=torch.float64)
    window = window.detach().to("cpu", torch.float64)
    if window.dim() != 1 or window.numel() > n_fft:
        raise ValueError(f"window must be 1-D with at most n_fft={n_fft} samples, got {tuple(window.shape)}")
    left = (n_fft - window.numel()) // 2
    return F.pad(window, (left, n_fft - window.numel() - left))


def dft_bases(n_fft: int, window: Tensor | None) -> tuple[Tensor, Tensor]:
    """Forward and inverse conv kernels, each ``(2K, 1, L)`` float64: rows ``[real bins; imag bins]``.

    The forward kernel gives ``Re X`` then ``Im X``; the inverse kernel maps ``[Re X; Im X]`` back
    to the windowed frame (``w * irfft``), so overlap-adding it and dividing by the envelope inverts.
    """
    bins = n_fft // 2 + 1
    k = np.arange(bins)[:, None]
    n = np.arange(n_fft)[None, :]
    # reduce k n mod L first: the angles stay in [0, 2 pi) and exact zeros come out exact
    angle = 2 * np.pi * ((k * n) % n_fft) / n_fft  # (K, L)
    cos, sin = np.cos(angle), np.sin(angle)
    cos[np.abs(cos) < 1e-12] = 0.0
    sin[np.abs(sin) < 1e-12] = 0.0
    w = _padded_window(window, n_fft).numpy()[None, :]  # (1, L)
    forward = np.concatenate([cos * w, -sin * w])  # (2K, L)
    # bins with an implied mirror image count twice in the one-sided inverse
    c = np.full((bins, 1), 2.0)
    c[0] = 1.0
    if n_fft % 2 == 0:
        c[-1] = 1.0
    inverse = np.concatenate([c * cos * w, -c * sin * w]) / n_fft  # (2K, L)
    return torch.from_numpy(forward)[:, None], torch.from_numpy(inverse)[:, None]


def phase(imag: Tensor, real: Tensor) -> Tensor:
    """``atan2(imag, real)`` with ``torch.angle``'s values, from ops that export exactly.

    The exporter's own ``atan2`` is ``atan(y / x)`` with quadrant fixes, which is NaN at
    ``(0, 0)`` (a silent frame) and ``-pi`` where ``torch.angle`` gives ``pi`` (``y = 0, x < 0``).
    Here ``x = 0`` divides by one instead, and ``y = 0, x < 0`` gives ``pi``; ``(0, 0)`` gives 0.
    """
    zero = real == 0
    base = torch.atan(imag / torch.where(zero, torch.ones_like(real), real))
    pi = torch.full_like(real, math.pi)
    upper = torch.where(imag >= 0, base + pi, base - pi)  # x < 0: the left half-plane
    half = torch.where(imag > 0, pi / 2, torch.where(imag < 0, -pi / 2, torch.zeros_like(real)))
    return torch.where(real < 0, upper, torch.where(zero, half, base))


def stable_phase(imag: Tensor, real: Tensor, *, floor: float, rel: float) -> Tensor:
    """:func:`phase` with the bins whose angle is rounding error put at a canonical angle.

    Two kinds of bin have an angle that only rounding decides, so two correct STFTs (an FFT and
    these convolutions, or one graph on two runtimes) disagree on it by up to ``2 pi``:

    * ``|X| <= floor``: a bin with nothing in it, e.g. every bin above the first of a constant
      signal. Its angle becomes 0.
    * ``|Im X| <= rel |X|`` with ``Re X < 0``: a bin on the branch cut, e.g. the first bin of a
      constant, or any bin of the first frame of a reflect-padded signal (a symmetric frame,
      whose spectrum is real). Its angle becomes ``pi``, never ``-pi``.

    Args:
        imag: imaginary parts, any shape.
        real: real parts, same shape.
        floor: magnitude at or below which a bin counts as empty.
        rel: relative size of an imaginary part that counts as zero.
    """
    magnitude = torch.sqrt(real * real + imag * imag)
    empty = magnitude <= floor
    zero = torch.zeros_like(real)
    real = torch.where(empty, zero, real)
    imag = torch.where(empty | (imag.abs() <= rel * magnitude), zero, imag)
    return phase(imag, real)


class ConvSTFT(nn.Module):
    """``torch.stft`` / ``torch.istft`` (``center=True``, reflect padding) as convolutions.

    Args:
        n_fft: FFT size L.
        hop: hop in samples.
        window: analysis (and synthesis) window of at most ``n_fft`` samples (None: a periodic
            Hann window of ``n_fft``, Kokoro's).

    The bases are non-persistent buffers: a module holding a ``ConvSTFT`` keeps its state dict.
    """

    def __init__(self, *, n_fft: int, hop: int, window: Tensor | None = None) -> None:
        super().__init__()
        if not 0 < hop <= n_fft or n_fft < 2:
            raise ValueError(f"need 0 < hop <= n_fft and n_fft >= 2, got n_fft={n_fft}, hop={hop}")
        self.n_fft = n_fft
        self.hop = hop
        if window is None:
            window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        forward, inverse = dft_bases(n_fft, window)
        w2 = _padded_window(window, n_fft) ** 2
        self.register_buffer("forward_basis", forward.float(), persistent=False)  # (2K, 1, L)
        self.register_buffer("inverse_basis", inverse.float(), persistent=False)  # (2K, 1, L)
        self.register_buffer("window_sq", w2.float()[None, None], persistent=False)  # (1, 1, L)

    @property
    def bins(self) -> int:
        """Frequency bins K of the one-sided spectrum."""
        return self.n_fft // 2 + 1

    def transform(self, wav: Tensor) -> tuple[Tensor, Tensor]:
        """``wav (B, N)`` -> real and imaginary parts, each ``(B, K, F)`` with ``F = 1 + N // hop``."""
        pad = self.n_fft // 2
        x = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect")  # (B, 1, N + 2 pad)
        spec = F.conv1d(x, self.forward_basis.to(x.dtype), stride=self.hop)  # (B, 2K, F)
        return spec[:, : self.bins], spec[:, self.bins :]

    def magnitude_phase(self, wav: Tensor) -> tuple[Tensor, Tensor]:
        """``wav (B, N)`` -> ``|X|`` and ``angle(X)``, each ``(B, K, F)``."""
        real, imag = self.transform(wav)
        return torch.sqrt(real * real + imag * imag), phase(imag, real)

    def inverse(self, real: Tensor, imag: Tensor) -> Tensor:
        """Real and imaginary parts ``(B, K, F)`` -> ``(B, hop (F - 1))`` audio, as ``torch.istft``."""
        spec = torch.cat([real, imag], dim=1)  # (B, 2K, F)
        frames = F.conv_transpose1d(spec, self.inverse_basis.to(spec.dtype), stride=self.hop)  # (B, 1, M)
        ones = torch.ones_like(real[:, :1])  # (B, 1, F)
        envelope = F.conv_transpose1d(ones, self.window_sq.to(spec.dtype), stride=self.hop)  # (B, 1, M)
        pad = self.n_fft // 2
        # M = L + hop (F - 1) samples; trimming L // 2 at both ends keeps hop (F - 1), one more
        # for an odd L, as torch.istft(center=True) does
        return frames[:, 0, pad:-pad] / envelope[:, 0, pad:-pad]


__all__ = ["ConvSTFT", "dft_bases", "phase", "stable_phase"]
