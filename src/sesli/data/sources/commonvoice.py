"""Common Voice release folders: ``validated.tsv`` (``path``, ``sentence``, ``client_id``) + ``clips/``.

``split`` picks another TSV of the release (``train``, ``dev``, ``test``, ``other``); the speaker is
the contributor's ``client_id``.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from sesli.data.sources.base import DataSourceError, SourceItem

_REQUIRED = ("path", "sentence")


class CommonVoiceSource:
    """Reads ``ROOT/<split>.tsv`` and ``ROOT/clips/*``."""

    name = "commonvoice"
    has_text = True

    def __init__(self, root: str | Path, split: str | None = None):
        self.root = Path(root)
        self.tsv = self.root / f"{split or 'validated'}.tsv"
        if not self.tsv.is_file():
            raise DataSourceError(f"Common Voice source: {self.tsv} not found")
        with open(self.tsv, encoding="utf-8-sig", newline="") as fh:
            header = fh.readline().rstrip("\r\n").split("\t")
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            raise DataSourceError(f"Common Voice source: {self.tsv} lacks column(s) {missing}; has {header}")
        self.clips = self.root / "clips"

    def __iter__(self) -> Iterator[SourceItem]:
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        with open(self.tsv, encoding="utf-8-sig", errors="replace", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            for lineno, row in enumerate(reader, 2):
                name = (row.get("path") or "").strip()
                if not name:
                    yield SourceItem(f"{self.tsv.name}:{lineno}", None, None, error="row without a path")
                    continue
                text = row.get("sentence")
                yield SourceItem(
                    f"clips/{name}",
                    str(self.clips / name),
                    None if text is None else " ".join(text.split()),
                    (row.get("client_id") or "").strip(),
                )
