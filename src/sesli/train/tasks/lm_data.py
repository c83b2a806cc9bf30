"""Text data for the tiny language model: prepare train/val files, tokenize, cut into windows.

``prepare_text`` reads one UTF-8 file, a directory of ``.txt`` files (sorted by name) or the tiny
Shakespeare corpus, and writes ``train.txt`` and ``val.txt``: the first ``1 - val_split`` of the
lines go to training and the rest to validation, the same split every time (no shuffling, so
validation text is never a neighbour of a training line it overlaps with).

Tokenizers: bytes of UTF-8 (256 ids, the default; Turkish letters are two bytes each), a
SentencePiece unigram model trained on ``train.txt`` (needs the ``sentencepiece`` package), or
phonemes (rule-based Turkish G2P, Kokoro's symbol ids) for masked-LM pretraining.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from sesli.fileio import atomic_open, atomic_path

TINY_SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)


class TextDataError(ValueError):
    """Text input that cannot make a dataset (message names the file or directory and the fix)."""


@dataclass
class PreparedText:
    train_path: Path
    val_path: Path
    train_lines: int
    val_lines: int
    train_chars: int
    val_chars: int


def _fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed https URL)
        return resp.read()


def download_tiny_shakespeare(
    dest: str | Path,
    *,
    url: str = TINY_SHAKESPEARE_URL,
    timeout: float = 10.0,
    fetch: Callable[[str, float], bytes] = _fetch,
) -> Path:
    """Download tiny Shakespeare (about 1.1 MB) to ``dest`` atomically; fails fast offline.

    Raises:
        TextDataError: the download failed (no network, timeout, HTTP error) or returned nothing.
    """
    try:
        data = fetch(url, timeout)
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise TextDataError(
            f"could not download tiny Shakespeare from {url} ({err}); without network, fetch the file "
            "elsewhere and pass it with --input-file"
        ) from None
    if not data:
        raise TextDataError(f"the download from {url} was empty")
    with atomic_open(dest, "wb") as fh:
        fh.write(data)
    return Path(dest)


def read_text(path: str | Path) -> str:
    """Read one UTF-8 text file (BOM dropped, newlines normalised); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise TextDataError(f"input file {path} does not exist")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise TextDataError(f"{path} is not UTF-8 text (byte {err.start}: {err.reason})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise TextDataError(f"{path} is empty (no text to train on)")
    return text


def read_text_dir(directory: str | Path) -> str:
    """Concatenate the ``*.txt`` files under ``directory`` (recursively, sorted by path)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TextDataError(f"input directory {directory} does not exist")
    files = sorted(p for p in directory.rglob("*.txt") if p.is_file())
    if not files:
        raise TextDataError(f"input directory {directory} holds no .txt files")
    parts = []
    for f in files:
        try:
            parts.append(read_text(f).rstrip("\n"))
        except TextDataError as err:
            if "is empty" not in str(err):
                raise
    if not parts:
        raise TextDataError(f"every .txt file under {directory} is empty")
    return "\n".join(parts) + "\n"


def split_lines(text: str, val_split: float) -> tuple[list[str], list[str]]:
    """Split non-empty lines: the first part for training, the last ``val_split`` for validation."""
    if not 0.0 < val_split < 1.0:
        raise TextDataError(f"--val-split must be between 0 and 1 (exclusive), got {val_split}")
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    n = len(lines)
    n_val = round(n * val_split)
    if n_val == 0 or n_val == n:
        side = "validation" if n_val == 0 else "training"
        raise TextDataError(
            f"the text has {n} line(s); a val split of {val_split} would leave the {side} set empty "
            "(give more text or change --val-split)"
        )
    train, val = lines[: n - n_val], lines[n - n_val :]
    if not any(s.strip() for s in train) or not any(s.strip() for s in val):
        raise TextDataError(f"a val split of {val_split} leaves one side with only blank lines")
    return train, val


def prepare_text(
    output_dir: str | Path,
    *,
    input_file: str | Path | None = None,
    input_dir: str | Path | None = None,
    download_tiny_shakespeare_to: str | Path | None = None,
    val_split: float = 0.1,
    fetch: Callable[[str, float], bytes] = _fetch,
) -> PreparedText:
    """Write ``output_dir/train.txt`` and ``val.txt`` from exactly one text source.

    Args:
        output_dir: where the two files go (created).
        input_file: one UTF-8 text file.
        input_dir: a directory of ``.txt`` files.
        download_tiny_shakespeare_to: download tiny Shakespeare to this path and use it.
        val_split: fraction of lines (from the end) kept for validation.
        fetch: the downloader (tests pass one that reads a local file).
    """
    given = [x is not None for x in (input_file, input_dir, download_tiny_shakespeare_to)]
    if sum(given) != 1:
        raise TextDataError("give exactly one of --download-tiny-shakespeare, --input-file, --input-dir")
    if download_tiny_shakespeare_to is not None:
        input_file = download_tiny_shakespeare(download_tiny_shakespeare_to, fetch=fetch)
    text = read_text(input_file) if input_file is not None else read_text_dir(input_dir)
    train, val = split_lines(text, val_split)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, lines in (("train.txt", train), ("val.txt", val)):
        with atomic_open(out / name) as fh:
            fh.write("\n".join(lines) + "\n")
    return PreparedText(
        train_path=out / "train.txt",
        val_path=out / "val.txt",
        train_lines=len(train),
        val_lines=len(val),
        train_chars=sum(len(s) + 1 for s in train),
        val_chars=sum(len(s) + 1 for s in val),
    )


class ByteTokenizer:
    """UTF-8 bytes as token ids (vocabulary 256); decoding replaces broken multi-byte tails."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


class SentencePieceTokenizer:
    """A SentencePiece model (``.model`` file); :meth:`train` makes one from a text file."""

    def __init__(self, model_file: str | Path) -> None:
        spm = _import_sentencepiece()
        self.model_file = Path(model_file)
        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.vocab_size = self.sp.get_piece_size()

    @classmethod
    def train(
        cls, text_file: str | Path, model_file: str | Path, *, vocab_size: int
    ) -> SentencePieceTokenizer:
        spm = _import_sentencepiece()
        model_file = Path(model_file)
        with atomic_path(model_file) as tmp:
            prefix = str(tmp.with_suffix(""))
            spm.SentencePieceTrainer.train(
                input=str(text_file),
                model_prefix=prefix,
                vocab_size=vocab_size,
                model_type="unigram",
                character_coverage=1.0,
                hard_vocab_limit=False,
                minloglevel=2,
            )
            shutil.move(prefix + ".model", tmp)
            Path(prefix + ".vocab").unlink(missing_ok=True)
        return cls(model_file)

    def encode(self, text: str) -> list[int]:
        return list(self.sp.encode(text))

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode([int(i) for i in ids])


def _import_sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise TextDataError(
            "the sentencepiece tokenizer needs the 'sentencepiece' package (pip install sentencepiece)"
        ) from None
    return sentencepiece


class PhonemeTokenizer:
    """Turkish text -> phonemes (``sesli.text.g2p``) -> Kokoro symbol ids, line by line.

    Lines are joined with a space; symbols the table lacks are skipped (G2P reports what it
    could not read). ``decode`` gives phonemes, not the original spelling.
    """

    def __init__(self, table: str = "kokoro") -> None:
        from sesli.text.g2p import G2P
        from sesli.text.symbols import get_table

        self.g2p = G2P()
        self.table = get_table(table)
        self.vocab_size = self.table.vocab_size

    def encode(self, text: str) -> list[int]:
        lines = (s for s in text.split("\n") if s.strip())
        phonemes = " ".join(self.g2p.phonemize(s).phonemes for s in lines)
        return list(self.table.encode(phonemes, errors="report").ids)

    def decode(self, ids: list[int]) -> str:
        return self.table.decode([int(i) for i in ids])


class TokenWindows(Dataset):
    """Non-overlapping windows of ``seq_len`` tokens with next-token targets.

    Item ``i`` is ``{"ids": tokens[i*L : i*L+L], "targets": tokens[i*L+1 : i*L+L+1]}``, both (L,).
    """

    def __init__(self, tokens: torch.Tensor, seq_len: int, *, name: str = "text") -> None:
        if seq_len < 1:
            raise TextDataError(f"seq_len must be >= 1, got {seq_len}")
        self.tokens = tokens.long()
        self.seq_len = seq_len
        self.n = (len(tokens) - 1) // seq_len
        if self.n < 1:
            raise TextDataError(
                f"{name} has {len(tokens)} tokens, fewer than seq_len + 1 = {seq_len + 1}; "
                "give more text or a smaller --seq-len"
            )

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        start = i * self.seq_len
        chunk = self.tokens[start : start + self.seq_len + 1]
        return {"ids": chunk[:-1], "targets": chunk[1:]}
