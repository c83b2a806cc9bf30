"""Tokenizers for sharded LM data: bytes, a byte-level BPE trained on the corpus, or a pretrained one.

All three share one small interface, so the shard writer and the trainer never ask which is which:

- ``encode(text) -> list[int]`` and ``encode_batch(texts) -> list[np.ndarray]`` (the writer's path);
- ``decode(ids) -> str`` (the end-of-document id is dropped);
- ``vocab_size`` and ``eos_id`` (every document in a shard is followed by ``eos_id``);
- ``to_index() -> dict`` (the ``tokenizer`` entry of ``index.json``), ``save(folder)`` (writes
  ``tokenizer.json`` for a trained BPE, nothing otherwise) and :func:`from_index` to rebuild it.

``turkish_lower=True`` applies :func:`sesli.text.lexicon.lower_tr` (NFC, ``I``->``ı``, ``İ``->``i``)
before encoding, in training the BPE as well as in encoding, and is recorded in the index so a
prompt at sampling time is cased the same way.

Bytes: ids 0..255 are the UTF-8 bytes, exactly as ``train.tasks.lm_data.ByteTokenizer`` (so the
two agree on every text id), plus ``eos_id = 256``; ``vocab_size`` is 257 and a model for shards
needs that one extra row. BPE: HF ``tokenizers``, byte level (GPT-2 style: no unknown token, exact
round trip; GPT-2's split minus English contractions, see ``SPLIT_PATTERN``), with
``<|endoftext|>`` as id 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sesli.fileio import atomic_path
from sesli.text.lexicon import lower_tr

EOS_TOKEN = "<|endoftext|>"
# GPT-2's pre-tokenizer split without its English contractions ('s 't 're 've 'm 'll 'd), which
# would cut Turkish suffixes after an apostrophe wrongly ("İstanbul'da" -> "'d" + "a"): letters,
# digits and other symbols each with an optional leading space, then runs of whitespace.
SPLIT_PATTERN = r" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
TOKENIZER_FILE = "tokenizer.json"


class TokenizerError(ValueError):
    """A tokenizer that cannot be built or loaded (message names it and the way out)."""


class LMTokenizer(Protocol):
    """What the shard writer and the trainer need from a tokenizer."""

    kind: str
    vocab_size: int
    eos_id: int
    turkish_lower: bool

    def encode(self, text: str) -> list[int]: ...

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def to_index(self) -> dict[str, Any]: ...

    def save(self, folder: str | Path) -> None: ...


def _case(text: str, turkish_lower: bool) -> str:
    return lower_tr(text) if turkish_lower else text


class BytesTokenizer:
    """UTF-8 bytes (ids 0..255) plus an end-of-document id 256."""

    kind = "bytes"
    vocab_size = 257
    eos_id = 256

    def __init__(self, *, turkish_lower: bool = False) -> None:
        self.turkish_lower = turkish_lower

    def encode(self, text: str) -> list[int]:
        return list(_case(text, self.turkish_lower).encode("utf-8"))

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [np.frombuffer(_case(t, self.turkish_lower).encode("utf-8"), dtype=np.uint8) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(int(i) for i in ids if int(i) < 256).decode("utf-8", errors="replace")

    def to_index(self) -> dict[str, Any]:
        return {
            "type": "bytes",
            "path": None,
            "vocab_size": self.vocab_size,
            "eos_id": self.eos_id,
            "turkish_lower": self.turkish_lower,
        }

    def save(self, folder: str | Path) -> None:
        """Nothing to save: the bytes tokenizer is fully described by its index entry."""


class BPETokenizer:
    """A byte-level BPE (HF ``tokenizers``); :meth:`train` makes one from a sample of documents."""

    kind = "bpe"

    def __init__(self, tokenizer: Any, *, turkish_lower: bool = False) -> None:
        self.tok = tokenizer
        self.turkish_lower = turkish_lower
        self.vocab_size = tokenizer.get_vocab_size()
        eos = tokenizer.token_to_id(EOS_TOKEN)
        if eos is None:
            raise TokenizerError(f"the BPE tokenizer has no {EOS_TOKEN} token")
        self.eos_id = eos

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        *,
        vocab_size: int = 32000,
        min_frequency: int = 2,
        turkish_lower: bool = False,
        progress: bool = False,
    ) -> BPETokenizer:
        """Train a byte-level BPE on ``texts`` (cased first when ``turkish_lower``).

        The vocabulary holds ``<|endoftext|>`` (id 0), the 256 byte symbols and the merges, at most
        ``vocab_size`` in all; a small sample can stop short of it (``vocab_size`` says how many).
        """
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

        if vocab_size < 258:
            raise TokenizerError(f"--vocab-size must be at least 258 for a byte-level BPE, got {vocab_size}")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])  # fmt: skip
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[EOS_TOKEN],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=progress,
        )
        tok.train_from_iterator((_case(t, turkish_lower) for t in texts), trainer=trainer)
        return cls(tok, turkish_lower=turkish_lower)

    @classmethod
    def load(cls, path: str | Path, *, turkish_lower: bool = False) -> BPETokenizer:
        from tokenizers import Tokenizer

        path = Path(path)
        if not path.is_file():
            raise TokenizerError(f"BPE tokenizer file {path} does not exist")
        return cls(Tokenizer.from_file(str(path)), turkish_lower=turkish_lower)

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(_case(text, self.turkish_lower), add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        cased = [_case(t, self.turkish_lower) for t in texts]
        return [
            np.asarray(e.ids, dtype=np.int64) for e in self.tok.encode_batch(cased, add_special_tokens=False)
        ]

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=True)

    def to_index(self) -> dict[str, Any]:
        return {
            "type": "bpe",
            "path": TOKENIZER_FILE,
            "vocab_size": self.vocab_size,
            "eos_id": self.eos_id,
            "turkish_lower": self.turkish_lower,
        }

    def save(self, folder: str | Path) -> None:
        """Write ``folder/tokenizer.json`` atomically."""
        with atomic_path(Path(folder) / TOKENIZER_FILE) as tmp:
            self.tok.save(str(tmp))


class HFTokenizer:
    """A pretrained tokenizer by hub id or local folder (``transformers.AutoTokenizer``).

    The end-of-document id is the tokenizer's EOS token (its SEP token when it has none).
    """

    kind = "hf"

    def __init__(self, name_or_path: str, *, turkish_lower: bool = False) -> None:
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(name_or_path)
        except Exception as err:
            raise TokenizerError(
                f"could not load the tokenizer {name_or_path!r} ({type(err).__name__}: {err}). Without "
                "the hub, pass a local folder holding tokenizer.json (--tokenizer hf:PATH), or use "
                "--tokenizer bpe (trained on the corpus) or --tokenizer bytes"
            ) from None
        eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
        if eos is None:
            raise TokenizerError(f"the tokenizer {name_or_path!r} has neither an EOS nor a SEP token")
        tok.model_max_length = 1 << 62  # documents are long; windows are cut later, so no warning
        self.tok = tok
        self.name_or_path = name_or_path
        self.turkish_lower = turkish_lower
        self.vocab_size = len(tok)
        self.eos_id = int(eos)

    def encode(self, text: str) -> list[int]:
        return list(self.tok(_case(text, self.turkish_lower), add_special_tokens=False)["input_ids"])

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        cased = [_case(t, self.turkish_lower) for t in texts]
        out = self.tok(cased, add_special_tokens=False)["input_ids"]
        return [np.asarray(ids, dtype=np.int64) for ids in out]

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=True)

    def to_index(self) -> dict[str, Any]:
        return {
            "type": "hf",
            "path": self.name_or_path,
            "vocab_size": self.vocab_size,
            "eos_id": self.eos_id,
            "turkish_lower": self.turkish_lower,
        }

    def save(self, folder: str | Path) -> None:
        """Nothing to save: the index names the hub id or folder."""


def from_index(index: dict[str, Any], folder: str | Path) -> LMTokenizer:
    """Rebuild the tokenizer an ``index.json`` describes (the whole index or its ``tokenizer`` entry).

    Args:
        index: the parsed ``index.json`` (or its ``tokenizer`` dict).
        folder: the shard folder (where a trained ``tokenizer.json`` lives).
    """
    spec = index.get("tokenizer", index)
    kind = spec.get("type")
    lower = bool(spec.get("turkish_lower", False))
    if kind == "bytes":
        tok: LMTokenizer = BytesTokenizer(turkish_lower=lower)
    elif kind == "bpe":
        tok = BPETokenizer.load(Path(folder) / (spec.get("path") or TOKENIZER_FILE), turkish_lower=lower)
    elif kind == "hf":
        tok = HFTokenizer(str(spec["path"]), turkish_lower=lower)
    else:
        raise TokenizerError(f"unknown tokenizer type {kind!r} in the index (bytes, bpe or hf)")
    for key in ("vocab_size", "eos_id"):
        if key in spec and int(spec[key]) != getattr(tok, key):
            raise TokenizerError(
                f"the index says {key} {spec[key]} but the rebuilt {kind} tokenizer has {getattr(tok, key)}"
            )
    return tok


def dtype_for(vocab_size: int, dtype: str | None = None) -> str:
    """The shard dtype: ``uint16`` below 65,536 ids, else ``uint32``; a given dtype must hold every id."""
    if vocab_size < 1:
        raise TokenizerError(f"vocabulary size must be positive, got {vocab_size}")
    if dtype is None:
        return "uint16" if vocab_size < 1 << 16 else "uint32"
    limits = {"uint16": 1 << 16, "uint32": 1 << 32}
    if dtype not in limits:
        raise TokenizerError(f"shard dtype must be uint16 or uint32, got {dtype!r}")
    if vocab_size > limits[dtype]:
        raise TokenizerError(
            f"a vocabulary of {vocab_size} ids does not fit {dtype} (at most {limits[dtype]} ids); "
            "use uint32 or leave the dtype to be chosen"
        )
    return dtype
