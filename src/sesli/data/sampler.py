"""Batches by total seconds of audio, deterministic per epoch, shardable across DDP ranks.

Each epoch sorts the clips by duration jittered by up to ±``jitter`` (so batches hold clips of
similar length, little padding, yet differ between epochs), packs them greedily until adding one
more would pass ``max_seconds``, and shuffles the order of the batches. Everything is drawn from
``Random(seed + epoch)``, so every rank builds the same list and takes every ``num_replicas``-th
batch starting at ``rank``. A clip longer than ``max_seconds`` gets a batch of its own.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class DurationBatchSampler(Sampler[list[int]]):
    """Yield lists of dataset indices whose durations sum to at most ``max_seconds``.

    Args:
        durations: seconds per dataset index.
        max_seconds: audio per batch (per rank).
        shuffle: jitter the sort and shuffle batch order each epoch (False: sorted, fixed order).
        seed: base seed; the epoch is added (see :meth:`set_epoch`).
        drop_last: with several ranks, drop the batches that do not divide evenly among them
            (otherwise the first batches are repeated so every rank gets the same number).
        num_replicas: number of DDP ranks.
        rank: this rank.
        jitter: relative duration jitter used when shuffling.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_seconds: float,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
        jitter: float = 0.1,
    ):
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        if any(d < 0 for d in durations):
            raise ValueError("durations must be non-negative")
        self.durations = [float(d) for d in durations]
        self.max_seconds = float(max_seconds)
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.num_replicas, self.rank, self.jitter = num_replicas, rank, jitter
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration yields."""
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        rng = random.Random(self.seed + self.epoch)
        order = list(range(len(self.durations)))
        if self.shuffle:
            rng.shuffle(order)
            keys = {i: self.durations[i] * (1 + rng.uniform(-self.jitter, self.jitter)) for i in order}
            order.sort(key=keys.__getitem__)
        else:
            order.sort(key=lambda i: self.durations[i])
        batches: list[list[int]] = []
        current: list[int] = []
        total = 0.0
        for i in order:
            d = self.durations[i]
            if current and total + d > self.max_seconds:
                batches.append(current)
                current, total = [], 0.0
            current.append(i)
            total += d
        if current:
            batches.append(current)
        if self.shuffle:
            rng.shuffle(batches)
        if self.num_replicas > 1 and batches:
            extra = len(batches) % self.num_replicas
            if extra and self.drop_last:
                batches = batches[: len(batches) - extra]
            elif extra:
                need = self.num_replicas - extra
                batches = batches + [batches[k % len(batches)] for k in range(need)]
        self._cache = (self.epoch, batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._all_batches()[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        return len(self._all_batches()[self.rank :: self.num_replicas])
