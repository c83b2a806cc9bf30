"""Sharded token files for LM pretraining at scale: stream documents, tokenize in parallel, write shards.

Layout of an output folder (the contract with ``train.tasks.lm_shards``)::

    index.json          {"format": "sesli-lm-shards", "version": 1, "dtype": "uint16" | "uint32",
                         "tokenizer": {"type", "path", "vocab_size", "eos_id", "turkish_lower"},
                         "splits": {"train": {"shards": [{"file", "tokens", "docs", "sha256"}],
                                              "tokens", "docs"}, "val": {...}},
                         "source": {...}, "skipped": {reason: n}, "settings": {...},
                         "resume": {...}, "complete": true}
    train-00000.bin     raw little-endian tokens of ``dtype``: documents concatenated, each followed
    val-00000.bin       by ``eos_id``
    tokenizer.json      a trained BPE (``--tokenizer bpe``)

Decisions:

- **Whole documents per shard.** A shard closes after the document that takes it to
  ``shard_tokens`` (so shards are about that size; one huge document makes one big shard), which
  keeps ``docs`` exact and gives resume a clean cut.
- **Split by document index.** Document ``i`` (counted over everything the source yields, skipped
  rows included, so the count does not depend on what was skipped) goes to validation when
  ``blake2b(f"{seed}:{i}") / 2**64 < val_split``: deterministic, independent of order and of the
  number of processes, and never a random shuffle of the corpus.
- **Resume.** After each finished shard (written to a temp file, fsynced, renamed) the index is
  rewritten with ``"complete": false`` and, under ``resume``, each split's document cursor after
  that shard and its skip counts. A rerun with the same settings verifies every listed shard's
  size and sha256, keeps the good prefix, says which shard was truncated or missing and rebuilds
  from there; documents already inside kept shards are skipped (read, not tokenized). A complete
  folder whose shards verify is left as it is.
- **Order.** Batches of documents go to ``num_proc`` worker processes with a bounded window and
  come back in order, so the bytes written do not depend on ``num_proc``; memory is the window of
  batches plus one shard's hash state, whatever the corpus size.
- **Bad rows** (empty, non-UTF-8, not text, broken JSON, redirects...) are skipped and counted
  under ``skipped``; they are never fatal.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sesli.data.lm_sources import LMSource, Skip, wiki_to_text
from sesli.data.lm_tokenizers import (
    TOKENIZER_FILE,
    BPETokenizer,
    BytesTokenizer,
    HFTokenizer,
    LMTokenizer,
    dtype_for,
)
from sesli.fileio import atomic_path, write_json

FORMAT = "sesli-lm-shards"
VERSION = 1
INDEX_FILE = "index.json"
SPLITS = ("train", "val")


class ShardError(ValueError):
    """Shards that cannot be written or resumed (message names the folder or shard and the fix)."""


@dataclass
class PreparedShards:
    """What :func:`prepare_shards` did: the final index, shards kept from an earlier run, notes."""

    output_dir: Path
    index: dict[str, Any]
    kept_shards: int = 0
    notes: list[str] = field(default_factory=list)


def doc_split(index: int, seed: int, val_split: float) -> str:
    """``"val"`` or ``"train"`` for document ``index``: a hash of (seed, index), not a random draw."""
    if val_split <= 0:
        return "train"
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return "val" if int.from_bytes(digest, "little") < val_split * 2.0**64 else "train"


def doc_text(doc: Any, markup: str | None = None) -> tuple[str | None, str | None]:
    """``(text, None)`` for a usable document, ``(None, reason)`` for one to skip and count."""
    if isinstance(doc, Skip):
        return None, doc.reason
    if doc is None:
        return None, "empty"
    if isinstance(doc, bytes | bytearray | memoryview):
        try:
            doc = bytes(doc).decode("utf-8")
        except UnicodeDecodeError:
            return None, "non_utf8"
    if not isinstance(doc, str):
        return None, "not_text"
    if markup == "wiki":
        doc = wiki_to_text(doc)
    if not doc.strip():
        return None, "empty"
    return doc, None


# -- tokenizing workers ---------------------------------------------------------------------------
@dataclass
class _Encoded:
    reasons: list[str | None]  # per document: None (written) or why it was skipped
    lengths: np.ndarray  # (N,) tokens of each written document, its eos included; 0 when skipped
    tokens: np.ndarray  # (sum(lengths),) in the shard dtype
    nbytes: int  # UTF-8 bytes of the text tokenized


_STATE: tuple[Any, ...] | None = None


def _init_worker(tok: LMTokenizer, dtype: str, markup: str | None) -> None:
    global _STATE
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the processes are the parallelism
    _STATE = (tok, dtype, markup)


def _encode_in_worker(docs: list[Any]) -> _Encoded:
    return _encode(*_STATE, docs)


def _encode(tok: LMTokenizer, dtype: str, markup: str | None, docs: list[Any]) -> _Encoded:
    reasons, texts = [], []
    for d in docs:
        text, reason = doc_text(d, markup)
        reasons.append(reason)
        if text is not None:
            texts.append(text)
    arrays = tok.encode_batch(texts) if texts else []
    lengths = np.zeros(len(docs), dtype=np.int64)
    out = np.empty(sum(len(a) + 1 for a in arrays), dtype=dtype)
    pos, k = 0, 0
    for i, reason in enumerate(reasons):
        if reason is not None:
            continue
        a = arrays[k]
        k += 1
        if a.size and a.dtype != np.uint8 and (int(a.max()) >= tok.vocab_size or int(a.min()) < 0):
            raise ShardError(f"the tokenizer produced an id outside 0..{tok.vocab_size - 1}")
        out[pos : pos + len(a)] = a
        out[pos + len(a)] = tok.eos_id
        lengths[i] = len(a) + 1
        pos += len(a) + 1
    nbytes = sum(len(t) if t.isascii() else len(t.encode("utf-8")) for t in texts)
    return _Encoded(reasons, lengths, out, nbytes)


@dataclass
class _Batch:
    ids: list[int]  # document indices
    splits: list[str]
    docs: list[Any]


def _encoded_batches(
    batches: Iterator[_Batch], state: tuple[Any, ...], num_proc: int
) -> Iterator[tuple[_Batch, _Encoded]]:
    """Encode batches in order; with ``num_proc > 1`` in a pool, at most ``2 * num_proc`` in flight."""
    if num_proc <= 1:
        for b in batches:
            yield b, _encode(*state, b.docs)
        return
    # Pool.imap would read the whole input ahead of the workers; a bounded window keeps memory flat.
    with mp.get_context().Pool(num_proc, initializer=_init_worker, initargs=state) as pool:
        pending: deque = deque()
        for b in batches:
            pending.append((b, pool.apply_async(_encode_in_worker, (b.docs,))))
            if len(pending) >= 2 * num_proc:
                done, res = pending.popleft()
                yield done, res.get()
        while pending:
            done, res = pending.popleft()
            yield done, res.get()


# -- shard files ----------------------------------------------------------------------------------
def shard_name(split: str, number: int) -> str:
    return f"{split}-{number:05d}.bin"


class _ShardWriter:
    """Appends documents to ``<split>-NNNNN.bin`` (a temp file until it closes), hashing as it goes."""

    def __init__(self, folder: Path, split: str, dtype: str, shard_tokens: int, number: int) -> None:
        self.folder, self.split, self.dtype = folder, split, np.dtype(dtype).newbyteorder("<")
        self.shard_tokens, self.number = shard_tokens, number
        self._stack: contextlib.ExitStack | None = None

    def _open(self) -> None:
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.folder / shard_name(self.split, self.number)))
        self._fh = self._stack.enter_context(open(tmp, "wb"))  # noqa: SIM115 (the stack closes it)
        self._sha, self._tokens, self._docs = hashlib.sha256(), 0, 0

    def add(self, tokens: np.ndarray, lengths: np.ndarray) -> list[tuple[dict[str, Any], int]]:
        """Append whole documents: ``tokens`` (T,) concatenated, eos included; ``lengths`` (N,).

        Returns ``(shard entry, j)`` for each shard this closes, ``j`` the position (in this call's
        documents) of the document that filled it.
        """
        closed = []
        ends = np.cumsum(lengths)  # (N,)
        doc0, tok0 = 0, 0
        while doc0 < len(lengths):
            if self._stack is None:
                self._open()
            # the first document whose end takes the open shard to shard_tokens
            j = int(np.searchsorted(ends, tok0 + self.shard_tokens - self._tokens, side="left"))
            last = min(j, len(lengths) - 1)
            buf = tokens[tok0 : ends[last]].astype(self.dtype, copy=False).tobytes()
            self._fh.write(buf)
            self._sha.update(buf)
            self._tokens += len(buf) // self.dtype.itemsize
            self._docs += last + 1 - doc0
            if j >= len(lengths):
                break
            closed.append((self.close(), j))
            doc0, tok0 = j + 1, int(ends[j])
        return closed

    def close(self) -> dict[str, Any] | None:
        """Finish the open shard (fsync + rename); None when nothing is open."""
        if self._stack is None:
            return None
        self._fh.flush()
        self._stack.close()  # closes the file, then atomic_path fsyncs and renames it into place
        self._stack = None
        entry = {
            "file": shard_name(self.split, self.number),
            "tokens": self._tokens,
            "docs": self._docs,
            "sha256": self._sha.hexdigest(),
        }
        self.number += 1
        return entry

    def abort(self, exc: BaseException | None) -> None:
        if self._stack is not None:
            self._stack.__exit__(type(exc), exc, None)  # atomic_path removes the temp file
            self._stack = None


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            sha.update(chunk)
    return sha.hexdigest()


def _verify(folder: Path, entry: dict[str, Any], itemsize: int) -> str | None:
    """None when the shard is whole, else what is wrong with it."""
    path = folder / entry["file"]
    if not path.is_file():
        return "is missing"
    if path.stat().st_size != entry["tokens"] * itemsize:
        return f"has {path.stat().st_size} bytes, not {entry['tokens'] * itemsize} (truncated by a kill?)"
    if file_sha256(path) != entry["sha256"]:
        return "does not match its sha256 (truncated or changed)"
    return None


# -- the run --------------------------------------------------------------------------------------
@dataclass
class _SplitState:
    shards: list[dict[str, Any]] = field(default_factory=list)
    cursors: list[dict[str, Any]] = field(default_factory=list)  # per shard: next_doc, skipped
    skipped: Counter = field(default_factory=Counter)

    @property
    def next_doc(self) -> int:
        return self.cursors[-1]["next_doc"] if self.cursors else 0

    def summary(self) -> dict[str, Any]:
        return {
            "shards": self.shards,
            "tokens": sum(s["tokens"] for s in self.shards),
            "docs": sum(s["docs"] for s in self.shards),
        }


def _make_tokenizer(
    spec: str | LMTokenizer,
    source: LMSource,
    folder: Path,
    previous: dict | None,
    opts: dict[str, Any],
    log: Callable[[str], None],
) -> LMTokenizer:
    if not isinstance(spec, str):
        return spec
    lower = opts["turkish_lower"]
    if spec == "bytes":
        return BytesTokenizer(turkish_lower=lower)
    if spec.startswith("hf:"):
        return HFTokenizer(spec[3:], turkish_lower=lower)
    if spec != "bpe":
        raise ShardError(f"--tokenizer must be bytes, bpe or hf:ID, got {spec!r}")
    if previous is not None and (folder / TOKENIZER_FILE).is_file():
        return BPETokenizer.load(folder / TOKENIZER_FILE, turkish_lower=lower)
    log(f"training a byte-level BPE ({opts['vocab_size']} ids) on a sample of the training documents")
    tok = BPETokenizer.train(
        _bpe_sample(source, opts),
        vocab_size=opts["vocab_size"],
        turkish_lower=lower,
        progress=opts["progress"],
    )
    tok.save(folder)
    return tok


def _bpe_sample(source: LMSource, opts: dict[str, Any]) -> Iterator[str]:
    """The first training-split documents, up to ``bpe_sample_docs`` documents or ``bpe_sample_mb``."""
    budget = opts["bpe_sample_mb"] * 1e6 if opts["bpe_sample_mb"] else float("inf")
    max_docs = opts["bpe_sample_docs"] or float("inf")
    taken, size = 0, 0
    for i, doc in enumerate(itertools.islice(source, opts["max_docs"])):
        if taken >= max_docs or size >= budget:
            return
        if doc_split(i, opts["seed"], opts["val_split"]) != "train":
            continue
        text, _ = doc_text(doc, source.markup)
        if text is not None:
            taken += 1
            size += len(text.encode("utf-8"))
            yield text


def _resume_state(
    folder: Path, previous: dict[str, Any], itemsize: int, log: Callable[[str], None]
) -> tuple[dict[str, _SplitState], int]:
    """The verified prefix of each split's shards from an earlier index; counts shards kept."""
    states, kept = {}, 0
    for split in SPLITS:
        st = _SplitState()
        entries = previous["splits"].get(split, {}).get("shards", [])
        cursors = previous.get("resume", {}).get(split, [])
        for entry, cursor in zip(entries, cursors, strict=False):
            problem = _verify(folder, entry, itemsize)
            if problem is not None:
                log(f"{entry['file']} {problem}; rebuilding {split} from document {st.next_doc}")
                break
            st.shards.append(entry)
            st.cursors.append(cursor)
        st.skipped = Counter(st.cursors[-1]["skipped"]) if st.cursors else Counter()
        kept += len(st.shards)
        states[split] = st
    return states, kept


