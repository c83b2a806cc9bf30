"""MAS against a brute-force search over all duration vectors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sesli.modules.monotonic_align import durations_from_path, maximum_path, path_from_durations


def _brute_force(lp: np.ndarray) -> tuple[float, np.ndarray]:
    n, f = lp.shape
    best, best_d = -np.inf, None
    # Every composition of f into n positive parts: choose n-1 cut points among f-1 gaps.
    for cuts in itertools.combinations(range(1, f), n - 1):
        bounds = (0, *cuts, f)
        score = sum(lp[i, bounds[i] : bounds[i + 1]].sum() for i in range(n))
        if score > best:
            best, best_d = score, np.diff(bounds)
    return best, best_d


def _score(lp: np.ndarray, path: np.ndarray) -> float:
    return float((lp * path).sum())


@pytest.mark.parametrize("seed", range(12))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5))
    f = int(rng.integers(n, 9))
    lp = rng.normal(size=(n, f))
    path = maximum_path(lp)
    best, best_d = _brute_force(lp)
    assert _score(lp, path) == pytest.approx(best)
    np.testing.assert_array_equal(durations_from_path(path), best_d)
    # A valid path: one token per frame, monotonic, every token used.
    assert (path.sum(axis=0) == 1).all()
    assert (path.sum(axis=1) >= 1).all()


def test_batch_with_lengths_and_torch_roundtrip():
    rng = np.random.default_rng(0)
    lp = torch.from_numpy(rng.normal(size=(3, 4, 7))).float()
    t_len, m_len = torch.tensor([4, 2, 3]), torch.tensor([7, 5, 3])
    path = maximum_path(lp, t_len, m_len)
    assert isinstance(path, torch.Tensor) and path.shape == (3, 4, 7) and path.dtype == torch.float32
    for k in range(3):
        n, f = int(t_len[k]), int(m_len[k])
        best, best_d = _brute_force(lp[k, :n, :f].numpy())
        assert float((lp[k] * path[k]).sum()) == pytest.approx(best, rel=1e-5)
        assert path[k, n:].sum() == 0 and path[k, :, f:].sum() == 0
        d = durations_from_path(path[k, :n, :f])
        assert d.tolist() == best_d.tolist()
        assert torch.equal(path_from_durations(d[None], f)[0], path[k, :n, :f])
    assert path[2].sum(dim=1)[:3].tolist() == [1.0, 1.0, 1.0]  # 3 tokens on 3 frames: diagonal


def test_too_few_frames_is_a_clear_error():
    with pytest.raises(ValueError, match="3 tokens but 2 frames"):
        maximum_path(np.zeros((3, 2)))
