"""MAESTRO v3 (Hawthorne et al., 2019): ``maestro-v3.0.0.csv`` beside ``<year>/<name>.wav``.

The CSV has one row per performance: ``canonical_composer, canonical_title, split, year,
midi_filename, audio_filename, duration``; the recordings are 44.1 or 48 kHz stereo WAV of several
minutes. A sound model trains on seconds, so each recording yields ``crops_per_file`` random crops
of ``crop_seconds`` (items with ``crop=(start, seconds)``: the worker decodes only that span, then
down-mixes to mono and resamples like any clip). Crop starts are drawn uniformly over the
recording from ``np.random.default_rng([seed, crc32(audio_filename)])``, rounded to milliseconds
and written into the item's ref (``2004/x.wav#12.345+4``), so the same seed gives the same items
and the journal resumes them; a recording no longer than one crop is taken whole.

Labels: ``label`` is ``piano`` (the whole corpus is piano), plus ``composer``, ``title``,
``split``, ``year`` and ``midi_filename``; the speaker is the composer. ``split`` filters rows by
MAESTRO's own split (None: all). A row whose wav is missing is yielded once with ``error`` set,
so it lands in ``rejects.jsonl`` with the reason.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sesli.data.sources.base import DataSourceError, SourceItem

REQUIRED = ("audio_filename", "duration")
SPLITS = ("train", "validation", "test")
DEFAULT_CROP_SECONDS = 4.0


def find_csv(root: Path) -> Path | None:
    """The MAESTRO CSV in ``root`` (``maestro-v3.0.0.csv`` first, else one ``maestro*.csv``)."""
    preferred = root / "maestro-v3.0.0.csv"
    if preferred.is_file():
        return preferred
    found = sorted(root.glob("maestro*.csv"))
    return found[0] if len(found) == 1 else None


def crop_starts(name: str, duration: float, seconds: float, count: int, seed: int) -> list[float]:
    """Sorted crop starts (s, ms precision) for recording ``name``; ``[]`` when one crop covers it."""
    if duration <= seconds:
        return []
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    return sorted(round(float(s), 3) for s in rng.uniform(0.0, duration - seconds, count))


class MaestroSource:
    """Reads the MAESTRO CSV and yields random crops of its recordings (see the module docstring)."""

    name = "maestro"
    has_text = False

    def __init__(
        self,
        root: str | Path,
        *,
        split: str | None = None,
        crop_seconds: float | None = None,
        crops_per_file: int = 4,
        seed: int = 0,
    ):
        root = Path(root)
        csv_path = root if root.is_file() else find_csv(root)
        if csv_path is None:
            raise DataSourceError(f"MAESTRO source: no maestro-v3.0.0.csv (or one maestro*.csv) in {root}")
        self.csv, self.root = csv_path, csv_path.parent
        if split is not None and split not in SPLITS:
            raise DataSourceError(f"MAESTRO split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.crop_seconds = DEFAULT_CROP_SECONDS if crop_seconds is None else float(crop_seconds)
        if self.crop_seconds <= 0 or crops_per_file < 1:
            raise DataSourceError(
                f"MAESTRO crops need crop_seconds > 0 and crops_per_file >= 1, got "
                f"{self.crop_seconds} and {crops_per_file}"
            )
        self.crops_per_file, self.seed = crops_per_file, seed
        with open(self.csv, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise DataSourceError(f"MAESTRO source: {self.csv.name} lacks column(s) {', '.join(missing)}")
            self.rows = [
                (n, row) for n, row in enumerate(reader, 2) if split is None or row.get("split") == split
            ]

    def _labels(self, row: dict) -> dict:
        return {
            "label": "piano",
            "composer": row.get("canonical_composer", ""),
            "title": row.get("canonical_title", ""),
            "split": row.get("split", ""),
            "year": row.get("year", ""),
            "midi_filename": row.get("midi_filename", ""),
        }

    def __iter__(self) -> Iterator[SourceItem]:
        for lineno, row in self.rows:
            name = row["audio_filename"]
            path = self.root / name
            speaker, labels = row.get("canonical_composer", ""), self._labels(row)
            if not path.is_file():
                error = f"missing audio file {name} (listed in {self.csv.name} line {lineno})"
                yield SourceItem(name, None, None, speaker, error=error, labels=labels)
                continue
            try:
                duration = float(row["duration"])
            except ValueError:
                yield SourceItem(name, str(path), None, speaker, labels=labels)  # no duration: whole file
                continue
            starts = crop_starts(name, duration, self.crop_seconds, self.crops_per_file, self.seed)
            if not starts:
                yield SourceItem(name, str(path), None, speaker, labels=labels)
            for start in starts:
                ref = f"{name}#{start:.3f}+{self.crop_seconds:g}"
                item_labels = {**labels, "crop_start": start}
                yield SourceItem(
                    ref, str(path), None, speaker, labels=item_labels, crop=(start, self.crop_seconds)
                )
