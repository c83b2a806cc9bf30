"""Evaluate any TTS on a held-out manifest: the small protocol a model must follow, and the loop.

A model is anything with ``synthesize(text) -> result`` whose result has ``audio`` (float array)
and ``sample_rate`` (sesli's ``Synthesizer`` does). Two optional extras unlock more metrics:

* the result has ``durations`` (frames per token, boundary pads included, as Kokoro predicts):
  with reference durations (the targets cache) the mean absolute duration error is reported;
* the model has ``teacher_forced(utterance, audio, sample_rate) -> np.ndarray``, resynthesising
  the clip with its true durations/F0: the teacher-forced mel L1 is reported.

Intelligibility needs an ASR, anything with ``transcribe(audio, sample_rate) -> str``
(``sesli.eval.asr.load_asr`` gives Whisper): the synthesis and the recording are both transcribed
and scored against the text (CER, WER), so a model's CER can be read against the recordings'.

Missing extras give ``None`` in the report, never an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sesli.eval.metrics import (
    ErrorCount,
    char_errors,
    corpus_rate,
    duration_error,
    f0_metrics,
    mcd_dtw,
    mel_l1,
    word_errors,
)

SAMPLE_RATE = 24000
HOP = 300


class EvalError(RuntimeError):
    """Evaluation cannot run: no model, empty manifest, unreadable audio (the message says which)."""


@runtime_checkable
class SpeechSynthesizer(Protocol):
    """What ``sesli eval`` needs from a model."""

    def synthesize(self, text: str) -> Any:  # result: .audio (np.ndarray), .sample_rate (int)
        ...


@runtime_checkable
class Transcriber(Protocol):
    """What ``evaluate`` needs from an ASR (``sesli.eval.asr.ASR``, or a fake in tests)."""

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str: ...


@dataclass
class UtteranceScores:
    """Metrics of one utterance (None where the model, the data or the options do not provide them).

    The ``asr_*``/``cer``/``wer`` fields score the synthesis with an ASR against the text; the
    ``reference_*`` fields score the same ASR on the recording, the floor a model can reach.
    """

    id: str
    mcd: float | None = None
    f0_rmse_hz: float | None = None
    f0_rmse_cents: float | None = None
    voicing_error: float | None = None
    ref_seconds: float | None = None
    syn_seconds: float | None = None
    duration_error: float | None = None
    teacher_forced_mel_l1: float | None = None
    asr_text: str | None = None
    cer: float | None = None
    wer: float | None = None
    reference_asr_text: str | None = None
    reference_cer: float | None = None
    reference_wer: float | None = None


@dataclass
class EvalReport:
    """Per-utterance scores and their means (NaN-aware)."""

    utterances: list[UtteranceScores]
    summary: dict[str, float | None] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN written as None)."""

        def clean(v):
            return None if isinstance(v, float) and math.isnan(v) else v

        return {
            "summary": {k: clean(v) for k, v in self.summary.items()},
            "utterances": [{k: clean(v) for k, v in asdict(u).items()} for u in self.utterances],
            "skipped": self.skipped,
        }


def _to_24k(audio: np.ndarray, sr: int) -> np.ndarray:
    audio = np.asarray(audio, np.float32).reshape(-1)
    if sr == SAMPLE_RATE:
        return audio
    from sesli.audio.io import resample

    return resample(audio, sr, SAMPLE_RATE)


def score_pair(ref: np.ndarray, syn: np.ndarray, utt_id: str = "") -> UtteranceScores:
    """MCD-DTW and F0 metrics of a reference and a synthesis, both 24 kHz."""
    from sesli.audio.features import f0

    mcd = mcd_dtw(ref, syn)
    fr = f0_metrics(f0(ref, SAMPLE_RATE, HOP), f0(syn, SAMPLE_RATE, HOP), mcd.path)
    return UtteranceScores(utt_id, mcd.mcd, fr.rmse_hz, fr.rmse_cents, fr.voicing_error,
                           len(ref) / SAMPLE_RATE, len(syn) / SAMPLE_RATE)  # fmt: skip


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(vals)) if vals else None


@dataclass
class _Clip:
    """One utterance's text, recording (at its own rate) and synthesis (as the model returned it)."""

    text: str
    ref: np.ndarray  # (T,)
    ref_sr: int
    result: Any  # .audio, .sample_rate, maybe .durations
    syn: np.ndarray  # (T',) at 24 kHz


def _synthesize(model: SpeechSynthesizer, utt: Any, root: str | os.PathLike, text: str) -> _Clip:
    """Load the recording and synthesise the text (ValueError/OSError: the clip is skipped)."""
    from sesli.audio.io import load_audio

    ref, ref_sr = load_audio(utt.resolve_audio(root))
    result = model.synthesize(text)
    syn = _to_24k(result.audio, int(result.sample_rate))
    if len(syn) == 0:
        raise ValueError("the model returned no audio")
    return _Clip(text, ref, ref_sr, result, syn)


