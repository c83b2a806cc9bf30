"""Rule-based Turkish grapheme-to-phoneme conversion (the contract: the Turkish phoneme spec).

``phonemize(text)`` normalises the text (``sesli.text.normalize``: numbers, dates, Turkish casing),
splits it into words and phrase punctuation, and reads each word:

1. a lexicon entry with phonemes is taken as it is (shipped lists, then the user's);
2. otherwise the letters are read by rule (:func:`segments`): palatal ``c ɟ`` for k, g next to front
   vowels or before â, û; the circumflex; ``ğ``; ``ŋ`` before k, g; final devoicing of b, d, c;
3. stress (:mod:`sesli.text.stress`) goes before one vowel: a lexicon position (also under
   suffixes and apostrophes), a pre-stressing suffix, or the last syllable. The particles ve,
   de/da, ki and mi (with its endings) stay unstressed.

Letters outside the Turkish alphabet are read the Turkish way (``q``->k, ``w``->v, ``x``->ks,
accented Latin letters by their base letter); a word without vowels (an abbreviation) is spelled
with Turkish letter names. Anything else that cannot be read (digits the normaliser left, emoji,
other scripts, symbols) is left out of the phonemes and reported in :attr:`G2PResult.unknown`.

Everything is linear in the input length: a word's pronunciation is cached, and the suffix
analysis only looks at words of at most ``stress.MAX_MORPH_LEN`` letters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from sesli.text import stress as st
from sesli.text.lexicon import Entry, Lexicon, load_lexicon, lower_tr

try:  # H1's normaliser; the G2P still works (casing + NFC only) without it.
    from sesli.text.normalize import normalize as _normalize
except ImportError:  # pragma: no cover - only while the normaliser is missing
    _normalize = None

__all__ = ["G2P", "G2PResult", "characters", "g2p", "phonemize", "segments"]

VOWELS = frozenset("aeıioöuüâîû")
FRONT = frozenset("eiöüî")
PALATALISING = FRONT | frozenset("âû")  # a k or g before these is palatal
_VOWEL = {"a": "a", "e": "e", "ı": "ɯ", "i": "i", "o": "o", "ö": "ø", "u": "u", "ü": "y"}
_VOWEL.update({"â": "a", "î": "i", "û": "u"})
_CONS = {"b": "b", "c": "ʤ", "ç": "ʧ", "d": "d", "f": "f", "g": "ɡ", "h": "h", "j": "ʒ", "k": "k"}
_CONS.update({"l": "l", "m": "m", "n": "n", "p": "p", "r": "ɾ", "s": "s", "ş": "ʃ", "t": "t", "v": "v"})
_CONS.update({"y": "j", "z": "z"})
_DEVOICE = {"b": "p", "d": "t", "c": "ʧ"}
LETTER_NAMES = {
    "b": "be", "c": "ce", "ç": "çe", "d": "de", "f": "fe", "g": "ge", "ğ": "yumuşakge", "h": "he",
    "j": "je", "k": "ke", "l": "le", "m": "me", "n": "ne", "p": "pe", "r": "re", "s": "se", "ş": "şe",
    "t": "te", "v": "ve", "y": "ye", "z": "ze", "q": "kü", "w": "ve", "x": "iks",
}  # fmt: skip
_FOREIGN = str.maketrans({"q": "k", "w": "v", "x": "ks"})
TURKISH_LETTERS = frozenset("abcçdefgğhıijklmnoöprsştuüvyzâîû") | frozenset("qwx")
PHRASE_PUNCT = ",.?!;:—…"
# Read as a word boundary and nothing more (not "unknown"): quotes, brackets, hyphens, slashes.
SILENT = frozenset("\"'’‘‛“”„‟«»‹›`´()[]{}<>/\\-‐‑_*~·•|")
_SPECIAL_LATIN = {"ß": "ss", "æ": "ae", "œ": "ö", "ø": "ö", "ł": "l", "đ": "d", "ð": "d", "þ": "t"}

_LETTER_CLASS = "a-zçğıöşüâîû"
_TOKEN = re.compile(
    rf"[{_LETTER_CLASS}]+(?:['’][{_LETTER_CLASS}]+)*|[{re.escape(PHRASE_PUNCT)}]|[^\s{_LETTER_CLASS}]"
)
_ELLIPSIS = re.compile(r"\.{3,}")
_MAX_CACHE = 200_000
MAX_SPELLED = 12  # a longer word without vowels is not an abbreviation: its consonants are read as they are


class _Latin(dict):
    """ord(char) -> its spelling in Turkish letters (for ``str.translate``); computed once per char."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = ch
        if ch in TURKISH_LETTERS:
            out = ch
        elif ch in _SPECIAL_LATIN:
            out = _SPECIAL_LATIN[ch]
        elif ch in "–‒―":
            out = "—"
        elif ch.isalpha():
            parts = unicodedata.normalize("NFD", ch)
            if "a" <= parts[0] <= "z" and all(unicodedata.combining(p) for p in parts[1:]):
                out = parts[0]
        self[code] = out
        return out


