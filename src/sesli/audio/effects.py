"""Signal clean-up for data preparation: trim, level, high-pass, clipping, silence slicing.

All functions take mono float audio (T,) and its sample rate, and return new arrays.

Loudness here is *gated RMS loudness*: the BS.1770 gating (400 ms blocks with 75 % overlap, an
absolute gate at -70 dB and a relative gate 10 dB below the ungated mean) applied to plain RMS,
without the K-weighting pre-filter. For speech the two differ by a roughly constant offset of
about a decibel, which is all a training set needs: every clip at the same level.

The silence slicer follows the RVC (Retrieval-based Voice Conversion) pre-processing parameters:
threshold -42 dB, minimum clip 1.5 s, minimum silence 0.4 s, hop 15 ms, at most 0.5 s of silence
kept around a cut; slices are then cut into 3.7 s windows overlapping by 0.3 s.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-10


def db_to_amplitude(db: float) -> float:
    """Decibels (re full scale) to a linear amplitude."""
    return float(10.0 ** (db / 20.0))


def rms_db(audio: np.ndarray) -> float:
    """RMS level of the whole clip in dBFS (-inf for digital silence)."""
    if audio.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def frame_rms_db(audio: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """RMS in dBFS of frames of ``frame`` samples every ``hop`` samples (centred), shape (F,)."""
    padded = np.pad(np.asarray(audio, dtype=np.float64), (frame // 2, frame // 2))
    n = 1 + max(0, len(padded) - frame) // hop
    power = np.cumsum(np.concatenate([[0.0], np.square(padded)]))
    starts = np.arange(n) * hop
    ms = (power[starts + frame] - power[starts]) / frame
    return 10.0 * np.log10(np.maximum(ms, _EPS))


def trim_silence(
    audio: np.ndarray, sr: int, threshold_db: float = -40.0, frame_ms: float = 20.0, pad_ms: float = 50.0
) -> np.ndarray:
    """Cut leading and trailing silence.

    A frame is silent when its RMS is ``threshold_db`` or more below the clip's loudest frame
    (relative, so a quiet but clean recording is not eaten). ``pad_ms`` of context is kept on each
    side so word onsets and releases survive. All-silent audio gives an empty array.
    """
    if audio.size == 0:
        return audio
    frame = max(1, int(sr * frame_ms / 1000))
    hop = max(1, frame // 2)
    levels = frame_rms_db(audio, frame, hop)
    peak = levels.max()
    if peak <= 10.0 * np.log10(_EPS) + 1e-6:
        return audio[:0]
    loud = np.flatnonzero(levels > peak + threshold_db)
    pad = int(sr * pad_ms / 1000)
    start = max(0, loud[0] * hop - frame // 2 - pad)
    end = min(len(audio), loud[-1] * hop + frame // 2 + pad)
    return audio[start:end]


def peak_normalize(audio: np.ndarray, peak_db: float = -1.0) -> np.ndarray:
    """Scale so the largest absolute sample is at ``peak_db`` dBFS (silence is returned as is)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0:
        return audio.astype(np.float32, copy=True)
    return (audio * (db_to_amplitude(peak_db) / peak)).astype(np.float32)


def gated_loudness_db(audio: np.ndarray, sr: int) -> float:
    """Gated RMS loudness in dB (BS.1770 gating without K-weighting; see the module docstring)."""
    block, hop = int(0.4 * sr), int(0.1 * sr)
    if len(audio) < block:
        return rms_db(audio)
    levels = (
        frame_rms_db(audio, block, hop)[2:-2] if len(audio) >= 2 * block else frame_rms_db(audio, block, hop)
    )
    levels = levels[levels > -70.0]
    if levels.size == 0:
        return float("-inf")
    ungated = 10.0 * np.log10(np.mean(10.0 ** (levels / 10.0)))
    kept = levels[levels > ungated - 10.0]
    return float(10.0 * np.log10(np.mean(10.0 ** (kept / 10.0))))


def loudness_normalize(
    audio: np.ndarray, sr: int, target_db: float = -23.0, max_peak_db: float = -1.0
) -> np.ndarray:
    """Scale to ``target_db`` gated loudness, then lower the gain if the peak would pass ``max_peak_db``."""
    level = gated_loudness_db(audio, sr)
    if not np.isfinite(level):
        return audio.astype(np.float32, copy=True)
    out = audio * db_to_amplitude(target_db - level)
    peak = float(np.max(np.abs(out)))
    limit = db_to_amplitude(max_peak_db)
    if peak > limit:
        out = out * (limit / peak)
    return out.astype(np.float32)


