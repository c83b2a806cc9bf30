"""Sound corpora made of code: calming textures with known spectra, and fake NSynth / MAESTRO layouts.

The calming corpus (:func:`write_calming_corpus`) is what the sound models' learning tests and
``bench/sound_speed.py`` train on: five labels, every clip deterministic given ``seed`` (one NumPy
generator per ``(seed, label, clip)``), a few hundred milliseconds to render on one core, and each
label's spectrum known by construction, so a test can check a model on *what it should hear*:

=========  ===================================================================================
``rain``   stationary noise through a band-pass ``|G(f)|^2 = 1 / ((1 + (500/f)^4)(1 + (f/4000)^4))``
           (flat 500 Hz - 4 kHz, 12 dB/octave skirts) plus droplets: about 30 per second,
           Poisson, each a 2-5 kHz sinusoid decaying in 4 ms. Broadband, bright, no pitch.
``waves``  noise through a first-order low-pass ``|G(f)|^2 = 1 / (1 + (f/400)^2)`` (-6 dB/octave
           above 400 Hz), amplitude-modulated by ``0.15 + 0.85 sin^2(pi f_am t + phi)`` with
           ``f_am`` in 0.4-0.7 Hz: one slow swell every 1.4-2.5 s. Dark, slowly breathing.
``wind``   noise through a band-pass Gaussian in log-frequency (0.35 octave wide) whose centre
           drifts ``c(t) = c0 2^(0.7 sin(2 pi f_d t + phi))``, ``c0`` 400-700 Hz, ``f_d`` 0.2-0.5 Hz,
           with a gentle gust envelope ``0.6 + 0.4 sin``. A moving resonance, no pitch.
``drone``  a steady harmonic tone: ``f0`` 80-160 Hz, partials ``k f0`` (k = 1..12, below 0.45 sr)
           with amplitude ``1 / k`` and random phases. Line spectrum, exactly periodic.
``bells``  strikes every 0.6-1.2 s (one at t = 0), each seven inharmonic partials of a
           fundamental 300-700 Hz at ratios 0.5, 1, 1.19, 1.5, 2, 2.51, 3.01 (hum, prime, tierce,
           quint, nominal, ...) decaying as ``exp(-t / tau_k)``, ``tau_k = 1.2 s / ratio^0.7``.
=========  ===================================================================================

Noise textures are synthesised in the short-time Fourier domain (complex Gaussian bins times the
gain, overlap-added with a square-root Hann window at 50 % overlap), so their expected power
spectrum *is* ``|G(f, t)|^2``. Every clip is peak-normalised to 0.5 (-6 dBFS).

:func:`write_fake_nsynth` and :func:`write_fake_maestro` write the two datasets' layouts at toy
size (short tones instead of recordings) for the source tests.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

CALMING_LABELS = ("rain", "waves", "wind", "drone", "bells")

_BELL_RATIOS = (0.5, 1.0, 1.19, 1.5, 2.0, 2.51, 3.01)
_BELL_AMPS = (0.6, 1.0, 0.7, 0.5, 0.6, 0.3, 0.2)
_FRAME = 512  # STFT-domain noise synthesis frame (32 ms at 16 kHz)


def _shaped_noise(n: int, sr: int, rng: np.random.Generator, gain) -> np.ndarray:
    """Noise whose expected power spectrum at time t is ``gain(freqs, times)**2``.

    Args:
        gain: ``(freqs (K,), times (M, 1)) -> (M, K)`` amplitude gains.
    """
    hop = _FRAME // 2
    n_frames = n // hop + 2
    freqs = np.fft.rfftfreq(_FRAME, 1.0 / sr)  # (K,)
    times = (np.arange(n_frames) * hop - hop)[:, None] / sr  # (M, 1), frame centres
    spec = rng.standard_normal((n_frames, len(freqs))) + 1j * rng.standard_normal((n_frames, len(freqs)))
    frames = np.fft.irfft(spec * gain(freqs, times), n=_FRAME, axis=1)  # (M, L)
    window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_FRAME) / _FRAME))  # sqrt periodic Hann
    out = np.zeros((n_frames + 1) * hop)
    for m in range(n_frames):  # overlap-add; sum of window^2 at 50 % overlap is 1
        out[m * hop : m * hop + _FRAME] += frames[m] * window
    return out[hop : hop + n]


def _rain(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    f_hi = min(4000.0, 0.4 * sr)

    def gain(f, _t):
        f = np.maximum(f, 1.0)
        return np.sqrt(1.0 / ((1 + (500.0 / f) ** 4) * (1 + (f / f_hi) ** 4)))[None, :]

    audio = _shaped_noise(n, sr, rng, gain)
    audio /= np.std(audio) + 1e-12
    t = np.arange(int(0.03 * sr)) / sr
    for start in np.flatnonzero(rng.random(n) < 30.0 / sr):
        freq = rng.uniform(2000.0, min(5000.0, 0.45 * sr))
        drop = rng.uniform(1.0, 3.0) * np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.004)
        end = min(n, start + len(drop))
        audio[start:end] += drop[: end - start]
    return audio


def _waves(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    audio = _shaped_noise(n, sr, rng, lambda f, _t: np.sqrt(1.0 / (1 + (f / 400.0) ** 2))[None, :])
    t = np.arange(n) / sr
    f_am, phi = rng.uniform(0.4, 0.7), rng.uniform(0, np.pi)
    return audio * (0.15 + 0.85 * np.sin(np.pi * f_am * t + phi) ** 2)


def _wind(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    c0, f_d, phi = rng.uniform(400.0, 700.0), rng.uniform(0.2, 0.5), rng.uniform(0, 2 * np.pi)

    def gain(f, t):
        centre = c0 * 2.0 ** (0.7 * np.sin(2 * np.pi * f_d * t + phi))  # (M, 1)
        octaves = np.log2(np.maximum(f, 1.0)[None, :] / centre)  # (M, K)
        return np.exp(-0.5 * (octaves / 0.35) ** 2)

    audio = _shaped_noise(n, sr, rng, gain)
    t = np.arange(n) / sr
    return audio * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 2 * np.pi)))


def _drone(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(80.0, 160.0)
    t = np.arange(n) / sr
    ks = [k for k in range(1, 13) if k * f0 < 0.45 * sr]
    return sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in ks)


def _bells(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(300.0, 700.0)
    audio = np.zeros(n)
    start = 0.0
    while int(start * sr) < n:
        t = np.arange(n - int(start * sr)) / sr
        strike = rng.uniform(0.6, 1.0)
        for ratio, amp in zip(_BELL_RATIOS, _BELL_AMPS, strict=True):
            if ratio * f0 < 0.45 * sr:
                tau = 1.2 / ratio**0.7
                audio[int(start * sr) :] += (
                    strike * amp * np.sin(2 * np.pi * ratio * f0 * t) * np.exp(-t / tau)
                )
        start += rng.uniform(0.6, 1.2)
    return audio


_RENDER = {"rain": _rain, "waves": _waves, "wind": _wind, "drone": _drone, "bells": _bells}


def render_calming(
    label: str, seconds: float, sample_rate: int, rng: np.random.Generator | int
) -> np.ndarray:
    """One clip of a calming texture (see the module table for each label's spectrum).

    Args:
        label: one of :data:`CALMING_LABELS`.
        seconds: duration.
        sample_rate: Hz.
        rng: a NumPy generator (or an int seed).

    Returns:
        (N,) float32, N = round(seconds * sample_rate), peak 0.5.
    """
    if label not in _RENDER:
        raise ValueError(f"unknown calming label {label!r}; choose one of {', '.join(CALMING_LABELS)}")
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    n = int(round(seconds * sample_rate))
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    audio = np.asarray(_RENDER[label](n, sample_rate, rng), dtype=np.float64)
    return (0.5 * audio / (np.max(np.abs(audio)) + 1e-12)).astype(np.float32)


def write_calming_corpus(
    root: str | Path, *, sample_rate: int = 16000, seconds: float = 2.0, per_label: int = 4, seed: int = 0
) -> Path:
    """Write ``root/<label>/<label>-NNN.wav`` (16-bit PCM) for every label in :data:`CALMING_LABELS`.

    The folder layout is the one ``sesli sound prepare`` reads as labels (first sub-folder).
    Clip ``i`` of label ``j`` comes from ``np.random.default_rng([seed, j, i])``, so the same
    arguments always write the same samples. Returns ``root``.
    """
    from sesli.audio.io import save_wav

    root = Path(root)
    for j, label in enumerate(CALMING_LABELS):
        for i in range(per_label):
            audio = render_calming(label, seconds, sample_rate, np.random.default_rng([seed, j, i]))
            save_wav(root / label / f"{label}-{i:03d}.wav", audio, sample_rate)
    return root


def _note(pitch: int, seconds: float, sr: int, velocity: int = 100) -> np.ndarray:
    """A plucked harmonic note at MIDI ``pitch``, decaying (T,)."""
    t = np.arange(int(round(seconds * sr))) / sr
    f0 = 440.0 * 2.0 ** ((pitch - 69) / 12)
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6) if k * f0 < 0.45 * sr)
    return (0.8 * velocity / 127 * tone / 2.3 * np.exp(-t / max(seconds / 3, 1e-3))).astype(np.float32)


def write_fake_nsynth(
    root: str | Path,
    n: int = 8,
    *,
    seconds: float = 0.5,
    sample_rate: int = 16000,
    families: tuple[str, ...] = ("keyboard", "guitar", "mallet"),
    missing: int = 0,
) -> Path:
    """An NSynth split at toy size: ``root/examples.json`` + ``root/audio/<note_str>.wav``.

    Note ``i`` has family ``families[i % len]``, source ``SOURCES[i % 3]``, pitch
    ``48 + 3 i``, velocity ``(25, 50, 75, 100, 127)[i % 5]`` and qualities ``[]``, ``["bright"]``,
    ``["dark", "percussive"]`` in turn; the last ``missing`` notes are listed without a wav.
    Every field NSynth's ``examples.json`` has is written. Returns ``root``.
    """
    from sesli.audio.io import save_wav
    from sesli.data.sources.nsynth import FAMILIES, QUALITIES, SOURCES

    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    examples = {}
    quality_sets = ([], ["bright"], ["dark", "percussive"])
    for i in range(n):
        family, source = families[i % len(families)], SOURCES[i % 3]
        pitch, velocity = 48 + 3 * i, (25, 50, 75, 100, 127)[i % 5]
        instrument = f"{family}_{source}_{i // 2:03d}"
        note_str = f"{instrument}-{pitch:03d}-{velocity:03d}"
        qualities = quality_sets[i % 3]
        examples[note_str] = {
            "note": 1000 + i,
            "note_str": note_str,
            "instrument": i // 2,
            "instrument_str": instrument,
            "pitch": pitch,
            "velocity": velocity,
            "sample_rate": sample_rate,
            "instrument_family": FAMILIES.index(family),
            "instrument_family_str": family,
            "instrument_source": SOURCES.index(source),
            "instrument_source_str": source,
            "qualities": [int(q in qualities) for q in QUALITIES],
            "qualities_str": list(qualities),
        }
        if i < n - missing:
            save_wav(
                root / "audio" / f"{note_str}.wav", _note(pitch, seconds, sample_rate, velocity), sample_rate
            )
    (root / "examples.json").write_text(json.dumps(examples, indent=1), encoding="utf-8")
    return root


MAESTRO_COLUMNS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename",
                   "audio_filename", "duration")  # fmt: skip


def write_fake_maestro(
    root: str | Path,
    n: int = 3,
    *,
    seconds: float = 3.0,
    missing: int = 0,
    rates: tuple[int, ...] = (44100, 48000),
) -> Path:
    """A MAESTRO v3 layout at toy size: ``root/maestro-v3.0.0.csv`` + ``root/<year>/<name>.wav``.

    Row ``i`` is split ``("train", "validation", "test")[i % 3]``, a stereo wav at
    ``rates[i % len]`` Hz of ``seconds`` of piano-like notes (left and right differ in level,
    so the down-mix is checkable); the last ``missing`` rows name a wav that is not written.
    MIDI files are named but not written (the audio loader never reads them). Returns ``root``.
    """
    from sesli.audio.io import save_wav

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        year = 2004 + i
        stem = f"MIDI-Unprocessed_{i:02d}_R1_{year}_01-02_ORIG_MID--AUDIO_{i:02d}_R1_{year}_wav--1"
        sr = rates[i % len(rates)]
        rows.append(
            {
                "canonical_composer": f"Composer {i}",
                "canonical_title": f"Piece No. {i}",
                "split": ("train", "validation", "test")[i % 3],
                "year": year,
                "midi_filename": f"{year}/{stem}.midi",
                "audio_filename": f"{year}/{stem}.wav",
                "duration": seconds,
            }
        )
        if i < n - missing:
            notes = [_note(60 + 2 * ((i + k) % 7), 0.5, sr) for k in range(int(np.ceil(seconds / 0.5)))]
            mono = np.concatenate(notes)[: int(round(seconds * sr))]
            save_wav(root / f"{year}" / f"{stem}.wav", np.stack([mono, 0.5 * mono], axis=1), sr)
    with open(root / "maestro-v3.0.0.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MAESTRO_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return root


__all__ = [
    "CALMING_LABELS",
    "MAESTRO_COLUMNS",
    "render_calming",
    "write_calming_corpus",
    "write_fake_maestro",
    "write_fake_nsynth",
]
