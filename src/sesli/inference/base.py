"""What every speaking family shares: the result, the error, joining chunks, the common surface.

A synthesizer of any family (Kokoro, VITS, ...) has ``family``, ``sample_rate``, ``notes`` (how
its weights were found and read), ``synthesize(text, voice=None, speed=1.0, **options)``,
``generate`` (the same, under the Python API's name), ``stream`` (audio piece by piece) and
``check(voice, speed, **options)`` (raises :class:`SynthesisError` before any work is done), and
for the server's planner (:mod:`sesli.inference.plan`) ``speech_phonemes(text)`` (the phonemes the
model can say) and ``render(items)`` (phoneme strings to audio with each symbol's time, batched
where the family can).
``sesli.inference.registry`` picks the family from what ``load`` is given; the CLI, the batch
runner, ``eval`` and the server use only this surface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import soundfile as sf

from sesli.fileio import atomic_path
from sesli.inference.chunking import Chunk


class SynthesisError(ValueError):
    """Input that cannot be synthesised: nothing speakable, a bad voice, a bad speed or option."""


@dataclass
class Synthesis:
    """Audio and what was said."""

    audio: np.ndarray  # (N,) float32 in [-1, 1]
    sample_rate: int = 24000
    phonemes: str = ""
    chunks: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.audio) / self.sample_rate

    def save(self, path: str | Path) -> Path:
        """Write the audio as a 16-bit PCM WAV, atomically (a reader never sees half a file).

        Args:
            path: where to write; the format is WAV whatever the suffix.

        Returns:
            ``path`` as a :class:`~pathlib.Path`.
        """
        path = Path(path)
        with atomic_path(path) as tmp:
            sf.write(tmp, self.audio, self.sample_rate, subtype="PCM_16", format="WAV")
        return path


@dataclass
class RenderItem:
    """One model call's worth of speech: phonemes (as ``speech_phonemes`` returns them) and settings."""

    phonemes: str
    voice: Any = None
    speed: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Rendered:
    """The audio of one :class:`RenderItem` and where each of its phoneme symbols sounds."""

    audio: np.ndarray  # (N,) float32
    times: np.ndarray  # (len(phonemes), 2) start and end of each symbol, seconds from the audio's start


def symbol_times(durations: np.ndarray, positions: np.ndarray, seconds_per_frame: float) -> np.ndarray:
    """Start/end seconds of the tokens at ``positions`` from per-token frame counts ``durations`` (T,)."""
    end = np.cumsum(durations) * seconds_per_frame
    start = end - durations * seconds_per_frame
    return np.stack([start[positions], end[positions]], axis=-1).astype(np.float64)


@runtime_checkable
class Speaker(Protocol):
    """The surface every family's synthesizer offers (see the module docstring)."""

    family: str

    @property
    def sample_rate(self) -> int: ...

    @property
    def notes(self) -> list[str]: ...

    def check(self, voice: Any = None, speed: float = 1.0, **options: Any) -> None: ...

    def synthesize(self, text: str, voice: Any = None, speed: float = 1.0, **options: Any) -> Synthesis: ...


def check_speed(speed: float) -> float:
    """``speed`` as a float, or :class:`SynthesisError` outside 0.1-10."""
    try:
        value = float(speed)
    except (TypeError, ValueError):
        raise SynthesisError(f"speed must be a number, got {speed!r}") from None
    if not 0.1 <= value <= 10.0:
        raise SynthesisError(f"speed must be between 0.1 and 10, got {speed}")
    return value


def join_chunks(
    pieces: list[np.ndarray],
    chunks: list[Chunk],
    sample_rate: int,
    *,
    trailing: bool = False,
    scale: float = 1.0,
) -> np.ndarray:
    """Concatenate pieces with ``scale`` x each chunk's pause after it (after the last only if ``trailing``)."""
    parts = []
    for k, (piece, chunk) in enumerate(zip(pieces, chunks, strict=True)):
        parts.append(piece)
        if trailing or k < len(pieces) - 1:
            parts.append(np.zeros(int(chunk.pause_after * scale * sample_rate), np.float32))
    return np.clip(np.concatenate(parts), -1.0, 1.0).astype(np.float32)


__all__ = [
    "RenderItem",
    "Rendered",
    "Speaker",
    "Synthesis",
    "SynthesisError",
    "check_speed",
    "join_chunks",
    "symbol_times",
]