def _index(tok, dtype, source, states, settings, docs_read, complete) -> dict[str, Any]:
    skipped = sum((s.skipped for s in states.values()), Counter())
    src = source.describe()
    if docs_read is not None:
        src["docs_read"] = docs_read
    return {
        "format": FORMAT,
        "version": VERSION,
        "dtype": dtype,
        "tokenizer": tok.to_index(),
        "splits": {k: s.summary() for k, s in states.items()},
        "source": src,
        "skipped": dict(sorted(skipped.items())),
        "settings": settings,
        "resume": {k: s.cursors for k, s in states.items()},
        "complete": complete,
    }


def _previous(folder: Path, settings: dict, source: dict, overwrite: bool) -> dict[str, Any] | None:
    path = folder / INDEX_FILE
    if not path.is_file():
        return None
    try:
        prev = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ShardError(f"{path} is not a readable index ({err}); remove it or pass --overwrite") from None
    if prev.get("format") != FORMAT:
        raise ShardError(f"{path} is not a {FORMAT} index; choose another --output-dir")
    same_source = {k: v for k, v in prev.get("source", {}).items() if k != "docs_read"} == source
    if prev.get("settings") == settings and same_source:
        return prev
    if not overwrite:
        diff = sorted(k for k in settings if prev.get("settings", {}).get(k) != settings[k])
        what = ", ".join(diff + ([] if same_source else ["the input"]))
        raise ShardError(
            f"{folder} holds shards made with other settings ({what}); pass --overwrite to replace "
            "them or choose another --output-dir"
        )
    for p in [*folder.glob("train-*.bin"), *folder.glob("val-*.bin"), folder / TOKENIZER_FILE, path]:
        p.unlink(missing_ok=True)
    return None


