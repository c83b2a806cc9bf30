"""A sampler whose order depends only on ``(seed, epoch)``, so a resumed run sees the same batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler, SequentialSampler


class EpochSampler(Sampler[int]):
    """Indices ``0..n-1``, shuffled by a generator seeded with ``seed + epoch`` (or in order).

    It draws from its own generator, never from the global RNG, so iterating it (or a data loader
    reading ahead) cannot change dropout masks, and the engine can skip the batches a killed run
    already consumed by replaying the same permutation. The engine calls :meth:`set_epoch`.
    """

    def __init__(self, n: int, *, seed: int = 0, shuffle: bool = True) -> None:
        if n <= 0:
            raise ValueError(f"EpochSampler needs at least one item, got n={n}")
        self.n = int(n)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


def check_replayable(loader: DataLoader) -> None:
    """The data order must depend only on (seed, epoch), or a resumed run sees other batches."""
    samplers = [loader.sampler, loader.batch_sampler, getattr(loader.batch_sampler, "sampler", None)]
    if isinstance(loader.sampler, SequentialSampler) or any(hasattr(s, "set_epoch") for s in samplers):
        return
    raise ValueError(
        f"the training DataLoader's sampler ({type(loader.sampler).__name__}) has no set_epoch(); "
        "use sesli.train.sampler.EpochSampler (or another sampler seeded per epoch) so that resume "
        "replays the same batches"
    )
