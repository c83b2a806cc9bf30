"""LJSpeech-style corpora: ``metadata.csv`` (``id|text`` or ``id|speaker|text``) beside ``wavs/``.

The original LJSpeech has three columns, ``id|text|normalized_text``; a three-column file is read
as ``id|speaker|text`` only when no middle field contains a space (speaker names do not, sentences
do), otherwise as LJSpeech's own layout, taking the un-normalised text (sesli normalises itself).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from sesli.data.sources.base import DataSourceError, SourceItem


def _rows(metadata: Path) -> Iterator[tuple[int, list[str] | None]]:
    with open(metadata, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield lineno, None
                continue
            if line.strip():
                yield lineno, line.split("|")


class LJSpeechSource:
    """Reads ``ROOT/metadata.csv`` and ``ROOT/wavs/<id>.wav`` (ROOT may also name the csv itself)."""

    name = "ljspeech"
    has_text = True

    def __init__(self, root: str | Path, speaker: str | None = None):
        root = Path(root)
        self.metadata = root if root.is_file() else root / "metadata.csv"
        self.root = self.metadata.parent
        if not self.metadata.is_file():
            raise DataSourceError(f"LJSpeech source: no metadata.csv in {root}")
        self.speaker = speaker if speaker is not None else self.root.name
        self.wavs = self.root / "wavs" if (self.root / "wavs").is_dir() else self.root
        self.three_col_is_speaker = all(
            len(f) < 3 or " " not in f[1].strip()
            for _, f in itertools.islice(_rows(self.metadata), 200)
            if f is not None
        )

    def __iter__(self) -> Iterator[SourceItem]:
        for lineno, fields in _rows(self.metadata):
            ref = f"metadata.csv:{lineno}"
            if fields is None:
                yield SourceItem(ref, None, None, self.speaker, error=f"line {lineno} is not UTF-8")
                continue
            if len(fields) < 2:
                yield SourceItem(ref, None, None, self.speaker, error=f"malformed line {lineno}: no '|'")
                continue
            utt = fields[0].strip()
            speaker, text = self.speaker, fields[1]
            if len(fields) >= 3 and self.three_col_is_speaker:
                speaker, text = fields[1].strip() or self.speaker, "|".join(fields[2:])
            audio = self.wavs / utt if Path(utt).suffix else self.wavs / f"{utt}.wav"
            yield SourceItem(f"wavs/{audio.name}", str(audio), " ".join(text.split()), speaker)