_LATIN = _Latin()


@dataclass
class G2PResult:
    """What :func:`phonemize` read.

    Attributes:
        text: the input.
        normalized: the normaliser's output (the words that were read).
        phonemes: the phonemes (or letters in ``chars`` mode), words separated by one space.
        words: (word, its phonemes) for each word, in order.
        unknown: the characters that could not be read, each once, in order of appearance.
    """

    text: str
    normalized: str
    phonemes: str
    words: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def segments(word: str) -> tuple[list[str], list[int]]:
    """Read a lower-case Turkish word letter by letter (no stress).

    Returns:
        tokens: one phoneme (a vowel possibly with ``ː``) per item.
        vowel_token: for each written vowel, the index of the token that sounds it (two written
            vowels share one token when they merge into a long vowel: ``ağaç``, ``saat``).
    """
    toks: list[str] = []
    vtok: list[int] = []
    n = len(word)
    last_vowel = ""
    nv = 0  # position of the next vowel at or after it, for clusters before any vowel
    i = 0
    while i < n:
        ch = word[i]
        prev = word[i - 1] if i else ""
        if ch in VOWELS:
            base = _VOWEL[ch]
            long = ch == "î" or (ch in "âû" and prev not in ("k", "g", "l"))
            vtok.append(len(toks))
            nxt = word[i + 1] if i + 1 < n else ""
            after = word[i + 2] if i + 2 < n else ""
            step = 1
            glide = False
            if nxt == "ğ":
                step = 2
                if after not in VOWELS:  # ğ before a consonant or at the end: length
                    long = True
                elif ch in FRONT and after in FRONT:  # between front vowels: a glide
                    glide = True
                elif _VOWEL[after] == base:  # between identical vowels: one long vowel
                    long, step = True, 3
                    vtok.append(len(toks))
            elif nxt in VOWELS and _VOWEL[nxt] == base:  # written double vowel (saat, hadiii)
                long = True
                while i + step < n and word[i + step] in VOWELS and _VOWEL[word[i + step]] == base:
                    vtok.append(len(toks))
                    step += 1
            toks.append(base + "ː" if long else base)
            if glide:
                toks.append("j")
            last_vowel = ch
            i += step
            continue
        if ch == "ğ":  # after a consonant or at the start: nothing to say
            i += 1
            continue
        nxt = word[i + 1] if i + 1 < n else ""
        if ch in "kg":
            if nxt in VOWELS:
                pal = nxt in PALATALISING
            elif last_vowel:
                pal = last_vowel in FRONT
            else:  # a word-initial cluster (kral, gri): the vowel after it decides
                if nv <= i:  # the next vowel's position only moves forward: linear overall
                    nv = max(nv, i + 1)
                    while nv < n and word[nv] not in VOWELS:
                        nv += 1
                pal = nv < n and word[nv] in PALATALISING
            toks.append(("c" if ch == "k" else "ɟ") if pal else ("k" if ch == "k" else "ɡ"))
        elif ch == "n" and nxt in ("k", "g"):
            toks.append("ŋ")
        elif i == n - 1 and ch in _DEVOICE:
            toks.append(_DEVOICE[ch])
        else:
            toks.append(_CONS.get(ch, ""))
        i += 1
    return toks, vtok


