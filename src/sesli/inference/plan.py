"""Plan a request's speech before any audio is made: chunks for streaming, and where each user word is.

The server validates a request completely (text normalised, G2P done, voice and speed checked)
before it sends a header, then renders the plan chunk by chunk. The plan is family-agnostic: it
needs only a synthesizer's ``check``, ``speech_phonemes``, ``max_phonemes`` and ``render``.

Decisions:

* **Chunks.** The first chunk is the opening clause of the first sentence
  (:func:`sesli.text.sentences.first_chunk`), capped at ``first_phonemes`` symbols (cut between
  words), so first audio comes after a second or so of speech is made, not a paragraph. Later chunks pack whole sentences up to a growing budget of phoneme
  symbols (``growth``, then the model's limit): while chunk k plays, chunk k + 1 (about twice as
  long) is made, which a model faster than real time finishes in time. A sentence longer than the
  model's limit is cut after a clause mark, else between words.
* **Words carry the user's text.** Timestamps name the user's word ("3,5", "Dr.") and its offsets
  in the request, not the normalised words ("üç virgül beş"). The sentence is phonemized whole
  (context matters to stress and to abbreviations), and its phoneme words are handed back to the
  user's whitespace tokens by how many spoken words each token yields when phonemized alone. If
  the counts disagree (a normaliser rule that spans tokens), the tokens' own phonemes are used,
  which keeps the timestamps right at a small cost in context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sesli.inference.base import Rendered, RenderItem, SynthesisError
from sesli.inference.chunking import PHRASE_PAUSE, SENTENCE_PAUSE

GROWTH = (120, 240)  # phoneme budgets of the 2nd and 3rd chunk; later chunks take the model's limit
FIRST_WORDS = 8  # the first chunk has at most this many words (see sentences.first_chunk)
FIRST_PHONEMES = 24  # ... and at most this many phoneme symbols (about 2 s of Kokoro speech)
WORD_PAUSE = 0.05  # seconds after a chunk cut between words (no punctuation there)
_TOKEN = re.compile(r"\S+")
_CLAUSE_END = (",", ";", ":", "—", "–")


@dataclass
class Word:
    """A user's word in a chunk: its text and offsets in the request, its symbols in the chunk."""

    text: str
    start: int  # offset of the word in the request text
    end: int
    first: int  # its phoneme symbols are chunk.phonemes[first:last]
    last: int


@dataclass
class PlanChunk:
    """One model call: phonemes, the user's words in it, the silence after it."""

    index: int
    phonemes: str
    words: list[Word]
    pause_after: float


@dataclass
class Plan:
    """A validated request, ready to render chunk by chunk."""

    text: str
    chunks: list[PlanChunk]
    voice: Any = None
    speed: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def item(self, chunk: PlanChunk) -> RenderItem:
        """The render call for ``chunk``."""
        return RenderItem(chunk.phonemes, self.voice, self.speed, dict(self.options))


@dataclass
class WordTiming:
    """When a user's word sounds, in seconds from the start of the response audio."""

    word: str
    start_time: float
    end_time: float
    char_start: int
    char_end: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "start_time": round(self.start_time, 3),
            "end_time": round(self.end_time, 3),
            "char_start": self.char_start,
            "char_end": self.char_end,
        }


@dataclass
class Piece:
    """A rendered chunk: audio (its pause included) and its words, timed from the piece's start."""

    index: int
    audio: np.ndarray  # (N,) float32
    words: list[WordTiming]
    last: bool

    def shifted(self, seconds: float) -> list[WordTiming]:
        """The words timed from ``seconds`` earlier (the response's start)."""
        return [
            WordTiming(w.word, w.start_time + seconds, w.end_time + seconds, w.char_start, w.char_end)
            for w in self.words
        ]


