"""Evaluate any TTS on a held-out manifest: the small protocol a model must follow, and the loop.

A model is anything with ``synthesize(text) -> result`` whose result has ``audio`` (float array)
and ``sample_rate`` (sesli's ``Synthesizer`` does). Two optional extras unlock more metrics:

* the result has ``durations`` (frames per token, boundary pads included, as Kokoro predicts):
  with reference durations (the targets cache) the mean absolute duration error is reported;
* the model has ``teacher_forced(utterance, audio, sample_rate) -> np.ndarray``, resynthesising
  the clip with its true durations/F0: the teacher-forced mel L1 is reported.

Missing extras give ``None`` in the report, never an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sesli.eval.metrics import duration_error, f0_metrics, mcd_dtw, mel_l1

SAMPLE_RATE = 24000
HOP = 300


class EvalError(RuntimeError):
    """Evaluation cannot run: no model, empty manifest, unreadable audio (the message says which)."""


@runtime_checkable
class SpeechSynthesizer(Protocol):
    """What ``sesli eval`` needs from a model."""

    def synthesize(self, text: str) -> Any:  # result: .audio (np.ndarray), .sample_rate (int)
        ...


@dataclass
class UtteranceScores:
    """Metrics of one utterance (None where the model or data cannot provide them)."""

    id: str
    mcd: float
    f0_rmse_hz: float
    f0_rmse_cents: float
    voicing_error: float
    ref_seconds: float
    syn_seconds: float
    duration_error: float | None = None
    teacher_forced_mel_l1: float | None = None


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


def evaluate(
    model: SpeechSynthesizer,
    utterances: Sequence[Any],
    root: str | os.PathLike,
    *,
    reference_durations: Mapping[str, np.ndarray] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> EvalReport:
    """Synthesise every utterance's text and score it against its recording.

    Args:
        model: any :class:`SpeechSynthesizer`.
        utterances: ``sesli.data.manifest.Utterance`` records (id, audio_path, text).
        root: folder the audio paths are relative to (the manifest's folder).
        reference_durations: id -> frames per token (from the targets cache), for duration error.
        progress: called as ``progress(done, total, id)``.
    """
    from sesli.audio.io import load_audio

    if not isinstance(model, SpeechSynthesizer):
        raise EvalError(f"{type(model).__name__} has no synthesize(text) method")
    if not utterances:
        raise EvalError("the evaluation manifest has no utterances")
    scores, skipped = [], {}
    teacher = getattr(model, "teacher_forced", None)
    for k, utt in enumerate(utterances):
        text = utt.text or utt.normalized_text
        if not text.strip():
            skipped[utt.id] = "no text"
            continue
        try:
            ref, _ = load_audio(utt.resolve_audio(root), sr=SAMPLE_RATE)
            result = model.synthesize(text)
            syn = _to_24k(result.audio, int(result.sample_rate))
            if len(syn) == 0:
                raise ValueError("the model returned no audio")
            s = score_pair(ref, syn, utt.id)
        except (ValueError, OSError) as err:
            skipped[utt.id] = f"{type(err).__name__}: {err}"
            continue
        pred_dur = getattr(result, "durations", None)
        if pred_dur is not None and reference_durations is not None and utt.id in reference_durations:
            try:
                s.duration_error = duration_error(np.asarray(pred_dur), reference_durations[utt.id])
            except ValueError as err:
                skipped[f"{utt.id}:durations"] = str(err)
        if callable(teacher):
            tf = teacher(utt, ref, SAMPLE_RATE)
            s.teacher_forced_mel_l1 = mel_l1(ref, _to_24k(tf, SAMPLE_RATE))
        scores.append(s)
        if progress is not None:
            progress(k + 1, len(utterances), utt.id)
    if not scores:
        raise EvalError(f"no utterance could be evaluated: {skipped}")
    keys = ["mcd", "f0_rmse_hz", "f0_rmse_cents", "voicing_error", "duration_error", "teacher_forced_mel_l1"]
    summary = {k: _mean([getattr(s, k) for s in scores]) for k in keys}
    summary["utterances"] = len(scores)
    return EvalReport(scores, summary, skipped)


__all__ = ["EvalError", "EvalReport", "SpeechSynthesizer", "UtteranceScores", "evaluate", "score_pair"]
