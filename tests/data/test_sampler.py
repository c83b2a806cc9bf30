"""sesli.data.sampler: batches by seconds, deterministic per epoch, DDP shards."""

from __future__ import annotations

import random

import pytest

from sesli.data.sampler import DurationBatchSampler

_RNG = random.Random(0)
DURATIONS = [_RNG.uniform(0.5, 8.0) for _ in range(200)]


def test_every_index_once_and_batches_within_budget():
    sampler = DurationBatchSampler(DURATIONS, max_seconds=20.0, seed=3)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(DURATIONS)))
    assert all(sum(DURATIONS[i] for i in b) <= 20.0 for b in batches)
    assert len(sampler) == len(batches)
    # greedy packing leaves little room: on average batches are well filled
    assert sum(DURATIONS) / len(batches) > 14.0


def test_deterministic_per_epoch_and_changes_between_epochs():
    a, b = DurationBatchSampler(DURATIONS, 20.0, seed=1), DurationBatchSampler(DURATIONS, 20.0, seed=1)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    a.set_epoch(0)
    assert list(a) == first
    fixed = DurationBatchSampler(DURATIONS, 20.0, shuffle=False)
    flat = [i for b in fixed for i in b]
    assert flat == sorted(range(len(DURATIONS)), key=DURATIONS.__getitem__)


def test_similar_lengths_share_a_batch():
    batches = list(DurationBatchSampler(DURATIONS, 20.0, seed=0))
    spread = [max(DURATIONS[i] for i in b) / min(DURATIONS[i] for i in b) for b in batches if len(b) > 1]
    assert sum(spread) / len(spread) < 1.5


def test_long_clip_alone_and_bad_args():
    batches = list(DurationBatchSampler([1.0, 50.0, 1.0], max_seconds=10.0, shuffle=False))
    assert batches == [[0, 2], [1]]
    with pytest.raises(ValueError, match="max_seconds"):
        DurationBatchSampler([1.0], 0)
    with pytest.raises(ValueError, match="rank"):
        DurationBatchSampler([1.0], 1.0, num_replicas=2, rank=2)


@pytest.mark.parametrize("drop_last", [False, True])
def test_ddp_ranks_split_the_same_batches(drop_last):
    # a budget whose batch count does not divide by 3, so the remainder handling is exercised
    budget = next(
        m for m in (20.0, 21.0, 22.0, 23.0) if len(list(DurationBatchSampler(DURATIONS, m, seed=5))) % 3
    )
    whole = list(DurationBatchSampler(DURATIONS, budget, seed=5))
    per_rank = [
        list(DurationBatchSampler(DURATIONS, budget, seed=5, num_replicas=3, rank=r, drop_last=drop_last))
        for r in range(3)
    ]
    assert len({len(b) for b in per_rank}) == 1  # same number of steps on every rank
    assert all(b in whole for batches in per_rank for b in batches)
    covered = {i for batches in per_rank for b in batches for i in b}
    total = sum(map(len, per_rank))
    if drop_last:
        assert total == len(whole) - len(whole) % 3 and len(covered) < len(DURATIONS)
        assert not set(map(tuple, per_rank[0])) & set(map(tuple, per_rank[1]))  # ranks never share a batch
    else:
        assert total == len(whole) + 3 - len(whole) % 3 and covered == set(range(len(DURATIONS)))
