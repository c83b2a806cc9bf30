"""Piper-convention ids for sesli VITS voices: framing, split affricates, the espeak-ng map."""

from __future__ import annotations

import pytest

from sesli.text import piper_ids
from sesli.text.g2p import g2p
from sesli.text.symbols import UnknownSymbolError


def test_framing_is_bos_pad_id_pad_eos() -> None:
    table = piper_ids.phoneme_id_map()
    assert (table["_"], table["^"], table["$"], table[" "]) == (0, 1, 2, 3)  # Piper's fixed ids
    assert piper_ids.encode("ab") == [1, 0, table["a"], 0, table["b"], 0, 2]
    assert piper_ids.encode("") == [1, 0, 2]


def test_affricates_are_written_as_espeak_writes_them() -> None:
    table = piper_ids.phoneme_id_map()
    assert "ʧ" not in table and "ʤ" not in table
    assert piper_ids.encode("ʧ")[2:5] == [table["t"], 0, table["ʃ"]]
    assert piper_ids.decode(piper_ids.encode("ʤaʧ")) == "dʒatʃ"


def test_every_g2p_output_encodes() -> None:
    for text in ("Çiçekçi dükkânında ağaç değil, güzel çiçekler var!", "Hâlâ ağrı; İstanbul'a mı?"):
        ids = piper_ids.encode(g2p(text))
        assert ids[0] == 1 and ids[-1] == 2 and all(i == 0 for i in ids[1::2])


def test_unknown_symbols_are_named() -> None:
    with pytest.raises(UnknownSymbolError, match="'X'.*'\\^'"):
        piper_ids.encode("aX^")


def test_espeak_map_lands_on_trained_symbols() -> None:
    table = piper_ids.phoneme_id_map()
    for source, targets in piper_ids.ESPEAK_PHONEME_MAP.items():
        assert source not in table, source  # only symbols the voice lacks are mapped
        assert all(t in table for t in targets), (source, targets)
