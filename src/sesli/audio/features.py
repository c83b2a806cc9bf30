"""The one place sesli computes spectral features: STFT, mel, F0 and energy.

Every model, loss and metric calls these functions, so a mel means the same thing everywhere.

Letters: B batch, T samples, F frames, K frequency bins (n_fft // 2 + 1), M mel bands.

Defaults follow Kokoro-82M / StyleTTS2 preprocessing (24 kHz, n_fft 2048, window 1200, hop 300,
80 HTK mel bands, power spectrum, ``log(mel + 1e-5)``), so the mel frame rate is 80 Hz and two mel
frames make one Kokoro text frame (600 samples). Frames are centred (reflect padding), so a clip of
T samples has ``1 + T // hop`` frames.

Mixed precision: the STFT and the mel front-end always compute in float32, with autocast turned
off around them (:func:`float32_region`). Under bf16 autocast the CPU FFT refuses bf16 tensors and
a bf16 filterbank matmul would round the log-mel; under fp16 the STFT would give complex32, which
``torch.istft`` and most complex ops do not take. So :func:`stft` returns complex64 and
:func:`mel_spectrogram` float32 for half (and float32) inputs; float64 stays float64.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class MelConfig:
    """Mel spectrogram settings.

    Attributes:
        sample_rate: audio rate in Hz.
        n_fft: FFT size.
        win_length: Hann window length in samples.
        hop_length: hop in samples.
        n_mels: number of mel bands.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz (None: Nyquist).
        power: 2.0 for a power spectrum, 1.0 for magnitude.
        log_offset: added before the log to avoid log(0).
    """

    sample_rate: int = 24000
    n_fft: int = 2048
    win_length: int = 1200
    hop_length: int = 300
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None
    power: float = 2.0
    log_offset: float = 1e-5

    def num_frames(self, num_samples: int) -> int:
        """Frames a clip of ``num_samples`` gives (centred STFT)."""
        return 1 + num_samples // self.hop_length


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)  # HTK mel scale


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def _mel_filterbank_np(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2)
    hz = _mel_to_hz(mel_points)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (freqs[None, :] - lower) / (centre - lower)
    down = (upper - freqs[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)  # (M, K)


def mel_filterbank(cfg: MelConfig) -> torch.Tensor:
    """Triangular HTK mel filters without area normalisation, shape (M, K)."""
    fmax = cfg.fmax if cfg.fmax is not None else cfg.sample_rate / 2
    return torch.from_numpy(
        _mel_filterbank_np(cfg.sample_rate, cfg.n_fft, cfg.n_mels, float(cfg.fmin), float(fmax))
    )


def _as_batch(wav: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if wav.dim() == 1:
        return wav.unsqueeze(0), True
    if wav.dim() != 2:
        raise ValueError(f"expected audio of shape (T,) or (B, T), got {tuple(wav.shape)}")
    return wav, False


@contextlib.contextmanager
def float32_region(device: torch.device | str) -> Iterator[None]:
    """Turn autocast off on ``device``'s type inside the block (FFTs and their neighbours).

    Tensors made under autocast keep their dtype: cast them with ``.float()`` inside the block.
    """
    try:
        region = torch.autocast(device_type=torch.device(device).type, enabled=False)
    except RuntimeError:  # a device type without autocast: nothing to turn off
        region = contextlib.nullcontext()
    with region:
        yield


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32 when it is a half type (bf16, fp16) or an integer; float64 stays float64."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def stft(wav: torch.Tensor, n_fft: int, hop_length: int, win_length: int) -> torch.Tensor:
    """Complex centred STFT with a Hann window: (B, T) -> (B, K, F); complex64 for half inputs."""
    with float32_region(wav.device):
        wav = at_least_float32(wav)
        window = torch.hann_window(win_length, device=wav.device, dtype=wav.dtype)
        return torch.stft(
            wav, n_fft, hop_length, win_length, window, center=True, pad_mode="reflect", return_complex=True
        )


def linear_spectrogram(wav: torch.Tensor, cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """Magnitude (power ``cfg.power``) spectrogram: (T,) or (B, T) -> (B, K, F), at least float32."""
    wav, _ = _as_batch(wav)
    with float32_region(wav.device):
        spec = stft(wav, cfg.n_fft, cfg.hop_length, cfg.win_length).abs()  # (B, K, F)
        return spec.pow(cfg.power) if cfg.power != 1.0 else spec


def mel_spectrogram(wav: torch.Tensor, cfg: MelConfig = MelConfig(), log: bool = True) -> torch.Tensor:
    """Log-mel spectrogram: (T,) or (B, T) -> (B, M, F), ``log(mel + log_offset)``.

    Args:
        wav: float audio in [-1, 1] at ``cfg.sample_rate``.
        cfg: the mel settings.
        log: return the log-mel (default) or the linear mel.
    """
    with float32_region(wav.device):
        spec = linear_spectrogram(wav, cfg)  # (B, K, F) float32
        fb = mel_filterbank(cfg).to(spec.device, spec.dtype)  # (M, K)
        mel = torch.matmul(fb, spec)  # (B, M, F)
        return torch.log(mel + cfg.log_offset) if log else mel


def energy(log_mel: torch.Tensor, log_offset: float = 1e-5) -> torch.Tensor:
    """Frame energy as Kokoro's N head expects: log of the L2 norm of the mel power over bands.

    StyleTTS2 computes ``log(||exp(log_mel)||_2)`` over the mel axis; ``log_offset`` keeps silent
    frames finite. (B, M, F) -> (B, F).
    """
    return torch.log(torch.exp(log_mel).norm(dim=1) + log_offset)


def f0(
    wav: np.ndarray,
    sample_rate: int,
    hop_length: int = 300,
    f0_floor: float = 50.0,
    f0_ceil: float = 800.0,
    method: str = "harvest",
) -> np.ndarray:
    """Fundamental frequency in Hz per frame (0 where unvoiced), with pyworld.

    pyworld (MIT) rather than parselmouth (GPL, as Praat is) keeps the core Apache-2.0. Harvest is
    slower than DIO but far more robust on speech, and both are refined with StoneMask. Harvest
    calls a pure sine unvoiced (it looks for harmonics); use ``method="dio"`` for test tones. The frame
    count matches :func:`mel_spectrogram` (``1 + T // hop``).

    Args:
        wav: mono float audio, shape (T,).
        sample_rate: rate in Hz.
        hop_length: hop in samples (300 at 24 kHz = 12.5 ms, Kokoro's F0 rate).
        f0_floor: lowest F0 searched, Hz.
        f0_ceil: highest F0 searched, Hz.
        method: "harvest" or "dio".
    """
    with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        import pyworld

    x = np.ascontiguousarray(np.asarray(wav, dtype=np.float64).reshape(-1))
    n_frames = 1 + len(x) // hop_length
    if len(x) == 0 or not np.isfinite(x).all():
        raise ValueError("f0: audio is empty or has NaN/inf samples")
    period_ms = 1000.0 * hop_length / sample_rate
    if method not in ("harvest", "dio"):
        raise ValueError(f"f0: unknown method {method!r} (harvest or dio)")
    track = pyworld.harvest if method == "harvest" else pyworld.dio
    raw, times = track(x, sample_rate, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=period_ms)
    refined = pyworld.stonemask(x, raw, times, sample_rate)
    out = np.zeros(n_frames, dtype=np.float32)
    n = min(n_frames, len(refined))
    out[:n] = refined[:n]
    return out


def hz_to_cents(freq: np.ndarray, ref: float = 10.0) -> np.ndarray:
    """Hz to cents above ``ref`` (unvoiced 0 Hz stays 0)."""
    freq = np.asarray(freq, dtype=np.float64)
    out = np.zeros_like(freq)
    voiced = freq > 0
    out[voiced] = 1200.0 * np.log2(freq[voiced] / ref)
    return out


def _as_mono_batch(wav: torch.Tensor) -> torch.Tensor:
    """(T,), (B, T) or (B, 1, T) -> (B, T)."""
    if wav.dim() == 3:
        if wav.shape[1] != 1:
            raise ValueError(f"expected mono audio (B, 1, T), got {tuple(wav.shape)}")
        wav = wav[:, 0]
    return _as_batch(wav)[0]


def log_magnitude(
    wav: torch.Tensor, n_fft: int, hop_length: int, win_length: int | None = None, floor: float = 1e-5
) -> torch.Tensor:
    """Linear-frequency log-magnitude STFT, ``log(max(|X|, floor))``: the sound models' spectrogram.

    Unlike the mel, nothing is lost but the phase, so :func:`griffin_lim` inverts it (mel
    inversion adds far more error than Griffin-Lim itself).

    Args:
        wav: audio (T,), (B, T) or (B, 1, T).
        n_fft: FFT size (K = n_fft // 2 + 1 bins).
        hop_length: hop in samples.
        win_length: Hann window length (None: ``n_fft``).
        floor: smallest magnitude kept (``log(floor)`` is the value of silence).

    Returns:
        (B, K, F) log-magnitude, F = 1 + T // hop_length, at least float32.
    """
    wav = _as_mono_batch(wav)  # (B, T)
    with float32_region(wav.device):
        spec = stft(wav, n_fft, hop_length, win_length or n_fft).abs()  # (B, K, F)
        return torch.log(spec.clamp_min(floor))


def griffin_lim(
    log_mag: torch.Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    n_iter: int = 32,
    momentum: float = 0.99,
    length: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Audio from a :func:`log_magnitude` spectrogram by fast Griffin-Lim (Perraudin et al., 2013).

    Each iteration projects onto consistent spectrograms (iSTFT then STFT with :func:`stft`'s
    window) and keeps the target magnitude; the fast variant extrapolates the phase estimate,
    ``c_n = t_n - momentum / (1 + momentum) * t_{n-1}`` (as librosa and torchaudio), which converges
    in far fewer iterations than the plain algorithm (``momentum=0``). The initial phase is uniform
    random from ``generator`` (None: a generator seeded 0, so the same input gives the same audio).

    Args:
        log_mag: (B, K, F) or (K, F) natural-log magnitudes, K = n_fft // 2 + 1.
        n_fft, hop_length, win_length: the STFT the spectrogram was made with.
        n_iter: iterations (32 is usually enough with momentum; 0 returns the random-phase start).
        momentum: 0.99 as in the paper's fast variant; 0 for classic Griffin-Lim.
        length: output samples (None: ``hop_length * (F - 1)``).
        generator: random source of the initial phase (a CPU generator).

    Returns:
        (B, N) float32 (float64 for float64 input) audio.
    """
    if log_mag.dim() == 2:
        log_mag = log_mag.unsqueeze(0)
    if log_mag.dim() != 3 or log_mag.shape[1] != n_fft // 2 + 1:
        raise ValueError(
            f"griffin_lim: expected (B, {n_fft // 2 + 1}, F) for n_fft={n_fft}, got {tuple(log_mag.shape)}"
        )
    device = log_mag.device
    win_length = win_length or n_fft
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    with float32_region(device):
        # |STFT| of full-scale audio is at most sum(window) <= win_length: a decoded log-magnitude
        # above log(win_length) is not audio, and exp() of a wild one would be inf, then NaN
        mag = torch.exp(
            at_least_float32(log_mag).nan_to_num(0.0).clamp(max=math.log(win_length))
        )  # (B, K, F)
        window = torch.hann_window(win_length, device=device, dtype=mag.dtype)
        phase = torch.rand(mag.shape, generator=gen, dtype=mag.dtype).to(device) * (2 * torch.pi)
        angles = torch.polar(torch.ones_like(mag), phase)  # (B, K, F) unit complex
        n_out = length if length is not None else hop_length * (mag.shape[-1] - 1)
        prev = torch.zeros_like(angles)
        alpha = momentum / (1.0 + momentum)

        def inverse(a: torch.Tensor) -> torch.Tensor:
            return torch.istft(
                mag * a, n_fft, hop_length, win_length, window, center=True, length=n_out
            )  # (B, N)

        for _ in range(n_iter):
            rebuilt = stft(inverse(angles), n_fft, hop_length, win_length)  # (B, K, F)
            angles = rebuilt - alpha * prev
            angles = angles / angles.abs().clamp_min(1e-16)
            prev = rebuilt
        return inverse(angles)


@functools.lru_cache(maxsize=8)
def _dct_matrix(n_mfcc: int, n_mels: int) -> torch.Tensor:
    """Orthonormal DCT-II, (n_mfcc, M)."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    basis = torch.cos(torch.pi / n_mels * (n + 0.5) * k) * (2.0 / n_mels) ** 0.5
    basis[0] /= 2.0**0.5
    return basis.float()


def mfcc(wav: torch.Tensor, cfg: MelConfig = MelConfig(), n_mfcc: int = 20) -> torch.Tensor:
    """Mel-frequency cepstral coefficients: orthonormal DCT-II of :func:`mel_spectrogram`'s log-mel.

    Args:
        wav: audio (T,), (B, T) or (B, 1, T) at ``cfg.sample_rate``.
        cfg: mel settings (the log uses ``cfg.log_offset``, natural log).
        n_mfcc: coefficients kept (at most ``cfg.n_mels``); coefficient 0 is the scaled mean log-mel.

    Returns:
        (B, n_mfcc, F) float32.
    """
    if not 1 <= n_mfcc <= cfg.n_mels:
        raise ValueError(f"mfcc: n_mfcc must be in 1..{cfg.n_mels} (n_mels), got {n_mfcc}")
    wav = _as_mono_batch(wav)
    with float32_region(wav.device):
        log_mel = mel_spectrogram(wav, cfg)  # (B, M, F)
        dct = _dct_matrix(n_mfcc, cfg.n_mels).to(log_mel.device, log_mel.dtype)  # (n_mfcc, M)
        return torch.matmul(dct, log_mel)  # (B, n_mfcc, F)


def frames_to_seconds(n_frames: int, cfg: MelConfig = MelConfig()) -> float:
    """Duration in seconds of ``n_frames`` hops."""
    return n_frames * cfg.hop_length / cfg.sample_rate


__all__ = [
    "MelConfig",
    "at_least_float32",
    "energy",
    "f0",
    "float32_region",
    "frames_to_seconds",
    "griffin_lim",
    "hz_to_cents",
    "linear_spectrogram",
    "log_magnitude",
    "mel_filterbank",
    "mel_spectrogram",
    "mfcc",
    "stft",
]