class _Counter:
    n = 0


def _batches(
    docs: Iterator[Any], states: dict[str, _SplitState], opts: dict[str, Any], read: _Counter
) -> Iterator[_Batch]:
    """Documents still to write, in order, in batches of about ``batch_bytes`` of text."""
    batch, size = _Batch([], [], []), 0
    for i, doc in enumerate(docs):
        read.n = i + 1
        split = doc_split(i, opts["seed"], opts["val_split"])
        if i < states[split].next_doc:
            continue  # already inside a kept shard
        batch.ids.append(i)
        batch.splits.append(split)
        batch.docs.append(doc)
        size += len(doc) if isinstance(doc, str | bytes) else 0
        if size >= opts["batch_bytes"] or len(batch.ids) >= 4096:
            yield batch
            batch, size = _Batch([], [], []), 0
    if batch.ids:
        yield batch


def _finish(
    states: dict[str, _SplitState],
    split: str,
    entry: dict[str, Any],
    next_doc: int,
    pending: Counter,
    save_index: Callable[[], None],
) -> None:
    """Record a closed shard with the cursor a resumed run starts its split from, then save."""
    st = states[split]
    st.shards.append(entry)
    skipped = st.skipped + pending  # skips of the current batch that came before next_doc
    st.cursors.append({"next_doc": next_doc, "skipped": dict(sorted(skipped.items()))})
    save_index()


