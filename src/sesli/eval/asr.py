"""Speech recognition for intelligibility scores: Whisper through faster-whisper (CTranslate2).

``load_asr(spec)`` returns an :class:`ASR` whose ``transcribe(audio, sample_rate) -> str`` is all
``sesli.eval.evaluate`` needs (any object with that method will do, e.g. a fake in tests).

What ``spec`` can be:

* ``"base"``: Whisper base (multilingual), shipped as Python packages and assembled into the
  local cache by :mod:`sesli.packaged`. Works offline.
* ``None`` (the default): ``large-v3-turbo`` when the hub answers (downloaded by faster-whisper),
  else the packaged base. Scores from the two are not comparable: name one for a benchmark.
* a local folder: a CTranslate2 Whisper model (``model.bin`` + ``config.json``, and normally
  ``tokenizer.json``; without it faster-whisper fetches a tokenizer from the hub).
* a hub id (``Systran/faster-whisper-large-v3``) or a faster-whisper size name
  (``large-v3-turbo``, ``small``): downloaded by faster-whisper, so only online.

Decoding is deterministic: Turkish, greedy (``beam_size=1``), one temperature (0, no fallback),
``no_repeat_ngram_size=3`` (greedy Whisper otherwise loops on a repeated word, which wrecks CER on a
TTS that stutters), each 30 s window decoded on its own (``condition_on_previous_text=False``) and
no VAD (a TTS clip is all speech; VAD would hide a model that mumbles into silence).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ASR_SAMPLE_RATE = 16000
MIN_SECONDS = 0.1  # shorter input is not speech: empty transcript
SILENCE_PEAK = 1e-3  # -60 dBFS: quieter input is silence, "" without decoding (Whisper may hallucinate)
REQUIRED_FILES = ("model.bin", "config.json")
OFFLINE_NAMES = ("", "base")
ONLINE_DEFAULT = "large-v3-turbo"

# int8 on CPU. Measured on the 51 clips of data/cv-tr-sample50 (190 s of audio; packaged base,
# these settings, 2 shared cores): corpus CER 0.139 / WER 0.394 with int8 against 0.133 / 0.411
# with float32 (27 of 51 transcripts differ, in both directions), so no difference that matters,
# while int8 cost ~70 s of CPU time (49-88 s wall) against 204 s (206 s wall) for float32, and
# holds a quarter of the weights.
CPU_COMPUTE_TYPE = "int8"
GPU_COMPUTE_TYPE = "float16"


class ASRError(RuntimeError):
    """The ASR model cannot be loaded (the message says which model, and what to do)."""


def _cpu_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        n = os.cpu_count() or 1
    return max(1, min(n, 8))  # leave cores to the TTS model on big machines


@dataclass
class ASR:
    """A loaded Whisper model that transcribes Turkish.

    Attributes:
        model: the ``faster_whisper.WhisperModel``.
        name: what was loaded (``"base (packaged)"``, a folder, a hub id), for reports.
        language: Whisper language code.
    """

    model: Any
    name: str
    language: str = "tr"

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        """Transcript of mono float audio at any rate ("" for silence or < 0.1 s)."""
        from sesli.audio.io import resample

        audio = np.asarray(audio, np.float32)
        if audio.ndim == 2:  # (T, C)
            audio = audio.mean(axis=1)
        if not np.all(np.isfinite(audio)):
            raise ValueError("ASR input has non-finite samples")
        if len(audio) < MIN_SECONDS * sample_rate or np.abs(audio).max() < SILENCE_PEAK:
            return ""
        audio = resample(audio, int(sample_rate), ASR_SAMPLE_RATE)
        segments, _ = self.model.transcribe(
            audio,
            language=self.language,
            task="transcribe",
            beam_size=1,
            temperature=0.0,
            no_repeat_ngram_size=3,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return " ".join(" ".join(s.text.split()) for s in segments).strip()  # decodes lazily here


def _model_dir(spec: str) -> tuple[str, str]:
    """(what WhisperModel gets, a name) for ``spec``; checks local folders."""
    if spec in OFFLINE_NAMES:
        from sesli.packaged import WHISPER_BASE, PackagedWeightsError, assemble

        try:
            return str(assemble(WHISPER_BASE).parent), "base (packaged)"
        except PackagedWeightsError as err:
            raise ASRError(f"the packaged Whisper base is not usable: {err}") from err
    path = Path(spec).expanduser()
    # "owner/name" is a hub id unless such a folder exists; anything else path-like is a folder.
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec:
        if not path.is_dir():
            raise ASRError(f"ASR model folder {path} does not exist (or is not a folder)")
        missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
        if missing:
            raise ASRError(
                f"ASR model folder {path} is not a CTranslate2 Whisper model: it lacks {', '.join(missing)} "
                "(convert one with ct2-transformers-converter, or use --asr alone for the packaged base)"
            )
        return str(path), str(path)
    return spec, spec


def load_asr(
    spec: str | os.PathLike | None = None,
    *,
    device: str = "cpu",
    compute_type: str | None = None,
    cpu_threads: int | None = None,
    local_files_only: bool = False,
) -> ASR:
    """Load a Whisper model for :meth:`ASR.transcribe`.

    Args:
        spec: ``None`` (large-v3-turbo online, else the packaged base), ``"base"`` (packaged,
            offline), a CTranslate2 model folder, or a hub id / faster-whisper size name (online).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"`` picks the card).
        compute_type: CTranslate2 compute type (None: int8 on CPU, float16 on CUDA).
        cpu_threads: None: the cores this process may use, at most 8.
        local_files_only: never download a hub model.

    Raises:
        ASRError: faster-whisper is not installed, the folder is not a model, the packaged weights
            are missing, or the hub model cannot be fetched.
    """
    try:
        from faster_whisper import WhisperModel
    except ImportError as err:
        raise ASRError(f"faster-whisper is not installed ({err}); pip install 'sesli[asr]'") from err
    if spec is None:
        from sesli.packaged import hub_reachable

        if not local_files_only and hub_reachable():
            try:
                return load_asr(
                    ONLINE_DEFAULT, device=device, compute_type=compute_type, cpu_threads=cpu_threads
                )
            except ASRError:
                pass  # the hub answered but the model did not come: the packaged base will do
        spec = "base"
    target, name = _model_dir(str(spec))
    kind, _, index = str(device).partition(":")
    if compute_type is None:
        compute_type = CPU_COMPUTE_TYPE if kind == "cpu" else GPU_COMPUTE_TYPE
    try:
        model = WhisperModel(
            target,
            device=kind,
            device_index=int(index or 0),
            compute_type=compute_type,
            cpu_threads=cpu_threads or _cpu_threads(),
            local_files_only=local_files_only,
        )
    # huggingface_hub raises OSError subclasses offline, faster-whisper ValueError for an unknown
    # size name, CTranslate2 RuntimeError for an unreadable model.bin.
    except (OSError, ValueError, RuntimeError) as err:
        hint = (
            "" if Path(target).is_dir() else
            "; a hub model needs the network: offline, use the packaged base (--asr alone)"
        )  # fmt: skip
        raise ASRError(f"cannot load ASR model {name!r}: {type(err).__name__}: {err}{hint}") from err
    return ASR(model, name)


__all__ = ["ASR", "ASRError", "ASR_SAMPLE_RATE", "load_asr"]
