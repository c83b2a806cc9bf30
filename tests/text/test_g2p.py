"""The Turkish G2P against its contract (the Turkish phoneme spec): every spec example, and more
examples of our own for each rule."""

from __future__ import annotations

import pytest

from sesli.text.g2p import G2P, G2PResult, characters, g2p, phonemize, segments
from sesli.text.lexicon import LexiconError
from sesli.text.symbols import PHONEMES, PUNCTUATION


@pytest.fixture(scope="module")
def tr() -> G2P:
    return G2P()


def check(tr: G2P, cases: list[tuple[str, str]]) -> None:
    got = [(word, tr.word(word)) for word, _ in cases]
    assert got == cases


# ----------------------------------------------------------------- the spec's examples, one by one
SPEC_WORDS = [
    ("kedi", "cedˈi"),
    ("renk", "ɾˈeŋc"),
    ("kâr", "cˈaɾ"),
    ("rüzgâr", "ɾyzɟˈaɾ"),
    ("mahkûm", "mahcˈum"),
    ("dükkân", "dyccˈan"),
    ("hâlâ", "ˈhaːlaː"),
    ("millî", "millˈiː"),
    ("dağ", "dˈaː"),
    ("öğretmen", "øːɾetmˈen"),
    ("ağrı", "aːɾˈɯ"),
    ("ağaç", "ˈaːʧ"),
    ("değer", "dejˈeɾ"),
    ("soğuk", "soˈuk"),
    ("doğu", "doˈu"),
    ("ağır", "aˈɯɾ"),
    ("ankara", "ˈaŋkaɾa"),
    ("ad", "ˈat"),
    ("ahmed", "ahmˈet"),
    ("hac", "hˈaʧ"),
    ("kitaplar", "citaplˈaɾ"),
    ("ev", "ˈev"),
    ("istanbul", "istˈanbul"),
    ("antalya", "antˈalja"),
    ("şimdi", "ʃˈimdi"),
    ("nasıl", "nˈasɯl"),
    ("belki", "bˈelci"),
    ("lokanta", "lokˈanta"),
    ("masa", "mˈasa"),
    ("gelmedi", "ɟˈelmedi"),
    ("güzeldir", "ɟyzˈeldiɾ"),
    ("geliyor", "ɟelˈijoɾ"),
]


@pytest.mark.parametrize(("word", "expected"), SPEC_WORDS)
def test_spec_examples_word_mode(tr, word, expected):
    assert tr.word(word) == expected


def _capital(word: str) -> str:
    return ("İ" if word[0] == "i" else "I" if word[0] == "ı" else word[0].upper()) + word[1:]


@pytest.mark.parametrize(("text", "expected"), [(_capital(w), p) for w, p in SPEC_WORDS])
def test_spec_examples_through_the_normaliser(text, expected):
    assert g2p(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ankara", "ˈaŋkaɾa"),
        ("İstanbul", "istˈanbul"),
        ("Antalya'dan", "antˈaljadan"),
        ("Türkiye'nin", "tˈyɾcijenin"),
        ("Ahmed", "ahmˈet"),
        ("geldi mi", "ɟeldˈi mi"),
    ],
)
def test_spec_sentence_examples(text, expected):
    assert g2p(text) == expected


# --------------------------------------------------------------------------------- rule by rule
def test_casing_is_turkish():
    assert g2p("IRMAK") == "ɯɾmˈak"  # I -> ı, not i
    assert g2p("İZMİR") == "ˈizmiɾ"
    assert g2p("ka\u0302r") == "cˈaɾ"  # a + combining circumflex is NFC â


def test_palatal_k_g(tr):
    check(
        tr,
        [
            ("göz", "ɟˈøz"),
            ("gül", "ɟˈyl"),
            ("kız", "kˈɯz"),
            ("kalem", "kalˈem"),
            ("ekmek", "ecmˈec"),  # both k close a syllable after e
            ("yürek", "jyɾˈec"),
            ("tek", "tˈec"),
            ("kâtip", "catˈip"),
            ("türkçe", "tˈyɾcʧe"),
        ],
    )


def test_circumflex(tr):
    check(
        tr,
        [
            ("hâkim", "haːcˈim"),  # after h: a long vowel
            ("lâzım", "lazˈɯm"),  # after l: a plain vowel, l stays l
            ("resmî", "ɾesmˈiː"),
            ("askerî", "asceɾˈiː"),
        ],
    )


def test_soft_g(tr):
    check(
        tr,
        [
            ("yağmur", "jaːmˈuɾ"),
            ("sağ", "sˈaː"),
            ("sığ", "sˈɯː"),
            ("eğlence", "eːlenʤˈe"),
            ("iğne", "iːnˈe"),
            ("uğur", "ˈuːɾ"),
            ("öğe", "øjˈe"),
            ("diğer", "dijˈeɾ"),
            ("ağız", "aˈɯz"),
            ("oğul", "oˈul"),
            ("boğaz", "boˈaz"),
        ],
    )


