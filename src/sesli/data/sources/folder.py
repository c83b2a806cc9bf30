"""A plain folder of audio files, with same-name ``.txt`` transcripts or without any.

Without transcripts the items carry no text (voice conversion and sound models). The speaker is
the first sub-folder under the root, or the root's own name for a flat folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sesli.audio.io import AUDIO_EXTENSIONS
from sesli.data.sources.base import DataSourceError, SourceItem, read_text_file, relative_ref


def audio_files(root: Path) -> list[Path]:
    """Audio files under ``root``, sorted (hidden files and folders skipped)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [
            Path(dirpath) / f
            for f in filenames
            if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_EXTENSIONS
        ]
    return sorted(found)


class FolderSource:
    """Reads every audio file under a folder."""

    name = "folder"

    def __init__(self, root: str | Path, transcripts: bool | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataSourceError(f"folder source: {root} is not a folder")
        self.files = audio_files(self.root)
        if not self.files:
            raise DataSourceError(f"folder source: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {root}")
        if transcripts is None:
            transcripts = any(p.with_suffix(".txt").is_file() for p in self.files)
        self.has_text = transcripts

    def _speaker(self, path: Path) -> str:
        parts = path.relative_to(self.root).parts
        return parts[0] if len(parts) > 1 else self.root.resolve().name

    def __iter__(self) -> Iterator[SourceItem]:
        for path in self.files:
            ref = relative_ref(path, self.root)
            if not self.has_text:
                yield SourceItem(ref, str(path), None, self._speaker(path))
                continue
            text, error = read_text_file(path.with_suffix(".txt"))
            yield SourceItem(ref, str(path), text, self._speaker(path), error=error)
