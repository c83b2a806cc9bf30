"""Phoneme ids in Piper's convention, for sesli's VITS voices, and the map from espeak-ng's Turkish.

A Piper voice reads one id per phoneme code point, framed as ``^ _ (id _)* $``: bos ``^`` (1),
then each phoneme followed by the pad ``_`` (0), then eos ``$`` (2); space is 3. The Piper
runtime (and sherpa-onnx) phonemize text with espeak-ng and look every code point up in the
voice's ``phoneme_id_map``, after replacing symbols through its ``phoneme_map``.

sesli's VITS voices are trained on sesli's G2P (the Turkish phoneme contract), so to speak in
those runtimes unchanged the two front-ends must meet on one symbol set:

* **Affricates as two code points.** sesli writes ``ʧ ʤ`` (one code point each); espeak-ng writes
  ``tʃ dʒ``. Piper looks up code points one by one, so a voice trained on ``ʧ`` could never
  receive it from espeak-ng. sesli therefore splits them before encoding (``ʧ`` -> ``t ʃ``,
  ``ʤ`` -> ``d ʒ``), in training and in its own inference alike, which is what espeak-ng's
  output already is.
* **espeak-ng's allophones folded into sesli's phonemes** by :data:`ESPEAK_PHONEME_MAP`:
  espeak-ng's Turkish voice prints lax or open variants of the vowels (``ɛ æ ɪ ʊ ɔ œ``), dark
  ``ɫ``, trill ``r`` and secondary stress ``ˌ`` where sesli has ``e i u o ø l ɾ`` and no secondary
  stress (the reference: ``../shared/reference``'s espeak-ng-tr-ipa.tsv, 20 sentences). Each maps
  to the nearest symbol the voice was trained on. The export writes the map as the voice's
  ``phoneme_map`` *and* gives each mapped symbol its target's id in ``phoneme_id_map``, because
  piper-tts 1.x never reads ``phoneme_map`` (only the C++ piper-phonemize did); ``ˌ`` maps to
  nothing, which Piper turns into one extra pad id (numbers and abbreviations only).

What cannot be matched is the G2P itself: espeak-ng's Turkish misses palatal ``c ɟ`` in places,
prints ``ø`` for closed-syllable ``ü`` and puts stress elsewhere (see that file), so a voice spoken
through Piper's espeak-ng front-end sounds like one fed a weaker G2P. sesli's own ``say`` and
server feed its G2P.

Letters: T phonemes, N = 2 T + 3 ids.
"""

from __future__ import annotations

from functools import cache

from sesli.text.symbols import PHONEMES, PUNCTUATION, UnknownSymbolError

PAD, BOS, EOS, SPACE = "_", "^", "$", " "
SPLIT = {"ʧ": "tʃ", "ʤ": "dʒ"}
"""sesli phonemes written as two code points, as espeak-ng writes them."""

PIPER_PHONEMES: tuple[str, ...] = tuple(
    dict.fromkeys(ch for p in PHONEMES for ch in SPLIT.get(p, p))
)  # sesli's inventory with the affricates split (ʃ ʒ t d are in it already)
PIPER_SYMBOLS: tuple[str, ...] = (PAD, BOS, EOS, SPACE, *PUNCTUATION, *PIPER_PHONEMES)
"""The id order of a sesli VITS voice: ``_ ^ $ space``, punctuation, phonemes."""

ESPEAK_PHONEME_MAP: dict[str, list[str]] = {
    "ɛ": ["e"],
    "æ": ["e"],
    "ɪ": ["i"],
    "ʊ": ["u"],
    "ɔ": ["o"],
    "œ": ["ø"],
    "ɫ": ["l"],
    "r": ["ɾ"],
    "ˌ": [],
    "g": ["ɡ"],
}
"""espeak-ng (Turkish) symbol -> the sesli symbols a voice was trained on (Piper's ``phoneme_map``)."""


@cache
def phoneme_id_map() -> dict[str, int]:
    """Symbol -> id of a sesli VITS voice (one id each; Piper's ``phoneme_id_map`` wraps them in lists)."""
    return {s: i for i, s in enumerate(PIPER_SYMBOLS)}


def split_affricates(phonemes: str) -> str:
    """sesli phonemes with ``ʧ ʤ`` written as espeak-ng writes them (``tʃ dʒ``)."""
    return "".join(SPLIT.get(ch, ch) for ch in phonemes)


def encode(phonemes: str) -> list[int]:
    """sesli G2P phonemes -> a voice's ids, ``^ _ (id _)* $``.

    Raises:
        UnknownSymbolError: a symbol the voice has no id for (all of them are named).
    """
    table = phoneme_id_map()
    text = split_affricates(phonemes)
    unknown = list(dict.fromkeys(ch for ch in text if ch not in table or ch in (PAD, BOS, EOS)))
    if unknown:
        raise UnknownSymbolError("piper", unknown, phonemes)
    ids = [table[BOS], table[PAD]]
    for ch in text:
        ids += [table[ch], table[PAD]]
    return [*ids, table[EOS]]


def decode(ids: list[int]) -> str:
    """Ids back to phonemes (framing and pads dropped; affricates stay split)."""
    symbols = PIPER_SYMBOLS
    return "".join(symbols[i] for i in ids if symbols[i] not in (PAD, BOS, EOS))


__all__ = [
    "BOS",
    "EOS",
    "ESPEAK_PHONEME_MAP",
    "PAD",
    "PIPER_PHONEMES",
    "PIPER_SYMBOLS",
    "SPACE",
    "decode",
    "encode",
    "phoneme_id_map",
    "split_affricates",
]
