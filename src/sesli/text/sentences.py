"""Sentence, clause and word spans over the user's original Turkish text, with exact offsets.

The streaming server speaks sentence by sentence (the first maybe in two pieces, see
:func:`first_chunk`) and reports word timestamps, which must point into the text the user sent,
so spans are cut from the raw input: ``text[span.start:span.end] == span.text``, no surrounding
whitespace, in order, no overlap, every non-space character of the input in some span. A span
may hold no letter at all (a line of ``***``): callers skip what they cannot say.

A sentence ends:

* at a line break (one or more: ``\\n``, ``\\r\\n`` and the other :meth:`str.splitlines` breaks);
* after a run of ``. ! ? …`` (``?!``, ``...``) and any closing quotes or brackets right after
  it, when whitespace and then an upper-case letter, a digit or an opening quote or bracket
  follow. Before a lower-case word nothing ends ("3. madde", "vb. meyveler", ``Ali "Geldim." dedi``).

A lone ``.`` before such a start still does not end a sentence after:

* a title (:data:`~sesli.text.abbreviations.TITLES`: "Dr. Ahmet", "Prof. Dr. Ayşe", "bkz.") or
  any period inside a longer abbreviation ("Dr. Öğr. Üyesi", "Tic. Ltd. Şti.");
* a trailing abbreviation (:data:`~sesli.text.abbreviations.TRAILING`: "vb.", "vs.", "yy.") unless
  the next word starts upper-case and is not itself an abbreviation ("Gül Sok. Mah.");
* a :data:`~sesli.text.abbreviations.BEFORE_NUMBER` abbreviation before a digit ("s. 12");
* single capital initials ("A. Hamdi Tanpınar", "M. K. Atatürk");
* an ordinal before one of :data:`~sesli.text.abbreviations.ORDINAL_HEADS` ("2. Dünya Savaşı").

Numbers never split: "3,5", "1.000.000", "14.30" and "29.10.1923" have no space after a period.
Upper case is :meth:`str.isupper`, which holds for Turkish "İ" and "I".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sesli.text.abbreviations import BEFORE_NUMBER, ORDINAL_HEADS, TITLES, TRAILING
from sesli.text.normalize import turkish_lower, turkish_upper

__all__ = ["Span", "first_chunk", "split_clauses", "split_sentences", "words"]


@dataclass(frozen=True)
class Span:
    """A piece of the input text.

    Attributes:
        start: Offset of the first character in the input string.
        end: Offset after the last character (exclusive): ``text[start:end] == span.text``.
        text: The piece, without surrounding whitespace.
        final: True when the piece ends a sentence, False for a clause or a word inside one.
    """

    start: int
    end: int
    text: str
    final: bool


_OPENERS = "\"'“„«‹‘([{"
_CLOSERS = "\"'”’»›)]}"
# Exactly the characters str.splitlines breaks at, so a span never holds a line break.
_BREAK = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
_TERM = re.compile(r"[.!?…]+[" + re.escape(_CLOSERS) + r"]*(?=\s)")
_CLAUSE = re.compile(r"[,;:—–]+[" + re.escape(_CLOSERS) + r"]*(?=\s)")
_SPACE = re.compile(r"\s*")
_WORD = re.compile(r"\S+")
_NEXT_WORD = re.compile(r"[" + re.escape(_OPENERS) + r"]*(\S*)")
_ALNUM = re.compile(r"[^\W_]")
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+")
_ORDINAL = re.compile(r"(?:\d+|[IVXLCDM]+)\.")
# Not in the normaliser's tables (it has no reading for it); like "örn." it introduces an
# example, which is often capitalised ("ör. Ankara"), so it behaves as a title.
_EXTRA_TITLES = ("ör.",)


def _abbreviation_kinds() -> dict[str, str]:
    """Map each spelling of an abbreviation to "title", "trailing" or "number"."""
    kinds: dict[str, str] = {}
    # Like the normaliser, only trailing ones also match lower-cased: "gen." or "av." are
    # ordinary words that can end a sentence.
    for kind, keys, cases in (
        ("title", (*TITLES, *_EXTRA_TITLES), (turkish_upper,)),
        ("trailing", tuple(TRAILING), (turkish_upper, turkish_lower)),
        ("number", tuple(k for k in BEFORE_NUMBER if k.endswith(".")), ()),
    ):
        for key in keys:
            for spelling in (key, *(case(key[0]) + key[1:] for case in cases)):
                kinds.setdefault(spelling, kind)
    return kinds


_KINDS = _abbreviation_kinds()
_ABBR = re.compile(
    r"(?<![\w.])(?:"
    + "|".join(re.escape(k).replace(r"\ ", r"\s?") for k in sorted(_KINDS, key=len, reverse=True))
    + r")(?!\w)"
)
_KIND_BY_SPELLING = {k.replace(" ", ""): v for k, v in _KINDS.items()}


def _abbreviation_periods(text: str) -> dict[int, str]:
    """Offsets of the periods that belong to an abbreviation, with its kind ("inner" inside)."""
    periods: dict[int, str] = {}
    for m in _ABBR.finditer(text):
        for i, ch in enumerate(m[0], m.start()):
            if ch == ".":
                periods[i] = "inner"
        if m[0].endswith("."):
            periods[m.end() - 1] = _KIND_BY_SPELLING["".join(m[0].split())]
    return periods


def _ends_sentence(text: str, term: re.Match, nxt: int, abbr: dict[int, str]) -> bool:
    """Whether the terminator run ``term``, followed by text at ``nxt``, ends a sentence."""
    ch = text[nxt]
    if not (ch.isupper() or ch.isdigit() or ch in _OPENERS):
        return False
    if term[0] != ".":  # "?!", "...", or a period closed by a quote: always an end
        return True
    dot = term.start()
    kind = abbr.get(dot)
    if kind in ("inner", "title") or (kind == "number" and ch.isdigit()):
        return False
    next_word = _NEXT_WORD.match(text, nxt)[1]
    if kind == "trailing":
        return next_word[:1].isupper() and _ABBR.match(text, nxt) is None
    begin = dot
    while begin > 0 and not text[begin - 1].isspace():
        begin -= 1
    token = text[begin : dot + 1].lstrip(_OPENERS)
    if _INITIALS.fullmatch(token) and token.isupper():
        return False
    head = next_word.split("'")[0].split("’")[0].rstrip(".,;:!?…")
    return not (_ORDINAL.fullmatch(token) and head in ORDINAL_HEADS)


def _span(text: str, start: int, end: int, final: bool, base: int = 0) -> Span | None:
    """The stripped ``text[start:end]`` as a span shifted by ``base``; None when blank."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    begin = base + start + len(piece) - len(piece.lstrip())
    return Span(begin, begin + len(stripped), stripped, final)


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentences with offsets into it (rules in the module docstring).

    Args:
        text: The user's text as sent, not normalised.

    Returns:
        The sentences in order, each with ``final=True``; ``[]`` for blank text.
    """
    abbr = _abbreviation_periods(text)
    cuts: list[int] = []
    line_start = 0
    for line_end in [m.start() for m in _BREAK.finditer(text)] + [len(text)]:
        for term in _TERM.finditer(text, line_start, line_end):
            nxt = _SPACE.match(text, term.end(), line_end).end()
            if nxt < line_end and _ends_sentence(text, term, nxt, abbr):
                cuts.append(term.end())
        cuts.append(line_end)
        line_start = _BREAK.match(text, line_end).end() if line_end < len(text) else line_end
    spans = (_span(text, start, cut, True) for start, cut in zip([0, *cuts[:-1]], cuts, strict=True))
    return [span for span in spans if span is not None]


def _as_span(span_or_text: Span | str) -> Span:
    if isinstance(span_or_text, Span):
        return span_or_text
    return Span(0, len(span_or_text), span_or_text, True)  # unstripped: offsets into the str


def split_clauses(span: Span | str) -> list[Span]:
    """Cut a sentence after clause punctuation (``, ; : — –``) that whitespace follows.

    A comma inside a number ("3,5") or a time ("14:30") has no space after it and never cuts.
    A piece without a letter or digit (a leading "—") is not cut off; it joins its neighbour.

    Args:
        span: A sentence from :func:`split_sentences` (offsets stay into the original text),
            or a plain string (offsets into that string).

    Returns:
        The clauses in order; the last has the sentence's ``final`` (True for a sentence from
        :func:`split_sentences` or a string), the others ``final=False``.
    """
    span = _as_span(span)
    text, clauses, start, checked, speakable = span.text, [], 0, 0, False
    for m in _CLAUSE.finditer(text):
        # look only at the new characters: rescanning from ``start`` is quadratic on ", , , ,"
        speakable = speakable or _ALNUM.search(text, checked, m.end()) is not None
        checked = m.end()
        if speakable:
            clauses.append(_span(text, start, m.end(), False, span.start))
            start, speakable = m.end(), False
    if clauses and not _ALNUM.search(text, start):
        start = clauses.pop().start - span.start  # punctuation-only tail joins the last clause
    last = _span(text, start, len(text), span.final, span.start)
    return clauses + ([last] if last is not None else [])


def words(span_or_text: Span | str) -> list[Span]:
    """Whitespace tokens (punctuation attached) of a span or a string, ``final=False``."""
    span = _as_span(span_or_text)
    return [
        Span(span.start + m.start(), span.start + m.end(), m[0], False) for m in _WORD.finditer(span.text)
    ]


def first_chunk(text: str, *, max_words: int = 8, min_words: int = 3) -> tuple[Span, list[Span]]:
    """Split off a short opening piece of ``text`` to synthesise first.

    First audio must come fast and synthesis time grows with the piece, so a long first sentence
    is cut; a cut at a clause keeps the prosody natural, so it is preferred to a bare word. The
    first piece is (1) the whole first sentence when it has at most ``max_words`` words (it is
    fast already; cutting would only cost prosody), else (2) the sentence up to the first clause
    punctuation after ``min_words`` to ``max_words`` words, else (3) its first
    ``max(min_words, max_words // 2 + 1)`` words. Words are whitespace tokens, so a cut never
    falls inside "3,5" or "14.30".

    Args:
        text: The user's text as sent.
        max_words: Longest first piece, in words.
        min_words: Shortest first clause worth sending alone, in words.

    Returns:
        ``(first, rest)``: ``first.final`` is False when the sentence was cut; ``rest`` holds the
        rest of the first sentence as one span (``final=True``), then the following sentences.

    Raises:
        ValueError: When ``text`` is blank or ``1 <= min_words <= max_words`` does not hold.
    """
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words} and {max_words}")
    sentences = split_sentences(text)
    if not sentences:
        raise ValueError("no text to speak")
    head, following = sentences[0], sentences[1:]
    tokens = words(head)
    if len(tokens) <= max_words:
        return head, following
    count_at = {token.end: i + 1 for i, token in enumerate(tokens)}  # a clause ends at a word end
    cuts = [c.end for c in split_clauses(head)[:-1] if min_words <= count_at[c.end] <= max_words]
    cut = cuts[0] if cuts else tokens[max(min_words, max_words // 2 + 1) - 1].end
    first = _span(head.text, 0, cut - head.start, False, head.start)
    rest = _span(head.text, cut - head.start, len(head.text), True, head.start)
    return first, [rest, *following]
