"""Typed manifests: one JSON object per line, one dataclass per object.

``train.jsonl`` / ``val.jsonl`` hold :class:`Utterance` records; ``rejects.jsonl`` holds
:class:`Reject` records (which source clip, and why it was left out). Audio paths are stored
relative to the manifest's folder, so an experiment folder can be moved or copied as a whole.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sesli.fileio import atomic_open


class ManifestError(ValueError):
    """A manifest line is not valid JSON or lacks required fields."""


@dataclass
class Utterance:
    """One prepared clip.

    Attributes:
        id: unique, filesystem-safe id (also the wav's stem).
        audio_path: path of the 16-bit PCM wav, relative to the manifest's folder (or absolute).
        duration: seconds.
        sample_rate: Hz.
        speaker: speaker name ("" when unknown).
        text: transcript as given by the source ("" for data without text).
        normalized_text: spoken-form text from the normaliser.
        phonemes: G2P output.
        source: where it came from (file path, or dataset:split:index), plus ``#k`` for slices.
        labels: free-form tags from the source (sound data: ``label``, NSynth's ``pitch``,
            ``velocity``, ...); ``{}`` for speech and for manifests written before labels existed.
    """

    id: str
    audio_path: str
    duration: float
    sample_rate: int
    speaker: str = ""
    text: str = ""
    normalized_text: str = ""
    phonemes: str = ""
    source: str = ""
    labels: dict[str, Any] = field(default_factory=dict)

    def resolve_audio(self, root: str | os.PathLike) -> Path:
        """Absolute audio path, with relative paths taken from ``root`` (the manifest's folder)."""
        path = Path(self.audio_path)
        return path if path.is_absolute() else Path(root) / path


@dataclass
class Reject:
    """A source clip left out, and why."""

    source: str
    reason: str
    id: str = ""
    detail: str = ""


def _read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                raise ManifestError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None


def _from_dict(cls: type, obj: dict, where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = required - obj.keys()
    if missing:
        raise ManifestError(f"{where}: missing field(s) {sorted(missing)}")
    return cls(**{k: v for k, v in obj.items() if k in names})


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    """Read ``train.jsonl``-style utterances (unknown keys are ignored, for forward compatibility)."""
    return [_from_dict(Utterance, obj, f"{path}:{n}") for n, obj in _read_jsonl(path)]


def read_split(prepared: str | os.PathLike, name: str) -> list[Utterance]:
    """``<prepared>/<name>.jsonl`` (``train``, ``val``) as utterances; ``[]`` when the file is absent.

    Raises:
        ManifestError: a line that is not a valid utterance.
    """
    path = Path(prepared) / f"{name}.jsonl"
    return read_manifest(path) if path.is_file() else []


def iter_manifest(path: str | os.PathLike) -> Iterator[Utterance]:
    """Stream utterances one at a time (for manifests too large to hold)."""
    for n, obj in _read_jsonl(path):
        yield _from_dict(Utterance, obj, f"{path}:{n}")


def read_rejects(path: str | os.PathLike) -> list[Reject]:
    """Read ``rejects.jsonl``."""
    return [_from_dict(Reject, obj, f"{path}:{n}") for n, obj in _read_jsonl(path)]


def write_manifest(path: str | os.PathLike, items: Iterable[Utterance | Reject | dict]) -> int:
    """Write records as JSONL atomically; returns the number written."""
    count = 0
    with atomic_open(path) as fh:
        for item in items:
            obj = item if isinstance(item, dict) else dataclasses.asdict(item)
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
            count += 1
    return count
