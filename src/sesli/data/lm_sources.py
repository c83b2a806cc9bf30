"""Documents for LM shards, streamed: hub datasets, ``save_to_disk`` folders, parquet, JSONL, Wikipedia
XML dumps and text files.

A source yields one item per document, in a fixed order (files sorted by path), never holding the
corpus: parquet in row batches, datasets by Arrow batches, JSONL and text line by line, an XML dump
page by page (finished pages are cleared). An item is the text (``str``), raw ``bytes`` still to be
checked for UTF-8 (JSONL lines, text blocks, binary columns), ``None`` (an empty cell), or a
:class:`Skip` with the reason a row cannot be a document (counted by the writer, never fatal).

Text files: a document is a blank-line-separated block (the common layout of extracted corpora; a
file without blank lines is one document). A block is cut at a line boundary once it passes
``TXT_BLOCK_BYTES`` so memory stays bounded.

Wikipedia dumps keep main-namespace pages (``<ns>0``) that are not redirects; their markup is
stripped by :func:`wiki_to_text` in the tokenizing workers (``markup == "wiki"``).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TXT_BLOCK_BYTES = 16 << 20
LOCAL_OPTIONS = (
    "use a local copy with --input: a folder written by datasets' save_to_disk, parquet files (a "
    "dataset's data/*.parquet), JSONL files (.jsonl, .json.gz as in C4), a Wikipedia XML dump "
    "(.xml or .xml.bz2 from dumps.wikimedia.org) or .txt files"
)
_JSONL = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz")
_XML = (".xml", ".xml.bz2")


class LMSourceError(ValueError):
    """An input that cannot be read as documents (message names it and what to do)."""


@dataclass(frozen=True)
class Skip:
    """A row that is not a document: ``reason`` is counted under ``skipped`` in the index."""

    reason: str


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in _JSONL + _XML + (".parquet", ".txt") if name.endswith(s)), "")


def _files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and _suffix(p) in suffixes)


class LMSource:
    """One input, detected from its shape; iterate it for documents.

    Args:
        hf_dataset: a hub id (``wikimedia/wikipedia``), read with ``datasets.load_dataset``.
        input_path: a ``save_to_disk`` folder, parquet / JSONL / XML dump / ``.txt`` file or a folder
            of one kind of them (searched recursively).
        config: the hub config (``20231101.tr``, ``en``).
        split: the split of a hub dataset or ``save_to_disk`` ``DatasetDict``.
        text_column: the column (or JSONL key) holding the text.
        streaming: stream a hub dataset instead of downloading it first.
    """

    def __init__(
        self,
        *,
        hf_dataset: str | None = None,
        input_path: str | Path | None = None,
        config: str | None = None,
        split: str = "train",
        text_column: str = "text",
        streaming: bool = False,
    ) -> None:
        if (hf_dataset is None) == (input_path is None):
            raise LMSourceError("give exactly one of --hf-dataset and --input")
        self.config, self.split, self.text_column, self.streaming = config, split, text_column, streaming
        self.files: list[Path] = []
        self.markup: str | None = None
        self._ds: Any = None
        if hf_dataset is not None:
            self.kind, self.spec = "hub", hf_dataset
            self._ds = self._load_hub()
        else:
            path = Path(input_path).resolve()
            self.spec = str(path)
            self.kind, self.files = self._detect(path)
            if self.kind == "disk":
                self._ds = self._load_disk(path)
        self.markup = "wiki" if self.kind == "xml" else None
        self._check_column()

    # -- detection and loading ----------------------------------------------------------------
    @staticmethod
    def _detect(path: Path) -> tuple[str, list[Path]]:
        kinds = {
            ".parquet": "parquet",
            ".txt": "txt",
            **dict.fromkeys(_JSONL, "jsonl"),
            **dict.fromkeys(_XML, "xml"),
        }
        if path.is_file():
            kind = kinds.get(_suffix(path))
            if kind is None:
                raise LMSourceError(
                    f"{path}: unknown input type; give .parquet, .jsonl/.json(.gz), .xml(.bz2) or .txt"
                )
            return kind, [path]
        if not path.is_dir():
            raise LMSourceError(f"input {path} does not exist")
        if any((path / n).is_file() for n in ("dataset_info.json", "state.json", "dataset_dict.json")):
            return "disk", []
        for kind, suffixes in (
            ("parquet", (".parquet",)),
            ("jsonl", _JSONL),
            ("xml", _XML),
            ("txt", (".txt",)),
        ):
            found = _files(path, suffixes)
            if found:
                return kind, found
        raise LMSourceError(f"{path} holds no save_to_disk dataset, parquet, JSONL, XML dump or .txt files")

    def _load_hub(self) -> Any:
        import datasets

        try:
            return datasets.load_dataset(self.spec, self.config, split=self.split, streaming=self.streaming)
        except Exception as err:
            raise LMSourceError(
                f"could not load Hugging Face dataset {self.spec!r} (config {self.config!r}, split "
                f"{self.split!r}): {type(err).__name__}: {err}. If the hub cannot be reached, "
                f"{LOCAL_OPTIONS}"
            ) from None

    def _load_disk(self, path: Path) -> Any:
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as err:
            raise LMSourceError(f"{path} is not a dataset saved with save_to_disk: {err}") from None
        if isinstance(ds, datasets.DatasetDict):
            if self.split not in ds:
                raise LMSourceError(f"{path} has splits {list(ds)}, not {self.split!r} (use --split)")
            ds = ds[self.split]
        return ds

    def _missing(self, where: str, columns: list[str]) -> LMSourceError:
        return LMSourceError(
            f"{where}: no text column {self.text_column!r}; columns are {columns} (use --text-column)"
        )

    def _check_column(self) -> None:
        if self.kind in ("hub", "disk"):
            cols = self._ds.column_names
            if cols is not None and self.text_column not in cols:
                raise self._missing(self.spec, list(cols))
        elif self.kind == "parquet":
            import pyarrow.parquet as pq

            for f in self.files:
                names = pq.ParquetFile(f).schema_arrow.names
                if self.text_column not in names:
                    raise self._missing(str(f), names)
        elif self.kind == "jsonl":
            for f in self.files:
                first = next((x for x in self._jsonl_rows(f) if isinstance(x, dict)), None)
                if first is not None:
                    if self.text_column not in first:
                        raise self._missing(str(f), list(first))
                    return

    def describe(self) -> dict[str, Any]:
        """What was read, for the index (and to tell whether a resumed run reads the same input)."""
        out: dict[str, Any] = {"kind": self.kind, "spec": self.spec}
        if self.kind in ("hub", "disk"):
            out.update(config=self.config, split=self.split)
        if self.kind not in ("xml", "txt"):
            out["text_column"] = self.text_column
        if self.files:
            out["files"] = len(self.files)
        return out

    def count(self) -> int | None:
        """Number of documents when known without reading them (datasets, parquet), else None."""
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)
        if self.kind in ("hub", "disk") and not self.streaming:
            with contextlib.suppress(TypeError):
                return len(self._ds)
        return None

    # -- documents ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        if self.kind in ("hub", "disk"):
            yield from self._dataset_docs()
        for f in self.files:
            if self.kind == "parquet":
                yield from self._parquet_docs(f)
            elif self.kind == "jsonl":
                yield from self._jsonl_docs(f)
            elif self.kind == "xml":
                yield from xml_dump_pages(f)
            else:
                yield from txt_blocks(f)

    def _dataset_docs(self) -> Iterator[Any]:
        ds = self._ds
        if ds.column_names is not None:
            ds = ds.select_columns([self.text_column])
            for batch in ds.iter(batch_size=1000):
                yield from batch[self.text_column]
            return
        for i, row in enumerate(ds):  # a streamed dataset whose columns are known only from its rows
            if i == 0 and self.text_column not in row:
                raise self._missing(self.spec, list(row))
            yield row.get(self.text_column, Skip("missing_column"))

    def _parquet_docs(self, path: Path) -> Iterator[Any]:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024, columns=[self.text_column]):
            yield from batch.column(0).to_pylist()

    @staticmethod
    def _jsonl_rows(path: Path) -> Iterator[dict | Skip]:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line.decode("utf-8"))
                except UnicodeDecodeError:
                    yield Skip("non_utf8")
                    continue
                except json.JSONDecodeError:
                    yield Skip("bad_json")
                    continue
                yield obj if isinstance(obj, dict) else Skip("bad_json")

    def _jsonl_docs(self, path: Path) -> Iterator[Any]:
        for row in self._jsonl_rows(path):
            if isinstance(row, Skip):
                yield row
                continue
            text = row.get(self.text_column, Skip("missing_column"))
            if isinstance(text, str) and not _encodable(text):
                text = Skip("non_utf8")  # JSON "\ud800" escapes decode to lone surrogates
            yield text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def txt_blocks(path: Path) -> Iterator[bytes]:
    """Blank-line-separated blocks of a text file as raw bytes (BOM and ``\\r`` dropped)."""
    with open(path, "rb") as fh:
        block: list[bytes] = []
        size = 0
        for n, line in enumerate(fh):
            if n == 0 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            line = line.rstrip(b"\r\n")
            if line.strip():
                block.append(line)
                size += len(line) + 1
                if size < TXT_BLOCK_BYTES:
                    continue
            if block:
                yield b"\n".join(block)
                block, size = [], 0
        if block:
            yield b"\n".join(block)


def xml_dump_pages(path: Path) -> Iterator[str | Skip]:
    """Wiki markup of each page of a MediaWiki XML dump (``.xml`` or ``.xml.bz2``), streamed.

    Pages outside the main namespace and redirects come out as :class:`Skip`.
    """
    opener = bz2.open if path.name.lower().endswith(".bz2") else open
    with opener(path, "rb") as fh:
        root = None
        try:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                if root is None:
                    root = elem
                if event != "end" or elem.tag.rsplit("}", 1)[-1] != "page":
                    continue
                ns = (elem.findtext("{*}ns") or "0").strip()
                text = elem.findtext("{*}revision/{*}text") or ""
                if ns != "0":
                    yield Skip("non_article")
                elif elem.find("{*}redirect") is not None or _REDIRECT.match(text):
                    yield Skip("redirect")
                else:
                    yield text
                root.clear()  # drop finished pages: memory stays flat however long the dump is
        except ET.ParseError as err:
            raise LMSourceError(f"{path} is not a well-formed XML dump: {err}") from None


# -- wiki markup ------------------------------------------------------------------------------
_REDIRECT = re.compile(r"\s*#(?:REDIRECT|YÖNLENDİRME|YÖNLENDIRME)", re.I)
_DROP = [
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", re.S | re.I),
    re.compile(
        r"<(math|gallery|timeline|syntaxhighlight|source|score|chem|imagemap|hiero)\b[^>]*>.*?</\1>",
        re.S | re.I,
    ),
]
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")  # innermost; repeated until none are left
_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.S)  # innermost; repeated
_MEDIA = re.compile(
    r"\[\[\s*(?:File|Image|Media|Category|Dosya|Resim|Ortam|Kategori)\s*:"
    r"[^\[\]]*(?:\[\[[^\[\]]*\]\][^\[\]]*)*\]\]",
    re.I,
)
_INTERWIKI = re.compile(r"\[\[[a-z]{2,3}(?:-[a-z]+)*:[^\[\]]*\]\]")
_LINK = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]|]*)\]\]")
_EXTLINK = re.compile(r"\[(?:https?:)?//[^\s\]]+\s*([^\]]*)\]")
_HEADING = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$", re.M)
_TABLE_LINE = re.compile(r"^[ \t]*[|!].*$\n?", re.M)
_LIST = re.compile(r"^[*#:;]+[ \t]*", re.M)
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_MAGIC = re.compile(r"__[A-ZÇĞİÖŞÜ]+__")
_EMPHASIS = re.compile(r"'{2,}")
_SPACES = re.compile(r"[^\S\n]+")  # runs of spaces, tabs, no-break spaces
_BLANKS = re.compile(r"\n\s*\n\s*\n+")


def _until_stable(pattern: re.Pattern, text: str) -> str:
    while True:
        text, n = pattern.subn("", text)
        if n == 0:
            return text


def wiki_to_text(markup: str) -> str:
    """Plain text of MediaWiki markup: a small regex pass over the commonest constructs.

    Keeps paragraph text, heading titles (as their own line), link labels (``[[a|b]]`` -> ``b``,
    ``[[a]]`` -> ``a``, ``[http://x b]`` -> ``b``) and list item text. Drops comments, ``<ref>``
    notes, templates (infoboxes, citations: ``{{...}}``, nested), tables (``{|...|}``), files,
    images and categories, interlanguage links, math/gallery/code blocks, bold/italic quotes,
    remaining HTML tags (their text stays), magic words; decodes HTML entities. Not a parser:
    unbalanced markup leaves some debris, which is rare and harmless for LM pretraining.
    """
    text = markup
    for pattern in _DROP:
        text = pattern.sub("", text)
    text = _until_stable(_TEMPLATE, text)
    text = _until_stable(_TABLE, text)
    text = _MEDIA.sub("", text)
    text = _INTERWIKI.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _EXTLINK.sub(r"\1", text)
    text = _HEADING.sub(r"\2", text)
    text = _TABLE_LINE.sub("", text)
    text = _LIST.sub("", text)
    text = _TAG.sub("", text)
    text = _MAGIC.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = html.unescape(text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()
