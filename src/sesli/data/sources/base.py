"""What every source yields: :class:`SourceItem`, plus shared options and errors.

A source turns one input format into a stream of items; it never decodes audio (workers do, in
parallel) and never drops anything: a row it cannot use is still yielded, with ``error`` set, so
the pipeline records it in ``rejects.jsonl``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# Formats a user can name with --format; "auto" detects one of these.
FORMATS = ("hf", "ljspeech", "melo", "commonvoice", "folder", "nsynth", "maestro")


class DataSourceError(RuntimeError):
    """A source as a whole cannot be read (missing folder, unreachable hub, wrong columns)."""


@dataclass
class SourceItem:
    """One input clip, not yet decoded.

    Attributes:
        ref: stable reference to the clip in its source (relative path, or ``dataset/split/index``);
            output ids and resumption are derived from it, so it must not change between runs.
        audio: a file path, the encoded file's bytes, or an already decoded ``(array, rate)``.
        text: transcript, or None for data without text (voice conversion, sound).
        speaker: speaker name ("" when the source has none).
        error: set when the item is unusable before decoding (e.g. missing transcript file).
        labels: tags copied into the utterance (``Utterance.labels``), e.g. ``{"label": "rain"}``.
        crop: ``(start, duration)`` in seconds: only that span of the file is decoded (random crops
            of long recordings); None decodes the whole file.
    """

    ref: str
    audio: str | bytes | tuple[np.ndarray, int] | None
    text: str | None
    speaker: str = ""
    error: str | None = None
    labels: dict[str, Any] | None = None
    crop: tuple[float, float] | None = None


@dataclass
class SourceOptions:
    """Options sources may use (each ignores what does not apply to it).

    Attributes:
        split: dataset split (HF: default ``train``; Common Voice: which TSV, default ``validated``).
        text_column: HF text column (None: first of sentence/text/transcription/normalized_text).
        audio_column: HF audio column (None: ``audio``, or the first audio feature).
        speaker_column: HF speaker column (None: client_id/speaker_id/speaker when present).
        streaming: stream a hub dataset instead of downloading it whole.
        transcripts: folder source: require same-name ``.txt`` files (None: only if any exist).
        families: NSynth: keep only these ``instrument_family_str`` values (None: all).
        instrument_sources: NSynth: keep only these ``instrument_source_str`` values
            (``acoustic``, ``electronic``, ``synthetic``; None: all).
        pitch_range: NSynth: keep MIDI pitches ``lo <= pitch <= hi`` (None: all).
        qualities: NSynth: keep notes having every one of these ``qualities_str`` (None: all).
        crop_seconds: MAESTRO: length of each random crop (None: the source's default, 4 s).
        crops_per_file: MAESTRO: random crops drawn from each recording.
        seed: MAESTRO: seed of the crop positions (with the file name, so rows may be reordered).
    """

    split: str | None = None
    text_column: str | None = None
    audio_column: str | None = None
    speaker_column: str | None = None
    streaming: bool = False
    transcripts: bool | None = None
    families: tuple[str, ...] | None = None
    instrument_sources: tuple[str, ...] | None = None
    pitch_range: tuple[int, int] | None = None
    qualities: tuple[str, ...] | None = None
    crop_seconds: float | None = None
    crops_per_file: int = 4
    seed: int = 0


class Source(Protocol):
    """A format reader: iterable of items, plus whether its items carry text."""

    name: str
    has_text: bool

    def __iter__(self) -> Iterator[SourceItem]: ...


def read_text_file(path: str | os.PathLike) -> tuple[str | None, str | None]:
    """Read a UTF-8 transcript; returns ``(text, error)`` with exactly one of them set."""
    path = Path(path)
    if not path.is_file():
        return None, f"missing transcript file {path.name}"
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return None, f"transcript is not UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})"
    return " ".join(text.split()), None


def relative_ref(path: Path, root: Path) -> str:
    """A path relative to the source root, with forward slashes (stable across machines)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
