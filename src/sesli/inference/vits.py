"""Turkish text to speech with a VITS voice (sesli-trained or Piper): G2P -> ids -> VITS -> audio.

* Ids: the voice's ``phoneme_id_map``, framed ``^ _ (id _)* $`` as Piper does; sesli's
  affricates are written ``tʃ dʒ`` first (``sesli.text.piper_ids``), as sesli voices are trained
  and as espeak-ng writes them. Symbols the voice lacks are reported in ``Synthesis.unknown`` and
  skipped, with a warning, never dropped silently.
* Controls, with Piper's names and defaults from the voice (0.667 / 1.0 / 0.8): ``speed`` is
  ``1 / length_scale``; ``noise_scale`` (prior sample), ``noise_w`` (duration noise), ``sdp_ratio``
  (stochastic vs deterministic durations, where the voice has both), ``speaker`` (name or id),
  ``sentence_silence`` (seconds after each sentence, Piper's ``--sentence-silence``).
* Sentences are synthesised one by one (:meth:`VitsSynthesizer.stream` yields each as it is done),
  and beyond Piper, a long sentence is decoded in windows of ``chunk_frames`` latent frames: the
  text encoder, durations and flow run once for the sentence (they are cheap), then the HiFi-GAN
  decoder, most of the cost, runs on overlapping windows of ``z`` with ``CONTEXT`` frames of
  context on each side that are decoded and thrown away. So the first audio of a long sentence
  comes after one window's decode instead of the whole sentence's, and the joined windows equal
  the one-piece decode up to float rounding at the seams (tested).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from sesli.inference.base import (
    Rendered,
    RenderItem,
    Synthesis,
    SynthesisError,
    check_speed,
    join_chunks,
    symbol_times,
)
from sesli.inference.chunking import Chunk, split_phonemes
from sesli.models.vits.artifact import LoadedVoice

MAX_PHONEMES = 400  # per chunk: a sentence longer than this is cut at phrases, then words
CHUNK_FRAMES = 128  # latent frames per streamed window (~1.5 s at 22.05 kHz, hop 256)
CONTEXT = 24  # frames decoded on each side of a window and dropped (covers the decoder's receptive field)
OPTIONS = ("noise_scale", "noise_w", "sdp_ratio", "speaker", "sentence_silence")


class VitsSynthesizer:
    """A loaded VITS voice that speaks Turkish.

    Args:
        loaded: from :func:`sesli.models.vits.artifact.load_voice`.
        noise: draw the prior and duration noise (False: ``noise_scale = noise_w = 0``, deterministic).
        seed: seed for those draws (None: the global RNG).
    """

    family = "vits"

    def __init__(self, loaded: LoadedVoice, *, noise: bool = True, seed: int | None = None) -> None:
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.noise = noise
        self.seed = seed
        self.id_map = loaded.phoneme_id_map
        missing = [s for s in ("^", "_", "$") if s not in self.id_map]
        if missing:
            raise SynthesisError(f"the voice's phoneme_id_map lacks the framing symbols {missing}")

    @property
    def sample_rate(self) -> int:
        return self.loaded.sample_rate

    @property
    def notes(self) -> list[str]:
        return self.loaded.notes

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---- options ------------------------------------------------------------------------------
    def settings(self, voice: Any = None, speed: float = 1.0, **options: Any) -> dict[str, Any]:
        """The infer() keyword arguments for these options (raises :class:`SynthesisError`)."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise SynthesisError(
                f"VITS voices have no option {', '.join(unknown)} (they take {', '.join(OPTIONS)})"
            )
        speaker = options.get("speaker", voice)
        out = {
            "length_scale": self.loaded.inference.get("length_scale", 1.0) / check_speed(speed),
            "noise_scale": self.loaded.inference.get("noise_scale", 0.667),
            "noise_w": self.loaded.inference.get("noise_w", 0.8),
            "sdp_ratio": options.get("sdp_ratio"),
            "speaker": self._speaker(speaker),
        }
        for key in ("noise_scale", "noise_w"):
            if options.get(key) is not None:
                value = float(options[key])
                if not 0.0 <= value <= 10.0:
                    raise SynthesisError(f"{key} must be between 0 and 10, got {value}")
                out[key] = value
        if not self.noise:
            out["noise_scale"] = out["noise_w"] = 0.0
        ratio = out["sdp_ratio"]
        if ratio is not None and not 0.0 <= float(ratio) <= 1.0:
            raise SynthesisError(f"sdp_ratio must be between 0 and 1, got {ratio}")
        silence = options.get("sentence_silence")
        if silence is not None and not 0.0 <= float(silence) <= 10.0:
            raise SynthesisError(f"sentence_silence must be between 0 and 10 seconds, got {silence}")
        return out

    def _speaker(self, speaker: Any) -> int | None:
        n = int(self.model.config.n_speakers)
        if speaker is None:
            return 0 if n > 1 else None
        names = self.loaded.speaker_id_map
        if isinstance(speaker, str) and not speaker.isdigit():
            if speaker not in names:
                known = ", ".join(sorted(names)) or "none (single speaker)"
                raise SynthesisError(f"unknown speaker {speaker!r}; this voice has: {known}")
            return int(names[speaker])
        sid = int(speaker)
        if not 0 <= sid < max(n, 1) or (n <= 1 and sid != 0):
            raise SynthesisError(f"speaker id {sid} is out of range: this voice has {n} speaker(s)")
        return sid if n > 1 else None

    def check(self, voice: Any = None, speed: float = 1.0, **options: Any) -> None:
        """Raise :class:`SynthesisError` for a bad speaker, speed or option, before any work."""
        self.settings(voice, speed, **options)

    # ---- text -------------------------------------------------------------------------------
    def speech_phonemes(self, text: str) -> tuple[str, list[str]]:
        """Text -> the phonemes this voice has ids for (affricates split, words split by single
        spaces) and the symbols it skipped."""
        from sesli.text.g2p import phonemize
        from sesli.text.piper_ids import split_affricates

        result = phonemize(text)
        said = split_affricates(result.phonemes)
        unknown = list(dict.fromkeys(result.unknown))
        missing = sorted({ch for ch in said if ch not in self.id_map and not ch.isspace()})
        unknown += [ch for ch in missing if ch not in unknown]
        return "".join(ch for ch in said if ch in self.id_map or ch == " "), unknown

    @property
    def max_phonemes(self) -> int:
        """Most phoneme symbols one call takes (a longer sentence is cut)."""
        return MAX_PHONEMES

    def prepare(self, text: str) -> tuple[list[Chunk], list[str], str]:
        """Text -> chunks of phonemes the voice has ids for, unknown symbols, all phonemes."""
        if not isinstance(text, str) or not text.strip():
            raise SynthesisError("nothing to say: the text is empty")
        phonemes, unknown = self.speech_phonemes(text)
        chunks = [c for c in split_phonemes(phonemes, MAX_PHONEMES) if any(ch.isalpha() for ch in c.phonemes)]
        if not chunks:
            what = f"unknown characters {' '.join(unknown)}" if unknown else "no letters, only punctuation"
            raise SynthesisError(f"nothing to say: {text[:40]!r} has {what}")
        if unknown:
            warnings.warn(f"skipped symbols the voice cannot say: {' '.join(unknown)}", stacklevel=3)
        return chunks, unknown, phonemes

    def ids(self, phonemes: str) -> list[int]:
        """``^ _ (id _)* $`` for phonemes the voice knows."""
        m = self.id_map
        out = [*m["^"], *m["_"]]
        for ch in phonemes:
            out += [*m[ch], *m["_"]]
        return [*out, *m["$"]]

    # ---- audio ------------------------------------------------------------------------------
    @torch.inference_mode()
    def synthesize_chunk(self, chunk: Chunk, settings: dict[str, Any]) -> np.ndarray:
        """One chunk's audio, float32."""
        ids = torch.tensor([self.ids(chunk.phonemes)], device=self.device)
        gen = torch.Generator(device=self.device).manual_seed(self.seed) if self.seed is not None else None
        out = self.model.infer(ids, generator=gen, **settings)
        return out.audio[0, : int(out.lengths[0])].float().cpu().numpy()

    @torch.inference_mode()
    def render(self, items: list[RenderItem]) -> list[Rendered]:
        """Phoneme strings to audio with each symbol's start/end (one call per item: the
        ``^ _ (id _)* $`` framing puts symbol k at id 2 + 2k; its span includes the blank after it)."""
        out = []
        frame_s = self.model.config.hop / self.sample_rate
        for item in items:
            settings = self.settings(item.voice, item.speed, **item.options)
            ids = torch.tensor([self.ids(item.phonemes)], device=self.device)
            gen = (
                torch.Generator(device=self.device).manual_seed(self.seed) if self.seed is not None else None
            )
            result = self.model.infer(ids, generator=gen, **settings)
            durations = result.durations[0].float().cpu().numpy()
            k = np.arange(len(item.phonemes))
            start = symbol_times(durations, 2 + 2 * k, frame_s)[:, 0]
            end = symbol_times(durations, 3 + 2 * k, frame_s)[:, 1]
            audio = result.audio[0, : int(result.lengths[0])].float().cpu().numpy()
            out.append(Rendered(audio, np.stack([start, end], axis=-1)))
        return out

    @torch.inference_mode()
    def decode_windows(
        self, chunk: Chunk, settings: dict[str, Any], chunk_frames: int
    ) -> Iterator[np.ndarray]:
        """One chunk's audio in windows of ``chunk_frames`` latent frames (see the module docstring)."""
        ids = torch.tensor([self.ids(chunk.phonemes)], device=self.device)
        gen = torch.Generator(device=self.device).manual_seed(self.seed) if self.seed is not None else None
        lat = self.model.latent(ids, generator=gen, **settings)
        frames, hop = int(lat.frames[0]), self.model.config.hop
        for start in range(0, frames, chunk_frames):
            stop = min(start + chunk_frames, frames)
            lo, hi = max(start - CONTEXT, 0), min(stop + CONTEXT, frames)
            audio = self.model.dec(lat.z[..., lo:hi], g=lat.g).squeeze(1)[0]  # (hop * (hi - lo),)
            yield audio[(start - lo) * hop : (stop - lo) * hop].float().cpu().numpy()

    def stream(
        self,
        text: str,
        voice: Any = None,
        speed: float = 1.0,
        *,
        chunk_frames: int | None = CHUNK_FRAMES,
        **options: Any,
    ) -> Iterator[np.ndarray]:
        """Yield audio as it is made: each sentence in windows of ``chunk_frames`` latent frames
        (None: whole sentences), each sentence's pause after its last window (not the last one's)."""
        settings = self.settings(voice, speed, **options)
        scale = self._silence_scale(options)
        chunks, _, _ = self.prepare(text)
        for k, chunk in enumerate(chunks):
            trailing = k < len(chunks) - 1
            if chunk_frames is None:
                piece = self.synthesize_chunk(chunk, settings)
                yield join_chunks([piece], [chunk], self.sample_rate, trailing=trailing, scale=scale)
                continue
            last = None
            for piece in self.decode_windows(chunk, settings, int(chunk_frames)):
                if last is not None:
                    yield np.clip(last, -1.0, 1.0)
                last = piece
            yield join_chunks([last], [chunk], self.sample_rate, trailing=trailing, scale=scale)

    def synthesize(self, text: str, voice: Any = None, speed: float = 1.0, **options: Any) -> Synthesis:
        """Text to one waveform."""
        settings = self.settings(voice, speed, **options)
        chunks, unknown, phonemes = self.prepare(text)
        pieces = [self.synthesize_chunk(c, settings) for c in chunks]
        audio = join_chunks(pieces, chunks, self.sample_rate, scale=self._silence_scale(options))
        return Synthesis(audio=audio, sample_rate=self.sample_rate, phonemes=phonemes,
                         chunks=[c.phonemes for c in chunks], unknown=unknown)  # fmt: skip

    def generate(self, text: str, voice: Any = None, speed: float = 1.0, **options: Any) -> Synthesis:
        """:meth:`synthesize` under the Python API's name."""
        return self.synthesize(text, voice=voice, speed=speed, **options)

    @staticmethod
    def _silence_scale(options: dict[str, Any]) -> float:
        """Chunk pauses scaled so a sentence end lasts ``sentence_silence`` seconds (None: as is)."""
        from sesli.inference.chunking import SENTENCE_PAUSE

        silence = options.get("sentence_silence")
        return 1.0 if silence is None else float(silence) / SENTENCE_PAUSE


__all__ = ["OPTIONS", "VitsSynthesizer"]