def _heavy(toks: list[str], vtok: list[int]) -> tuple[list[int], list[bool]]:
    """The distinct vowel tokens and whether each syllable is heavy (long or closed)."""
    vt = sorted(set(vtok))
    heavy = []
    for k, t in enumerate(vt):
        end = vt[k + 1] if k + 1 < len(vt) else len(toks)
        codas = end - t - 1
        heavy.append(toks[t].endswith("ː") or codas >= (2 if k + 1 < len(vt) else 1))
    return vt, heavy


def _spell(word: str) -> str:
    return "".join(LETTER_NAMES.get(ch, ch) for ch in word)


class G2P:
    """Turkish G2P with the shipped lexicons and an optional user lexicon (which overrides them).

    Args:
        user_lexicon: a TSV file (format: :mod:`sesli.text.lexicon`). Raises
            :class:`~sesli.text.lexicon.LexiconError` naming the file and line of a bad entry.
    """

    def __init__(self, user_lexicon: str | Path | None = None):
        self.lexicon: Lexicon = load_lexicon(user_lexicon)
        self._cache: dict[str, str] = {}
        self._phrase_firsts = frozenset(first for first, _ in self.lexicon.phrases)
        # First three letters of the stems that keep their stress / spelling under suffixes: a word
        # starting otherwise skips the stem search.
        words = self.lexicon.words
        self._stress_heads = frozenset(w[:3] for w, e in words.items() if e.stress is not None or e.sezer)
        self._respell_heads = frozenset(w[:3] for w, e in words.items() if e.respell is not None)

    # ----------------------------------------------------------------- sentences
    def phonemize(self, text: str, *, mode: Literal["phonemes", "chars"] = "phonemes") -> G2PResult:
        """Normalise ``text`` and read it (``mode="chars"``: letters only, no G2P)."""
        if mode not in ("phonemes", "chars"):
            raise ValueError(f"mode must be 'phonemes' or 'chars', got {mode!r}")
        normalized = _normalize(text) if _normalize is not None else text
        items, unknown = _tokenize(normalized)
        unknown = list(dict.fromkeys(_dropped(text) + unknown))
        marked = _apostrophes(text) if _normalize is not None and mode == "phonemes" else {}
        chars = mode == "chars"
        cache, phrases, firsts = self._cache, self.lexicon.phrases, self._phrase_firsts
        out: list[str] = []  # " word" or punctuation: joined, then the leading space goes
        words: list[tuple[str, str]] = []
        n, k = len(items), 0
        while k < n:
            is_word, tok = items[k]
            k += 1
            if not is_word:
                out.append(tok)
                continue
            if chars:
                phon = tok.replace("'", "").replace("’", "")
            elif tok in firsts and k < n and items[k][0] and (tok, items[k][1]) in phrases:
                nxt = items[k][1]
                phon = phrases[(tok, nxt)]
                p1, p2 = phon.split(" ", 1)
                words += [(tok, p1), (nxt, p2)]
                out.append(" " + phon)
                k += 1
                continue
            else:
                key = marked.get(tok, tok) if marked else tok
                phon = cache.get(key) or self.word(key)
            out.append(" " + phon)
            words.append((tok, phon))
        return G2PResult(text, normalized, "".join(out).strip(), words, unknown)

    # ---------------------------------------------------------------------- words
    def word(self, word: str) -> str:
        """Phonemes of one lower-case word (apostrophes allowed), without normalisation."""
        cached = self._cache.get(word)
        if cached is None:
            if len(self._cache) >= _MAX_CACHE:
                self._cache.clear()
            cached = self._cache[word] = self._read(word)
        return cached

    def _read(self, word: str) -> str:
        word = self._respell(lower_tr(word).replace("’", "'").translate(_LATIN))
        entry = self.lexicon.get(word.replace("'", ""))
        if entry is not None and entry.phonemes is not None:
            return entry.phonemes
        stem, _, suffix = word.partition("'")
        suffix = suffix.replace("'", "")
        stem_entry = self.lexicon.get(stem)
        if suffix and stem_entry is not None and stem_entry.phonemes is not None:
            toks, _ = segments(_prepare(suffix))
            return stem_entry.phonemes + "".join(toks)
        written = stem  # lexicon key (before q, w, x are rewritten)
        stem = _prepare(stem)
        suffix = _prepare(suffix)
        if len(stem) <= MAX_SPELLED and VOWELS.isdisjoint(stem):  # an abbreviation: spell it
            stem = written = _spell(stem)
        whole = stem + suffix
        toks, vtok = segments(whole)
        if not vtok:
            return "".join(toks)
        if suffix:  # a proper noun keeps its stem's stress
            s_toks, s_vtok = segments(stem)
            target = self._stress_token(stem, s_toks, s_vtok, key=written)
            if target is not None:
                target = vtok[s_vtok.index(target)]
        else:
            target = self._stress_token(whole, toks, vtok, key=written)
        if target is not None:
            toks[target] = "ˈ" + toks[target]
        return "".join(toks)

    def _respell(self, word: str) -> str:
        """Apply a ``=spelling`` lexicon entry to the word or to its stem before suffixes."""
        if word[:3] not in self._respell_heads or len(word) > st.MAX_MORPH_LEN:
            return word
        get = self.lexicon.words.get
        head, apostrophe, tail = word.partition("'")
        for cut in range(len(head), 2, -1):
            entry = get(head[:cut])
            if entry is not None and entry.respell is not None and st.is_suffix_chain(head[cut:]):
                return entry.respell + head[cut:] + apostrophe + tail
        return word

    def _stress_token(self, word: str, toks: list[str], vtok: list[int], key: str = "") -> int | None:
        """Index of the stressed token of ``word`` (None: an unstressed particle); ``key`` is the
        word as written, for the lexicon."""
        if not vtok or st.is_particle(word):
            return None
        entry = self.lexicon.get(key or word) or self.lexicon.get(word)
        if entry is not None and (entry.stress is not None or entry.sezer):
            return _lexical_token(entry, toks, vtok)
        candidates: list[int] = []
        pre = st.prestress(word)
        if pre is not None:
            candidates.append(vtok[pre])
        lex = self._lexical_stem(word, vtok)
        if lex is not None:
            candidates.append(lex)
        return min(candidates) if candidates else vtok[-1]

    def _lexical_stem(self, word: str, vtok: list[int]) -> int | None:
        """Stress kept from a lexicon stem under suffixes (``lokantada``), if any."""
        if word[:3] not in self._stress_heads or len(word) > st.MAX_MORPH_LEN:
            return None
        get = self.lexicon.words.get
        for cut in range(len(word) - 1, 1, -1):
            entry = get(word[:cut])
            if (
                entry is None
                or entry.stress is None
                and not entry.sezer
                or not st.is_suffix_chain(word[cut:])
            ):
                continue
            s_toks, s_vtok = segments(word[:cut])
            t = _lexical_token(entry, s_toks, s_vtok)
            if t is None or t == s_vtok[-1]:
                continue  # final stress in the stem: the suffixes take it
            return vtok[s_vtok.index(t)]
        return None


