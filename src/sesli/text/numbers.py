"""Turkish number words and suffix harmony.

Own tables (not num2words, which drops "bir" in six-digit numbers). Turkish says "bin" and
"yüz" without "bir" at the start of their group ("bin", "yüz", "yüz bin", "yüz yirmi bir bin
yüz") but keeps it before the larger scales ("bir milyon").

Suffix harmony: a suffix written after a digit (``3'te``, ``6'sı``, ``1990'lı``) is spelled by
the *spoken* form of the number, so :func:`attach_suffix` rewrites the suffix by Turkish
phonology from the last spoken word, whatever harmony the writer used:

* vowels: a/e are two-fold (``A``), ı/i/u/ü four-fold (``I``), each following the vowel
  before it; o/ö and the invariant ``ki``/``ken`` stay as written;
* consonants: d/t and c/ç agree in voicing with the sound before them (fıstıkçı şahap);
* buffers: after a vowel a vowel-initial suffix gets n (genitive ``-In``), ş (distributive
  ``-Ar``) or y (others); copula-like ``-DI``, ``-mIş``, ``-sA``, ``-ken`` and instrumental
  ``-lA`` get y; after a consonant a written buffer y/n/s/ş is dropped;
* "dört" softens to "dörd" before a vowel (dördü, dördüncü).
"""

from __future__ import annotations

import re
from functools import lru_cache

from sesli.text.abbreviations import CURRENCIES, MONTHS

ONES = ["", "bir", "iki", "üç", "dört", "beş", "altı", "yedi", "sekiz", "dokuz"]
TENS = ["", "on", "yirmi", "otuz", "kırk", "elli", "altmış", "yetmiş", "seksen", "doksan"]
SCALES = ["", "bin", "milyon", "milyar", "trilyon", "katrilyon"]
DIGITS = ["sıfır", *ONES[1:]]
MAX_CARDINAL = 10**15  # larger numbers are read digit by digit

VOWELS = frozenset("aeıioöuüâîû")
BACK_VOWELS = frozenset("aıouâû")
ROUND_VOWELS = frozenset("oöuüû")
VOICELESS = frozenset("çfhkpsşt")
TURKISH_LETTERS = frozenset("abcçdefgğhıijklmnoöprsştuüvyzâîû")


def _three(n: int) -> list[str]:
    """Words for 0 <= n < 1000 ("bir" dropped before "yüz")."""
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    words = []
    if hundreds:
        if hundreds > 1:
            words.append(ONES[hundreds])
        words.append("yüz")
    if tens:
        words.append(TENS[tens])
    if ones:
        words.append(ONES[ones])
    return words


_THREE = [" ".join(_three(n)) for n in range(1000)]


@lru_cache(maxsize=8192)
def cardinal(n: int) -> str:
    """Spoken Turkish cardinal for an integer (negative gets "eksi").

    Args:
        n: the number; up to :data:`MAX_CARDINAL` in magnitude (larger is read digit by digit).

    Returns:
        Words separated by single spaces, e.g. ``cardinal(121100) == "yüz yirmi bir bin yüz"``.
    """
    if n < 0:
        return "eksi " + cardinal(-n)
    if n == 0:
        return "sıfır"
    if n > MAX_CARDINAL:
        return digits(str(n))
    groups = []
    while n:
        n, group = divmod(n, 1000)
        groups.append(group)
    words: list[str] = []
    for scale in range(len(groups) - 1, -1, -1):
        group = groups[scale]
        if not group:
            continue
        if scale == 1 and group == 1:
            words.append("bin")  # "bin", not "bir bin"
            continue
        words.append(_THREE[group])
        if scale:
            words.append(SCALES[scale])
    return " ".join(words)


def digits(s: str) -> str:
    """Read a digit string digit by digit: ``"007"`` -> ``"sıfır sıfır yedi"``."""
    return " ".join(DIGITS[int(c)] for c in s if c.isdigit())


@lru_cache(maxsize=8192)
def read_integer(s: str) -> str:
    """Read a digit string: a cardinal, or digit by digit with a leading zero or when too long."""
    s = s.lstrip("+")
    if len(s) > 1 and s[0] == "0":
        return digits(s)
    if len(s) > 16:  # linear time on huge digit runs
        return digits(s)
    n = int(s)
    return cardinal(n) if n <= MAX_CARDINAL else digits(s)


def read_fraction_digits(s: str) -> str:
    """Digits after a decimal comma: leading zeros as "sıfır", the rest as a cardinal."""
    stripped = s.lstrip("0")
    zeros = ["sıfır"] * (len(s) - len(stripped))
    if not stripped:
        return " ".join(zeros) or "sıfır"
    rest = read_integer(stripped)
    return " ".join([*zeros, rest])


