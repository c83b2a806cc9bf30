"""Split a phoneme string into chunks Kokoro can say in one go (at most 510 phonemes each).

Every sentence (ended by ``. ! ? …`` or a line break) becomes its own chunk, which keeps the
first audio quick and lets chunks be batched. A sentence that is too long is cut after phrase
punctuation (``, ; : —``), a phrase that is still too long between words, and only a single word
longer than the limit is cut inside (with a warning). Each chunk carries the pause to insert after
it: longer after a sentence, shorter after a phrase, none inside a cut word or phrase.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

SENTENCE_PAUSE = 0.2  # seconds of silence after a sentence
PHRASE_PAUSE = 0.1  # after a phrase cut out of a long sentence
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")
_PHRASE = re.compile(r"(?<=[,;:—])\s+")


@dataclass
class Chunk:
    """One piece of speech: its phonemes and the silence (seconds) that follows it."""

    phonemes: str
    pause_after: float


def _pack(parts: list[str], limit: int, sep: str = " ") -> list[str]:
    """Greedily join ``parts`` with ``sep`` into strings of at most ``limit`` characters."""
    out: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}{sep}{part}" if current else part
        if len(candidate) <= limit:
            current = candidate
        else:
            if current:
                out.append(current)
            current = part
    if current:
        out.append(current)
    return out


def _split_long(text: str, limit: int) -> list[tuple[str, float]]:
    """Cut one over-long sentence at phrases, then words, then (a single huge word) anywhere."""
    pieces: list[tuple[str, float]] = []
    for phrase in _pack(_PHRASE.split(text), limit):
        if len(phrase) <= limit:
            pieces.append((phrase, PHRASE_PAUSE))
            continue
        words = []
        for word in phrase.split():
            if len(word) > limit:
                warnings.warn(
                    f"a single word of {len(word)} phonemes is longer than {limit}; cutting it",
                    stacklevel=3,
                )
                words += [word[i : i + limit] for i in range(0, len(word), limit)]
            else:
                words.append(word)
        packed = _pack(words, limit)
        pieces += [(p, 0.0) for p in packed[:-1]] + [(packed[-1], PHRASE_PAUSE)]
    return pieces


def split_phonemes(phonemes: str, limit: int = 510) -> list[Chunk]:
    """Split a phoneme string into chunks of at most ``limit`` symbols.

    Args:
        phonemes: output of the G2P (words separated by spaces, punctuation kept).
        limit: most symbols per chunk (Kokoro: 510).

    Returns:
        Chunks in reading order; empty when the string holds nothing but whitespace.
    """
    chunks: list[Chunk] = []
    for sentence in _SENTENCE.split(phonemes):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if len(sentence) <= limit:
            chunks.append(Chunk(sentence, SENTENCE_PAUSE))
            continue
        pieces = _split_long(sentence, limit)
        chunks += [Chunk(p, pause) for p, pause in pieces[:-1]]
        chunks.append(Chunk(pieces[-1][0], SENTENCE_PAUSE))
    return chunks
