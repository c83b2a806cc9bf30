"""Number words, ordinals and suffix harmony (sesli.text.numbers)."""

from __future__ import annotations

import pytest

from sesli.text.numbers import (
    attach_suffix,
    cardinal,
    decimal,
    digits,
    money,
    ordinal,
    read_integer,
    read_number,
    roman_value,
)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "sıfır"),
        (1, "bir"),
        (10, "on"),
        (11, "on bir"),
        (99, "doksan dokuz"),
        (100, "yüz"),
        (101, "yüz bir"),
        (200, "iki yüz"),
        (1000, "bin"),
        (1001, "bin bir"),
        (1100, "bin yüz"),
        (2000, "iki bin"),
        (10000, "on bin"),
        (100000, "yüz bin"),
        (101000, "yüz bir bin"),
        (121100, "yüz yirmi bir bin yüz"),
        (111111, "yüz on bir bin yüz on bir"),
        (1000000, "bir milyon"),
        (1001000, "bir milyon bin"),
        (1990, "bin dokuz yüz doksan"),
        (2024, "iki bin yirmi dört"),
        (1_000_000_000, "bir milyar"),
        (1_000_000_000_000, "bir trilyon"),
        (10**15, "bir katrilyon"),
        (-7, "eksi yedi"),
    ],
)
def test_cardinal(n: int, words: str) -> None:
    assert cardinal(n) == words


def test_cardinal_all_six_digit_numbers_keep_bir_before_scales_only() -> None:
    # "bir" never precedes "yüz" or a lone "bin"; every group of one thousand reads "bin".
    for n in range(1000, 1_000_000, 997):
        words = cardinal(n).split()
        pairs = list(zip(words, words[1:], strict=False))
        assert ("bir", "yüz") not in pairs
        if n // 1000 == 1:
            assert words[0] == "bin"


def test_read_integer_leading_zero_and_long_runs_are_digit_by_digit() -> None:
    assert read_integer("007") == "sıfır sıfır yedi"
    assert read_integer("0") == "sıfır"
    assert read_integer("1" * 17) == " ".join(["bir"] * 17)
    assert digits("905") == "dokuz sıfır beş"


def test_decimal_keeps_leading_zeros_of_fraction() -> None:
    assert decimal("3", "5") == "üç virgül beş"
    assert decimal("3", "05") == "üç virgül sıfır beş"
    assert decimal("0", "75") == "sıfır virgül yetmiş beş"


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "birinci"),
        (2, "ikinci"),
        (3, "üçüncü"),
        (4, "dördüncü"),
        (5, "beşinci"),
        (6, "altıncı"),
        (7, "yedinci"),
        (8, "sekizinci"),
        (9, "dokuzuncu"),
        (10, "onuncu"),
        (19, "on dokuzuncu"),
        (40, "kırkıncı"),
        (60, "altmışıncı"),
        (100, "yüzüncü"),
        (1000, "bininci"),
        (1990, "bin dokuz yüz doksanıncı"),
        (1_000_000, "bir milyonuncu"),
    ],
)
def test_ordinal(n: int, words: str) -> None:
    assert ordinal(n) == words


@pytest.mark.parametrize(
    ("spoken", "suffix", "out"),
    [
        ("üç", "te", "üçte"),
        ("üç", "de", "üçte"),  # voiceless ç: d -> t
        ("beş", "te", "beşte"),
        ("dört", "te", "dörtte"),
        ("iki", "te", "ikide"),  # vowel: t -> d
        ("on", "ta", "onda"),
        ("kırk", "da", "kırkta"),
        ("altı", "sı", "altısı"),
        ("altı", "si", "altısı"),  # wrong harmony re-harmonised
        ("bin dokuz yüz doksan", "li", "bin dokuz yüz doksanlı"),
        ("dört", "ü", "dördü"),  # t softens before a vowel
        ("dört", "ün", "dördün"),
        ("iki", "i", "ikiyi"),  # buffer y
        ("iki", "in", "ikinin"),  # genitive buffer n
        ("üç", "nin", "üçün"),  # written buffer dropped after a consonant
        ("üç", "yü", "üçü"),
        ("üç", "sü", "üçü"),
        ("üç", "süz", "üçsüz"),  # -sIz keeps its s
        ("iki", "er", "ikişer"),  # distributive buffer ş
        ("üç", "şer", "üçer"),
        ("iki", "le", "ikiyle"),
        ("iki", "ler", "ikiler"),
        ("iki", "di", "ikiydi"),
        ("üç", "ydi", "üçtü"),
        ("on", "daki", "ondaki"),  # invariant -ki
        ("beş", "lerdeki", "beşlerdeki"),
        ("on", "larca", "onlarca"),
        ("on", "ken", "onken"),
        ("te be me me", "de", "te be me mede"),
        ("yüz", "e", "yüze"),
    ],
)
def test_attach_suffix_harmony(spoken: str, suffix: str, out: str) -> None:
    assert attach_suffix(spoken, suffix) == out


def test_attach_suffix_leaves_foreign_suffix_unchanged() -> None:
    assert attach_suffix("üç", "xyz") == "üç xyz"
    assert attach_suffix("üç", "") == "üç"


@pytest.mark.parametrize(
    ("s", "n"), [("I", 1), ("IV", 4), ("IX", 9), ("XIX", 19), ("XL", 40), ("MCMXC", 1990)]
)
def test_roman_value(s: str, n: int) -> None:
    assert roman_value(s) == n


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("12", "int"),
        ("1.250.000", "int"),
        ("3,5", "decimal"),
        ("29.10.1923", "date"),
        ("14:30", "time"),
        ("09.15", "time"),
        ("1/2", "fraction"),
        ("2-3", "other"),
        ("2.0.1", "other"),
        ("32.13.2020", "other"),  # no month 13: not a date
        ("24:30", "other"),  # no hour 24: not a time
    ],
)
def test_read_number_kinds(body: str, kind: str) -> None:
    assert read_number(body)[1] == kind


def test_money_main_and_hundredth_units() -> None:
    assert money("12,50", "decimal", "TL") == "on iki lira elli kuruş"
    assert money("5", "int", "$") == "beş dolar"
    assert money("0,05", "decimal", "€") == "beş sent"
    assert money("1,999", "decimal", "TL") == "bir virgül dokuz yüz doksan dokuz lira"
