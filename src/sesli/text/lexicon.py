"""Pronunciation lexicons: the TSV files sesli ships (``sesli/text/lexicons/*.tsv``) and user files.

Format (UTF-8, one entry per line, ``#`` starts a comment, blank lines are ignored)::

    word<TAB>value

``word`` is written in ordinary Turkish spelling (it is lower-cased the Turkish way on loading, so
``İstanbul`` and ``istanbul`` are the same key). A key of two words separated by one space is a
phrase (``ne zaman``); a phrase's value must be phonemes. ``value`` is one of:

* a whole number ``N``: the stressed syllable, counted from 1 at the start of the word (``-1`` is
  the last syllable, ``-2`` the one before), one syllable per written vowel. The G2P reads the
  sounds by its rules.
* ``sezer``: the stress of Turkish place names (Sezer 1983): the antepenultimate syllable when it is
  heavy and the penultimate is light, otherwise the penultimate.
* phonemes: the full pronunciation in sesli's inventory, with at most one ``ˈ`` per word
  (``hâlâ<TAB>ˈhaːlaː``). Nothing is derived from the spelling.
* ``=spelling``: read the word as if written so (``hikaye<TAB>=hikâye``: the circumflex that
  everyday spelling leaves out), also under suffixes (``hikayeler``).

Whole-number and ``sezer`` entries also hold for the word with Turkish suffixes
(``lokanta`` -> ``lokantada``) and before an apostrophe (``Ankara'ya``). Later files override
earlier ones, so a user lexicon overrides the shipped lists.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sesli.text.symbols import PHONEMES, STRESS

SHIPPED = ("places.tsv", "adverbs.tsv", "questions.tsv", "loans.tsv", "exceptions.tsv", "circumflex.tsv")
_LETTERS = set("abcçdefgğhıijklmnoöprsştuüvyzâîûqwx")
_PHONEME_SET = set(PHONEMES)


class LexiconError(ValueError):
    """A lexicon file that cannot be read: the message names the file and the line."""


@dataclass(frozen=True)
class Entry:
    """One lexicon value: exactly one of ``stress`` (1-based, negative from the end), ``sezer``,
    ``phonemes`` or ``respell`` is set."""

    stress: int | None = None
    sezer: bool = False
    phonemes: str | None = None
    respell: str | None = None


def lower_tr(s: str) -> str:
    """Turkish lower case (``I``->``ı``, ``İ``->``i``) of NFC text, without importing the normaliser."""
    s = unicodedata.normalize("NFC", s)
    return s.replace("I", "ı").replace("İ", "i").lower()


def parse_value(value: str, *, phrase: bool = False) -> Entry:
    """Parse a lexicon value (see the module docstring); raises ``ValueError`` saying why."""
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise ValueError("empty value")
    if value.lower() == "sezer" and not phrase:
        return Entry(sezer=True)
    if value.startswith("=") and not phrase:
        spelling = lower_tr(value[1:])
        if not spelling or not set(spelling) <= _LETTERS:
            raise ValueError(f"a respelling must be one word of Turkish letters, got {value[1:]!r}")
        return Entry(respell=spelling)
    if value.lstrip("-").isdigit() and not phrase:
        n = int(value)
        if n == 0:
            raise ValueError("stress position 0: count syllables from 1 (or -1 for the last)")
        return Entry(stress=n)
    words = value.split(" ")
    if phrase != (len(words) > 1):
        raise ValueError(
            "a phrase needs phonemes for each of its words"
            if phrase
            else "phonemes of one word hold no space"
        )
    for w in words:
        bad = sorted({ch for ch in w if ch not in _PHONEME_SET})
        if bad or not w:
            raise ValueError(f"not a number, 'sezer' or phonemes of sesli's inventory (bad symbols: {bad})")
        if w.count(STRESS) > 1:
            raise ValueError(f"{w!r} has more than one stress mark")
    return Entry(phonemes=value)


class Lexicon:
    """Word -> :class:`Entry`, plus two-word phrases -> phonemes."""

    def __init__(self) -> None:
        self.words: dict[str, Entry] = {}
        self.phrases: dict[tuple[str, str], str] = {}

    def __len__(self) -> int:
        return len(self.words) + len(self.phrases)

    def __contains__(self, word: object) -> bool:
        return word in self.words

    def get(self, word: str) -> Entry | None:
        return self.words.get(word)

    def add(self, key: str, entry: Entry) -> None:
        parts = key.split(" ")
        if len(parts) == 2:
            assert entry.phonemes is not None
            self.phrases[(parts[0], parts[1])] = entry.phonemes
        else:
            self.words[key] = entry

    def read(self, lines: Iterable[str], source: str) -> Lexicon:
        """Add the entries of a TSV text; errors name ``source`` and the line number."""
        for lineno, raw in enumerate(lines, start=1):
            line = raw.rstrip("\r\n")
            if lineno == 1:
                line = line.lstrip("\ufeff")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                raise LexiconError(
                    f"{source}:{lineno}: expected 'word<TAB>value' (2 tab-separated columns), "
                    f"got {len(cols)}: {line!r}"
                )
            key = " ".join(lower_tr(cols[0]).split())
            parts = key.split(" ")
            if not key or len(parts) > 2 or any(not set(p) <= _LETTERS for p in parts):
                raise LexiconError(
                    f"{source}:{lineno}: the word {cols[0]!r} must be one word (or two for a phrase) "
                    "of Turkish letters"
                )
            try:
                entry = parse_value(cols[1], phrase=len(parts) == 2)
            except ValueError as err:
                raise LexiconError(
                    f"{source}:{lineno}: bad value {cols[1]!r} for {cols[0]!r}: {err}"
                ) from None
            self.add(key, entry)
        return self

    def read_file(self, path: str | Path) -> Lexicon:
        """Add the entries of a user lexicon file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise LexiconError(f"lexicon file not found: {path}") from None
        except UnicodeDecodeError as err:
            raise LexiconError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
        return self.read(text.splitlines(), str(path))


def load_lexicon(user: str | Path | None = None) -> Lexicon:
    """The shipped lexicons, then ``user`` (whose entries override them)."""
    lex = Lexicon()
    folder = resources.files("sesli.text") / "lexicons"
    for name in SHIPPED:
        lex.read(
            folder.joinpath(name).read_text(encoding="utf-8").splitlines(), f"sesli/text/lexicons/{name}"
        )
    if user is not None:
        lex.read_file(user)
    return lex
