"""Turkish text to its spoken form: numbers, dates, times, units, abbreviations, initialisms.

The output is what a Turkish reader says, written in lowercase Turkish letters, for the G2P:

* casing is Turkish (I -> ı, İ -> i), the text is NFC, control characters are removed and
  whitespace collapses to single spaces (a multi-line input becomes one line);
* every digit becomes words (cardinals with ``.`` thousands and ``,`` decimals, ordinals
  ``3.``/``5'inci``/``XIX.``, dates, times, percent, currency, units, negatives, fractions);
* a suffix after a digit or an initialism is re-spelled by the spoken form (``3'te`` ->
  "üçte", ``6'sı`` -> "altısı", ``TBMM'de`` -> "te be me mede"), see :mod:`sesli.text.numbers`;
* punctuation that ends or splits a phrase is kept (``, . ? ! ; : — …``); symbols with a
  reading become words (``%``, ``₺``, ``$``, ``€``, ``°``, ``+``, ``&``, ``=`` …); everything else
  (quotes, brackets, emoji, other symbols) becomes a space. Apostrophes inside words are dropped
  ("Ankara'da" -> "ankarada"). Letters of other scripts are kept for the G2P to report.

Decisions where the text is ambiguous:

* ``N.`` is an ordinal when the next word starts lowercase ("3. sınıf" -> "üçüncü sınıf") or is
  one of a few capitalised heads ("2. Dünya Savaşı"); otherwise (end of text, capitalised word)
  it is a cardinal that ends a sentence ("Sonuç 5." -> "sonuç beş."). Roman numerals with a dot
  (``XIX.``) are always ordinals; single-letter ones only for I, V and X (``M.`` is an initial).
* ``H:MM`` and ``H.MM`` (hour < 24, two-digit minutes < 60) are times; ":00" is not read
  ("14:00" -> "on dört"), other minutes below 10 keep "sıfır" ("09:05" -> "dokuz sıfır beş").
  ``D.M.YYYY``, ``D/M/YYYY``, ``D-M-YYYY`` (or a two-digit year) and ``YYYY-MM-DD`` are dates.
* ``1.250.000`` is grouped thousands; other dotted numbers are read with "nokta" ("2.0.1"),
  except a price with two decimals after a point ("$4.99" -> "dört dolar doksan dokuz sent").
* a number with a leading zero ("007", "0532") and any digit run longer than the cardinal range
  (> 10**15) is read digit by digit; phone numbers therefore read group by group.
* ``a/b`` with 0 < a < b is a fraction ("1/2" -> "ikide bir"); other ``a/b`` use "bölü".
* an all-caps word of 2-6 letters is spelled with Turkish letter names (H "he", K "ke") unless
  it is in a word list (NATO, ODTÜ …) or, with four letters or more, is pronounceable as a
  Turkish syllable chain; capitalised runs of several words (shouting) are read as words.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from sesli.text import numbers as nums
from sesli.text.abbreviations import (
    BEFORE_NUMBER,
    CURRENCIES,
    LETTER_NAMES,
    ORDINAL_HEADS,
    SYMBOLS,
    TITLES,
    TRAILING,
    UNITS,
    WORD_INITIALISMS,
)

__all__ = ["NormalizeError", "normalize", "turkish_lower", "turkish_upper"]

UPPER = "A-ZÇĞİÖŞÜÂÎÛ"
LOWER = "a-zçğıöşüâîû"
LETTER = UPPER + LOWER
KEPT_PUNCT = frozenset(",.?!;:—…")


class NormalizeError(TypeError):
    """The input is not text."""


def turkish_lower(s: str) -> str:
    """Lowercase with Turkish dotted/dotless i: ``"IĞDIR İli" -> "ığdır ili"`` (NFC)."""
    s = unicodedata.normalize("NFC", s).replace("İ", "i").replace("I", "ı").lower()
    return unicodedata.normalize("NFC", re.sub("i\u0307+", "i", s))  # i + any dots above: i


def turkish_upper(s: str) -> str:
    """Uppercase with Turkish dotted/dotless i: ``"ığdır ili" -> "IĞDIR İLİ"`` (NFC)."""
    s = unicodedata.normalize("NFC", s).replace("i", "İ").replace("ı", "I").upper()
    return unicodedata.normalize("NFC", s)


# ----------------------------------------------------------------------------- cleaning


class _CleanTable(dict):
    """``str.translate`` table computed lazily per code point (cached after the first use)."""

    def __missing__(self, cp: int) -> str | None:
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if ch in "’‘ʼ`´′":
            out: str | None = "'"
        elif ch in "−‐‑–":
            out = "-"
        elif ch in "²³":
            out = ch
        elif cat == "Nd" or (cat == "No" and unicodedata.digit(ch, None) is not None):
            out = str(unicodedata.digit(ch))
        elif cat in ("Cc", "Zs", "Zl", "Zp", "Co", "Cs", "Cn"):
            out = " "
        elif cat == "Cf":
            out = None  # zero-width joiners, BOM, soft hyphen
        else:
            out = ch
        self[cp] = out
        return out


_CLEAN = _CleanTable()
_SPACED_DASH = re.compile(r"(?<= )-(?= )")
# Patterns start with a consuming character class, not a lookbehind: much faster on 1 MB.
_SUPERSCRIPT_UNIT = re.compile(r"(\d\s?)(km|cm|m)([23])(?![\w])")
_TIMES_SIGN = re.compile(r"(\d)\s?[x×]\s?(?=\d)")
_LETTER_DIGIT = re.compile(r"[^\W\d_](?=\d)|\d(?=[" + UPPER + r"])")


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_CLEAN)
    text = re.sub(r"\.{3,}", "…", text)
    text = re.sub(r"-{2,}", " — ", text)
    text = _SUPERSCRIPT_UNIT.sub(lambda m: m[1] + m[2] + ("²" if m[3] == "2" else "³"), text)
    text = _TIMES_SIGN.sub(r"\1 çarpı ", text)
    text = _LETTER_DIGIT.sub(r"\g<0> ", text)
    return _SPACED_DASH.sub("—", " ".join(text.split()))


# ------------------------------------------------------------------------ abbreviations


def _variants(table: dict[str, str], lower_first: bool) -> dict[str, str]:
    out = {}
    for key, value in table.items():
        for k in (key, turkish_upper(key[0]) + key[1:]) + (
            (turkish_lower(key[0]) + key[1:],) if lower_first else ()
        ):
            out.setdefault(k.replace(" ", ""), value)
    return out


def _alternation(keys: list[str]) -> str:
    # a space inside a key matches optional whitespace ("Ltd. Şti." and "Ltd.Şti.")
    ordered = sorted(keys, key=len, reverse=True)
    return "|".join(re.escape(k).replace(r"\ ", r"\s?") for k in ordered)


_TITLE = _variants(TITLES, lower_first=False)
_TRAIL = _variants(TRAILING, lower_first=True)
_BEFORE = dict(BEFORE_NUMBER)
_ABBR_RE = re.compile(
    r"(?<![\w.])(?:"
    + _alternation(list(TITLES) + list(TRAILING))
    + "|"
    + _alternation([turkish_upper(k[0]) + k[1:] for k in list(TITLES) + list(TRAILING)])
    + "|"
    + _alternation([turkish_lower(k[0]) + k[1:] for k in TRAILING])
    + r")(?!\w)"
)
_BEFORE_RE = re.compile(r"(?<![\w.])(?:" + _alternation(list(BEFORE_NUMBER)) + r")(?=\s?\d)")
_END = re.compile(r"\s*\Z")
_SENTENCE_START = re.compile(r"\s*[" + UPPER + r"]")


def _abbreviation(m: re.Match) -> str:
    key = re.sub(r"\s", "", m[0])
    end = m.end()
    at_end = _END.match(m.string, end) is not None
    if key in _TITLE:
        return f" {_TITLE[key]}{' .' if at_end else ' '}"
    # before a capitalised word the period also ends the sentence, unless that word is another
    # abbreviation ("Gül Sok. Mah.", "Ltd. Şti.")
    trailing = at_end or (
        _SENTENCE_START.match(m.string, end) is not None
        and _ABBR_RE.match(m.string, end + (m.string[end : end + 1] == " ")) is None
    )
    return f" {_TRAIL[key]}{' .' if trailing else ' '}"


def _expand_abbreviations(text: str) -> str:
    text = _BEFORE_RE.sub(lambda m: f" {_BEFORE[m[0]]} ", text)
    return _ABBR_RE.sub(_abbreviation, text)


# ------------------------------------------------------------------------ roman numerals

_ROMAN_RE = re.compile(
    r"(?<![\w.])(?=[MDCLXVI]*[IVX])(M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3}))\.(?=\s|$)"
)


def _roman(m: re.Match) -> str:
    if not m[1]:
        return m[0]
    at_end = _END.match(m.string, m.end()) is not None
    return f" {nums.ordinal(nums.roman_value(m[1]))}{' .' if at_end else ' '}"


# ------------------------------------------------------------------------------ numbers

_UNIT_ALT = _alternation(list(UNITS))
_CURR_ALT = _alternation(list(CURRENCIES))
_NUM_RE = re.compile(
    r"(?=[₺$€£¥%‰\d-])"  # cheap rejection of positions that cannot start a number
    r"(?P<pre>[₺$€£¥]\s?)?"
    r"(?P<negpct>(?<![^\s(\[=/])-(?=[%‰]))?"
    r"(?P<pct>[%‰]\s?)?"
    r"(?P<neg>(?(pct)-|(?<![^\s(\[=/])-))?"
    r"(?<!\d)(?P<body>\d+(?:[.,:/-]\d+)*)"
    r"(?:\s?(?P<post>" + _CURR_ALT + "|" + _UNIT_ALT + r")(?![" + LETTER + r"\d]))?"
    r"(?P<pct2>\s?%)?"
    r"(?P<dot>\.(?!\d))?"
    r"(?P<suf>'?[" + LETTER + r"]+)?"
)
_ORDINAL_SUFFIX = re.compile(r"[ıiuü]?nc[ıiuü](.*)")
_NEXT_WORD = re.compile(r"\s?(\S{1,40})")
_POINT_DECIMAL = re.compile(r"\d+\.\d\d")
_SPEED_UNITS = frozenset({"km/sa", "km/s", "km/h"})


def _is_ordinal_context(m: re.Match) -> bool:
    nxt = _NEXT_WORD.match(m.string, m.end())
    if nxt is None:
        return False
    word = nxt[1]
    return word[0].islower() or word.split("'")[0].rstrip(".,;:!?") in ORDINAL_HEADS


def _number(m: re.Match) -> str:
    body, post = m["body"], m["post"]
    currency = (m["pre"] or "").strip() or (post if post in CURRENCIES else None)
    if currency and _POINT_DECIMAL.fullmatch(body):
        body = body.replace(".", ",")  # "$4.99": a price written with a decimal point
    spoken, kind = nums.read_number(body)
    plain = kind in ("int", "decimal")
    if currency and plain:
        spoken = nums.money(body, kind, currency)
    elif currency:
        spoken = f"{spoken} {CURRENCIES[currency][0]}"
    if m["neg"] and plain:  # a minus before a range or a date is only a dash
        spoken = "eksi " + spoken
    if m["pct"] or m["pct2"]:
        spoken = ("binde " if (m["pct"] or "").startswith("‰") else "yüzde ") + spoken
    if m["negpct"] and plain:  # "-%5": minus five percent
        spoken = "eksi " + spoken
    unit = post if post and post not in CURRENCIES else None
    if unit in _SPEED_UNITS:
        spoken = f"saatte {spoken} kilometre"
    elif unit:
        spoken = f"{spoken} {UNITS[unit]}"
    simple_int = kind == "int" and not (unit or currency or m["pct"] or m["pct2"])
    tail = ""
    if m["dot"]:
        if simple_int and (m["suf"] or _is_ordinal_context(m)):
            spoken = nums.ordinal_words(spoken)
            simple_int = False
        else:
            tail = " ."
    if m["suf"]:
        suffix = turkish_lower(m["suf"].lstrip("'"))
        ordinal = _ORDINAL_SUFFIX.fullmatch(suffix) if simple_int else None
        if ordinal:
            spoken = nums.attach_suffix(nums.ordinal_words(spoken), ordinal[1])
        else:
            spoken = nums.attach_suffix(spoken, suffix)
    return f" {spoken}{tail} "


_DEGREE_RE = re.compile(r"(°[CF]?)(?![" + LETTER + r"])")
_SCALE_CURRENCY = re.compile(
    r"\b(bin|milyon|milyar|trilyon)\s?(" + _CURR_ALT + r")(?![" + LETTER + r"])('[" + LETTER + r"]+)?"
)


def _scale_currency(m: re.Match) -> str:
    spoken = f"{m[1]} {CURRENCIES[m[2]][0]}"
    return nums.attach_suffix(spoken, turkish_lower(m[3][1:])) if m[3] else spoken


# --------------------------------------------------------------------------- initialisms

_CAPS_RE = re.compile(r"(?<![^\W\d_])([" + UPPER + r"]+)(?![^\W\d_])('[" + LETTER + r"]+)?")
_DOTTED_RE = re.compile(r"(?<![\w.])((?:[" + UPPER + r"]\.){2,})")
_CAPS_WORD = re.compile(r"[" + UPPER + r"]{2,}")
# a single capital with a period before a capitalised word is a name initial ("M. Kemal")
_INITIAL_RE = re.compile(r"(?<![\w.])([" + UPPER + r"])\.(?=\s?[" + UPPER + r"])")
_VOWELS = set("aeıioöuüâîû")
_FINAL_CLUSTERS = frozenset(
    [
        "rk",
        "rt",
        "st",
        "nt",
        "lk",
        "lt",
        "nk",
        "şt",
        "ft",
        "rs",
        "ks",
        "ns",
        "rç",
        "nç",
        "lç",
        "rp",
        "mp",
        "rd",
        "nd",
        "rz",
        "rm",
        "rn",
        "lm",
        "ls",
        "zm",
        "sk",
        "rf",
        "ng",
    ]
)


@lru_cache(maxsize=4096)
def pronounceable(word: str) -> bool:
    """Whether a word fits Turkish syllable shapes (no initial cluster, at most two consonants)."""
    w = turkish_lower(word)
    cons = [ch not in _VOWELS for ch in w]
    if all(cons) or (len(w) > 1 and cons[0] and cons[1]):
        return False
    run = 0
    for c in cons:
        run = run + 1 if c else 0
        if run > 2:
            return False
    return not (len(w) > 1 and cons[-1] and cons[-2] and w[-2:] not in _FINAL_CLUSTERS)


@lru_cache(maxsize=4096)
def _spell(word: str) -> str:
    return " ".join(LETTER_NAMES.get(ch, turkish_lower(ch)) for ch in word)


def _caps_neighbour(m: re.Match) -> bool:
    before = m.string[max(0, m.start() - 40) : m.start()].split()
    after = m.string[m.end() : m.end() + 40].split()
    return bool(
        (before and _CAPS_WORD.fullmatch(before[-1].strip(",.;:!?'")))
        or (after and _CAPS_WORD.fullmatch(after[0].strip(",.;:!?'")))
    )


def _initialism(m: re.Match) -> str:
    word = m[1]
    if word in WORD_INITIALISMS:
        spoken = WORD_INITIALISMS[word]
    elif len(word) > 6:
        spoken = turkish_lower(word)
    elif len(word) == 1:
        spoken = _spell(word)
    elif pronounceable(word) and (len(word) >= 4 or _caps_neighbour(m)):
        spoken = turkish_lower(word)
    else:
        spoken = _spell(word)
    if m[2]:
        spoken = nums.attach_suffix(spoken, turkish_lower(m[2][1:]))
    return spoken


def _dotted(m: re.Match) -> str:
    spoken = _spell(m[1].replace(".", ""))
    at_end = _END.match(m.string, m.end()) or _SENTENCE_START.match(m.string, m.end())
    return f" {spoken}{' .' if at_end else ' '}"


# ------------------------------------------------------------------------------ symbols


class _FinalTable(dict):
    """Keep letters, marks and phrase punctuation; symbols with a reading become words."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if ch in SYMBOLS:
            out = f" {SYMBOLS[ch]} "
        elif ch in KEPT_PUNCT or cat[0] in "LM" or ch == " ":
            out = ch
        elif cat[0] == "N":  # leftover numerics (Roman numeral letters, fractions): no reading
            out = " "
        else:
            out = " "
        self[cp] = out
        return out


