"""Sounds to Unreal Engine: a looping 48 kHz 16-bit PCM WAV with a ``smpl`` loop and a JSON manifest.

The contract with Unreal Engine 5 (what its WAV importer and a MetaSound or import script see):

* ``NAME.wav``: RIFF/WAVE, PCM 16-bit (UE converts everything to 16-bit on import), 48 kHz (the
  usual mixer rate), mono or stereo, with one forward loop over the whole file in a ``smpl``
  chunk (start 0, end = frames - 1 inclusive, play count 0 = forever), which UE imports as a loop
  region. The audio is a click-free loop (:func:`sesli.audio.loops.make_loop`) at one loudness
  target (integrated, BS.1770-4, measured as the loop repeats) with a true-peak ceiling.
* ``NAME.json``: the manifest below; ``format`` is ``"sesli-ue-loop"``, ``format_version`` 1.
  A reader needs only ``wav``, ``sample_rate``, ``channels``, ``loop`` and ``unreal``::

      {"format": "sesli-ue-loop", "format_version": 1, "name": ..., "wav": "NAME.wav",
       "label": ..., "seed": ..., "model": ..., "sample_rate": 48000, "channels": 2,
       "bit_depth": 16, "frames": ..., "duration_s": ...,
       "loop": {"start": 0, "end": frames - 1, "end_inclusive": true, "crossfade_s": ...,
                "tiled": ..., "tone_hz": ..., "cycles": ...},
       "loudness": {"target_lufs": ..., "integrated_lufs": ..., "true_peak_dbtp": ...,
                    "true_peak_ceiling_dbtp": ..., "gain_db": ..., "peak_limited": ...},
       "layers": [{"kind": "binaural", "carrier_hz": ..., "beat_hz": ..., "left_hz": ...,
                   "right_hz": ..., "level_db": ...}],
       "unreal": {"looping": true, "spatialize": false, "note": ...},
       "source_sample_rate": ..., "sesli_version": ...}

Beat layers (:mod:`sesli.audio.beats`) are mixed in at ``level_db`` relative to the sound's own
loudness before the mix is normalised. A binaural layer needs stereo and a 2-D (non-spatialised)
sound in UE, which the manifest's ``unreal.spatialize`` says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sesli import __version__
from sesli.audio.beats import BeatLayer, binaural_beat, isochronic_beat, mix_stereo
from sesli.audio.io import resample
from sesli.audio.loops import LoopResult, LoudnessResult, integrated_loudness, make_loop, normalize_loudness
from sesli.audio.wavchunks import write_wav_with_loop
from sesli.fileio import write_json

UE_SAMPLE_RATE = 48000
MANIFEST_FORMAT = "sesli-ue-loop"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # safe as a file name and a UE asset name


class UeExportError(ValueError):
    """The export cannot be made as asked; the message says what to change."""


@dataclass(frozen=True)
class BeatSpec:
    """A procedural layer to mix under the sound.

    Attributes:
        kind: "binaural" (stereo only) or "isochronic".
        beat_hz: beat (binaural) or pulse (isochronic) frequency.
        carrier_hz: the tone.
        level_db: the layer's loudness relative to the sound's (negative: under the sound).
    """

    kind: str
    beat_hz: float
    carrier_hz: float = 200.0
    level_db: float = -12.0


@dataclass
class UeLoopExport:
    """What :func:`export_ue_loop` wrote."""

    wav: Path
    manifest: Path
    info: dict[str, Any]  # the manifest's content


def _to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim not in (1, 2) or x.shape[0] == 0:
        raise UeExportError(f"expected audio (T,) or (T, C) with T > 0, got shape {x.shape}")
    if channels == 1:
        return x if x.ndim == 1 else x.mean(axis=1)
    if x.ndim == 1:
        return np.stack([x, x], axis=1)
    if x.shape[1] != 2:
        raise UeExportError(
            f"cannot make stereo from {x.shape[1]} channels; down-mix to mono or stereo first"
        )
    return x


def _render_layer(spec: BeatSpec, n_frames: int) -> BeatLayer:
    if spec.kind == "binaural":
        return binaural_beat(n_frames, UE_SAMPLE_RATE, carrier_hz=spec.carrier_hz, beat_hz=spec.beat_hz)
    return isochronic_beat(n_frames, UE_SAMPLE_RATE, carrier_hz=spec.carrier_hz, beat_hz=spec.beat_hz)


def _add_layers(audio: np.ndarray, beats: Sequence[BeatSpec]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Mix each layer in at its level relative to ``audio``'s loudness: (T,) or (T, 2) -> same."""
    if not beats:
        return audio, []
    sound_lufs = integrated_loudness(audio, UE_SAMPLE_RATE, periodic=True)
    mixed, described = [], []
    for spec in beats:
        layer = _render_layer(spec, audio.shape[0])
        layer_lufs = integrated_loudness(layer.audio, UE_SAMPLE_RATE, periodic=True)
        gain = 10.0 ** ((sound_lufs + spec.level_db - layer_lufs) / 20.0)
        mixed.append(layer.audio * np.float32(gain))
        described.append(
            {"kind": layer.kind, "carrier_hz": layer.carrier_hz, "beat_hz": layer.beat_hz,
             "left_hz": layer.left_hz, "right_hz": layer.right_hz, "level_db": spec.level_db}
        )  # fmt: skip
    if audio.ndim == 1:  # mono output: isochronic layers only (checked before), both channels alike
        return audio + sum(layer[:, 0] for layer in mixed), described
    return mix_stereo(audio, *mixed), described


