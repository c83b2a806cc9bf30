"""Symbol <-> id tables: Kokoro-82M's vocabulary, sesli's own phoneme table and a character table.

Every symbol is one Unicode code point, so a string encodes character by character. Id 0 is the
padding symbol in every table (Kokoro pads with id 0 too; its vocabulary never uses it).

Tables:
    ``kokoro``: Kokoro-82M v1.0's vocabulary, read from the model config that ships with sesli
        (``sesli/models/kokoro-82m-v1.0-config.json``, the one source of truth; it is read as package
        data, so ``sesli.models`` is never imported here).
    ``sesli``: ``_`` (pad), the phrase punctuation, space, and the Turkish phoneme inventory of
        the G2P's contract (the Turkish phoneme spec, with ``c ɟ ŋ ː ˈ``).
    ``chars``: ``_`` (pad), punctuation, space, the 29 Turkish letters, ``â î û`` and ``q w x``.

There is no "unknown" symbol: ``encode(..., errors="strict")`` raises :class:`UnknownSymbolError`
naming what it could not encode, and ``errors="report"`` skips those symbols and returns them in
:class:`Encoded.skipped`, so nothing disappears without a trace.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

PAD = "_"
PUNCTUATION = ",.?!;:—…"
SPACE = " "

# The Turkish phoneme inventory (spec: turkish-phonemes.md). ASCII "g" is never used: ɡ is U+0261.
VOWELS = "aeɯioøuy"
CONSONANTS = "bʤʧdfɡhʒklmnpɾsʃtvjz"
EXTRA = "cɟŋ"  # palatal k, palatal g, velar nasal
LENGTH = "ː"
STRESS = "ˈ"
PHONEMES = VOWELS + CONSONANTS + EXTRA + LENGTH + STRESS

TURKISH_LETTERS = "abcçdefgğhıijklmnoöprsştuüvyz"
LETTERS = TURKISH_LETTERS + "âîû" + "qwx"

_KOKORO_CONFIG = "kokoro-82m-v1.0-config.json"


class UnknownSymbolError(ValueError):
    """Raised by :meth:`SymbolTable.encode` when a string holds symbols the table lacks."""

    def __init__(self, table: str, symbols: Sequence[str], text: str):
        self.table = table
        self.symbols = list(symbols)
        shown = ", ".join(f"{s!r} (U+{ord(s):04X})" for s in self.symbols[:20])
        more = f" and {len(self.symbols) - 20} more" if len(self.symbols) > 20 else ""
        snippet = text if len(text) <= 60 else text[:57] + "..."
        super().__init__(f"symbol table {table!r} has no id for {shown}{more} in {snippet!r}")


@dataclass
class Encoded:
    """Result of ``encode(..., errors="report")``.

    Attributes:
        ids: the ids of the symbols the table knows, in order.
        skipped: the symbols it skipped (each distinct symbol once, in order of appearance).
    """

    ids: list[int]
    skipped: list[str] = field(default_factory=list)


class SymbolTable:
    """A one-to-one map between single-code-point symbols and integer ids.

    Args:
        name: the table's name (shown in errors).
        mapping: symbol -> id. Ids need not be contiguous (Kokoro's are not).
        pad: the padding symbol, whose id is ``pad_id``.
    """

    def __init__(self, name: str, mapping: dict[str, int], pad: str = PAD, pad_id: int = 0):
        bad = [s for s in mapping if len(s) != 1]
        if bad:
            raise ValueError(f"symbol table {name!r}: symbols must be single code points, got {bad!r}")
        self.name = name
        self._ids = dict(mapping)
        self._ids.setdefault(pad, pad_id)
        if self._ids[pad] != pad_id:
            raise ValueError(f"symbol table {name!r}: pad {pad!r} must have id {pad_id}")
        self._symbols = {i: s for s, i in self._ids.items()}
        if len(self._symbols) != len(self._ids):
            raise ValueError(f"symbol table {name!r}: two symbols share an id")
        self.pad = pad
        self.pad_id = pad_id

    @property
    def symbols(self) -> list[str]:
        """All symbols, ordered by id (the pad first)."""
        return [self._symbols[i] for i in sorted(self._symbols)]

    @property
    def vocab_size(self) -> int:
        """One more than the largest id (the embedding size a model needs)."""
        return max(self._symbols) + 1

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._ids

    def to_dict(self) -> dict[str, int]:
        """A copy of symbol -> id (e.g. for an artifact's JSON sidecar)."""
        return dict(self._ids)

    def encode(self, text: str, errors: Literal["strict", "report"] = "strict") -> list[int] | Encoded:
        """Encode ``text`` symbol by symbol.

        Args:
            text: phonemes (or characters for the ``chars`` table).
            errors: ``"strict"`` returns ``list[int]`` and raises :class:`UnknownSymbolError`
                listing every unknown symbol; ``"report"`` returns an :class:`Encoded` whose
                ``skipped`` lists the unknown symbols it left out.
        """
        if errors not in ("strict", "report"):
            raise ValueError(f"errors must be 'strict' or 'report', got {errors!r}")
        get = self._ids.get
        ids = [get(ch, -1) for ch in text]
        if -1 not in ids:
            return ids if errors == "strict" else Encoded(ids=ids)
        unknown = list(dict.fromkeys(ch for ch in text if ch not in self._ids))
        if errors == "strict":
            raise UnknownSymbolError(self.name, unknown, text)
        return Encoded(ids=[i for i in ids if i >= 0], skipped=unknown)

    def decode(self, ids: Iterable[int], *, keep_pad: bool = False) -> str:
        """Ids back to a string; pad ids are dropped unless ``keep_pad``.

        Raises:
            ValueError: an id the table does not have.
        """
        out = []
        for i in ids:
            i = int(i)
            if i == self.pad_id and not keep_pad:
                continue
            try:
                out.append(self._symbols[i])
            except KeyError:
                raise ValueError(f"symbol table {self.name!r} has no symbol with id {i}") from None
        return "".join(out)

    def __repr__(self) -> str:
        return f"SymbolTable({self.name!r}, {len(self)} symbols)"


def _load_kokoro_vocab() -> dict[str, int]:
    path = resources.files("sesli") / "models" / _KOKORO_CONFIG
    vocab = json.loads(path.read_text(encoding="utf-8"))["vocab"]
    return {str(k): int(v) for k, v in vocab.items()}


KOKORO_VOCAB: dict[str, int] = _load_kokoro_vocab()
"""Kokoro-82M v1.0's symbol -> id map (without its pad, id 0)."""

SESLI_SYMBOLS: tuple[str, ...] = (PAD, *PUNCTUATION, SPACE, *PHONEMES)
"""sesli's phoneme table, in id order (the pad ``_`` is id 0)."""

CHAR_SYMBOLS: tuple[str, ...] = (PAD, *PUNCTUATION, SPACE, *LETTERS)
"""The character table, in id order (the pad ``_`` is id 0)."""

TABLE_NAMES = ("kokoro", "sesli", "chars")


@cache
def get_table(name: Literal["kokoro", "sesli", "chars"]) -> SymbolTable:
    """The symbol table called ``name`` (``kokoro``, ``sesli`` or ``chars``)."""
    if name == "kokoro":
        # Kokoro's pad is "$" with id 0; "_" is not in its vocabulary, so "$" stands for the pad.
        return SymbolTable("kokoro", KOKORO_VOCAB, pad="$", pad_id=0)
    if name == "sesli":
        return SymbolTable("sesli", {s: i for i, s in enumerate(SESLI_SYMBOLS)})
    if name == "chars":
        return SymbolTable("chars", {s: i for i, s in enumerate(CHAR_SYMBOLS)})
    raise ValueError(f"unknown symbol table {name!r}; choose one of {', '.join(TABLE_NAMES)}")