def _spoken(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


def unit_words(
    speaker: Any, text: str, start: int, end: int
) -> tuple[list[tuple[int, int, list[str]]], list[str]]:
    """The user's tokens in ``text[start:end]`` with their phoneme words, and the skipped symbols.

    Returns:
        ``(token_start, token_end, phoneme_words)`` per token (punctuation-only tokens included,
        with the phoneme words that carry it), and the unknown symbols.
    """
    span = text[start:end]
    tokens = [(start + m.start(), start + m.end()) for m in _TOKEN.finditer(span)]
    whole, unknown = speaker.speech_phonemes(span)
    said = whole.split()
    alone = [speaker.speech_phonemes(text[a:b])[0].split() for a, b in tokens]
    counts = [sum(map(_spoken, words)) for words in alone]
    if sum(counts) != sum(map(_spoken, said)):
        return [(a, b, words) for (a, b), words in zip(tokens, alone, strict=True)], unknown
    owned: list[list[str]] = [[] for _ in tokens]
    t, used = 0, 0
    for word in said:
        if _spoken(word):
            while t < len(tokens) and used >= counts[t]:
                t, used = t + 1, 0
            used += 1
        owned[min(t, len(tokens) - 1)].append(word)
    return [(a, b, words) for (a, b), words in zip(tokens, owned, strict=True)], unknown


def _size(tokens: list) -> int:
    """Symbols of the tokens' phonemes joined by single spaces."""
    return sum(len(" ".join(words)) + 1 for _, _, words in tokens if words) - 1


def _cut(tokens: list, limit: int) -> int:
    """How many leading tokens to cut off: up to the last clause mark that fits, else all that fit."""
    size, fit, clause = -1, 0, 0
    for k, (_, _, words) in enumerate(tokens):
        size += len(" ".join(words)) + 1 if words else 0
        if size > limit:
            break
        fit = k + 1
        if words and words[-1].endswith(_CLAUSE_END):
            clause = k + 1
    return max(clause or fit, 1)


def _pieces(units: list[tuple[list, bool]], limit: int) -> list[tuple[list, bool]]:
    """Cut units whose phonemes exceed ``limit`` symbols (after a clause mark, else between words)."""
    out = []
    for tokens, final in units:
        while _size(tokens) > limit and len(tokens) > 1:
            cut = _cut(tokens, limit)
            out.append((tokens[:cut], False))
            tokens = tokens[cut:]
        if _size(tokens) > limit:
            raise SynthesisError(f"a word of {_size(tokens)} phonemes is longer than the model's {limit}")
        out.append((tokens, final))
    return out


def _chunk(index: int, text: str, units: list[tuple[list, bool]], last: bool) -> PlanChunk:
    symbols, words = [], []
    pos = 0
    for tokens, _ in units:
        for a, b, phoneme_words in tokens:
            if not phoneme_words:
                continue
            piece = " ".join(phoneme_words)
            first = pos + (1 if symbols else 0)
            symbols.append(piece)
            pos = first + len(piece)
            if any(map(_spoken, phoneme_words)):
                words.append(Word(text[a:b], a, b, first, pos))
    tail = next((w for _, _, w in reversed(units[-1][0]) if w), [""])[-1]
    if last:
        pause = 0.0
    elif units[-1][1]:
        pause = SENTENCE_PAUSE
    else:
        pause = PHRASE_PAUSE if tail.endswith(_CLAUSE_END) else WORD_PAUSE
    return PlanChunk(index, " ".join(symbols), words, pause)


def plan_speech(
    speaker: Any,
    text: str,
    voice: Any = None,
    speed: float = 1.0,
    *,
    first_words: int = FIRST_WORDS,
    first_phonemes: int = FIRST_PHONEMES,
    growth: tuple[int, ...] = GROWTH,
    **options: Any,
) -> Plan:
    """Validate a request and plan its chunks (see the module docstring).

    Args:
        speaker: a synthesizer (any family).
        text: the user's text.
        voice: a voice the synthesizer accepts (a name, a pack tensor, a speaker).
        speed: speaking rate.
        first_words: most words in the first chunk (0: the whole first sentence).
        first_phonemes: most phoneme symbols in the first chunk, cut between words (0: no cap);
            the first chunk's render time is the time to first audio.
        growth: phoneme budgets of the chunks after the first.
        **options: family options (VITS: noise_scale, ...).

    Raises:
        SynthesisError: empty or unspeakable text, a bad voice, speed or option.
    """
    from sesli.text.sentences import first_chunk, split_sentences

    if not isinstance(text, str) or not text.strip():
        raise SynthesisError("nothing to say: the text is empty")
    speaker.check(voice, speed, **options)
    if first_words > 0:
        head, rest = first_chunk(text, max_words=first_words)
        spans = [head, *rest]
    else:
        spans = split_sentences(text)
    units, unknown = [], []
    for span in spans:
        tokens, skipped = unit_words(speaker, text, span.start, span.end)
        unknown += [ch for ch in skipped if ch not in unknown]
        if any(_spoken(w) for _, _, words in tokens for w in words):
            units.append((tokens, span.final))
    if not units:
        what = f"unknown characters {' '.join(unknown)}" if unknown else "no letters, only punctuation"
        raise SynthesisError(f"nothing to say: {text[:40]!r} has {what}")
    limit = int(speaker.max_phonemes)
    units = _pieces(units, limit)
    head, final = units[0]
    if first_phonemes > 0 and _size(head) > first_phonemes and len(head) > 1:
        cut = _cut(head, first_phonemes)
        units[:1] = [(head[:cut], False), (head[cut:], final)]
    groups: list[list] = [[units[0]]]
    for unit in units[1:]:
        k = len(groups) - 2  # index of the open group among the chunks after the first
        budget = min(growth[k] if k < len(growth) else limit, limit)
        size = sum(_size(u[0]) + 1 for u in groups[-1]) + _size(unit[0])
        if len(groups) > 1 and size <= budget:
            groups[-1].append(unit)
        else:
            groups.append([unit])
    chunks = [_chunk(k, text, group, k == len(groups) - 1) for k, group in enumerate(groups)]
    return Plan(text, chunks, voice, float(speed), dict(options), unknown)


def make_piece(chunk: PlanChunk, rendered: Rendered, sample_rate: int, last: bool) -> Piece:
    """A rendered chunk with its pause appended and its words timed."""
    pause = np.zeros(int(round(chunk.pause_after * sample_rate)), np.float32)
    audio = np.clip(np.concatenate([rendered.audio.astype(np.float32), pause]), -1.0, 1.0)
    words = [
        WordTiming(
            w.text, float(rendered.times[w.first, 0]), float(rendered.times[w.last - 1, 1]), w.start, w.end
        )
        for w in chunk.words
    ]
    return Piece(chunk.index, audio, words, last)


__all__ = [
    "GROWTH",
    "Piece",
    "Plan",
    "PlanChunk",
    "Word",
    "WordTiming",
    "make_piece",
    "plan_speech",
    "unit_words",
]
