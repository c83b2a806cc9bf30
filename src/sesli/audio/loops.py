"""Seamless loops of any length, and loudness normalisation to one target (BS.1770 + true peak).

A loop of L frames is cut from a source with L + X frames (X the crossfade): the X frames after
the loop end (the *tail*) are crossfaded into the first X frames (the *head*)::

    y[i] = g_in(i) * x[i] + g_out(i) * x[L + i]     for i < X
    y[i] = x[i]                                      for X <= i < L

so the loop's last frame ``x[L - 1]`` wraps onto ``y[0] ~ x[L]``, its own continuation: no jump at
the seam, and the head fades in over X frames. The gains are equal-power,
``g_in = k sin(pi s / 2)``, ``g_out = k cos(pi s / 2)``, on a warped time
``s = (1 - cos(pi t)) / 2`` with ``t = (i + 0.5) / X``: the warp gives the gains zero slope at
both ends, so the envelope has no corner either (with plain ``t`` the head of a decaying bell
enters at full slope and its decayed partials jump up in the first frames). ``k`` corrects for the
correlation r of head and tail (``k = 1 / sqrt(1 + 2 r g_in g_out)``, r clipped to [0, 1]):
uncorrelated material (noise, rain) keeps its power (plain sin/cos, k = 1), and material in phase
with itself (a steady tone cut to whole cycles) keeps its amplitude instead of swelling by 3 dB
mid-fade.

Steady tones (``tone_hz``): the loop length is rounded to a whole number of cycles, so head and
tail are in phase and the crossfade sums them without beating.

Loops longer than the source are tiled: the source is first made into a shorter loop (the same
crossfade) of ``L // k`` frames, k the fewest repeats whose loop fits the source (a tone: whole
cycles), repeated until it covers L + X frames, and the long loop is cut from that; its tail and
head then lie fewer than k frames apart in the repeating pattern, so the last crossfade blends
two near-identical stretches.

Loudness: integrated loudness (ITU-R BS.1770-4 with its gates) by pyloudnorm; true peak as the
largest magnitude after 4x polyphase oversampling (BS.1770 Annex 2), taken circularly for loops
so an inter-sample peak across the seam counts. Letters: T frames, C channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BS1770_BLOCK_S = 0.4  # the gating block; integrated loudness needs at least one
_MIN_FRAMES = 16


class LoopError(ValueError):
    """A loop cannot be made from this audio with these settings; the message says why."""


class LoudnessError(ValueError):
    """Loudness cannot be measured or reached (silence, too short a clip)."""


@dataclass
class LoopResult:
    """A seamless loop.

    Attributes:
        audio: the loop, (T,) for mono input or (T, C), float32; it repeats from frame T back to 0.
        sample_rate: Hz.
        loop_start: first frame of the loop (always 0).
        loop_end: last frame of the loop, inclusive (T - 1), as a ``smpl`` chunk stores it.
        crossfade: frames of tail crossfaded into the head.
        correlation: head/tail correlation the gains were corrected for (clipped to [0, 1];
            the mean over channels, each channel has its own).
        tiled: the source was shorter than loop + crossfade and was tiled first.
        cycles: whole cycles of ``tone_hz`` in the loop (None without a tone).
    """

    audio: np.ndarray
    sample_rate: int
    loop_start: int
    loop_end: int
    crossfade: int
    correlation: float
    tiled: bool
    cycles: int | None = None

    @property
    def seconds(self) -> float:
        """Loop duration in seconds."""
        return self.audio.shape[0] / self.sample_rate


@dataclass
class LoudnessResult:
    """Audio brought to a loudness target.

    Attributes:
        audio: the scaled audio (same shape as the input), float32.
        lufs: its integrated loudness (LUFS), exact since loudness scales with the gain.
        true_peak_db: its true peak (dBTP, 4x oversampled).
        gain_db: the gain applied.
        peak_limited: the gain was lowered below the loudness target so the true peak stays at
            the ceiling (a very peaky sound); ``lufs`` then sits below the target.
    """

    audio: np.ndarray
    lufs: float
    true_peak_db: float
    gain_db: float
    peak_limited: bool


def _frames(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        return x[:, None]
    if x.ndim != 2 or x.shape[1] > 8:
        raise LoopError(f"expected audio of shape (T,) or (T, C), got {x.shape}")
    return x


def _loop_length(seconds: float, sr: int, tone_hz: float | None) -> tuple[int, int | None]:
    if not seconds > 0:
        raise LoopError(f"loop length must be positive, got {seconds} s")
    if tone_hz is None:
        return max(_MIN_FRAMES, round(seconds * sr)), None
    if not 0 < tone_hz < sr / 2:
        raise LoopError(f"tone_hz must be in (0, {sr / 2}) Hz, got {tone_hz}")
    cycles = max(1, round(seconds * tone_hz))
    return round(cycles * sr / tone_hz), cycles


def _crossfade(seg: np.ndarray, length: int, fade: int) -> tuple[np.ndarray, float]:
    """Fold ``seg[length:length + fade]`` (tail) into ``seg[:fade]`` (head): (length + fade, C) -> (length, C).

    Each channel gets gains for its own head/tail correlation; the mean correlation is returned.
    """
    out = seg[:length].copy()
    if fade == 0:
        return out, 0.0
    head, tail = seg[:fade], seg[length : length + fade]  # (X, C) each
    denom = np.sqrt(np.sum(head * head, axis=0) * np.sum(tail * tail, axis=0))  # (C,)
    r = np.clip(np.sum(head * tail, axis=0) / np.where(denom > 0, denom, 1.0), 0.0, 1.0)  # (C,)
    t = (np.arange(fade) + 0.5) / fade
    s = 0.5 - 0.5 * np.cos(np.pi * t)  # warped time: the gains start and end with zero slope
    a, b = np.sin(0.5 * np.pi * s)[:, None], np.cos(0.5 * np.pi * s)[:, None]  # (X, 1)
    k = 1.0 / np.sqrt(1.0 + 2.0 * r[None, :] * a * b)  # (X, C)
    out[:fade] = k * a * head + k * b * tail
    return out, float(r.mean())


def _tile(x: np.ndarray, sr: int, length: int, fade: int, tone_hz: float | None) -> np.ndarray:
    """Repeat a loop made from the source until it covers ``length + fade`` frames: (N, C) -> (>=, C).

    The source's own loop is ``length // k`` frames (k the fewest repeats that fit the source), so
    the long loop's tail and head lie less than k frames apart in the repeating pattern and the
    final crossfade blends two near-identical stretches. A tone's loop is whole cycles instead.
    """
    n = x.shape[0]
    inner_fade = min(fade, n // 2)
    if tone_hz is None:
        inner = length // math.ceil(length / (n - inner_fade))
    else:
        cycles = math.floor((n - inner_fade) * tone_hz / sr)
        if cycles < 1:
            raise LoopError(
                f"the source ({n} frames) is shorter than one cycle of {tone_hz} Hz plus a crossfade"
            )
        inner = round(cycles * sr / tone_hz)
    inner_fade = min(inner_fade, n - inner, inner)
    period, _ = _crossfade(x[: inner + inner_fade], inner, inner_fade)
    return np.tile(period, (math.ceil((length + fade) / inner), 1))


def make_loop(
    audio: np.ndarray, sr: int, seconds: float, *, crossfade: float = 0.5, tone_hz: float | None = None
) -> LoopResult:
    """A click-free loop of ``seconds`` from ``audio`` (an equal-power crossfade of tail into head).

    Args:
        audio: source audio (T,) or (T, C), float.
        sr: sample rate in Hz.
        seconds: loop length; with ``tone_hz`` it is rounded to whole cycles of the tone. Longer
            than the source works too (the source is tiled with crossfades).
        crossfade: crossfade in seconds (at most half the loop).
        tone_hz: fundamental of a steady tone (a drone): cut the loop to whole cycles of it.

    Returns:
        A :class:`LoopResult`; ``loop_end`` is inclusive, as WAV ``smpl`` loops store it.

    Raises:
        LoopError: empty or non-finite audio, a source under 16 frames, or a bad length/tone.
    """
    x = _frames(audio)  # (N, C)
    if x.shape[0] < _MIN_FRAMES or not np.all(np.isfinite(x)):
        raise LoopError(f"need at least {_MIN_FRAMES} finite frames to make a loop, got {x.shape[0]}")
    if crossfade < 0:
        raise LoopError(f"crossfade must be >= 0 s, got {crossfade}")
    length, cycles = _loop_length(seconds, sr, tone_hz)
    fade = min(round(crossfade * sr), length // 2)
    tiled = x.shape[0] < length + fade
    if tiled:
        x = _tile(x, sr, length, fade, tone_hz)
    y, r = _crossfade(x[: length + fade], length, fade)  # (L, C)
    y = y.astype(np.float32)
    out = y[:, 0] if np.asarray(audio).ndim == 1 else y
    return LoopResult(out, sr, 0, length - 1, fade, r, tiled, cycles)


def true_peak(audio: np.ndarray, *, periodic: bool = False, oversample: int = 4) -> float:
    """True peak in dBTP: the largest magnitude after ``oversample``x polyphase oversampling.

    Args:
        audio: (T,) or (T, C) float audio.
        periodic: the audio is a loop: also count inter-sample peaks across the seam.
        oversample: the factor (BS.1770 asks for 4x at 48 kHz).
    """
    from scipy.signal import resample_poly

    x = _frames(audio)  # (T, C)
    pad = min(64, x.shape[0])
    if periodic:
        x = np.concatenate([x[-pad:], x, x[:pad]])
    up = resample_poly(x, oversample, 1, axis=0)  # (T * oversample, C)
    if periodic:
        up = up[pad * oversample : -pad * oversample]
    peak = max(float(np.max(np.abs(up))), float(np.max(np.abs(x))))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def integrated_loudness(audio: np.ndarray, sr: int, *, periodic: bool = False) -> float:
    """Integrated loudness in LUFS (BS.1770-4, pyloudnorm).

    Args:
        audio: (T,) or (T, C) float audio.
        sr: Hz.
        periodic: the audio is a loop: measure it as it plays, repeated to at least 3 s.

    Raises:
        LoudnessError: shorter than a 0.4 s block (and not periodic), or silent under the gates.
    """
    import pyloudnorm

    x = _frames(audio)
    if periodic:
        x = np.tile(x, (max(1, math.ceil(3.0 * sr / x.shape[0])), 1))
    if x.shape[0] < round(BS1770_BLOCK_S * sr):
        raise LoudnessError(
            f"{x.shape[0] / sr:.3f} s is shorter than the {BS1770_BLOCK_S} s BS.1770 block; "
            "pass periodic=True for a loop"
        )
    lufs = float(pyloudnorm.Meter(sr).integrated_loudness(x if x.shape[1] > 1 else x[:, 0]))
    if not math.isfinite(lufs):
        raise LoudnessError("the audio is silent (below the -70 LUFS gate): nothing to normalise")
    return lufs


def normalize_loudness(
    audio: np.ndarray, sr: int, lufs: float = -23.0, true_peak_db: float = -1.0, *, periodic: bool = False
) -> LoudnessResult:
    """Scale ``audio`` to ``lufs`` integrated loudness, keeping the true peak at or under ``true_peak_db``.

    One gain for the whole clip (no limiter, no dynamics change): when the target would push the
    true peak over the ceiling, the gain stops at the ceiling and ``peak_limited`` says so.

    Args:
        audio: (T,) or (T, C) float audio.
        sr: Hz.
        lufs: the loudness target (-23 LUFS is EBU R128's).
        true_peak_db: the true-peak ceiling in dBTP.
        periodic: the audio is a loop (measured as it repeats, peaks across the seam counted).

    Raises:
        LoudnessError: see :func:`integrated_loudness`.
    """
    measured = integrated_loudness(audio, sr, periodic=periodic)
    gain_db = lufs - measured
    peak = true_peak(audio, periodic=periodic) + gain_db
    limited = peak > true_peak_db - 0.01  # 0.01 dB margin for 16-bit rounding
    if limited:
        gain_db -= peak - (true_peak_db - 0.01)
        peak = true_peak_db - 0.01
    scaled = (np.asarray(audio, dtype=np.float64) * 10.0 ** (gain_db / 20.0)).astype(np.float32)
    return LoudnessResult(scaled, measured + gain_db, peak, gain_db, limited)


__all__ = [
    "LoopError",
    "LoopResult",
    "LoudnessError",
    "LoudnessResult",
    "integrated_loudness",
    "make_loop",
    "normalize_loudness",
    "true_peak",
]
