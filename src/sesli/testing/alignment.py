"""Synthetic speech with known phoneme durations, for testing and benchmarking aligners.

Each "phoneme" k (ids 1..8) is a tone at ``ALIGNMENT_FREQS[k - 1]`` plus its 3rd harmonic, held
for a whole number of 600-sample frames (Kokoro's unit at 24 kHz), with a little noise. Neighbours
never repeat, so every boundary is audible. The frequencies are spaced by a factor ~1.47, so no
harmonic of one phoneme lands on another's fundamental.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 24000
FRAME = 600
ALIGNMENT_FREQS = np.geomspace(200, 3000, 8)


@dataclass
class SyntheticUtterance:
    """Tokens (1..8), their true durations in frames, and the 24 kHz audio (600 * sum samples)."""

    id: str
    tokens: list[int]
    durations: np.ndarray
    audio: np.ndarray


def synthetic_alignment_corpus(
    n_utts: int = 20, seed: int = 0, *, min_tokens: int = 6, max_tokens: int = 10, max_frames: int = 6
) -> list[SyntheticUtterance]:
    """``n_utts`` utterances of ``min_tokens..max_tokens`` phonemes lasting 2..``max_frames`` frames."""
    rng = np.random.default_rng(seed)
    corpus = []
    for k in range(n_utts):
        n = int(rng.integers(min_tokens, max_tokens + 1))
        tokens: list[int] = []
        while len(tokens) < n:
            t = int(rng.integers(1, len(ALIGNMENT_FREQS) + 1))
            if not tokens or tokens[-1] != t:
                tokens.append(t)
        durs = rng.integers(2, max_frames + 1, size=n)
        t_axis = np.arange(FRAME * durs.sum()) / SAMPLE_RATE
        wav = 0.003 * rng.normal(size=len(t_axis))
        pos = 0
        for tok, d in zip(tokens, durs, strict=True):
            seg, f = slice(pos, pos + d * FRAME), ALIGNMENT_FREQS[tok - 1]
            wav[seg] += 0.3 * np.sin(2 * np.pi * f * t_axis[seg]) + 0.1 * np.sin(6 * np.pi * f * t_axis[seg])
            pos += d * FRAME
        corpus.append(SyntheticUtterance(f"u{k}", tokens, durs, wav.astype(np.float32)))
    return corpus


__all__ = ["ALIGNMENT_FREQS", "SyntheticUtterance", "synthetic_alignment_corpus"]
