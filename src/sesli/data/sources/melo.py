"""MeloTTS-style lists: one ``path|speaker|language|text`` line per clip.

Relative paths are taken from the list file's folder. The language field is not used (sesli's
front-end is Turkish); it is only checked to be present.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sesli.data.sources.base import DataSourceError, SourceItem, relative_ref


class MeloSource:
    """Reads a MeloTTS ``.list`` file."""

    name = "melo"
    has_text = True

    def __init__(self, list_file: str | Path):
        self.list_file = Path(list_file)
        if not self.list_file.is_file():
            raise DataSourceError(f"Melo source: list file not found: {list_file}")
        self.root = self.list_file.parent

    def __iter__(self) -> Iterator[SourceItem]:
        with open(self.list_file, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                ref = f"{self.list_file.name}:{lineno}"
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    yield SourceItem(ref, None, None, error=f"line {lineno} is not UTF-8")
                    continue
                if not line.strip():
                    continue
                fields = line.split("|")
                if len(fields) < 4:
                    yield SourceItem(
                        ref, None, None, error=f"malformed line {lineno}: want path|speaker|language|text"
                    )
                    continue
                path = Path(fields[0].strip())
                path = path if path.is_absolute() else self.root / path
                text = " ".join("|".join(fields[3:]).split())
                yield SourceItem(relative_ref(path, self.root), str(path), text, fields[1].strip())
