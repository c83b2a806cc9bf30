"""Hugging Face datasets: a hub id, a ``save_to_disk`` folder, parquet files, or an audiofolder.

Audio columns are read *without* decoding (``Audio(decode=False)``): recent ``datasets`` decode
through torchcodec, which sesli does not require, and the workers decode the bytes anyway. Parquet
files are streamed in row batches with pyarrow, and an audiofolder (``metadata.csv`` or
``metadata.jsonl`` with a ``file_name`` column) is read directly, so neither touches the hub cache.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sesli.data.sources.base import DataSourceError, SourceItem, SourceOptions

DEFAULT_DATASET = "zeynepgulhan/mediaspeech-with-cv-tr"
TEXT_COLUMNS = ("sentence", "text", "transcription", "normalized_text", "transcript")
SPEAKER_COLUMNS = ("client_id", "speaker_id", "speaker")
LOCAL_ALTERNATIVES = (
    "prepare from a local copy instead: a folder written by datasets' save_to_disk, parquet files, "
    "or an audiofolder (metadata.csv with file_name) with --format hf; an LJSpeech folder "
    "(--format ljspeech); a Melo list (--format melo); a Common Voice release folder "
    "(--format commonvoice); or a folder of audio files with .txt transcripts (--format folder)"
)


def _pick(columns: Iterable[str], wanted: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    columns = list(columns)
    if wanted is not None:
        if wanted not in columns:
            raise DataSourceError(f"{what} column {wanted!r} not found; columns are {columns}")
        return wanted
    return next((c for c in candidates if c in columns), None)


def _audio_of(value: Any, base: Path | None) -> str | bytes | tuple[np.ndarray, int] | None:
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        if value.get("array") is not None:
            return np.asarray(value["array"], dtype=np.float32), int(value["sampling_rate"])
        value = value.get("path")
    if isinstance(value, str) and value:
        path = Path(value)
        return str(base / path) if base is not None and not path.is_absolute() else value
    return None


class HFSource:
    """Rows of a Hugging Face dataset as source items.

    Args:
        spec: hub id (``owner/name``), a ``save_to_disk`` folder, a parquet file or folder of them,
            or an audiofolder.
        options: split, column names, streaming.
    """

    name = "hf"
    has_text = True

    def __init__(self, spec: str | Path, options: SourceOptions | None = None):
        self.spec = str(spec)
        self.opts = options or SourceOptions()
        self.split = self.opts.split or "train"
        path = Path(self.spec)
        if path.is_file() and path.suffix == ".parquet":
            self.kind, self.parquet = "parquet", [path]
        elif path.is_dir() and ((path / "metadata.csv").is_file() or (path / "metadata.jsonl").is_file()):
            self.kind = "audiofolder"
        elif path.is_dir() and any(path.glob("*.parquet")):
            self.kind, self.parquet = "parquet", sorted(path.glob("*.parquet"))
        elif path.is_dir():
            self.kind = "disk"
        else:
            self.kind = "hub"

    # -- readers ------------------------------------------------------------------------------
    def _rows_dataset(self) -> tuple[Iterator[dict], str]:
        try:
            import datasets
        except ImportError as err:  # pragma: no cover - datasets is a dependency
            raise DataSourceError(f"the 'datasets' package is needed for {self.spec}") from err
        if self.kind == "disk":
            try:
                ds = datasets.load_from_disk(self.spec)
            except Exception as err:
                raise DataSourceError(
                    f"{self.spec} is not a dataset saved with save_to_disk: {err}"
                ) from None
            if isinstance(ds, datasets.DatasetDict):
                if self.split not in ds:
                    raise DataSourceError(f"{self.spec} has splits {list(ds)}, not {self.split!r}")
                ds = ds[self.split]
            ref = Path(self.spec).name
        else:
            try:
                ds = datasets.load_dataset(self.spec, split=self.split, streaming=self.opts.streaming)
            except Exception as err:
                raise DataSourceError(
                    f"could not load Hugging Face dataset {self.spec!r} (split {self.split!r}): "
                    f"{type(err).__name__}: {err}. If the hub cannot be reached, {LOCAL_ALTERNATIVES}."
                ) from None
            ref = f"{self.spec}/{self.split}"
        features = ds.features or {}
        for col, feat in features.items():
            if isinstance(feat, datasets.Audio) and feat.decode:
                ds = ds.cast_column(col, datasets.Audio(decode=False))
        self._audio_feature = next((c for c, f in features.items() if isinstance(f, datasets.Audio)), None)
        self._columns = list(features) if features else None
        return iter(ds), ref

    def _rows_parquet(self) -> Iterator[tuple[str, dict]]:
        import pyarrow.parquet as pq

        for file in self.parquet:
            row = 0
            for batch in pq.ParquetFile(file).iter_batches(batch_size=64):
                for obj in batch.to_pylist():
                    yield f"{file.name}:{row}", obj
                    row += 1

    def _rows_audiofolder(self) -> Iterator[tuple[str, dict]]:
        root = Path(self.spec)
        if (root / "metadata.jsonl").is_file():
            with open(root / "metadata.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        obj = json.loads(line)
                        yield obj.get("file_name", ""), obj
        else:
            with open(root / "metadata.csv", encoding="utf-8-sig", newline="") as fh:
                for obj in csv.DictReader(fh):
                    yield obj.get("file_name", ""), obj

    # -- items --------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[SourceItem]:
        base = Path(self.spec) if self.kind in ("audiofolder", "parquet") else None
        if base is not None and base.is_file():
            base = base.parent
        if self.kind in ("disk", "hub"):
            rows, prefix = self._rows_dataset()
            keyed: Iterator[tuple[str, dict]] = ((f"{prefix}/{i}", r) for i, r in enumerate(rows))
        elif self.kind == "parquet":
            keyed = self._rows_parquet()
        else:
            keyed = self._rows_audiofolder()
        first = True
        for ref, row in keyed:
            if first:
                cols = list(row)
                audio_default = (
                    "file_name" if self.kind == "audiofolder" else getattr(self, "_audio_feature", None)
                )
                self.audio_col = _pick(
                    cols, self.opts.audio_column, ("audio", audio_default or "audio"), "audio"
                )
                self.text_col = _pick(cols, self.opts.text_column, TEXT_COLUMNS, "text")
                self.speaker_col = _pick(cols, self.opts.speaker_column, SPEAKER_COLUMNS, "speaker")
                if self.audio_col is None:
                    raise DataSourceError(
                        f"{self.spec}: no audio column (columns are {cols}); use --audio-column"
                    )
                if self.text_col is None:
                    raise DataSourceError(
                        f"{self.spec}: no text column among {list(TEXT_COLUMNS)} (columns are {cols}); "
                        "use --text-column"
                    )
                first = False
            audio = _audio_of(row.get(self.audio_col), base)
            text = row.get(self.text_col)
            speaker = str(row.get(self.speaker_col) or "") if self.speaker_col else ""
            error = None if audio is not None else f"row has no audio in column {self.audio_col!r}"
            yield SourceItem(
                ref, audio, None if text is None else " ".join(str(text).split()), speaker, error
            )
