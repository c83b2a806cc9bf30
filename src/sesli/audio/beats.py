"""Procedural beat layers rendered as stereo: binaural beats and isochronic tones.

* A *binaural beat* is two sine tones, one per ear, ``carrier - beat / 2`` on the left and
  ``carrier + beat / 2`` on the right; the beat exists only between the two ears, so the layer must
  reach the listener as plain, non-spatialised 2-D stereo (in Unreal Engine: a stereo sound with
  spatialisation off). Any panning, reverb send or mono fold-down mixes the ears and turns it into
  ordinary amplitude beating.
* An *isochronic tone* is one carrier switched on and off ``beat`` times a second, identical in
  both channels (so it survives spatialisation and mono).

These functions only render signals; they make no claim about what listening to them does.

Both are made for loops: with ``periodic=True`` (the default) every frequency is rounded to a
whole number of cycles in ``n_frames``, so the layer repeats without a seam; the rendered
frequencies are returned. The isochronic gate has raised-cosine edges (no clicks at the pulses).
Shapes: (T, 2) float32, T = ``n_frames``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class BeatError(ValueError):
    """A beat layer cannot be rendered as asked (the message says why)."""


@dataclass
class BeatLayer:
    """A rendered beat layer.

    Attributes:
        audio: (T, 2) float32, peak ``10 ** (level_db / 20)``.
        kind: "binaural" or "isochronic".
        carrier_hz: the carrier as rendered (binaural: the mean of the two ears).
        beat_hz: the beat as rendered.
        left_hz: the left tone (binaural; the carrier for isochronic).
        right_hz: the right tone (binaural; the carrier for isochronic).
    """

    audio: np.ndarray
    kind: str
    carrier_hz: float
    beat_hz: float
    left_hz: float
    right_hz: float


def _check(n_frames: int, sr: int, carrier_hz: float, beat_hz: float) -> None:
    if n_frames < 2 or sr <= 0:
        raise BeatError(f"need n_frames >= 2 and a positive rate, got {n_frames} frames at {sr} Hz")
    if not 0 < beat_hz < carrier_hz:
        raise BeatError(f"need 0 < beat_hz < carrier_hz, got beat {beat_hz} Hz, carrier {carrier_hz} Hz")
    if carrier_hz + beat_hz >= sr / 2:
        raise BeatError(f"carrier {carrier_hz} Hz + beat {beat_hz} Hz is above the Nyquist rate of {sr} Hz")


def _whole_cycles(freq: float, n_frames: int, sr: int) -> float:
    """``freq`` rounded to a whole number (>= 1) of cycles in ``n_frames``."""
    return max(1, round(freq * n_frames / sr)) * sr / n_frames


def binaural_beat(
    n_frames: int,
    sr: int,
    *,
    carrier_hz: float = 200.0,
    beat_hz: float = 6.0,
    level_db: float = -20.0,
    periodic: bool = True,
) -> BeatLayer:
    """Two sine tones ``beat_hz`` apart, left and right.

    Args:
        n_frames: length T.
        sr: Hz.
        carrier_hz: centre frequency.
        beat_hz: difference between the ears.
        level_db: peak level of each tone in dBFS.
        periodic: round both tones to whole cycles in T (a seamless loop layer).

    Raises:
        BeatError: bad frequencies, or (periodic) a loop too short to hold one beat cycle.
    """
    _check(n_frames, sr, carrier_hz, beat_hz)
    left, right = carrier_hz - beat_hz / 2, carrier_hz + beat_hz / 2
    if periodic:
        left, right = _whole_cycles(left, n_frames, sr), _whole_cycles(right, n_frames, sr)
        if right <= left:
            raise BeatError(
                f"a {n_frames / sr:.2f} s loop cannot hold one cycle of a {beat_hz} Hz beat "
                f"(needs at least {1 / beat_hz:.2f} s)"
            )
    t = np.arange(n_frames) / sr
    amp = 10.0 ** (level_db / 20.0)
    audio = amp * np.stack([np.sin(2 * np.pi * left * t), np.sin(2 * np.pi * right * t)], axis=1)  # (T, 2)
    return BeatLayer(audio.astype(np.float32), "binaural", (left + right) / 2, right - left, left, right)


def _gate(phase: np.ndarray, duty: float, edge: float) -> np.ndarray:
    """On/off gate over one period (phase in [0, 1)): on for ``duty``, raised-cosine ramps of ``edge``."""
    ramp = max(min(edge, duty / 2), 1e-6)
    rise = np.clip(phase / ramp, 0.0, 1.0)
    fall = np.clip((duty - phase) / ramp, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall))


def isochronic_beat(
    n_frames: int,
    sr: int,
    *,
    carrier_hz: float = 200.0,
    beat_hz: float = 6.0,
    level_db: float = -20.0,
    duty: float = 0.5,
    edge: float = 0.1,
    periodic: bool = True,
) -> BeatLayer:
    """A carrier pulsed on and off ``beat_hz`` times a second, the same in both channels.

    Args:
        n_frames: length T.
        sr: Hz.
        carrier_hz: the tone.
        beat_hz: pulses per second.
        level_db: peak level in dBFS.
        duty: fraction of each period the tone is on (0 < duty < 1).
        edge: length of each raised-cosine ramp as a fraction of the period (at most duty / 2).
        periodic: round the carrier and the pulse rate to whole cycles in T.

    Raises:
        BeatError: bad frequencies or duty.
    """
    _check(n_frames, sr, carrier_hz, beat_hz)
    if not 0 < duty < 1 or edge <= 0:
        raise BeatError(f"need 0 < duty < 1 and edge > 0, got duty {duty}, edge {edge}")
    if periodic:
        carrier_hz, beat_hz = _whole_cycles(carrier_hz, n_frames, sr), _whole_cycles(beat_hz, n_frames, sr)
    t = np.arange(n_frames) / sr
    tone = np.sin(2 * np.pi * carrier_hz * t) * _gate(np.mod(beat_hz * t, 1.0), duty, edge)
    mono = (10.0 ** (level_db / 20.0) * tone).astype(np.float32)
    return BeatLayer(
        np.stack([mono, mono], axis=1), "isochronic", carrier_hz, beat_hz, carrier_hz, carrier_hz
    )


def mix_stereo(audio: np.ndarray, *layers: np.ndarray) -> np.ndarray:
    """``audio`` ((T,) mono is copied to both channels, or (T, 2)) plus stereo layers (T, 2) -> (T, 2).

    Raises:
        BeatError: a layer's shape is not (T, 2).
    """
    x = np.asarray(audio, dtype=np.float32)
    out = np.stack([x, x], axis=1) if x.ndim == 1 else x.copy()
    if out.ndim != 2 or out.shape[1] != 2:
        raise BeatError(f"mix_stereo: audio must be (T,) or (T, 2), got {x.shape}")
    for layer in layers:
        if layer.shape != out.shape:
            raise BeatError(f"mix_stereo: layer {layer.shape} does not match the audio {out.shape}")
        out += layer
    return out


__all__ = ["BeatError", "BeatLayer", "binaural_beat", "isochronic_beat", "mix_stereo"]
