"""Training windows read by memory map from the token shards ``sesli lm prepare`` writes.

A shard folder holds ``index.json`` (format ``sesli-lm-shards``; per split the shard files with
their token counts and sha256, the token dtype and the tokenizer) and raw little-endian token files
``<split>-NNNNN.bin``: documents concatenated, each followed by the tokenizer's ``eos_id``. A split
is read as one stream, the shards in index order, so a window may start in one shard and end in the
next; document boundaries are the eos tokens inside it (the model learns to start afresh after
one, as GPT-2 does), not window boundaries.

Nothing reads a whole shard: :class:`ShardTokens` maps each file with ``np.memmap`` and copies out
only the ``seq_len + 1`` tokens of a window, so memory stays flat however large the corpus. Maps
are opened lazily in the process that reads (a DataLoader worker opens its own; a pickled dataset
carries only paths).

Checks: at open, each shard's size must be ``tokens * itemsize`` and the index must say
``complete`` (a kill during prepare leaves neither), which costs nothing. A full sha256 of every
shard (``verify=True``, ``sesli lm train --verify-shards``) reads all of the data, minutes for tens
of GB, so it is asked for, not done at every start.

Order and exact resume: :class:`WindowSampler` yields token offsets. For training they are drawn
uniformly from ``[0, tokens - seq_len - 1]`` by NumPy generators seeded with ``(seed, epoch,
chunk)`` for each chunk of 65,536 draws, so the order depends only on ``(seed, epoch)``, like
:class:`~sesli.train.sampler.EpochSampler`: the engine replays it on resume and skips the batches a
killed run consumed, and a corpus of any size needs one chunk of memory. An epoch is
``tokens // seq_len`` windows (each token seen about once, in expectation). Validation uses fixed,
non-overlapping windows over the val split, evenly thinned to ``data.val_windows`` when set (the
same windows at every evaluation).

Distributed (``accelerate launch`` / ``torchrun``, one node or many): every rank builds the same
sampler (same seed, same epoch), and Accelerate's batch-sampler shard hands rank ``r`` of ``P``
batches ``r, r + P, r + 2P, ...`` of that one sequence, so each rank reads only its own windows, no
two ranks read the same draw, and an epoch is ``1 / P`` of the steps. Nothing is split or copied
ahead of time: each rank maps the shards itself (the page cache is shared by the ranks of a node).
Validation windows are split across ranks the same way and the losses averaged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from sesli.data.lm_shards import FORMAT, VERSION, file_sha256
from sesli.data.lm_shards import INDEX_FILE as INDEX
from sesli.train.tasks.lm_data import TextDataError

CHUNK = 1 << 16  # draws per seeded generator in WindowSampler


def has_shards(data_dir: str | Path) -> bool:
    """True when ``data_dir`` holds a shard index (else it is a train.txt/val.txt folder)."""
    return (Path(data_dir) / INDEX).is_file()


def read_index(data_dir: str | Path) -> dict[str, Any]:
    """``data_dir/index.json``, checked for format, version and completeness.

    Raises:
        TextDataError: not a shard index, another version, or an unfinished prepare.
    """
    path = Path(data_dir) / INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise TextDataError(f"{path} cannot be read as JSON ({err}); re-run `sesli lm prepare`") from None
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise TextDataError(
            f"{path} is not a version-{VERSION} {FORMAT} index (format {index.get('format')!r}, "
            f"version {index.get('version')!r})"
        )
    if not index.get("complete"):
        raise TextDataError(
            f"{path} is from an unfinished `sesli lm prepare` (killed?); run the same prepare "
            "command again: it keeps the finished shards and writes the rest"
        )
    return index


def verify_shards(data_dir: str | Path, index: dict[str, Any]) -> None:
    """Compare every shard's sha256 with the index (reads all the data).

    Raises:
        TextDataError: the first shard whose content differs.
    """
    for split in index["splits"].values():
        for shard in split["shards"]:
            path = Path(data_dir) / shard["file"]
            if file_sha256(path) != shard["sha256"]:
                raise TextDataError(
                    f"{path}: sha256 differs from {INDEX} (corrupt or rewritten); re-run "
                    "`sesli lm prepare`, which rebuilds shards that do not match"
                )


class ShardTokens:
    """One split's shards as one read-only token stream (``len`` tokens, ``[start, stop)`` reads).

    Args:
        data_dir: the shard folder.
        index: its ``index.json`` (:func:`read_index`).
        split: ``train`` or ``val``.

    Raises:
        TextDataError: the split is missing, or a shard file is missing or of the wrong size.
    """

    def __init__(self, data_dir: str | Path, index: dict[str, Any], split: str) -> None:
        self.data_dir = Path(data_dir)
        if split not in index.get("splits", {}):
            raise TextDataError(f"{self.data_dir / INDEX} has no {split!r} split")
        self.dtype = np.dtype(index["dtype"]).newbyteorder("<")
        shards = [s for s in index["splits"][split]["shards"] if s["tokens"] > 0]
        for s in shards:
            path = self.data_dir / s["file"]
            want = s["tokens"] * self.dtype.itemsize
            size = path.stat().st_size if path.is_file() else None
            if size != want:
                found = "missing" if size is None else f"{size:,} bytes"
                raise TextDataError(
                    f"shard {path} is {found}; {INDEX} says {want:,} bytes ({s['tokens']:,} tokens). "
                    "A kill during prepare or a partial copy? Re-run `sesli lm prepare` (it rebuilds it)"
                )
        self.files = [s["file"] for s in shards]
        self.sizes = [int(s["tokens"]) for s in shards]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes, dtype=np.int64)])  # (S + 1,)
        self.name = f"{self.data_dir} ({split})"
        self._maps: list[np.memmap] | None = None

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getstate__(self) -> dict[str, Any]:  # a worker process maps the files itself
        return {**self.__dict__, "_maps": None}

    def _open(self) -> list[np.memmap]:
        if self._maps is None:
            self._maps = [
                np.memmap(self.data_dir / f, dtype=self.dtype, mode="r", shape=(n,))
                for f, n in zip(self.files, self.sizes, strict=True)
            ]
        return self._maps

    def read(self, start: int, stop: int) -> np.ndarray:
        """Tokens ``[start, stop)`` of the stream as int64 (copied out of the maps)."""
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"tokens [{start}, {stop}) outside the {len(self)} tokens of {self.name}")
        maps = self._open()
        parts = []
        k = int(np.searchsorted(self.starts, start, side="right")) - 1  # shard holding `start`
        while start < stop:
            lo = start - int(self.starts[k])
            hi = min(stop - int(self.starts[k]), self.sizes[k])
            parts.append(maps[k][lo:hi])
            start += hi - lo
            k += 1
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


class ShardWindows(Dataset):
    """Item ``start`` (a token offset, from :class:`WindowSampler`): a window with its targets.

    ``{"ids": tokens[start : start + L], "targets": tokens[start + 1 : start + L + 1]}``, both (L,)
    int64, read from the maps.
    """

    def __init__(self, tokens: ShardTokens, seq_len: int) -> None:
        if seq_len < 1:
            raise TextDataError(f"seq_len must be >= 1, got {seq_len}")
        if len(tokens) < seq_len + 1:
            raise TextDataError(
                f"{tokens.name} has {len(tokens)} tokens, fewer than seq_len + 1 = {seq_len + 1}; "
                "prepare more text or use a smaller --seq-len"
            )
        self.tokens, self.seq_len = tokens, seq_len

    def __len__(self) -> int:  # the number of distinct window starts
        return len(self.tokens) - self.seq_len

    def __getitem__(self, start: int) -> dict[str, torch.Tensor]:
        chunk = torch.from_numpy(self.tokens.read(int(start), int(start) + self.seq_len + 1))  # (L + 1,)
        return {"ids": chunk[:-1], "targets": chunk[1:]}


class WindowSampler(Sampler[int]):
    """Window start offsets: random per ``(seed, epoch)`` (training) or fixed (validation).

    Args:
        n_tokens: tokens in the split's stream.
        seq_len: window length L (a window reads L + 1 tokens).
        seed: the run's seed (training only).
        shuffle: True: ``num_windows`` uniform random starts per epoch; False: non-overlapping
            windows ``0, L, 2L, ...``, evenly thinned to ``num_windows`` when there are more.
        num_windows: windows per epoch (default ``n_tokens // seq_len``) or the validation cap
            (default all).
    """

    def __init__(
        self,
        n_tokens: int,
        seq_len: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        num_windows: int | None = None,
    ) -> None:
        self.high = int(n_tokens) - int(seq_len)  # starts lie in [0, high)
        if self.high < 1:
            raise ValueError(f"{n_tokens} tokens hold no window of {seq_len} + 1")
        self.seq_len, self.seed, self.shuffle, self.epoch = int(seq_len), int(seed), shuffle, 0
        if shuffle:
            self.n = int(num_windows) if num_windows else max(1, int(n_tokens) // int(seq_len))
        else:
            fixed = (int(n_tokens) - 1) // int(seq_len)
            self.n = min(fixed, int(num_windows)) if num_windows else fixed
            self._fixed_total = fixed

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            picks = np.arange(self.n, dtype=np.int64) * self._fixed_total // self.n  # evenly spread
            yield from (picks * self.seq_len).tolist()
            return
        for c in range(0, self.n, CHUNK):
            rng = np.random.default_rng([self.seed, self.epoch, c // CHUNK])
            yield from rng.integers(0, self.high, size=min(CHUNK, self.n - c)).tolist()


@dataclass
class ShardData:
    """A shard folder opened for training: datasets, samplers and the tokenizer's facts."""

    index: dict[str, Any]
    train: ShardWindows
    train_sampler: WindowSampler
    val: ShardWindows | None  # None: prepared with --val-split 0
    val_sampler: WindowSampler | None
    vocab_size: int


def open_shards(
    data_dir: str | Path,
    seq_len: int,
    *,
    seed: int,
    val_windows: int | None = None,
    verify: bool = False,
) -> ShardData:
    """Open ``data_dir``'s train and val splits (sizes checked; sha256 too with ``verify``).

    A val split without tokens (``--val-split 0``) gives no validation data.
    """
    index = read_index(data_dir)
    train = ShardWindows(ShardTokens(data_dir, index, "train"), seq_len)
    val = val_sampler = None
    if index["splits"].get("val", {}).get("tokens", 0) > 0:
        val = ShardWindows(ShardTokens(data_dir, index, "val"), seq_len)
        val_sampler = WindowSampler(len(val.tokens), seq_len, shuffle=False, num_windows=val_windows)
    if verify:  # after the size checks, so a missing or short shard is named as such
        verify_shards(data_dir, index)
    return ShardData(
        index=index,
        train=train,
        train_sampler=WindowSampler(len(train.tokens), seq_len, seed=seed),
        val=val,
        val_sampler=val_sampler,
        vocab_size=int(index["tokenizer"]["vocab_size"]),
    )