def decimal(integer: str, fraction: str) -> str:
    """``decimal("3", "5") == "üç virgül beş"``."""
    return f"{read_integer(integer)} virgül {read_fraction_digits(fraction)}"


@lru_cache(maxsize=8192)
def ordinal_words(spoken: str) -> str:
    """Turn a spoken cardinal into its ordinal: "üç" -> "üçüncü", "iki" -> "ikinci"."""
    return attach_suffix(spoken, "IncI", ordinal=True)


def ordinal(n: int) -> str:
    """``ordinal(3) == "üçüncü"``, ``ordinal(1990) == "bin dokuz yüz doksanıncı"``."""
    return ordinal_words(cardinal(n))


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


@lru_cache(maxsize=1024)
def roman_value(s: str) -> int:
    """Value of a valid Roman numeral: ``roman_value("XIX") == 19``."""
    total = 0
    for i, ch in enumerate(s):
        v = _ROMAN[ch]
        total += -v if i + 1 < len(s) and _ROMAN[s[i + 1]] > v else v
    return total


def _last_vowel(word: str) -> str:
    for ch in reversed(word):
        if ch in VOWELS:
            return ch
    return "e"  # no vowel at all (cannot happen for Turkish words): front by default


def _archiphonemes(suffix: str) -> list[str]:
    """Rewrite a written suffix as archiphonemes: A (a/e), I (ı/i/u/ü), D (d/t), C (c/ç)."""
    out: list[str] = []
    for i, ch in enumerate(suffix):
        prev = suffix[i - 1] if i else ""
        if ch in "ae":
            # "-ken" keeps its e
            out.append("e" if suffix[i - 1 : i + 2] == "ken" and i == len(suffix) - 2 else "A")
        elif ch in "ıiuü":
            out.append("i" if prev == "k" else "I")  # invariant "-ki"
        elif ch in "dt":
            out.append("D")
        elif ch in "cç":
            out.append("C")
        else:
            out.append(ch)
    return out


def _buffered(arch: list[str], stem_vowel_final: bool, ordinal: bool) -> list[str]:
    """Add or drop the buffer consonant at the start of the suffix."""
    first = arch[0]
    second = arch[1] if len(arch) > 1 else ""
    if stem_vowel_final:
        if ordinal:
            return arch[1:]  # iki + IncI -> ikinci
        if first in ("A", "I", "o", "ö", "e", "i"):
            if first == "I" and second == "n":
                return ["n", *arch]  # genitive: ikinin
            if first == "A" and second == "r":
                return ["ş", *arch]  # distributive: ikişer
            return ["y", *arch]  # ikiye, ikiyi
        copula = (
            (first == "D" and second == "I")
            or arch[:3] == ["m", "I", "ş"]
            or (first == "s" and second == "A")
            or arch == ["k", "e", "n"]
            or (first == "l" and second == "A" and (len(arch) == 2 or arch[2] != "r"))
        )
        return ["y", *arch] if copula else arch
    # consonant-final stem: a written buffer is dropped
    if first in ("y", "ş") or (first == "n" and second == "I" and arch[2:3] == ["n"]):
        return arch[1:] if len(arch) > 1 else arch
    if first == "s" and second == "I" and arch[2:3] != ["z"]:
        return arch[1:]  # üç + sü -> üçü (possessive), but üçsüz keeps s
    return arch


@lru_cache(maxsize=8192)
def attach_suffix(spoken: str, suffix: str, *, ordinal: bool = False) -> str:
    """Glue a suffix onto spoken words with Turkish vowel harmony and consonant agreement.

    Args:
        spoken: the spoken form it attaches to (its last word decides the harmony).
        suffix: the suffix as written, any harmony (``"te"``, ``"da"``, ``"sı"``, ``"inci"``),
            or in archiphonemes (``"IncI"``).
        ordinal: the suffix is the ordinal ``-(I)ncI``.

    Returns:
        ``spoken`` with the suffix attached, e.g. ``attach_suffix("üç", "da") == "üçte"``.
        A suffix with letters outside the Turkish alphabet follows as a separate word.
    """
    if not suffix:
        return spoken
    if not all(ch in TURKISH_LETTERS or ch in "AIDC" for ch in suffix):
        return f"{spoken} {suffix.lower()}"  # not a Turkish suffix ("5px"): a separate word
    head, _, last = spoken.rpartition(" ")
    arch = _archiphonemes(suffix) if not ordinal else list(suffix)
    if not last:
        return spoken + suffix
    vowel_final = last[-1] in VOWELS
    arch = _buffered(arch, vowel_final, ordinal)
    if arch and arch[0] in VOWELS | {"A", "I"} and last == "dört":
        last = "dörd"
    vowel = _last_vowel(last)
    prev = last[-1]
    out = []
    for ph in arch:
        if ph == "A":
            ch = "a" if vowel in BACK_VOWELS else "e"
        elif ph == "I":
            back, rnd = vowel in BACK_VOWELS, vowel in ROUND_VOWELS
            ch = ("u" if rnd else "ı") if back else ("ü" if rnd else "i")
        elif ph == "D":
            ch = "t" if prev in VOICELESS else "d"
        elif ph == "C":
            ch = "ç" if prev in VOICELESS else "c"
        else:
            ch = ph
        if ch in VOWELS:
            vowel = ch
        out.append(ch)
        prev = ch
    word = last + "".join(out)
    return f"{head} {word}" if head else word


