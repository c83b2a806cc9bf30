"""Property tests: the G2P never crashes, emits only its inventory, reports what it cannot read, and
stays linear in the input length."""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sesli.text.g2p import characters, phonemize
from sesli.text.symbols import LETTERS, PHONEMES, PUNCTUATION

ALLOWED = set(PHONEMES) | set(PUNCTUATION) | {" "}
CHAR_ALLOWED = set(LETTERS) | set(PUNCTUATION) | {" "}
EMOJI = "😀🎉🇹🇷👍🏽❤️🤖"
CYRILLIC = "Привет мир"
ARABIC = "مرحبا بالعالم"
CJK = "你好世界こんにちは"
CONTROL = "\x00\x07\x1b\x7f"
TURKISH = "Ağaç değer İstanbul'da 12 Mart 2024 saat 14:30'da %50 indirim... Kâr? Hâlâ! WhatsApp"

mixed = st.lists(
    st.one_of(
        st.text(max_size=30),
        st.sampled_from([EMOJI, CYRILLIC, ARABIC, CJK, CONTROL, TURKISH, "—", "…", "'", "’", "İI", "ğğğ"]),
        st.text(alphabet="abcçdefgğhıijklmnoöprsştuüvyzâîûqwxIİ '.,?!-", max_size=40),
    ),
    max_size=6,
).map("".join)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _script(ch: str) -> str:
    return unicodedata.name(ch, "").split(" ")[0]


@SETTINGS
@given(mixed)
def test_never_crashes_and_stays_in_the_inventory(text):
    r = phonemize(text)
    assert set(r.phonemes) <= ALLOWED
    assert r.phonemes == r.phonemes.strip() and "  " not in r.phonemes
    for word, phon in r.words:
        assert phon.count("ˈ") <= 1, (word, phon)
        assert " " not in phon
    assert len(set(r.unknown)) == len(r.unknown)


@SETTINGS
@given(mixed)
def test_unreadable_characters_are_reported_not_dropped(text):
    r = phonemize(text)
    reported = set(r.unknown)
    for ch in set(text):
        if _script(ch) in {"CYRILLIC", "ARABIC", "CJK", "HIRAGANA"}:
            # reported as the normaliser writes it (NFC, lower case)
            assert unicodedata.normalize("NFC", ch).lower() in reported, ch
        if ch in EMOJI and unicodedata.category(ch) == "So":
            assert ch in reported, ch
        if ch in CONTROL:
            assert ch in reported, repr(ch)


@SETTINGS
@given(mixed)
def test_character_mode_stays_in_its_alphabet(text):
    assert set(characters(text)) <= CHAR_ALLOWED


def test_every_script_at_once():
    r = phonemize(f"{TURKISH} {EMOJI} {CYRILLIC} {ARABIC} {CJK} {CONTROL}")
    assert r.phonemes.startswith("ˈaːʧ dejˈeɾ istˈanbulda")
    assert {"😀", "п", "م", "你", "\x07"} <= set(r.unknown)


def _corpus(n_chars: int) -> str:
    path = Path(__file__).resolve().parents[2] / "data" / "cv_tr_sentences.txt"
    base = path.read_text(encoding="utf-8") if path.exists() else TURKISH + "\n"
    return (base * (n_chars // len(base) + 1))[:n_chars]


def test_one_megabyte_in_linear_time():
    small, big = _corpus(100_000), _corpus(1_000_000)
    t0 = time.perf_counter()
    phonemize(small)
    t_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = phonemize(big)
    t_big = time.perf_counter() - t0
    assert len(r.phonemes) > 500_000
    # 10x the text: well under 30x the time (quadratic would be 100x); generous for a busy machine.
    assert t_big < max(30 * t_small, 1.0) and t_big < 20.0, (t_small, t_big)


def test_pathological_one_megabyte_words():
    for junk in ("a" * 300_000, "ğ" * 300_000, "bcdfg" * 60_000, "ıiıi" * 75_000, "ağ'" * 100_000):
        t0 = time.perf_counter()
        r = phonemize(junk)
        assert time.perf_counter() - t0 < 20.0
        assert set(r.phonemes) <= ALLOWED