def _write_batch(
    batch: _Batch,
    enc: _Encoded,
    writers: dict[str, _ShardWriter],
    states: dict[str, _SplitState],
    save_index: Callable[[], None],
) -> None:
    """Append a batch's documents to their split's shard, whole-array per split (not per document)."""
    ids, is_val = np.asarray(batch.ids), np.asarray(batch.splits) == "val"  # (N,)
    for split, in_split in (("train", ~is_val), ("val", is_val)):
        skips = [(i, r) for i, r, x in zip(batch.ids, enc.reasons, in_split, strict=True) if r and x]
        keep = in_split & (enc.lengths > 0)  # (N,)
        if keep.any():
            tokens = enc.tokens if keep.all() else enc.tokens[np.repeat(keep, enc.lengths)]  # (T',)
            for entry, j in writers[split].add(tokens, enc.lengths[keep]):
                nxt = int(ids[keep][j]) + 1
                _finish(states, split, entry, nxt, Counter(r for i, r in skips if i < nxt), save_index)
        states[split].skipped.update(r for _, r in skips)


def _write_shards(
    folder: Path,
    source: LMSource,
    tok: LMTokenizer,
    dtype: str,
    states: dict[str, _SplitState],
    opts: dict[str, Any],
    save_index: Callable[[], None],
) -> int:
    """Tokenize and write every document not already kept; returns how many the source yielded."""
    from tqdm.auto import tqdm

    writers = {s: _ShardWriter(folder, s, dtype, opts["shard_tokens"], len(states[s].shards)) for s in SPLITS}
    read = _Counter()
    known = [n for n in (opts["max_docs"], source.count()) if n is not None]
    bar = tqdm(total=min(known, default=None), unit="doc", unit_scale=True, desc="tokenizing",
               disable=not opts["progress"])  # fmt: skip
    t0, nbytes = time.perf_counter(), 0
    try:
        batches = _batches(itertools.islice(source, opts["max_docs"]), states, opts, read)
        encoded = _encoded_batches(batches, (tok, dtype, source.markup), opts["num_proc"])
        with contextlib.closing(encoded) as pairs:  # closing it stops the worker pool
            for batch, enc in pairs:
                _write_batch(batch, enc, writers, states, save_index)
                nbytes += enc.nbytes
                rate = nbytes / 1e6 / max(time.perf_counter() - t0, 1e-9)
                bar.n = batch.ids[-1] + 1
                bar.set_postfix_str(f"{nbytes / 1e6:.0f} MB, {rate:.1f} MB/s", refresh=False)
                bar.update(0)
        for split in SPLITS:
            entry = writers[split].close()
            if entry is not None:
                _finish(states, split, entry, read.n, Counter(), save_index)
    except BaseException as exc:
        for w in writers.values():
            w.abort(exc)
        raise
    finally:
        bar.close()
    return read.n


