"""Input formats, one module each, and the detector that picks one for ``--format auto``.

===============  ==========================================================================
``hf``           hub id, ``save_to_disk`` folder, parquet file(s), audiofolder (``hf.py``)
``ljspeech``     ``metadata.csv`` (``id|text`` or ``id|speaker|text``) + ``wavs/``
``melo``         MeloTTS list: ``path|speaker|language|text``
``commonvoice``  Common Voice release: ``validated.tsv`` + ``clips/``
``folder``       audio files with same-name ``.txt`` transcripts, or without text
``nsynth``       NSynth split: ``examples.json`` + ``audio/<note_str>.wav`` (sound; labels)
``maestro``      MAESTRO v3: ``maestro-v3.0.0.csv`` + ``<year>/*.wav``, random crops (sound)
===============  ==========================================================================
"""

from __future__ import annotations

from pathlib import Path

from sesli.data.sources.base import FORMATS, DataSourceError, Source, SourceItem, SourceOptions

__all__ = [
    "FORMATS",
    "DataSourceError",
    "Source",
    "SourceItem",
    "SourceOptions",
    "detect_format",
    "open_source",
]


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return fh.readline()


def detect_format(source: str | Path) -> str:
    """Guess the format of a path or dataset id (see the module table).

    Raises:
        DataSourceError: a path that exists but matches no format, or neither a path nor an id.
    """
    path = Path(source)
    if not path.exists():
        text = str(source)
        if text.count("/") == 1 and not text.startswith((".", "/")) and " " not in text:
            return "hf"  # owner/name on the hub
        raise DataSourceError(f"{source} does not exist (and is not a Hugging Face id like owner/name)")
    if path.is_file():
        if path.suffix == ".parquet":
            return "hf"
        if path.name == "examples.json":
            return "nsynth"
        first = _first_line(path)
        if path.name == "metadata.csv" and "file_name" not in first:
            return "ljspeech"
        if path.suffix == ".csv" and "audio_filename" in first and "duration" in first:
            return "maestro"
        if first.count("|") >= 3:
            return "melo"
        if path.suffix == ".tsv":
            return "commonvoice"
        raise DataSourceError(f"cannot tell the format of {path}; pass --format")
    if (path / "validated.tsv").is_file():
        return "commonvoice"
    if (path / "metadata.csv").is_file():
        return "hf" if "file_name" in _first_line(path / "metadata.csv") else "ljspeech"
    if (path / "metadata.jsonl").is_file() or any(path.glob("*.parquet")):
        return "hf"
    if any((path / n).is_file() for n in ("dataset_info.json", "dataset_dict.json", "state.json")):
        return "hf"
    if (path / "examples.json").is_file():
        return "nsynth"
    from sesli.data.sources.maestro import find_csv

    if find_csv(path) is not None:
        return "maestro"
    lists = [p for p in path.glob("*.list") if p.is_file()]
    if len(lists) == 1:
        return "melo"
    return "folder"


def open_source(source: str | Path, fmt: str = "auto", options: SourceOptions | None = None) -> Source:
    """Open ``source`` as format ``fmt`` (``auto`` detects it)."""
    options = options or SourceOptions()
    fmt = detect_format(source) if fmt == "auto" else fmt
    path = Path(source)
    if fmt == "hf":
        from sesli.data.sources.hf import HFSource

        return HFSource(source, options)
    if fmt in ("ljspeech", "melo", "commonvoice", "folder", "nsynth", "maestro") and not path.exists():
        raise DataSourceError(f"{fmt} source: {source} does not exist")
    if fmt == "ljspeech":
        from sesli.data.sources.ljspeech import LJSpeechSource

        return LJSpeechSource(path)
    if fmt == "melo":
        from sesli.data.sources.melo import MeloSource

        if path.is_dir():
            lists = sorted(path.glob("*.list"))
            if len(lists) != 1:
                raise DataSourceError(f"melo source: expected one .list file in {path}, found {len(lists)}")
            path = lists[0]
        return MeloSource(path)
    if fmt == "commonvoice":
        from sesli.data.sources.commonvoice import CommonVoiceSource

        if path.is_file():
            return CommonVoiceSource(path.parent, path.stem)
        return CommonVoiceSource(path, options.split)
    if fmt == "folder":
        from sesli.data.sources.folder import FolderSource

        return FolderSource(path, options.transcripts)
    if fmt == "nsynth":
        from sesli.data.sources.nsynth import NSynthSource

        return NSynthSource(path, options)
    if fmt == "maestro":
        from sesli.data.sources.maestro import MaestroSource

        return MaestroSource(
            path,
            split=options.split,
            crop_seconds=options.crop_seconds,
            crops_per_file=options.crops_per_file,
            seed=options.seed,
        )
    raise DataSourceError(f"unknown format {fmt!r}; choose auto or one of {', '.join(FORMATS)}")
