"""Splitting phoneme strings under Kokoro's 510-symbol limit."""

import pytest

from sesli.inference.chunking import PHRASE_PAUSE, SENTENCE_PAUSE, split_phonemes


def test_one_chunk_per_sentence_with_pauses():
    chunks = split_phonemes("mˈeɾhaba. nasˈɯlsɯn? ijˈijim!")
    assert [c.phonemes for c in chunks] == ["mˈeɾhaba.", "nasˈɯlsɯn?", "ijˈijim!"]
    assert all(c.pause_after == SENTENCE_PAUSE for c in chunks)


def test_long_sentence_is_cut_at_phrases_then_words_never_inside_a_word():
    phrase = " ".join(["kelime"] * 30)  # 209 symbols
    text = ", ".join([phrase] * 4) + "."
    chunks = split_phonemes(text, limit=100)
    assert all(len(c.phonemes) <= 100 for c in chunks)
    assert " ".join(c.phonemes for c in chunks).split() == text.split()  # every word whole, in order
    assert chunks[-1].pause_after == SENTENCE_PAUSE
    assert PHRASE_PAUSE in {c.pause_after for c in chunks}


def test_a_single_overlong_word_is_cut_with_a_warning():
    word = "a" * 1200
    with pytest.warns(UserWarning, match="single word of 1200"):
        chunks = split_phonemes(f"bir {word} iki.", limit=510)
    assert all(len(c.phonemes) <= 510 for c in chunks)
    assert "".join(c.phonemes for c in chunks).replace(" ", "") == f"bir{word}iki."


def test_whitespace_only_gives_no_chunks():
    assert split_phonemes("  \n \n ") == []
