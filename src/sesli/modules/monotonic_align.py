"""Monotonic alignment search (MAS): the best hard text-to-frame path through a score matrix.

Given log-probabilities ``log_probs[i, j]`` that frame ``j`` belongs to token ``i``, MAS finds the
path that starts at (0, 0), ends at (N-1, F-1), moves one frame at a time and either stays on the
same token or advances by exactly one, maximising the summed score (Glow-TTS, Kim et al. 2020).
Every token therefore gets at least one frame and every frame exactly one token.

Dynamic programme: ``Q[i, j] = log_probs[i, j] + max(Q[i, j-1], Q[i-1, j-1])`` with ``Q[0, 0] =
log_probs[0, 0]``, then a back-trace from (N-1, F-1). The inner loops are compiled with numba; the
batch loop runs in Python, one numba call per item.

Letters: B batch, N text tokens, F frames.
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(cache=False, nogil=True)
def _mas_one(log_probs: np.ndarray, n_text: int, n_frames: int, out: np.ndarray) -> None:
    # log_probs: (N_max, F_max) float64; out: (N_max, F_max) int32, written in place.
    neg_inf = -1e30
    q = np.full((n_text, n_frames), neg_inf)
    q[0, 0] = log_probs[0, 0]
    for j in range(1, n_frames):
        # Token i is reachable at frame j only if i <= j and the remaining tokens fit afterwards.
        lo = max(0, n_text - (n_frames - j))
        hi = min(n_text - 1, j)
        for i in range(lo, hi + 1):
            stay = q[i, j - 1]
            move = q[i - 1, j - 1] if i > 0 else neg_inf
            q[i, j] = log_probs[i, j] + (stay if stay >= move else move)
    i = n_text - 1
    for j in range(n_frames - 1, -1, -1):
        out[i, j] = 1
        if i > 0 and (i == j or q[i - 1, j - 1] > q[i, j - 1]):
            i -= 1


def maximum_path(
    log_probs: np.ndarray | torch.Tensor,
    text_lengths: np.ndarray | torch.Tensor | list[int] | None = None,
    mel_lengths: np.ndarray | torch.Tensor | list[int] | None = None,
) -> np.ndarray | torch.Tensor:
    """Hard monotonic alignment maximising the summed log-probability.

    Args:
        log_probs: scores, shape (B, N, F) (or (N, F) for one item); numpy or torch.
        text_lengths: valid tokens per item, shape (B,); None means all N.
        mel_lengths: valid frames per item, shape (B,); None means all F.

    Returns:
        0/1 path of the same shape and kind as ``log_probs`` (torch: same device, float dtype of
        the input; numpy: int32). Padding positions are 0.

    Raises:
        ValueError: when an item has more tokens than frames (no monotonic path exists) or a
            length is out of range.
    """
    is_torch = isinstance(log_probs, torch.Tensor)
    arr = log_probs.detach().cpu().double().numpy() if is_torch else np.asarray(log_probs, np.float64)
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"maximum_path: expected (B, N, F) or (N, F) scores, got shape {arr.shape}")
    b, n_max, f_max = arr.shape
    t_len = _lengths(text_lengths, b, n_max, "text_lengths")
    m_len = _lengths(mel_lengths, b, f_max, "mel_lengths")
    path = np.zeros((b, n_max, f_max), dtype=np.int32)
    for k in range(b):
        n, f = int(t_len[k]), int(m_len[k])
        if n < 1 or f < n:
            raise ValueError(
                f"maximum_path: item {k} has {n} tokens but {f} frames; every token needs a frame"
            )
        _mas_one(np.ascontiguousarray(arr[k]), n, f, path[k])
    if squeeze:
        path = path[0]
    if is_torch:
        dtype = log_probs.dtype if log_probs.is_floating_point() else torch.float32
        return torch.from_numpy(path).to(device=log_probs.device, dtype=dtype)
    return path


def _lengths(lengths, batch: int, limit: int, name: str) -> np.ndarray:
    if lengths is None:
        return np.full(batch, limit, dtype=np.int64)
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().numpy()
    out = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if out.shape[0] != batch or (out > limit).any() or (out < 0).any():
        raise ValueError(f"maximum_path: {name} {out.tolist()} do not fit a batch of {batch} x {limit}")
    return out


def durations_from_path(path: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Frames per token: the path summed over frames, (B, N, F) -> (B, N) (or (N, F) -> (N,)).

    Returns int64 of the input's kind; for a MAS path each valid token has >= 1 and the row sums
    equal the frame counts.
    """
    if isinstance(path, torch.Tensor):
        return path.sum(dim=-1).round().long()
    return np.asarray(path).sum(axis=-1).astype(np.int64)


def path_from_durations(durations: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
    """Inverse of :func:`durations_from_path`: (B, N) int frames -> (B, N, F) 0/1 float path.

    Used to expand text features to frames (``features @ path``), as Kokoro does at inference.
    """
    durations = durations.long()
    ends = durations.cumsum(dim=-1)  # (B, N)
    starts = ends - durations
    f = int(ends[:, -1].max().item()) if n_frames is None else n_frames
    frames = torch.arange(f, device=durations.device)[None, None, :]  # (1, 1, F)
    return ((frames >= starts[..., None]) & (frames < ends[..., None])).float()


__all__ = ["durations_from_path", "maximum_path", "path_from_durations"]
