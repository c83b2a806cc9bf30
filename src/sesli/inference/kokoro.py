"""Turkish text to speech with Kokoro: normalise -> G2P -> ids -> batched synthesis -> 24 kHz audio.

Decisions:

* The model's own vocab (from its config) maps phonemes to ids; symbols it lacks are reported in
  ``Synthesis.unknown`` together with the characters the G2P could not read, and skipped.
* Text with nothing speakable (empty, only punctuation, only unknown scripts) raises
  :class:`SynthesisError` ("nothing to say: ..."): silence would hide a mistake in the input.
* A voice pack ``[510, 1, R]`` is indexed by the chunk's phoneme count, as upstream Kokoro does.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

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
from sesli.models.kokoro.config import SAMPLE_RATE
from sesli.models.kokoro.loading import LoadedKokoro, ModelLoadError


class Synthesizer:
    """A loaded Kokoro model that speaks Turkish.

    Args:
        loaded: model and voices from :func:`sesli.models.kokoro.loading.from_pretrained`.
        batch_size: chunks synthesised together; None picks 1 on CPU and 16 on GPUs. On a CPU the
            decoder's 24 kHz activations make padded batches memory-bound: measured here, 16
            sentences ran at 3.37 audio-s/s one by one, 1.91 in batches of 4, 1.14 in one batch.
        noise: the source's random phase/noise (as upstream); False makes audio deterministic.
        fuse: fold the weight norms of ``loaded.model`` in place (faster; the model is then for
            inference only, and its state dict holds plain ``weight`` tensors).
    """

    family = "kokoro"

    def __init__(
        self, loaded: LoadedKokoro, *, batch_size: int | None = None, noise: bool = True, fuse: bool = True
    ) -> None:
        self.noise = noise
        if fuse:
            loaded.model.fuse_weight_norm()
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.config = loaded.model.config
        self.vocab = self.config.vocab
        if batch_size is None:
            batch_size = 1 if next(loaded.model.parameters()).device.type == "cpu" else 16
        self.batch_size = batch_size
        self._voice_cache: dict[str, Tensor] = {}

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def notes(self) -> list[str]:
        """Which weights, from where, and how they were read."""
        return self.loaded.notes

    def check(self, voice: str | Path | Tensor | None = None, speed: float = 1.0, **options: object) -> None:
        """Raise :class:`SynthesisError` for a bad voice, speed or an option Kokoro does not have."""
        if options:
            raise SynthesisError(f"Kokoro models have no {', '.join(sorted(options))} (VITS voices do)")
        check_speed(speed)
        self.voice_pack(voice)

    # ---- text -------------------------------------------------------------------------------
    def speech_phonemes(self, text: str) -> tuple[str, list[str]]:
        """Text -> the phonemes this model can say (words split by single spaces) and the
        symbols it skipped (unreadable characters, phonemes missing from the vocab)."""
        from sesli.text.g2p import phonemize

        result = phonemize(text)
        unknown = list(dict.fromkeys(result.unknown))
        missing = sorted({ch for ch in result.phonemes if ch not in self.vocab and not ch.isspace()})
        unknown += [ch for ch in missing if ch not in unknown]
        return "".join(ch for ch in result.phonemes if ch in self.vocab or ch.isspace()), unknown

    @property
    def max_phonemes(self) -> int:
        """Most phoneme symbols one call can take."""
        return int(self.config.max_phonemes)

    def prepare(self, text: str) -> tuple[list[Chunk], list[str], str]:
        """Text -> chunks (phonemes the model knows), unknown symbols, all phonemes."""
        if not isinstance(text, str) or not text.strip():
            raise SynthesisError("nothing to say: the text is empty")
        phonemes, unknown = self.speech_phonemes(text)
        chunks = split_phonemes(phonemes, self.config.max_phonemes)
        chunks = [c for c in chunks if any(ch.isalpha() or ch in "ˈˌː" for ch in c.phonemes)]
        if not chunks:
            what = f"unknown characters {' '.join(unknown)}" if unknown else "no letters, only punctuation"
            raise SynthesisError(f"nothing to say: {text[:40]!r} has {what}")
        if unknown:
            warnings.warn(f"skipped symbols the model cannot say: {' '.join(unknown)}", stacklevel=3)
        return chunks, unknown, phonemes

    # ---- voices -----------------------------------------------------------------------------
    def voice_pack(self, voice: str | Path | Tensor | None = None) -> Tensor:
        """Resolve a voice (name, file, or tensor) to a pack ``(P, 1, R)`` on the model's device."""
        voice = voice if voice is not None else self.loaded.default_voice
        if voice is None:
            raise SynthesisError("no voice given and the model has no default voice")
        if isinstance(voice, Tensor):
            pack = voice
        else:
            key = str(voice)
            if key not in self._voice_cache:
                self._voice_cache[key] = self._read_voice(key)
            pack = self._voice_cache[key]
        r = self.config.ref_dim
        if pack.dim() == 1:
            pack = pack.reshape(1, 1, -1)
        elif pack.dim() == 2:
            pack = pack.unsqueeze(1)
        if pack.dim() != 3 or pack.shape[1] != 1 or pack.shape[2] != r or pack.shape[0] < 1:
            raise SynthesisError(
                f"voice {str(voice)[:60]!r} has shape {tuple(pack.shape)}; expected [510, 1, {r}]"
            )
        if not torch.isfinite(pack).all():
            raise SynthesisError(f"voice {str(voice)[:60]!r} holds NaN or infinite values")
        return pack.to(self.device, torch.float32)

    def _read_voice(self, name: str) -> Tensor:
        source = self.loaded.voices.get(name)
        if source is None and Path(name).is_file():
            source = Path(name)
        if source is None and self.loaded.fetch_voice is not None:
            try:
                source = self.loaded.fetch_voice(name)
            except ModelLoadError as err:
                raise SynthesisError(str(err)) from err
        if source is None:
            known = ", ".join(sorted(self.loaded.voices)) or "none"
            raise SynthesisError(f"unknown voice {name!r}; this model has: {known} (or pass a .pt file)")
        if isinstance(source, Tensor):
            return source
        from sesli.models.kokoro.voices import VoiceFileError, read_voices

        try:
            packs = read_voices(source, dim=self.config.ref_dim)
        except VoiceFileError as err:
            raise SynthesisError(str(err)) from err
        if len(packs) != 1:
            raise SynthesisError(f"{source} holds {len(packs)} voices ({', '.join(packs)}); name one of them")
        return next(iter(packs.values()))

    # ---- audio ------------------------------------------------------------------------------
    @torch.inference_mode()
    def synthesize_chunks(self, chunks: list[Chunk], pack: Tensor, speed: float = 1.0) -> list[np.ndarray]:
        """Synthesise chunks in length-sorted batches; returns one float32 array per chunk."""
        speed = check_speed(speed)
        items = [RenderItem(c.phonemes, pack, speed) for c in chunks]
        return [r.audio for r in self._render(items, [pack] * len(items), with_times=False)]

    def render(self, items: list[RenderItem]) -> list[Rendered]:
        """Phoneme strings to audio with each symbol's start/end, in length-sorted batches of
        ``batch_size`` (items may differ in voice and speed: style and speed are per row)."""
        for item in items:
            if item.options:
                raise SynthesisError(
                    f"Kokoro models have no {', '.join(sorted(item.options))} (VITS voices do)"
                )
            check_speed(item.speed)
        return self._render(items, [self.voice_pack(item.voice) for item in items], with_times=True)

    @torch.inference_mode()
    def _render(self, items: list[RenderItem], packs: list[Tensor], *, with_times: bool) -> list[Rendered]:
        ids = [[0, *(self.vocab[ch] for ch in item.phonemes), 0] for item in items]
        order = sorted(range(len(items)), key=lambda i: len(ids[i]))
        out: list[Rendered] = [Rendered(np.zeros(0, np.float32), np.zeros((0, 2)))] * len(items)
        frame_s = self.model.samples_per_frame / SAMPLE_RATE
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            lengths = torch.tensor([len(ids[i]) for i in batch])
            padded = torch.zeros(len(batch), int(lengths.max()), dtype=torch.long)
            for row, i in enumerate(batch):
                padded[row, : len(ids[i])] = torch.tensor(ids[i])
            # A voice pack row per phoneme count, as upstream Kokoro indexes it.
            style = torch.stack([packs[i][min(len(ids[i]) - 2, packs[i].shape[0]) - 1, 0] for i in batch])
            speed = torch.tensor([float(items[i].speed) for i in batch], device=self.device)
            result = self.model.infer(
                padded.to(self.device),
                style.to(self.device),  # (B, R)
                speed if len(batch) > 1 else float(speed[0]),
                lengths.to(self.device) if len(batch) > 1 else None,
                noise=self.noise,
            )
            audio = result.audio.float().cpu().numpy()
            durations = result.durations.cpu().numpy()
            for row, i in enumerate(batch):
                n = len(ids[i])
                times = symbol_times(durations[row, :n], np.arange(1, n - 1), frame_s) if with_times else None
                out[i] = Rendered(audio[row, : int(result.audio_lengths[row])].astype(np.float32), times)
        return out

    def synthesize(
        self, text: str, voice: str | Path | Tensor | None = None, speed: float = 1.0, **options: object
    ) -> Synthesis:
        """Text to one waveform (chunks joined with short pauses)."""
        if options:
            self.check(voice, speed, **options)
        chunks, unknown, phonemes = self.prepare(text)
        pack = self.voice_pack(voice)
        pieces = self.synthesize_chunks(chunks, pack, speed)
        audio = join_chunks(pieces, chunks, SAMPLE_RATE)
        return Synthesis(
            audio=audio,
            sample_rate=SAMPLE_RATE,
            phonemes=phonemes,
            chunks=[c.phonemes for c in chunks],
            unknown=unknown,
        )

    def generate(
        self, text: str, voice: str | Path | Tensor | None = None, speed: float = 1.0, **options: object
    ) -> Synthesis:
        """Text to speech: :meth:`synthesize` under the name of the Python API.

        ``sesli.load().generate("merhaba").save("out.wav")``.

        Args:
            text: Turkish text, any length (split into chunks at sentence ends).
            voice: a voice name, a ``.pt`` voice pack or a pack tensor; None is the model's default.
            speed: speaking rate, 0.1 to 10.

        Raises:
            SynthesisError: nothing speakable in ``text``, an unknown voice, a speed out of range.
        """
        return self.synthesize(text, voice=voice, speed=speed, **options)

    def stream(
        self, text: str, voice: str | Path | Tensor | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        """Yield audio chunk by chunk (pause included): the first chunk alone, then in batches."""
        chunks, _, _ = self.prepare(text)
        pack = self.voice_pack(voice)
        n = len(chunks)
        first = chunks[:1]
        yield join_chunks(self.synthesize_chunks(first, pack, speed), first, SAMPLE_RATE, trailing=n > 1)
        for start in range(1, n, self.batch_size):
            group = chunks[start : start + self.batch_size]
            pieces = self.synthesize_chunks(group, pack, speed)
            for k, (piece, chunk) in enumerate(zip(pieces, group, strict=True)):
                yield join_chunks([piece], [chunk], SAMPLE_RATE, trailing=start + k < n - 1)