# ------------------------------------------------------------------ digit groups in text

_SEPARATORS = re.compile(r"([.,:/-])")
_GROUPED = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?")


def _date(d: str, mo: str, y: str) -> str | None:
    if len(d) > 2 or len(mo) > 2 or len(y) not in (2, 4):
        return None
    day, month = int(d), int(mo)
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return None
    return f"{cardinal(day)} {MONTHS[month - 1]} {cardinal(int(y))}"


def _time(parts: list[str]) -> str | None:
    h, rest = parts[0], parts[1:]
    if len(h) > 2 or int(h) > 23 or any(len(p) != 2 or int(p) > 59 for p in rest):
        return None
    words = [cardinal(int(h))]
    if len(rest) == 1 and int(rest[0]) == 0:
        return words[0]
    for p in rest:
        words.append(cardinal(int(p)) if p[0] != "0" or p == "00" else f"sıfır {ONES[int(p)]}")
    return " ".join(words)


@lru_cache(maxsize=8192)
def read_number(body: str) -> tuple[str, str]:
    """Read digits with separators: a date, time, grouped or decimal number, fraction, range.

    Args:
        body: digits joined by ``. , : / -`` (``"29.10.1923"``, ``"14:30"``, ``"1.250.000"``).

    Returns:
        ``(spoken, kind)`` where kind is "int", "decimal", "date", "time", "fraction" or "other".
    """
    if body.isdigit():
        return read_integer(body), "int"
    parts = _SEPARATORS.split(body)
    values, seps = parts[::2], set(parts[1::2])
    if len(values) == 1:
        return read_integer(body), "int"
    if len(values) == 3 and len(seps) == 1 and seps <= {".", "/", "-"}:
        if len(values[0]) == 4 and seps == {"-"}:  # ISO 2024-01-15
            spoken = _date(values[2], values[1], values[0])
        else:
            spoken = _date(*values)
        if spoken:
            return spoken, "date"
    if seps == {":"} and len(values) in (2, 3) or (seps == {"."} and len(values) == 2):
        spoken = _time(values)
        if spoken:
            return spoken, "time"
    if "-" in seps:  # ranges and phone numbers: "09:00-12:00", "2-3", "0532-123-45-67"
        return " ".join(read_number(part)[0] for part in body.split("-")), "other"
    if _GROUPED.fullmatch(body):
        integer, _, fraction = body.replace(".", "").partition(",")
        if fraction:
            return decimal(integer, fraction), "decimal"
        return read_integer(integer), "int"
    if seps == {","} and len(values) == 2:
        return decimal(*values), "decimal"
    if (
        seps == {"/"}
        and len(values) == 2
        and max(map(len, values)) <= 4
        and 0 < int(values[0]) < int(values[1])
    ):
        denom = attach_suffix(read_integer(values[1]), "de")
        return f"{denom} {read_integer(values[0])}", "fraction"
    words = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            words.append(read_integer(part))
        else:
            words.append({".": "nokta", ",": "virgül", "/": "bölü"}.get(part, ""))
    return " ".join(w for w in words if w), "other"


def money(body: str, kind: str, currency: str) -> str:
    """Read an amount of money: ``money("12,50", "decimal", "TL") == "on iki lira elli kuruş"``."""
    main, sub = CURRENCIES[currency]
    integer, _, fraction = body.replace(".", "").partition(",") if kind == "decimal" else (body, "", "")
    if kind == "decimal" and len(fraction) <= 2:
        cents = int(fraction.ljust(2, "0"))
        spoken = f"{read_integer(integer)} {main}"
        if cents and not integer.strip("0"):
            return f"{cardinal(cents)} {sub}"  # 0,50 TL -> elli kuruş
        return f"{spoken} {cardinal(cents)} {sub}" if cents else spoken
    spoken, _ = read_number(body)
    return f"{spoken} {main}"
