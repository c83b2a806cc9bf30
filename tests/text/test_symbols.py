"""Symbol tables: Kokoro's vocabulary, sesli's phoneme table, the character table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sesli.text.g2p import G2P, phonemize
from sesli.text.symbols import (
    KOKORO_VOCAB,
    LETTERS,
    PHONEMES,
    PUNCTUATION,
    Encoded,
    SymbolTable,
    UnknownSymbolError,
    get_table,
)

CONFIG = Path(__file__).resolve().parents[2] / "src" / "sesli" / "models" / "kokoro-82m-v1.0-config.json"


def test_kokoro_vocab_is_the_config_vocab():
    assert json.loads(CONFIG.read_text(encoding="utf-8"))["vocab"] == KOKORO_VOCAB
    table = get_table("kokoro")
    assert table.pad_id == 0 and table.vocab_size == 178
    assert table.encode("cedˈi") == [45, 47, 46, 156, 51]


def test_inventory_is_in_kokoro_and_sesli():
    inventory = set(PHONEMES) | set(PUNCTUATION) | {" "}
    assert len(set(PHONEMES)) == len(PHONEMES) == 8 + 20 + 3 + 2  # vowels, consonants, c ɟ ŋ, ː ˈ
    assert "g" not in PHONEMES and "ɡ" in PHONEMES
    assert inventory <= set(KOKORO_VOCAB)
    assert inventory <= set(get_table("sesli").symbols)


def test_everything_the_g2p_emits_encodes_in_every_phoneme_table():
    g = G2P()
    words = ["kedi", "dükkân", "hâlâ", "ağaç", "değer", "ankara", "jüri", "çiğ", "şoför", "WhatsApp", "xq"]
    text = "Öğretmen mi? Evet, hemen — belki… sonra; şimdi: hayır!"
    outputs = [g.word(w) for w in words] + [phonemize(text).phonemes]
    for name in ("kokoro", "sesli"):
        table = get_table(name)
        for out in outputs:
            ids = table.encode(out)
            assert table.decode(ids) == out


def test_sesli_table_layout():
    table = get_table("sesli")
    assert table.pad_id == 0 and table.symbols[0] == "_"
    assert len(table) == 1 + len(PUNCTUATION) + 1 + len(PHONEMES)
    assert table.decode([0, *table.encode("ˈev"), 0]) == "ˈev"
    assert table.decode([0, 0], keep_pad=True) == "__"


def test_chars_table():
    table = get_table("chars")
    assert len(LETTERS) == 29 + 3 + 3
    assert set("abcçdefgğhıijklmnoöprsştuüvyzâîûqwx") <= set(table.symbols)
    assert table.decode(table.encode("ağaç, ığdır!")) == "ağaç, ığdır!"


def test_strict_encode_names_the_unknown_symbols():
    with pytest.raises(UnknownSymbolError, match=r"'@' \(U\+0040\).*'g' \(U\+0067\)") as err:
        get_table("sesli").encode("a@bg@")
    assert err.value.symbols == ["@", "g"]
    assert err.value.table == "sesli"


def test_report_encode_skips_and_lists():
    enc = get_table("sesli").encode("a@b😀a", errors="report")
    assert isinstance(enc, Encoded)
    assert get_table("sesli").decode(enc.ids) == "aba"
    assert enc.skipped == ["@", "😀"]
    clean = get_table("sesli").encode("ab", errors="report")
    assert clean.skipped == [] and len(clean.ids) == 2
    with pytest.raises(ValueError, match="errors must be"):
        get_table("sesli").encode("a", errors="ignore")  # type: ignore[arg-type]


def test_decode_rejects_unknown_ids_and_bad_tables():
    with pytest.raises(ValueError, match="no symbol with id 999"):
        get_table("sesli").decode([999])
    with pytest.raises(ValueError, match="unknown symbol table 'ipa'"):
        get_table("ipa")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="single code points"):
        SymbolTable("bad", {"ab": 1})
    with pytest.raises(ValueError, match="share an id"):
        SymbolTable("bad", {"a": 1, "b": 1})
