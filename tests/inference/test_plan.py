"""The server's planner: small first chunk, growing chunks, the user's words with their times."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import sesli
from sesli.inference.base import RenderItem, SynthesisError
from sesli.inference.plan import GROWTH, make_piece, plan_speech

PARAGRAPH = (
    "Dr. Ayşe Yılmaz, 3,5 yıl önce İstanbul'a taşındığında şehrin kalabalığına alışmakta zorlandı. "
    "Sabahları vapurla karşıya geçiyor, akşamları da eve yürüyerek dönüyordu. "
    "Zamanla bu düzen hoşuna gitti. Şimdi çay, simit vb. şeyleri özlemeden bir gün geçirmiyor. "
    "Hafta sonları müzeleri geziyor ve arkadaşlarıyla buluşuyor. Hayatından memnun."
)


@pytest.fixture(scope="module")
def debug():
    return sesli.load("debug", noise=False)


def test_first_chunk_is_one_clause_and_chunks_grow(debug):
    plan = plan_speech(debug, PARAGRAPH)
    first = plan.chunks[0]
    assert [w.text for w in first.words] == ["Dr.", "Ayşe", "Yılmaz,"]  # the opening clause
    assert first.pause_after > 0
    sizes = [len(c.phonemes) for c in plan.chunks]
    assert all(size <= debug.max_phonemes for size in sizes)
    assert sizes[0] < sizes[1] or sizes[1] > GROWTH[0]  # a lone long sentence may exceed the budget
    assert plan.chunks[-1].pause_after == 0
    words = [w.text for c in plan.chunks for w in c.words]
    assert words == PARAGRAPH.split()  # every word once, in order, as the user wrote it


def test_a_long_opening_clause_is_cut_between_words(debug):
    from sesli.inference.plan import FIRST_PHONEMES, WORD_PAUSE

    text = "Büyükşehir belediyesinin düzenlediği uluslararası kültür festivali bugün başlıyor."
    plan = plan_speech(debug, text)
    first = plan.chunks[0]
    assert 0 < len(first.phonemes) <= FIRST_PHONEMES
    assert first.pause_after == WORD_PAUSE  # no punctuation at the cut: a short breath only
    assert [w.text for c in plan.chunks for w in c.words] == text.split()
    assert len(plan_speech(debug, text, first_phonemes=0).chunks[0].words) > len(first.words)


def test_words_keep_the_users_offsets_and_their_phonemes(debug):
    plan = plan_speech(debug, PARAGRAPH, first_words=0)
    for chunk in plan.chunks:
        for word in chunk.words:
            assert PARAGRAPH[word.start : word.end] == word.text
            said = chunk.phonemes[word.first : word.last]
            assert said.strip() == said and any(ch.isalpha() for ch in said)
    number = next(w for c in plan.chunks for w in c.words if w.text == "3,5")
    chunk = next(c for c in plan.chunks if number in c.words)
    assert len(chunk.phonemes[number.first : number.last].split()) == 3  # üç virgül beş


def test_context_is_kept_when_tokens_line_up(debug):
    # The whole sentence's phonemes are used, so the chunk says what synthesize() says.
    text = "Geldi mi? Evet, Dr. Ali geldi."
    plan = plan_speech(debug, text, first_words=0)
    whole, _ = debug.speech_phonemes("Geldi mi?")
    assert plan.chunks[0].phonemes == whole


def test_a_sentence_over_the_limit_is_cut_at_a_clause(debug, monkeypatch):
    monkeypatch.setattr(type(debug), "max_phonemes", property(lambda self: 60))
    text = "Bir, iki, üç, dört, beş, altı, yedi, sekiz, dokuz, on, on bir, on iki, on üç, on dört."
    plan = plan_speech(debug, text, first_words=0)
    assert len(plan.chunks) > 1 and all(len(c.phonemes) <= 60 for c in plan.chunks)
    assert all(c.phonemes.endswith((",", ".")) for c in plan.chunks)
    assert [w.text for c in plan.chunks for w in c.words] == text.split()


@pytest.mark.parametrize("text", ["", "   ", "... !!! ,,,", "🙂🙂"])
def test_nothing_to_say_is_an_error(debug, text):
    with warnings.catch_warnings(), pytest.raises(SynthesisError, match="nothing to say"):
        warnings.simplefilter("ignore")
        plan_speech(debug, text)


def test_bad_voice_and_speed_fail_before_any_work(debug):
    with pytest.raises(SynthesisError, match="unknown voice"):
        plan_speech(debug, "Merhaba.", voice="yok")
    with pytest.raises(SynthesisError, match="speed"):
        plan_speech(debug, "Merhaba.", speed=0)


def test_word_times_fall_inside_the_audio_and_follow_the_durations(debug):
    plan = plan_speech(debug, "Merhaba dünya, nasılsın? İyiyim.", first_words=0)
    chunk = plan.chunks[0]
    rendered = debug.render([plan.item(chunk)])[0]
    piece = make_piece(chunk, rendered, 24000, last=False)
    assert len(piece.audio) == len(rendered.audio) + int(round(chunk.pause_after * 24000))
    starts = [w.start_time for w in piece.words]
    assert starts == sorted(starts) and starts[0] > 0  # the leading pad token sounds first
    assert piece.words[-1].end_time <= len(rendered.audio) / 24000 + 1e-6
    # Symbol times tile the audio: one 25 ms frame is 600 samples at 24 kHz.
    frames = np.diff(rendered.times, axis=-1).ravel() / 0.025
    assert np.allclose(frames, np.round(frames)) and (frames >= 1).all()


def test_a_batch_of_different_voices_and_speeds_equals_one_by_one(debug):
    """Mask-aware micro-batching: padded rows with their own style and speed sound as alone."""
    pack = debug.voice_pack(None)
    texts = ["Merhaba.", "Bugün hava çok güzel, değil mi?", "Evet."]
    items = [RenderItem(debug.speech_phonemes(t)[0], v, s)
             for t, v, s in zip(texts, [None, pack.flip(-1), None], [1.0, 1.3, 0.8], strict=True)]  # fmt: skip
    alone = [debug.render([item])[0] for item in items]
    old = debug.batch_size
    debug.batch_size = 3
    try:
        together = debug.render(items)
    finally:
        debug.batch_size = old
    for a, b in zip(alone, together, strict=True):
        assert a.audio.shape == b.audio.shape
        np.testing.assert_allclose(a.times, b.times)
        assert np.abs(a.audio - b.audio).max() < 1e-3


def test_vits_voices_plan_and_render_with_times(tmp_path):
    from safetensors.torch import save_file

    from sesli.models.vits import VitsModel
    from sesli.models.vits.config import preset
    from sesli.text.piper_ids import PIPER_SYMBOLS, phoneme_id_map

    torch.manual_seed(0)
    cfg = preset("tiny", n_symbols=len(PIPER_SYMBOLS))
    save_file({k: v.contiguous() for k, v in VitsModel(cfg).eval().state_dict().items()},
              str(tmp_path / "vits.safetensors"))  # fmt: skip
    meta = {"model_type": "vits", "config": cfg.to_dict(), "sample_rate": cfg.sample_rate,
            "phoneme_id_map": {s: [i] for s, i in phoneme_id_map().items()}}  # fmt: skip
    (tmp_path / "vits.json").write_text(json.dumps(meta), encoding="utf-8")
    voice = sesli.load(tmp_path, noise=False)
    plan = plan_speech(voice, "Çay içer misin? Evet, içerim.", noise_scale=0.3)
    assert plan.options == {"noise_scale": 0.3}
    chunk = plan.chunks[0]
    rendered = voice.render([plan.item(chunk)])[0]
    assert rendered.times.shape == (len(chunk.phonemes), 2)
    assert (np.diff(rendered.times[:, 0]) >= 0).all()
    piece = make_piece(chunk, rendered, voice.sample_rate, last=False)
    assert [w.word for w in piece.words] == ["Çay", "içer", "misin?"][: len(piece.words)]
    assert piece.words[-1].end_time <= len(rendered.audio) / voice.sample_rate + 1e-6