_FINAL = _FinalTable()
_WORD_APOSTROPHE = re.compile(r"(?<=[^\W\d_])'(?=[^\W\d_])")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.?!;:…])")
_GLUED_PUNCT = re.compile(r"([,.?!;:…])(?=[^\W\d_])")
_DOMAIN_DOT = re.compile(r"(?<=[" + LETTER + r"])\.(?=[" + LOWER + r"]{2})")
_ASCII_DIGITS = re.compile(r"\d+")


def normalize(text: str) -> str:
    """Turkish text to its spoken form in lowercase Turkish letters.

    Args:
        text: any text (one sentence or a whole document).

    Returns:
        One line: lowercase, NFC, no digits, single spaces, phrase punctuation kept.

    Raises:
        NormalizeError: ``text`` is not a ``str``.

    Example:
        >>> normalize("TBMM'de 29.10.1923'te %50 oyla, 3. madde kabul edildi.")
        'te be me mede yirmi dokuz ekim bin dokuz yüz yirmi üçte yüzde elli oyla, üçüncü madde kabul edildi.'
    """
    if not isinstance(text, str):
        raise NormalizeError(f"normalize() needs a str, got {type(text).__name__}")
    text = _clean(text)
    text = _expand_abbreviations(text)
    text = _ROMAN_RE.sub(_roman, text)
    text = _NUM_RE.sub(_number, text)
    text = _SCALE_CURRENCY.sub(_scale_currency, text)
    text = _DEGREE_RE.sub(lambda m: f" {UNITS[m[1]]} ", text)
    text = _DOTTED_RE.sub(_dotted, text)
    text = _INITIAL_RE.sub(lambda m: f" {_spell(m[1])} ", text)
    text = _CAPS_RE.sub(_initialism, text)
    text = _WORD_APOSTROPHE.sub("", text)
    text = _DOMAIN_DOT.sub(" nokta ", text)
    text = turkish_lower(text.translate(_FINAL))
    text = _ASCII_DIGITS.sub(lambda m: f" {nums.digits(m[0])} ", text)  # safety net, never expected
    text = _GLUED_PUNCT.sub(r"\1 ", _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(text.split())))
    return unicodedata.normalize("NFC", text)
