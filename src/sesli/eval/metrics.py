"""Objective TTS metrics: MCD with DTW, F0 RMSE and voicing error, duration error, mel L1, CER/WER.

Mel-cepstral distortion. Cepstra come from the sesli log-mel (``sesli.audio.features``, hop 300
at 24 kHz, 80 bands): ``c = DCT-II_ortho(log_mel_power) / 2`` (halved to turn the log *power*
spectrum into the log *amplitude* spectrum the MCD formula assumes). Per aligned frame pair,

    MCD = 10 / ln 10 * sqrt(2 * sum_{d=1..24} (c_d - c'_d)^2)   [dB]

leaving out c_0 (overall level). Reference and synthesis are aligned with DTW on the same
cepstra (Euclidean cost, steps (1,0), (0,1), (1,1)), and the MCD is the mean over the path. These
are MFCC-style cepstra of a mel filterbank, not SPTK's all-pass mel-cepstra, so the numbers are
comparable across sesli runs, not with papers that used SPTK/pysptk.

F0. Both tracks are pyworld F0 in Hz at hop 300 (0 = unvoiced), paired along the DTW path. RMSE
is over pairs voiced in both, in Hz and in cents; the voicing decision error is the fraction of
pairs where one is voiced and the other not.

Intelligibility. An ASR transcript is compared with the text the model was asked to say. Both
go through :func:`text_for_scoring` (sesli's Turkish normaliser, so "3 kedi" and "üç kedi" are the
same words; Turkish lowercase; punctuation removed; single spaces). CER is the character-level
Levenshtein distance over the length of the reference, WER the same over words. Corpus rates add
the edits and the reference lengths of all utterances before dividing (long utterances weigh more),
as ASR papers report them; :class:`ErrorCount` carries both numbers so callers can do either.

Letters: F frames, D cepstral coefficients.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import torch

from sesli.audio.features import MelConfig, mel_spectrogram
from sesli.text.normalize import normalize, turkish_lower

MCD_K = 10.0 / math.log(10.0)


def mel_cepstrum(wav: np.ndarray, cfg: MelConfig = MelConfig(), n_coeffs: int = 25) -> np.ndarray:
    """Cepstra c_0..c_{n-1} per frame from the log-mel: (T,) audio -> (F, n_coeffs)."""
    from scipy.fft import dct

    log_mel = mel_spectrogram(torch.as_tensor(np.asarray(wav, np.float32)), cfg)[0].numpy()  # (M, F)
    return (dct(log_mel, type=2, norm="ortho", axis=0)[:n_coeffs] / 2.0).T.astype(np.float64)  # (F, D)


@numba.njit(cache=False)
def _dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    ii = np.empty(n + m, np.int64)
    jj = np.empty(n + m, np.int64)
    i, j, k = n, m, 0
    while i > 0 and j > 0:
        ii[k], jj[k] = i - 1, j - 1
        k += 1
        diag, up, left = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
        if diag <= up and diag <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
    return ii[:k][::-1].copy(), jj[:k][::-1].copy()


def dtw_path(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DTW between feature sequences (F1, D) and (F2, D): index arrays (i, j), same length."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("dtw_path: an empty sequence cannot be aligned")
    cost = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))  # (F1, F2)
    return _dtw(cost)


@dataclass
class MCDResult:
    """Mean MCD in dB over the DTW path, the path, and the frame counts."""

    mcd: float
    path: tuple[np.ndarray, np.ndarray]
    ref_frames: int
    syn_frames: int


def mcd_dtw(ref: np.ndarray, syn: np.ndarray, cfg: MelConfig = MelConfig(), n_coeffs: int = 24) -> MCDResult:
    """Mel-cepstral distortion (dB) between two waveforms at ``cfg.sample_rate``, DTW-aligned."""
    c_ref, c_syn = mel_cepstrum(ref, cfg, n_coeffs + 1), mel_cepstrum(syn, cfg, n_coeffs + 1)
    i, j = dtw_path(c_ref[:, 1:], c_syn[:, 1:])
    diff = c_ref[i, 1:] - c_syn[j, 1:]  # (P, D), c_0 left out
    per_frame = MCD_K * np.sqrt(2.0 * (diff**2).sum(-1))  # (P,) dB
    return MCDResult(float(per_frame.mean()), (i, j), len(c_ref), len(c_syn))


@dataclass
class F0Result:
    """F0 agreement over aligned frame pairs (NaN RMSE when no pair is voiced in both)."""

    rmse_hz: float
    rmse_cents: float
    voicing_error: float
    voiced_pairs: int
    pairs: int


def f0_metrics(
    ref_f0: np.ndarray, syn_f0: np.ndarray, path: tuple[np.ndarray, np.ndarray] | None = None
) -> F0Result:
    """F0 RMSE (Hz, cents) and voicing decision error between two F0 tracks (Hz, 0 = unvoiced).

    Args:
        ref_f0, syn_f0: tracks at the same hop.
        path: frame pairing (e.g. ``MCDResult.path``); None pairs frame k with frame k over the
            shorter length.
    """
    ref_f0, syn_f0 = np.asarray(ref_f0, np.float64), np.asarray(syn_f0, np.float64)
    if path is None:
        n = min(len(ref_f0), len(syn_f0))
        i = j = np.arange(n)
    else:
        i = np.clip(path[0], 0, len(ref_f0) - 1)
        j = np.clip(path[1], 0, len(syn_f0) - 1)
    a, b = ref_f0[i], syn_f0[j]
    if len(a) == 0:
        raise ValueError("f0_metrics: no frames to compare")
    va, vb = a > 0, b > 0
    both = va & vb
    if both.any():
        rmse = float(np.sqrt(np.mean((a[both] - b[both]) ** 2)))
        cents = 1200.0 * np.log2(a[both] / b[both])
        rmse_c = float(np.sqrt(np.mean(cents**2)))
    else:
        rmse = rmse_c = float("nan")
    return F0Result(rmse, rmse_c, float(np.mean(va != vb)), int(both.sum()), len(a))


def duration_error(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean absolute per-token duration error in frames (600 samples for Kokoro)."""
    pred, ref = np.asarray(pred, np.float64).reshape(-1), np.asarray(ref, np.float64).reshape(-1)
    if pred.shape != ref.shape:
        raise ValueError(f"duration_error: {len(pred)} predicted vs {len(ref)} reference tokens")
    return float(np.abs(pred - ref).mean()) if len(ref) else float("nan")


