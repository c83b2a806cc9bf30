"""Voices a server offers: names only from the loaded model, OpenAI aliases, and mixes.

* A request names a voice of the loaded model; nothing else resolves (no file paths, no hub ids),
  so a client cannot make the server read a file.
* OpenAI's voice names (``alloy``, ``nova``, ...) map to the model's default voice unless the
  model has a voice of that name, so an OpenAI client works unchanged.
* A mix, in Kokoro-FastAPI's grammar ``a(2)+b(1)-c``: each term a voice with an optional weight
  (default 1), ``-`` subtracts. The mix is ``sum(s_i w_i p_i) / sum(s_i w_i)`` over the voice
  packs ``p_i`` with signs ``s_i``, so weights are relative and the mix keeps a pack's scale; signed
  weights that sum to 0 are refused. Only Kokoro voices (style vectors) mix.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from sesli.inference.base import SynthesisError

OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
)
_TERM = re.compile(r"\s*([+-]?)\s*([\w.]+)\s*(?:\(\s*([0-9]*\.?[0-9]+)\s*\))?\s*")
MAX_TERMS = 8


def parse_mix(spec: str) -> list[tuple[str, float]]:
    """``"a(2)+b(1)-c"`` -> ``[("a", 2.0), ("b", 1.0), ("c", -1.0)]``.

    Raises:
        SynthesisError: not in the grammar, or more than ``MAX_TERMS`` terms.
    """
    terms, pos = [], 0
    while pos < len(spec):
        m = _TERM.match(spec, pos)
        if m is None or m.end() == pos or (terms and not m.group(1)) or (not terms and m.group(1) == "+"):
            raise SynthesisError(f"cannot read the voice mix {spec[:80]!r}: write it as a(2)+b(1)-c")
        weight = float(m.group(3)) if m.group(3) else 1.0
        terms.append((m.group(2), -weight if m.group(1) == "-" else weight))
        pos = m.end()
    if not terms or len(terms) > MAX_TERMS:
        raise SynthesisError(f"a voice mix has 1 to {MAX_TERMS} voices, got {len(terms)}")
    return terms


class VoiceBook:
    """The voices of one loaded synthesizer, resolved to what its ``render`` takes."""

    def __init__(self, speaker: Any, cache_size: int = 32) -> None:
        self.speaker = speaker
        self.family = speaker.family
        if self.family == "kokoro":
            self.names = sorted(speaker.loaded.voices)
            self.default = speaker.loaded.default_voice
        else:
            self.names = sorted(speaker.loaded.speaker_id_map) or ["default"]
            self.default = self.names[0]
        self._mixes: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size

    def resolve(self, voice: Any) -> Any:
        """A request's ``voice`` (a name, ``{"id": name}``, a mix or None) -> the synthesizer's voice.

        Raises:
            SynthesisError: an unknown name, a bad mix, or a mix for a family that cannot mix.
        """
        if isinstance(voice, dict):
            voice = voice.get("id")
        if voice is None or (isinstance(voice, str) and not voice.strip()):
            return self._one(self.default)
        if not isinstance(voice, str):
            raise SynthesisError(f"voice must be a string or {{'id': name}}, got {type(voice).__name__}")
        voice = voice.strip()
        if voice in self.names or voice.lower() in OPENAI_VOICES:
            return self._one(voice)
        terms = parse_mix(voice)
        if len(terms) == 1 and terms[0][1] > 0:
            return self._one(self._known(terms[0][0]))
        return self._mix(voice, terms)

    def _known(self, name: str) -> str:
        if name in self.names:
            return name
        if name.lower() in OPENAI_VOICES:
            return self.default
        raise SynthesisError(f"unknown voice {name!r}; this model has: {', '.join(self.names)}")

    def _one(self, name: str) -> Any:
        name = self._known(name)
        if self.family == "kokoro":
            return name
        return None if name == "default" else name

    def _mix(self, spec: str, terms: list[tuple[str, float]]) -> Any:
        if self.family != "kokoro":
            raise SynthesisError(f"voice mixing needs a Kokoro model; this is a {self.family} voice")
        total = sum(w for _, w in terms)
        if abs(total) < 1e-6:
            raise SynthesisError(f"the weights of the voice mix {spec!r} sum to 0")
        key = "+".join(f"{name}:{w}" for name, w in terms)
        if key not in self._mixes:
            packs = [(self.speaker.voice_pack(self._known(name)), w) for name, w in terms]
            self._mixes[key] = sum(p * w for p, w in packs) / total
            if len(self._mixes) > self._cache_size:
                self._mixes.popitem(last=False)
        self._mixes.move_to_end(key)
        return self._mixes[key]


__all__ = ["OPENAI_VOICES", "VoiceBook", "parse_mix"]
