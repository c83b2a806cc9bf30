"""Sentence, clause and word spans over the original text: one test per rule, then properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sesli.text.sentences import Span, first_chunk, split_clauses, split_sentences, words


def _texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def _check_spans(text: str, spans: list[Span], within: Span | None = None) -> None:
    """Offsets exact, stripped, in order, non-overlapping, nothing but whitespace lost.

    With ``within``, the spans must cover that span of ``text`` instead of all of it.
    """
    start, end = (within.start, within.end) if within else (0, len(text))
    last_end = start
    for s in spans:
        assert text[s.start : s.end] == s.text
        assert s.text and s.text == s.text.strip()
        assert last_end <= s.start and s.end <= end
        last_end = s.end
    assert "".join("".join(s.text.split()) for s in spans) == "".join(text[start:end].split())


# ------------------------------------------------------------------------------ sentences


@pytest.mark.parametrize("text", ["", " ", " \n\t\r\n  "])
def test_blank_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_no_terminator_is_one_span_without_surrounding_whitespace() -> None:
    text = "  \tmerhaba dünya  \n"
    assert split_sentences(text) == [Span(3, 16, "merhaba dünya", True)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Geldi. Gitti.", ["Geldi.", "Gitti."]),
        ("Geldi mi? Evet! Peki… Tamam", ["Geldi mi?", "Evet!", "Peki…", "Tamam"]),
        ("Ne?! Olamaz... Gerçekten?!? Evet", ["Ne?!", "Olamaz...", "Gerçekten?!?", "Evet"]),
        ("Ali geldi. 3 kişi daha geldi.", ["Ali geldi.", "3 kişi daha geldi."]),
        ('Geldi. "Merhaba" dedi.', ["Geldi.", '"Merhaba" dedi.']),
        ("Geldi. (Sonra) gitti. «Evet» dedi.", ["Geldi.", "(Sonra) gitti.", "«Evet» dedi."]),
    ],
)
def test_terminators_before_upper_digit_quote_or_bracket(text: str, expected: list[str]) -> None:
    assert _texts(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Bilmem... belki gelir.", "Ne? dedi.", "Geldi! diye bağırdı.", "geldi.sonra gitti", "Evet.Hayır"],
)
def test_no_end_before_lower_case_or_without_space(text: str) -> None:
    assert _texts(text) == [text]


def test_turkish_dotted_and_dotless_capitals_start_sentences() -> None:
    assert _texts("Geldi. İstanbul güzel. Işık yandı.") == ["Geldi.", "İstanbul güzel.", "Işık yandı."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bir\niki", ["bir", "iki"]),
        ("bir\r\niki\rüç", ["bir", "iki", "üç"]),
        ("Başlık\n\nBirinci paragraf devam\nediyor", ["Başlık", "Birinci paragraf devam", "ediyor"]),
        ("bir\u2028iki", ["bir", "iki"]),
    ],
)
def test_line_breaks_end_sentences(text: str, expected: list[str]) -> None:
    assert _texts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Ahmet geldi.",
        "Prof. Dr. Ayşe Yılmaz konuştu.",
        "Sn. Bakan söz aldı.",
        "Av. Mehmet Bey geldi.",
        "Doç. Dr. Can Arslan ve Yrd. Doç. Dr. Ece Kaya geldi.",
        "Dr. Öğr. Üyesi Ali Kaya ders verdi.",
        "Öğr. Gör. Deniz Ak geldi.",
        "Bkz. Ek 3 ve bkz. Bölüm 2.",
        "Örn. Ankara ve ör. İzmir.",
        "T.C. Sağlık Bakanlığı açıkladı.",
    ],
)
def test_titles_never_end_a_sentence(text: str) -> None:
    assert _texts(text) == [text]


def test_title_at_end_of_text() -> None:
    assert _texts("Onu muayene eden Dr.") == ["Onu muayene eden Dr."]


@pytest.mark.parametrize(
    "text",
    [
        "elma, armut vb. meyveler aldık.",
        "kalem, defter vs. aldık.",
        "Yılmaz vd. bu konuyu inceledi.",
        "Bu eser 15. yy. sonlarında yazıldı.",
        "Vb. şeyler oldu.",
    ],
)
def test_trailing_abbreviation_before_lower_case_does_not_end(text: str) -> None:
    assert _texts(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("elma, armut vb. Sonra eve gittik.", ["elma, armut vb.", "Sonra eve gittik."]),
        ("kalem, defter vs. İstanbul'a döndük.", ["kalem, defter vs.", "İstanbul'a döndük."]),
    ],
)
def test_trailing_abbreviation_before_upper_case_ends(text: str, expected: list[str]) -> None:
    assert _texts(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Atatürk Cad. No. 5 Çankaya.", "Gül Sok. Mah. sakinleri geldi.", "Deniz Tic. Ltd. Şti. bugün açıldı."],
)
def test_trailing_abbreviation_before_another_abbreviation(text: str) -> None:
    assert _texts(text) == [text]


def test_before_number_abbreviation_before_a_digit() -> None:
    assert _texts("Kitabın s. 12 ve no. 5 bölümü.") == ["Kitabın s. 12 ve no. 5 bölümü."]


@pytest.mark.parametrize(
    "text",
    [
        "Fiyatı 3,5 lira oldu.",
        "Sürüm 3.5 çıktı.",
        "Nüfus 1.000.000 kişiyi aştı.",
        "Toplantı 14.30 da başlar.",
        "Cumhuriyet 29.10.1923 tarihinde ilan edildi.",
    ],
)
def test_numbers_never_split(text: str) -> None:
    assert _texts(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3. madde iptal edildi.", ["3. madde iptal edildi."]),
        ("XIX. yüzyılda yazıldı.", ["XIX. yüzyılda yazıldı."]),
        ("2. Dünya Savaşı bitti.", ["2. Dünya Savaşı bitti."]),
        ("II. Dünya Savaşı'nda oldu.", ["II. Dünya Savaşı'nda oldu."]),
        ("Sınıfta 30 kişi var. Ali geldi.", ["Sınıfta 30 kişi var.", "Ali geldi."]),
        ("Sonuç 5. Ali kazandı.", ["Sonuç 5.", "Ali kazandı."]),
        ("Saat 14.30. Sonra gittik.", ["Saat 14.30.", "Sonra gittik."]),
    ],
)
def test_ordinals_and_numbers_at_sentence_end(text: str, expected: list[str]) -> None:
    assert _texts(text) == expected


@pytest.mark.parametrize(
    "text",
    ["A. Hamdi Tanpınar yazdı.", "M. K. Atatürk geldi.", "Yazar (A. Hamdi) geldi.", "M.K. Atatürk geldi."],
)
def test_single_capital_initials_do_not_end(text: str) -> None:
    assert _texts(text) == [text]


def test_initials_are_single_letters_only() -> None:
    assert _texts("Gittik ABD. Sonra döndük.") == ["Gittik ABD.", "Sonra döndük."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"Geldim." dedi.', ['"Geldim." dedi.']),
        ('Ali "Geldim." dedi.', ['Ali "Geldim." dedi.']),
        ('Dedi ki: "Geldim." Sonra gitti.', ['Dedi ki: "Geldim."', "Sonra gitti."]),
        ("O gün (sanırım salıydı.) Ali geldi.", ["O gün (sanırım salıydı.)", "Ali geldi."]),
        ("“Gel!” dedi. «Tamam?» Evet.", ["“Gel!” dedi.", "«Tamam?»", "Evet."]),
    ],
)
def test_closing_quotes_and_brackets_stay_with_the_sentence(text: str, expected: list[str]) -> None:
    assert _texts(text) == expected


def test_offsets_point_into_the_original_text() -> None:
    text = '  Dr. Ahmet geldi.\n\n  Sonra   "gitti!" Işık yandı.  '
    spans = split_sentences(text)
    assert [(s.start, s.end) for s in spans] == [(2, 18), (22, 38), (39, 50)]
    assert all(s.final for s in spans)
    _check_spans(text, spans)


# -------------------------------------------------------------------------------- clauses


def test_clauses_cut_after_clause_punctuation() -> None:
    clauses = split_clauses("Ali geldi, Veli gitti; Ayşe dedi ki: kal — lütfen – dedi.")
    assert [c.text for c in clauses] == [
        "Ali geldi,",
        "Veli gitti;",
        "Ayşe dedi ki:",
        "kal —",
        "lütfen –",
        "dedi.",
    ]
    assert [c.final for c in clauses] == [False] * 5 + [True]


def test_clauses_keep_offsets_of_the_sentence() -> None:
    text = "Geldim. Sonra, biraz dinlenip 3,5 kilo elma aldım."
    sentence = split_sentences(text)[1]
    clauses = split_clauses(sentence)
    assert [c.text for c in clauses] == ["Sonra,", "biraz dinlenip 3,5 kilo elma aldım."]
    assert [(c.start, c.end) for c in clauses] == [(8, 14), (15, 50)]
    _check_spans(text, clauses, within=sentence)


@pytest.mark.parametrize("text", ["3,5 kilo", "saat 14:30 da", "Ali—Veli geldi", "a,b,c"])
def test_clause_punctuation_without_space_does_not_cut(text: str) -> None:
    assert [c.text for c in split_clauses(text)] == [text]


def test_punctuation_only_pieces_join_their_neighbour() -> None:
    assert [c.text for c in split_clauses("— Evet, dedi.")] == ["— Evet,", "dedi."]
    assert [c.text for c in split_clauses("Ali geldi, .")] == ["Ali geldi, ."]


def test_last_clause_keeps_the_span_final_flag() -> None:
    piece = Span(10, 22, "bir, iki üç", False)
    assert [c.final for c in split_clauses(piece)] == [False, False]
    assert split_clauses(piece)[1] == Span(15, 21, "iki üç", False)


# ---------------------------------------------------------------------------------- words


def test_words_with_offsets() -> None:
    text = "Hava  3,5 derece, Işık!"
    assert words(text) == [
        Span(0, 4, "Hava", False),
        Span(6, 9, "3,5", False),
        Span(10, 17, "derece,", False),
        Span(18, 23, "Işık!", False),
    ]
    sentence = split_sentences("Geldi. Sonra gitti.")[1]
    assert words(sentence) == [Span(7, 12, "Sonra", False), Span(13, 19, "gitti.", False)]


# ---------------------------------------------------------------------------- first chunk


def test_first_chunk_short_sentence_is_whole() -> None:
    first, rest = first_chunk("Merhaba, nasılsın bugün? Ben iyiyim.")
    assert first == Span(0, 24, "Merhaba, nasılsın bugün?", True)
    assert [s.text for s in rest] == ["Ben iyiyim."]


def test_first_chunk_cuts_at_first_clause_in_range() -> None:
    text = "Bugün hava çok güzel, parka gidip uzun bir yürüyüş yapacağız. Sonra döneriz."
    first, rest = first_chunk(text)
    assert (first.text, first.final) == ("Bugün hava çok güzel,", False)
    assert [(s.text, s.final) for s in rest] == [
        ("parka gidip uzun bir yürüyüş yapacağız.", True),
        ("Sonra döneriz.", True),
    ]
    _check_spans(text, [first, *rest])


def test_first_chunk_skips_a_too_short_first_clause() -> None:
    first, _ = first_chunk("Evet, bugün hava çok güzel, parka gidip uzun bir yürüyüş yapacağız.")
    assert first.text == "Evet, bugün hava çok güzel,"


def test_first_chunk_without_clause_cuts_at_half_plus_one_words() -> None:
    text = "Bir iki üç dört 3,5 altı yedi sekiz dokuz on."
    first, rest = first_chunk(text)
    assert first.text == "Bir iki üç dört 3,5"
    assert [s.text for s in rest] == ["altı yedi sekiz dokuz on."]
    _check_spans(text, [first, *rest])


def test_first_chunk_ignores_a_clause_past_max_words() -> None:
    first, _ = first_chunk("bir iki üç dört beş altı yedi sekiz dokuz, on on bir on iki")
    assert first.text == "bir iki üç dört beş"


def test_first_chunk_rejects_blank_text_and_bad_limits() -> None:
    with pytest.raises(ValueError):
        first_chunk("   ")
    with pytest.raises(ValueError):
        first_chunk("bir iki", max_words=2, min_words=3)
    with pytest.raises(ValueError):
        first_chunk("bir iki", min_words=0)


# ----------------------------------------------------------------------------- properties

_PIECES = st.sampled_from(
    [*"aAİIıiÇşxyz 3590.,;:!?…—–\"'()«»“”\n\r\t", "Dr. ", "Prof. Dr. ", "vb. ", "A. ", "3. ", "1.000", "... "]
)
_TEXT = st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=40).map("".join))


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_sentence_offsets_are_exact_and_nothing_is_lost(text: str) -> None:
    sentences = split_sentences(text)
    _check_spans(text, sentences)
    assert all(s.final for s in sentences)
    assert not any(len(s.text.splitlines()) > 1 for s in sentences)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_clauses_and_words_cover_each_sentence(text: str) -> None:
    for sentence in split_sentences(text):
        clauses = split_clauses(sentence)
        _check_spans(text, clauses, within=sentence)
        assert clauses[0].start == sentence.start and clauses[-1].end == sentence.end
        assert [c.final for c in clauses] == [False] * (len(clauses) - 1) + [True]
        _check_spans(text, words(sentence), within=sentence)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.integers(1, 10), st.integers(0, 6))
def test_first_chunk_covers_the_text(text: str, min_words: int, extra: int) -> None:
    if not text.strip():
        return
    first, rest = first_chunk(text, min_words=min_words, max_words=min_words + extra)
    _check_spans(text, [first, *rest])
    assert len(words(first)) <= min_words + extra
    assert all(s.final for s in rest)