def mel_l1(ref: np.ndarray, syn: np.ndarray, cfg: MelConfig = MelConfig()) -> float:
    """Mean |log-mel difference| over the common length (for teacher-forced output of equal length)."""
    a = mel_spectrogram(torch.as_tensor(np.asarray(ref, np.float32)), cfg)[0]
    b = mel_spectrogram(torch.as_tensor(np.asarray(syn, np.float32)), cfg)[0]
    n = min(a.shape[-1], b.shape[-1])
    return float((a[:, :n] - b[:, :n]).abs().mean())


# ----------------------------------------------------------------------------- CER / WER

_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019\u2018\u02bc`\u00b4"), "")


def text_for_scoring(text: str) -> str:
    """Text as CER/WER compare it: spoken form, Turkish lowercase, no punctuation, single spaces.

    ``"İstanbul'a 3 kedi geldi!"`` -> ``"istanbula üç kedi geldi"``. Apostrophes join (as the
    normaliser joins them inside words); every other punctuation mark or symbol becomes a space.
    """
    text = turkish_lower(normalize(text)).translate(_APOSTROPHES)
    kept = (" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return " ".join("".join(kept).split())


@numba.njit(cache=False)
def _levenshtein(a: np.ndarray, b: np.ndarray) -> int:
    # One row of the DP table at a time: row[j] = distance(a[:i], b[:j]).
    row = np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        diag, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            best = min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1]))
            diag, row[j] = row[j], best
    return int(row[len(b)])


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions, insertions, deletions, each cost 1) between sequences
    of hashable tokens (characters of a str, or words of a list)."""
    vocab: dict = {}
    a = np.array([vocab.setdefault(t, len(vocab)) for t in ref], np.int64)
    b = np.array([vocab.setdefault(t, len(vocab)) for t in hyp], np.int64)
    if len(a) == 0 or len(b) == 0:
        return max(len(a), len(b))
    return _levenshtein(a, b)


@dataclass(frozen=True)
class ErrorCount:
    """Edits between a hypothesis and a reference, and the reference's length (chars or words)."""

    edits: int
    ref_len: int

    @property
    def rate(self) -> float:
        """edits / ref_len; an empty reference gives 0.0 for an empty hypothesis, else 1.0."""
        if self.ref_len == 0:
            return float(self.edits > 0)
        return self.edits / self.ref_len


def char_errors(ref: str, hyp: str) -> ErrorCount:
    """Character edits after :func:`text_for_scoring`; the single spaces between words count as
    characters (a missing word boundary is an error, as in most CER tooling, e.g. jiwer)."""
    r, h = text_for_scoring(ref), text_for_scoring(hyp)
    return ErrorCount(edit_distance(r, h), len(r))


def word_errors(ref: str, hyp: str) -> ErrorCount:
    """Word edits after :func:`text_for_scoring`."""
    r, h = text_for_scoring(ref).split(), text_for_scoring(hyp).split()
    return ErrorCount(edit_distance(r, h), len(r))


def cer(ref: str, hyp: str) -> float:
    """Character error rate of one utterance (spaces counted, see :func:`char_errors`)."""
    return char_errors(ref, hyp).rate


def wer(ref: str, hyp: str) -> float:
    """Word error rate of one utterance."""
    return word_errors(ref, hyp).rate


def corpus_rate(counts: Iterable[ErrorCount]) -> float:
    """Total edits / total reference length over utterances (NaN when there are none)."""
    counts = list(counts)
    if not counts:
        return float("nan")
    return ErrorCount(sum(c.edits for c in counts), sum(c.ref_len for c in counts)).rate


__all__ = [
    "ErrorCount",
    "F0Result",
    "MCDResult",
    "cer",
    "char_errors",
    "corpus_rate",
    "dtw_path",
    "duration_error",
    "edit_distance",
    "f0_metrics",
    "mcd_dtw",
    "mel_cepstrum",
    "mel_l1",
    "text_for_scoring",
    "wer",
    "word_errors",
]