def highpass(
    audio: np.ndarray, sr: int, cutoff_hz: float = 48.0, order: int = 5, causal: bool = False
) -> np.ndarray:
    """Butterworth high-pass (RVC removes rumble below 48 Hz with order 5).

    Zero-phase (forward-backward) by default; ``causal=True`` filters forward once, as RVC's
    training pre-processing does with ``lfilter`` (same response, with the filter's phase shift).
    """
    from scipy.signal import butter, sosfilt, sosfiltfilt

    if cutoff_hz <= 0 or cutoff_hz >= sr / 2:
        raise ValueError(f"cutoff {cutoff_hz} Hz must lie in (0, {sr / 2}) for sr={sr}")
    sos = butter(order, cutoff_hz, btype="highpass", fs=sr, output="sos")
    if causal:
        return sosfilt(sos, audio).astype(np.float32)
    if len(audio) <= 3 * (2 * len(sos) + 1):  # too short for filtfilt's padding
        return audio.astype(np.float32, copy=True)
    return sosfiltfilt(sos, audio).astype(np.float32)


def clipped_fraction(audio: np.ndarray, level: float = 0.99, min_run: int = 3) -> float:
    """Fraction of samples inside flat runs at full scale, the signature of clipping.

    A sample counts when ``|x| >= level`` and it belongs to a run of at least ``min_run`` equal
    consecutive values, so the rounded crest of a loud but clean sine is not mistaken for clipping.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.size < min_run:
        return 0.0
    hot = np.abs(x) >= level
    same = np.concatenate([[False], x[1:] == x[:-1]])
    # Run starts where the value changes; label runs and measure their lengths.
    run_id = np.cumsum(~same)
    lengths = np.bincount(run_id)
    in_long_run = lengths[run_id] >= min_run
    return float(np.count_nonzero(hot & in_long_run)) / x.size


def slice_on_silence(
    audio: np.ndarray,
    sr: int,
    threshold_db: float = -42.0,
    min_length_s: float = 1.5,
    min_interval_s: float = 0.4,
    hop_s: float = 0.015,
    max_sil_kept_s: float = 0.5,
) -> list[np.ndarray]:
    """Split a long recording at silences (RVC parameters by default).

    A cut is made inside every silent stretch (frame RMS below ``threshold_db`` dBFS) that lasts at
    least ``min_interval_s``; up to ``max_sil_kept_s`` of that silence stays with the neighbouring
    slices (half on each side) and the rest is dropped. A slice shorter than ``min_length_s`` is
    merged with the next one. Leading/trailing silence is dropped; all-silent audio gives ``[]``.
    """
    hop = max(1, int(round(sr * hop_s)))
    win = min(int(round(sr * min_interval_s)), 4 * hop)
    levels = frame_rms_db(audio, win, hop)
    silent = levels < threshold_db
    if silent.all():
        return []
    min_interval = max(1, int(round(min_interval_s / hop_s)))
    keep = int(round(max_sil_kept_s / hop_s))
    # Sound spans as frame ranges, separated by silences of at least min_interval frames.
    spans: list[list[int]] = []
    f, n = 0, len(silent)
    while f < n:
        if silent[f]:
            g = f
            while g < n and silent[g]:
                g += 1
            if spans and g - f < min_interval and g < n:
                spans[-1][1] = g  # short pause: part of the current slice
            f = g
            continue
        g = f
        while g < n and not silent[g]:
            g += 1
        if spans and spans[-1][1] == f:
            spans[-1][1] = g
        else:
            spans.append([f, g])
        f = g
    # Merge slices that are too short with the following one.
    min_frames = int(round(min_length_s / hop_s))
    merged: list[list[int]] = []
    for span in spans:
        if merged and merged[-1][1] - merged[-1][0] < min_frames:
            merged[-1][1] = span[1]
        else:
            merged.append(list(span))
    if len(merged) > 1 and merged[-1][1] - merged[-1][0] < min_frames:
        last = merged.pop()
        merged[-1][1] = last[1]
    out = []
    for k, (a, b) in enumerate(merged):
        lead = min(keep // 2, a - (merged[k - 1][1] if k else 0))
        tail = min(keep // 2, (merged[k + 1][0] if k + 1 < len(merged) else n) - b)
        start, end = max(0, (a - lead) * hop), min(len(audio), (b + tail) * hop)
        if end > start:
            out.append(audio[start:end])
    return out


def windows(audio: np.ndarray, sr: int, length_s: float = 3.7, overlap_s: float = 0.3) -> list[np.ndarray]:
    """Cut into ``length_s`` windows that start every ``length_s - overlap_s`` seconds (RVC).

    Windows are taken while more than ``length_s + overlap_s`` remains; the remainder (at most that
    long) becomes the last piece, so nothing is dropped and no piece is a sliver.
    """
    step, size, tail = int(sr * (length_s - overlap_s)), int(sr * length_s), int(sr * (length_s + overlap_s))
    if step <= 0:
        raise ValueError(f"overlap {overlap_s} s must be shorter than the window {length_s} s")
    pieces, start = [], 0
    while len(audio) - start > tail:
        pieces.append(audio[start : start + size])
        start += step
    if len(audio) - start > 0:
        pieces.append(audio[start:])
    return pieces