def _manifest(
    name: str, loop: LoopResult, level: LoudnessResult, layers: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    frames, channels = level.audio.shape[0], 1 if level.audio.ndim == 1 else level.audio.shape[1]
    two_d = channels == 2 or any(layer["kind"] == "binaural" for layer in layers)
    note = (
        "stereo/binaural: play as a 2-D sound (spatialisation off)" if two_d else "mono: may be spatialised"
    )
    return {
        "format": MANIFEST_FORMAT,
        "format_version": 1,
        "name": name,
        "wav": f"{name}.wav",
        "label": fields["label"],
        "seed": fields["seed"],
        "model": fields["model"],
        "sample_rate": UE_SAMPLE_RATE,
        "channels": channels,
        "bit_depth": 16,
        "frames": frames,
        "duration_s": frames / UE_SAMPLE_RATE,
        "loop": {
            "start": loop.loop_start,
            "end": loop.loop_end,
            "end_inclusive": True,
            "crossfade_s": loop.crossfade / UE_SAMPLE_RATE,
            "tiled": loop.tiled,
            "tone_hz": fields["tone_hz"],
            "cycles": loop.cycles,
        },
        "loudness": {
            "target_lufs": fields["lufs"],
            "integrated_lufs": round(level.lufs, 3),
            "true_peak_dbtp": round(level.true_peak_db, 3),
            "true_peak_ceiling_dbtp": fields["true_peak_db"],
            "gain_db": round(level.gain_db, 3),
            "peak_limited": level.peak_limited,
        },
        "layers": layers,
        "unreal": {
            "looping": True,
            "spatialize": not two_d,
            "note": note,
        },
        "source_sample_rate": fields["source_sample_rate"],
        "sesli_version": __version__,
    }


def export_ue_loop(
    audio: np.ndarray,
    sr: int,
    out_dir: str | os.PathLike,
    name: str,
    *,
    label: str | None,
    seed: int | None,
    model: str | None,
    seconds: float,
    channels: int = 2,
    lufs: float = -23.0,
    true_peak_db: float = -1.0,
    crossfade: float = 0.5,
    tone_hz: float | None = None,
    beats: Sequence[BeatSpec] = (),
) -> UeLoopExport:
    """Make a seamless loop of ``audio`` and write ``out_dir/NAME.wav`` + ``NAME.json`` for Unreal Engine.

    Args:
        audio: the sound, (T,) or (T, C) float at ``sr``.
        sr: its sample rate (resampled to 48 kHz).
        out_dir: destination folder (created).
        name: file and asset name (letters, digits, ``_`` and ``-``).
        label, seed, model: provenance for the manifest (what made the sound).
        seconds: loop length (longer than the sound works; with ``tone_hz``, whole cycles).
        channels: 1 (mono) or 2 (stereo; a mono sound is copied to both channels).
        lufs: integrated loudness target.
        true_peak_db: true-peak ceiling (dBTP).
        crossfade: seconds of tail crossfaded into the head.
        tone_hz: fundamental of a steady tone, to cut the loop to whole cycles.
        beats: procedural layers (binaural needs ``channels=2``).

    Returns:
        The paths written and the manifest's content.

    Raises:
        UeExportError: a bad name, channel count or layer; LoopError / LoudnessError from the loop
        and loudness steps (e.g. a silent sound).
    """
    if not _NAME.match(name):
        raise UeExportError(
            f"name {name!r}: use 1-100 letters, digits, '_' or '-' (it names the file and the UE asset)"
        )
    if channels not in (1, 2):
        raise UeExportError(f"channels must be 1 or 2, got {channels}")
    unknown = [b.kind for b in beats if b.kind not in ("binaural", "isochronic")]
    if unknown:
        raise UeExportError(f"unknown layer kind {unknown[0]!r} (binaural or isochronic)")
    if channels == 1 and any(b.kind == "binaural" for b in beats):
        raise UeExportError("a binaural layer needs stereo (channels=2): each ear gets its own tone")
    x = _to_channels(audio, channels)
    x = resample(x, sr, UE_SAMPLE_RATE)
    loop = make_loop(x, UE_SAMPLE_RATE, seconds, crossfade=crossfade, tone_hz=tone_hz)
    mixed, layers = _add_layers(loop.audio, beats)
    level = normalize_loudness(mixed, UE_SAMPLE_RATE, lufs, true_peak_db, periodic=True)
    out = Path(out_dir)
    wav = write_wav_with_loop(out / f"{name}.wav", level.audio, UE_SAMPLE_RATE, 0, loop.loop_end)
    info = _manifest(
        name, loop, level, layers, label=label, seed=seed, model=model, tone_hz=tone_hz, lufs=lufs,
        true_peak_db=true_peak_db, source_sample_rate=sr,
    )  # fmt: skip
    manifest = out / f"{name}.json"
    write_json(manifest, info)
    return UeLoopExport(wav, manifest, info)


__all__ = ["MANIFEST_FORMAT", "UE_SAMPLE_RATE", "BeatSpec", "UeExportError", "UeLoopExport", "export_ue_loop"]