def test_velar_nasal(tr):
    check(tr, [("denge", "deŋɟˈe"), ("tank", "tˈaŋk"), ("ingiliz", "iŋɟilˈiz"), ("mangal", "maŋɡˈal")])


def test_final_devoicing_only_word_final(tr):
    check(tr, [("mehmed", "mehmˈet"), ("mahmud", "mahmˈut"), ("kebab", "cebˈap"), ("ilaç", "ilˈaʧ")])
    assert g2p("Ahmed'in") == "ahmˈedin"  # not final: stays d


def test_written_double_vowel_is_long(tr):
    check(tr, [("saat", "sˈaːt"), ("hadiii", "hadˈiː")])


def test_default_final_stress(tr):
    check(tr, [("evlerimizden", "evleɾimizdˈen"), ("çocuk", "ʧoʤˈuk"), ("irmak", "iɾmˈak")])


def test_lexical_stress(tr):
    check(
        tr,
        [
            ("izmir", "ˈizmiɾ"),
            ("adana", "adˈana"),
            ("bursa", "bˈuɾsa"),
            ("avrupa", "ˈavɾupa"),
            ("amerika", "ameɾˈika"),
            ("almanya", "almˈanja"),
            ("çanakkale", "ʧanˈakkale"),
            ("sonra", "sˈonɾa"),
            ("hemen", "hˈemen"),
            ("yarın", "jˈaɾɯn"),
            ("nerede", "nˈeɾede"),
            ("niçin", "nˈiʧin"),
            ("hangi", "hˈaŋɟi"),
            ("fabrika", "fˈabɾika"),
            ("kamera", "kˈameɾa"),
            ("televizyon", "televˈizjon"),
        ],
    )


def test_lexical_stress_survives_suffixes_but_not_lookalikes(tr):
    check(tr, [("lokantada", "lokˈantada"), ("masalar", "mˈasalaɾ"), ("masal", "masˈal")])
    assert g2p("Ne zaman geldin?") == "nˈe zaman ɟeldˈin?"


def test_proper_noun_keeps_stem_stress_under_apostrophe():
    assert g2p("Ahmet'in kitabı") == "ahmˈetin citabˈɯ"
    assert g2p("İzmir'de") == "ˈizmiɾde"
    assert g2p("Ali'ye") == "alˈije"
    assert "'" not in g2p("Ali’ye")


def test_prestressing_suffixes(tr):
    check(
        tr,
        [
            ("gelmiyor", "ɟˈelmijoɾ"),  # the negative wins over -Iyor
            ("gelmeyecek", "ɟˈelmejeʤec"),
            ("yazmadım", "jˈazmadɯm"),
            ("okumadı", "okˈumadɯ"),
            ("evdir", "ˈevdiɾ"),
            ("öğretmendir", "øːɾetmˈendiɾ"),
            ("gelmiştir", "ɟelmˈiʃtiɾ"),
            ("gelirken", "ɟelˈiɾcen"),
        ],
    )


def test_suffix_rules_do_not_misfire_on_stems(tr):
    check(
        tr,
        [
            ("gemi", "ɟemˈi"),
            ("elma", "elmˈa"),
            ("gelmek", "ɟelmˈec"),  # infinitive, not the negative
            ("yemek", "jemˈec"),
            ("satır", "satˈɯɾ"),  # a noun, not the copula
            ("kültür", "cyltˈyɾ"),
            ("komedi", "komedˈi"),
            ("erken", "eɾcˈen"),
        ],
    )
    assert g2p("dır dır") == "dˈɯɾ dˈɯɾ"


def test_progressive(tr):
    check(tr, [("okuyor", "okˈujoɾ"), ("bekliyorlar", "beclˈijoɾlaɾ"), ("anlıyorum", "anlˈɯjoɾum")])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sen de", "sˈen de"),
        ("ev ve araba", "ˈev ve aɾabˈa"),
        ("gelecek misin", "ɟeleʤˈec misin"),
        ("biliyor musunuz", "bilˈijoɾ musunuz"),
        ("güzel miydi", "ɟyzˈel mijdi"),
        ("o ki", "ˈo ci"),
        ("mum", "mˈum"),  # not a particle
    ],
)
def test_particles_are_unstressed(text, expected):
    assert g2p(text) == expected


def test_one_stress_per_word_and_particles_none():
    result = phonemize("Öğretmenler de kitapları okudular mı, yoksa hâlâ bekliyorlar mı?")
    for word, phon in result.words:
        assert phon.count("ˈ") == (0 if word in {"de", "mı"} else 1), (word, phon)


def test_foreign_words_read_the_turkish_way(tr):
    assert tr.word("whatsapp") == "vhatsˈapp"
    assert tr.word("quiz") == "kuˈiz"
    assert tr.word("box") == "bˈoks"
    assert tr.word("café") == tr.word("cafe") == "ʤafˈe"
    assert tr.word("tbmm") == "tebememˈe"  # no vowel: Turkish letter names
    allowed = set(PHONEMES)
    for word in ["xylophone", "wwww", "qqq", "straße", "łódź", "smørrebrød"]:
        assert set(tr.word(word)) <= allowed, word