def _lexical_token(entry: Entry, toks: list[str], vtok: list[int]) -> int | None:
    if entry.sezer:
        vt, heavy = _heavy(toks, vtok)
        return vt[st.sezer(heavy)]
    if entry.stress is not None:
        n = len(vtok)
        k = entry.stress - 1 if entry.stress > 0 else n + entry.stress
        return vtok[min(max(k, 0), n - 1)]
    return None


def _prepare(word: str) -> str:
    return word.translate(_FOREIGN) if ("q" in word or "w" in word or "x" in word) else word


def _tokenize(normalized: str) -> tuple[list[tuple[bool, str]], list[str]]:
    """Split normalised text into (is_word, text) items (a word or one punctuation mark); returns
    them and the characters it could not read."""
    s = normalized if _normalize is not None else lower_tr(normalized)  # the normaliser lower-cases
    s = s.translate(_LATIN)
    if "..." in s:
        s = _ELLIPSIS.sub("…", s)
    items: list[tuple[bool, str]] = []
    unknown: dict[str, None] = {}
    for tok in _TOKEN.findall(s):
        if tok in PHRASE_PUNCT:
            items.append((False, tok))
        elif len(tok) > 1 or tok in TURKISH_LETTERS:
            items.append((True, tok))
        elif tok not in SILENT:
            unknown[tok] = None
    return items, list(unknown)


