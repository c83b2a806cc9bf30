"""Where Turkish word stress falls: the rules the G2P applies to a spelled (lower-case) word.

Positions are vowel indices: 0 is the first written vowel of the word. Turkish stress is final by
default; a word is stressed earlier when (Göksel & Kerslake 2005, ch. 4; Inkelas & Orgun 2003):

* it has lexical stress (a lexicon entry, kept under suffixes: ``lokantada``);
* it holds a pre-stressing suffix, which stresses the syllable before it: negative ``-mA``
  (``gelmedi``), copula ``-DIr`` (``güzeldir``), ``-(y)ken`` after a tense (``gelirken``);
* it holds the progressive ``-(I)yor``, stressed on its first syllable (``geliyor``).

The leftmost of these wins (``gelmiyor``: the negative before the progressive). The suffix
recognisers below are deliberately narrow: they demand a stem with a vowel and a known ending
after the suffix, so ``gemi``, ``elma``, ``gelmek`` or ``dır`` are left alone; words that still fool
them (``satır``, ``kültür``) are listed in ``lexicons/exceptions.tsv``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

VOWEL_LETTERS = frozenset("aeıioöuüâîû")
MAX_MORPH_LEN = 40  # longer "words" are not analysed (keeps the G2P linear on junk input)

_I = "[ıiuü]"
_A = "[ae]"

# Suffixes after a stem (nominal and verbal person/case/copula endings), harmony left loose.
# A word is "stem + suffixes" when the rest splits into these units (see ``is_suffix_chain``).
_UNITS = [
    f"l{_A}r",
    f"{_I}?m",
    f"{_I}?n",
    f"{_I}?m{_I}z",
    f"{_I}?n{_I}z",
    f"s{_I}",
    f"s{_I}n",
    f"s{_I}n{_I}z",
    f"y?{_I}",
    f"n{_I}",
    f"n?{_I}n",
    f"y{_I}m",
    f"y{_I}z",
    f"{_I}z",
    f"y?{_A}",
    f"n{_A}",
    f"n?[dt]{_A}",
    f"n?[dt]{_A}n",
    f"y?l{_A}",
    "k[ıi]",
    f"[cç]{_A}",
    f"[dt]{_I}r",
    f"y?[dt]{_I}",
    f"y?m{_I}ş",
    f"y?s{_A}",
    f"y?k{_A}n",
    f"l{_I}",
    f"l{_I}[kğ]",
    f"s{_I}z",
    "k",
]
_UNIT_RES = [re.compile(u) for u in _UNITS]

# Endings that may follow the negative -mA (the tense/mood part; person endings come from _UNITS).
_AFTER_NEG = re.compile(
    rf"(?:d{_I}[kğ]?|m{_I}ş|y{_A}c{_A}[kğ]|s{_A}|y{_A}n|y{_I}p|d{_A}n|y{_I}n|y{_A}l{_I}m|"
    rf"m{_A}l{_I}|y{_I}m|m{_A}k|y{_I}ş)"
)
_NEG = re.compile(r"m[ae]")
_NEG_PROG = re.compile(rf"m{_I}yor")
_PROG = re.compile(r"(?<=[ıiuüâîû])yor")
_COPULA = re.compile(rf"[dt]{_I}r(?:l{_A}r)?$")
_KEN = re.compile(rf"(?:{_I}r|{_A}r|z|yor|m{_I}ş|{_A}c{_A}k)(ken)$")

_PARTICLE_MI = re.compile(
    rf"m{_I}(?:y{_I}m|s{_I}n|y{_I}z|s{_I}n{_I}z|l{_A}r|d{_I}r|yd{_I}(?:m|n|k|n{_I}z|l{_A}r)?|"
    rf"ym{_I}ş(?:{_I}m|s{_I}n|{_I}z|s{_I}n{_I}z)?|ys{_A})?"
)
PARTICLES = frozenset({"ve", "de", "da", "ki"})
_NOT_PARTICLES = frozenset({"müdür", "mumlar"})


def vowel_index_before(word: str, pos: int) -> int | None:
    """Index of the last vowel of ``word[:pos]`` (None when there is none)."""
    n = sum(1 for ch in word[:pos] if ch in VOWEL_LETTERS)
    return n - 1 if n else None


def is_particle(word: str) -> bool:
    """ve, de/da, ki and the question particle mi/mı/mu/mü with its endings (``misin``, ``mıydı``)."""
    if word in PARTICLES:
        return True
    return len(word) <= 10 and word not in _NOT_PARTICLES and _PARTICLE_MI.fullmatch(word) is not None


@lru_cache(maxsize=65536)
def is_suffix_chain(rest: str) -> bool:
    """True when ``rest`` splits into suffix units (the empty string is a chain)."""
    if len(rest) > MAX_MORPH_LEN:
        return False
    reach = [False] * (len(rest) + 1)
    reach[0] = True
    for i in range(len(rest)):
        if not reach[i]:
            continue
        for unit in _UNIT_RES:
            m = unit.match(rest, i)
            if m and m.end() > i:
                reach[m.end()] = True
    return reach[len(rest)]


def _negative(word: str) -> int | None:
    """Start of a negative -mA (or -mI before -yor) followed by a known ending, leftmost first."""
    for m in _NEG_PROG.finditer(word):
        if vowel_index_before(word, m.start()) is not None and is_suffix_chain(word[m.end() :]):
            return m.start()
    for m in _NEG.finditer(word):
        if vowel_index_before(word, m.start()) is None:
            continue
        tail = _AFTER_NEG.match(word, m.end())
        if tail is not None and is_suffix_chain(word[tail.end() :]):
            return m.start()
    return None


def prestress(word: str) -> int | None:
    """Vowel index stressed by a suffix of ``word`` (negative, copula, -ken, -Iyor); None if none."""
    if len(word) > MAX_MORPH_LEN:
        return None
    found: list[int] = []
    if "m" in word:
        neg = _negative(word)
        if neg is not None:
            found.append(vowel_index_before(word, neg))  # type: ignore[arg-type]
    if "yor" in word:
        m = _PROG.search(word)
        if m and is_suffix_chain(word[m.end() :]):
            found.append(vowel_index_before(word, m.start()))  # type: ignore[arg-type]
    if word.endswith("r"):
        m = _COPULA.search(word)
        if m and m.start() >= 2:
            v = vowel_index_before(word, m.start())
            if v is not None:
                found.append(v)
    if word.endswith("ken"):
        m = _KEN.search(word)
        if m:
            v = vowel_index_before(word, m.start(1))
            if v is not None:
                found.append(v)
    return min(found) if found else None


def sezer(heavy: Sequence[bool]) -> int:
    """Sezer stress over syllable weights (True = heavy): antepenult if heavy before a light
    penult, else the penult; the only syllable of a one-syllable word."""
    n = len(heavy)
    if n <= 1:
        return 0
    if n >= 3 and heavy[n - 3] and not heavy[n - 2]:
        return n - 3
    return n - 2