def prepare_shards(
    output_dir: str | Path,
    source: LMSource,
    *,
    tokenizer: str | LMTokenizer = "bytes",
    vocab_size: int = 32000,
    dtype: str | None = None,
    val_split: float = 0.05,
    seed: int = 0,
    shard_tokens: int = 50_000_000,
    max_docs: int | None = None,
    num_proc: int = 1,
    turkish_lower: bool = False,
    bpe_sample_docs: int | None = None,
    bpe_sample_mb: float | None = 100.0,
    batch_bytes: int = 1 << 20,
    progress: bool = True,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> PreparedShards:
    """Tokenize ``source`` into ``output_dir`` (index.json + shards), resuming an earlier run.

    Args:
        output_dir: the shard folder (created).
        source: the documents (:class:`sesli.data.lm_sources.LMSource`).
        tokenizer: ``"bytes"``, ``"bpe"`` (trained on the first training documents, up to
            ``bpe_sample_docs`` documents / ``bpe_sample_mb`` MB, saved as ``tokenizer.json``),
            ``"hf:ID_OR_PATH"``, or a tokenizer object.
        vocab_size: BPE vocabulary size.
        dtype: ``uint16`` / ``uint32``; default from the vocabulary (``uint32`` from 65,536 ids).
        val_split: fraction of documents (by hash of their index) for validation; 0 for none.
        seed: seed of the split hash.
        shard_tokens: close a shard once it holds this many tokens (whole documents).
        max_docs: read at most this many documents from the source (skipped ones included).
        num_proc: tokenizing processes; the output does not depend on it.
        turkish_lower: Turkish lower casing before tokenizing (string tokenizer specs).
        batch_bytes: text per batch sent to a worker.
        progress: show a tqdm bar (documents, MB, MB/s).
        overwrite: replace shards made with other settings instead of refusing.
        log: where notes go (default: stderr).
    """
    if not 0.0 <= val_split < 1.0:
        raise ShardError(f"--val-split must be in [0, 1), got {val_split}")
    if shard_tokens < 1 or num_proc < 1 or (max_docs is not None and max_docs < 1):
        raise ShardError("--shard-tokens, --num-proc and --max-docs must be positive")
    notes: list[str] = []

    def note(msg: str) -> None:
        notes.append(msg)
        (log or (lambda m: print(m, file=sys.stderr)))(msg)

    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for stray in folder.glob(".*.tmp"):  # temp files of a killed run
        stray.unlink()
    spec = tokenizer if isinstance(tokenizer, str) else tokenizer.kind
    lower = turkish_lower if isinstance(tokenizer, str) else tokenizer.turkish_lower
    bpe = spec == "bpe"
    settings = {
        "tokenizer": spec, "vocab_size": vocab_size if bpe else None, "dtype": dtype,
        "val_split": val_split, "seed": seed, "shard_tokens": shard_tokens, "max_docs": max_docs,
        "turkish_lower": lower, "bpe_sample_docs": bpe_sample_docs if bpe else None,
        "bpe_sample_mb": bpe_sample_mb if bpe else None,
    }  # fmt: skip
    previous = _previous(folder, settings, source.describe(), overwrite)
    opts = dict(settings, num_proc=num_proc, batch_bytes=batch_bytes, progress=progress)
    tok = _make_tokenizer(tokenizer, source, folder, previous, opts, note)
    dt = dtype_for(tok.vocab_size, dtype)
    states, kept = {s: _SplitState() for s in SPLITS}, 0
    if previous is not None:
        states, kept = _resume_state(folder, previous, np.dtype(dt).itemsize, note)
        listed = sum(len(previous["splits"].get(s, {}).get("shards", [])) for s in SPLITS)
        if previous.get("complete") and kept == listed:
            note(f"{folder}: already complete ({kept} shards verified)")
            return PreparedShards(folder, previous, kept, notes)
        if kept:
            note(f"resuming: kept {kept} verified shard(s) from an earlier run")

    def save_index(docs_read: int | None = None, complete: bool = False) -> dict[str, Any]:
        index = _index(tok, dt, source, states, settings, docs_read, complete)
        write_json(folder / INDEX_FILE, index)
        return index

    save_index()
    docs_read = _write_shards(folder, source, tok, dt, states, opts, save_index)
    if not states["train"].shards:
        raise ShardError(
            f"no training documents: the source gave {docs_read} document(s), skipped "
            f"{dict(sum((s.skipped for s in states.values()), Counter()))}"
        )
    if val_split > 0 and not states["val"].shards:
        note(f"warning: no document fell in the validation split ({docs_read} documents, val {val_split})")
    return PreparedShards(folder, save_index(docs_read, complete=True), kept, notes)


def read_shard(folder: str | Path, entry: dict[str, Any], dtype: str) -> np.ndarray:
    """A shard's tokens as a read-only memory map, shape (tokens,)."""
    return np.memmap(Path(folder) / entry["file"], dtype=np.dtype(dtype).newbyteorder("<"), mode="r")