_RAW_APOSTROPHE = re.compile(r"([^\W\d_]+)['’]([^\W\d_]+)")


def _apostrophes(text: str) -> dict[str, str]:
    """Words written with an apostrophe (``Ahmet'in``), keyed as the normaliser writes them
    (``ahmetin`` -> ``ahmet'in``): the normaliser drops the apostrophe, the stress rule needs it."""
    if "'" not in text and "’" not in text:
        return {}
    out = {}
    for m in _RAW_APOSTROPHE.finditer(text):
        stem, suffix = lower_tr(m.group(1)), lower_tr(m.group(2))
        out[stem + suffix] = stem + "'" + suffix
    return out


@lru_cache(maxsize=4096)
def _unreadable(ch: str) -> bool:
    """True for a character the normaliser drops without a reading (emoji, control characters)."""
    if ch.isspace() or ch.isalnum() or ch in PHRASE_PUNCT or ch in SILENT or ch in "–‒―":
        return False
    if unicodedata.category(ch) == "Cf":  # zero-width joiners, BOM: formatting, nothing to say
        return False
    return _normalize is not None and not _normalize(ch).strip()


_SAFE = frozenset("abcçdefgğhıijklmnoöprsştuüvyzâîûqwxABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZÂÎÛQWX0123456789 ")
_SAFE |= frozenset(PHRASE_PUNCT) | SILENT


def _dropped(text: str) -> list[str]:
    """Characters of ``text`` the normaliser removed because nobody can read them, in order."""
    rest = set(text) - _SAFE
    if not rest:
        return []
    bad = {ch for ch in rest if _unreadable(ch)}
    if not bad:
        return []
    return list(dict.fromkeys(ch for ch in text if ch in bad))


@lru_cache(maxsize=8)
def _instance(lexicon: str | None) -> G2P:
    return G2P(lexicon)


def phonemize(
    text: str, *, lexicon: str | Path | None = None, mode: Literal["phonemes", "chars"] = "phonemes"
) -> G2PResult:
    """Normalise and phonemize ``text`` with a cached :class:`G2P` (one per lexicon path)."""
    return _instance(None if lexicon is None else str(lexicon)).phonemize(text, mode=mode)


def g2p(text: str, *, lexicon: str | Path | None = None) -> str:
    """The phonemes of ``text`` (see :func:`phonemize`)."""
    return phonemize(text, lexicon=lexicon).phonemes


def characters(text: str) -> str:
    """Character input for models trained on letters: normalised letters and punctuation, no G2P."""
    return phonemize(text, mode="chars").phonemes