def test_user_lexicon_overrides_and_reports_bad_lines(tmp_path):
    lex = tmp_path / "my.tsv"
    lex.write_text("# mine\nWhatsApp\tvˈatsap\nmasa\t-1\nkarpuz\t1\n", encoding="utf-8")
    mine = G2P(lex)
    assert mine.word("whatsapp") == "vˈatsap"
    assert mine.phonemize("WhatsApp'tan yazdım").phonemes == "vˈatsaptan jazdˈɯm"
    assert mine.word("masa") == "masˈa"  # overrides the shipped loan entry
    assert mine.word("karpuzlar") == "kˈaɾpuzlaɾ"
    assert phonemize("WhatsApp", lexicon=lex).phonemes == "vˈatsap"

    bad = tmp_path / "bad.tsv"
    bad.write_text("ev\t1\nkapı\tk@pɯ\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"bad\.tsv:2:.*k@pɯ"):
        G2P(bad)
    bad.write_text("ev 1\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"bad\.tsv:1: expected 'word<TAB>value'"):
        G2P(bad)
    bad.write_text("ev\t0\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r":1:.*count syllables from 1"):
        G2P(bad)
    with pytest.raises(LexiconError, match="not found"):
        G2P(tmp_path / "missing.tsv")


def test_punctuation_and_spacing():
    assert g2p("Merhaba, dünya!") == "mˈeɾhaba, dynjˈa!"
    assert g2p("  ev   ev  ") == "ˈev ˈev"
    assert g2p("Evet... Hayır?!") == "ˈevet… hˈajɯɾ?!"
    assert g2p("") == ""


def test_result_fields_and_unknown_reported():
    r = phonemize("Ali 😀 geldi, Иван")
    assert isinstance(r, G2PResult)
    assert r.text == "Ali 😀 geldi, Иван"
    assert r.phonemes == "alˈi ɟeldˈi,"
    assert r.words == [("ali", "alˈi"), ("geldi", "ɟeldˈi")]
    assert r.unknown == ["😀", "и", "в", "а", "н"]  # the normaliser lower-cases Cyrillic too
    assert set(r.phonemes) <= set(PHONEMES) | set(PUNCTUATION) | {" "}


def test_character_mode():
    assert characters("Saat 5'te WhatsApp!") == "saat beşte whatsapp!"
    r = phonemize("İyi, çok İyi. Iğdır", mode="chars")
    assert r.phonemes == "iyi, çok iyi. ığdır"
    with pytest.raises(ValueError, match="mode"):
        phonemize("x", mode="ipa")  # type: ignore[arg-type]


def test_segments_maps_written_vowels_to_sounds():
    toks, vtok = segments("ağaç")
    assert toks == ["aː", "ʧ"] and vtok == [0, 0]
    toks, vtok = segments("değer")
    assert toks == ["d", "e", "j", "e", "ɾ"] and vtok == [1, 3]


def test_sezer_rule_on_syllable_weights():
    from sesli.text.stress import sezer

    assert sezer([True, False, False]) == 0  # An-ka-ra: heavy antepenult before a light penult
    assert sezer([True, True, False]) == 1  # An-tal-ya
    assert sezer([False, False, False]) == 1  # A-da-na
    assert sezer([True]) == 0 and sezer([False, True]) == 0


def test_user_phrase_entries(tmp_path):
    lex = tmp_path / "phrases.tsv"
    lex.write_text("her zaman\thˈeɾ zaman\n", encoding="utf-8")
    r = G2P(lex).phonemize("Her zaman geldi.")
    assert r.phonemes == "hˈeɾ zaman ɟeldˈi."
    assert r.words[:2] == [("her", "hˈeɾ"), ("zaman", "zaman")]
    lex.write_text("her zaman\t1\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="phrase needs phonemes"):
        G2P(lex)


def test_user_stress_entry_for_a_foreign_spelling(tmp_path):
    lex = tmp_path / "x.tsv"
    lex.write_text("xerox\t1\n", encoding="utf-8")
    assert G2P(lex).word("xerox") == "csˈeɾoks"  # k before a front vowel: palatal
    assert G2P(lex).phonemize("Xerox'tan").phonemes == "csˈeɾokstan"


def test_circumflex_left_out_in_everyday_spelling(tr, tmp_path):
    check(tr, [("hikayeler", "hicajelˈeɾ"), ("dükkanı", "dyccanˈɯ"), ("rüzgar", "ɾyzɟˈaɾ"), ("kar", "kˈaɾ")])
    lex = tmp_path / "r.tsv"
    lex.write_text("gol\t=göl\n", encoding="utf-8")
    assert G2P(lex).word("gollerde") == "ɟølleɾdˈe"
    lex.write_text("gol\t=g0l\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"r\.tsv:1:.*respelling"):
        G2P(lex)