def _score_clip(
    clip: _Clip, utt: Any, teacher: Callable | None, spectral: bool, durations: Mapping | None, skipped: dict
) -> UtteranceScores:
    """Spectral metrics (when asked), duration error and teacher-forced mel L1 (when available)."""
    ref = _to_24k(clip.ref, clip.ref_sr)
    if spectral:
        s = score_pair(ref, clip.syn, utt.id)
    else:
        s = UtteranceScores(
            utt.id, ref_seconds=len(ref) / SAMPLE_RATE, syn_seconds=len(clip.syn) / SAMPLE_RATE
        )
    pred_dur = getattr(clip.result, "durations", None)
    if pred_dur is not None and durations is not None and utt.id in durations:
        try:
            s.duration_error = duration_error(np.asarray(pred_dur), durations[utt.id])
        except ValueError as err:
            skipped[f"{utt.id}:durations"] = str(err)
    if spectral and callable(teacher):
        s.teacher_forced_mel_l1 = mel_l1(ref, _to_24k(teacher(utt, ref, SAMPLE_RATE), SAMPLE_RATE))
    return s


def _score_asr(asr: Transcriber, s: UtteranceScores, clip: _Clip, counts: dict, skipped: dict) -> None:
    """Transcribe the synthesis and the recording; fill ``s``'s ASR fields and add to ``counts``."""
    try:
        hyp = asr.transcribe(
            np.asarray(clip.result.audio, np.float32).reshape(-1), int(clip.result.sample_rate)
        )
        ref_hyp = asr.transcribe(clip.ref, clip.ref_sr)
    except (ValueError, OSError, RuntimeError) as err:
        skipped[f"{s.id}:asr"] = f"{type(err).__name__}: {err}"
        return
    errors = {"cer": char_errors(clip.text, hyp), "wer": word_errors(clip.text, hyp),
              "reference_cer": char_errors(clip.text, ref_hyp), "reference_wer": word_errors(clip.text, ref_hyp)}  # fmt: skip
    s.asr_text, s.reference_asr_text = hyp, ref_hyp
    for key, count in errors.items():
        setattr(s, key, count.rate)
        counts[key].append(count)


def _summary(scores: list[UtteranceScores], counts: dict[str, list[ErrorCount]] | None) -> dict:
    keys = ["mcd", "f0_rmse_hz", "f0_rmse_cents", "voicing_error", "duration_error", "teacher_forced_mel_l1"]
    summary: dict[str, float | None] = {k: _mean([getattr(s, k) for s in scores]) for k in keys}
    summary["utterances"] = len(scores)
    for key, errors in (counts or {}).items():  # corpus rate (total edits / total length), then mean
        summary[key] = corpus_rate(errors) if errors else None
        summary[f"{key}_mean"] = _mean([getattr(s, key) for s in scores])
    return summary


def evaluate(
    model: SpeechSynthesizer,
    utterances: Sequence[Any],
    root: str | os.PathLike,
    *,
    reference_durations: Mapping[str, np.ndarray] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    asr: Transcriber | None = None,
    spectral: bool = True,
) -> EvalReport:
    """Synthesise every utterance's text and score it against its recording.

    A clip that cannot be read or synthesised, or has no text, is recorded in ``skipped`` and the
    loop goes on; so is a clip the ASR fails on (as ``<id>:asr``, its other scores kept).

    Args:
        model: any :class:`SpeechSynthesizer`.
        utterances: ``sesli.data.manifest.Utterance`` records (id, audio_path, text).
        root: folder the audio paths are relative to (the manifest's folder).
        reference_durations: id -> frames per token (from the targets cache), for duration error.
        progress: called as ``progress(done, total, id)`` after each utterance (skipped or not).
        asr: a :class:`Transcriber`: adds CER/WER of the synthesis and of the recording, per
            utterance and in the summary (``cer``/``wer`` and ``reference_cer``/``reference_wer``
            are corpus rates, the ``*_mean`` keys means over utterances).
        spectral: compute MCD-DTW, F0 and teacher-forced metrics (False: skip them, for quick
            CER runs).
    """
    if not isinstance(model, SpeechSynthesizer):
        raise EvalError(f"{type(model).__name__} has no synthesize(text) method")
    if asr is not None and not isinstance(asr, Transcriber):
        raise EvalError(f"{type(asr).__name__} has no transcribe(audio, sample_rate) method")
    if not utterances:
        raise EvalError("the evaluation manifest has no utterances")
    scores, skipped = [], {}
    counts: dict[str, list[ErrorCount]] = {"cer": [], "wer": [], "reference_cer": [], "reference_wer": []}
    teacher = getattr(model, "teacher_forced", None)
    for k, utt in enumerate(utterances):
        text = utt.text or utt.normalized_text
        if not text.strip():
            skipped[utt.id] = "no text"
        else:
            try:
                clip = _synthesize(model, utt, root, text)
                s = _score_clip(clip, utt, teacher, spectral, reference_durations, skipped)
            except (ValueError, OSError) as err:
                skipped[utt.id] = f"{type(err).__name__}: {err}"
            else:
                if asr is not None:
                    _score_asr(asr, s, clip, counts, skipped)
                scores.append(s)
        if progress is not None:
            progress(k + 1, len(utterances), utt.id)
    if not scores:
        raise EvalError(f"no utterance could be evaluated: {skipped}")
    return EvalReport(scores, _summary(scores, counts if asr is not None else None), skipped)


__all__ = [
    "EvalError",
    "EvalReport",
    "SpeechSynthesizer",
    "Transcriber",
    "UtteranceScores",
    "evaluate",
    "score_pair",
]
