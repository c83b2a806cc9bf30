"""NSynth (Engel et al., 2017): ``examples.json`` beside ``audio/<note_str>.wav``.

Each split of the release (``nsynth-train``, ``nsynth-valid``, ``nsynth-test``) is a folder with
``examples.json``, a dict ``note_str -> {pitch, velocity, instrument_str, instrument_family_str,
instrument_source_str, qualities_str, ...}``, and ``audio/`` with one 16 kHz, 4 s mono wav per
note. Every note becomes an item whose ``labels`` are ``label`` (the instrument family, e.g.
``guitar``), ``pitch`` (MIDI), ``velocity``, ``instrument_source_str`` (acoustic, electronic,
synthetic), ``qualities_str`` and ``instrument_str``; its speaker is the instrument, so
``--split-by speaker`` holds out whole instruments.

Filters (:class:`~sesli.data.sources.base.SourceOptions`) select notes before anything is decoded:
``families``, ``instrument_sources``, ``pitch_range`` (inclusive) and ``qualities`` (a note must
have all of them). A filter naming a value NSynth does not have is an error, so a typo does not
silently select nothing. A note listed without its wav is still yielded, with ``error`` set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from sesli.data.sources.base import DataSourceError, SourceItem, SourceOptions

FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
            "synth_lead", "vocal")  # fmt: skip
SOURCES = ("acoustic", "electronic", "synthetic")
QUALITIES = ("bright", "dark", "distortion", "fast_decay", "long_release", "multiphonic",
             "nonlinear_env", "percussive", "reverb", "tempo-synced")  # fmt: skip


def _check(name: str, given: tuple[str, ...] | None, known: tuple[str, ...]) -> None:
    bad = sorted(set(given or ()) - set(known))
    if bad:
        raise DataSourceError(f"NSynth has no {name} {', '.join(bad)}; choose from {', '.join(known)}")


class NSynthSource:
    """Reads ``ROOT/examples.json`` and ``ROOT/audio/`` (ROOT may also name the json itself)."""

    name = "nsynth"
    has_text = False

    def __init__(self, root: str | Path, options: SourceOptions | None = None):
        root = Path(root)
        self.examples = root if root.is_file() else root / "examples.json"
        self.root = self.examples.parent
        if not self.examples.is_file():
            raise DataSourceError(f"NSynth source: no examples.json in {root}")
        try:
            notes = json.loads(self.examples.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DataSourceError(f"NSynth source: {self.examples} is not valid JSON ({err})") from None
        if not isinstance(notes, dict):
            raise DataSourceError(f"NSynth source: {self.examples} must map note_str to note fields")
        opts = options or SourceOptions()
        _check("instrument family", opts.families, FAMILIES)
        _check("instrument source", opts.instrument_sources, SOURCES)
        _check("quality", opts.qualities, QUALITIES)
        if opts.pitch_range is not None and not 0 <= opts.pitch_range[0] <= opts.pitch_range[1] <= 127:
            raise DataSourceError(f"NSynth pitch range must be 0 <= lo <= hi <= 127, got {opts.pitch_range}")
        self.options = opts
        self.notes = [(key, note) for key, note in notes.items() if self._wanted(note)]
        self.filtered = len(notes) - len(self.notes)
        self.files = [self.root / "audio" / f"{key}.wav" for key, _ in self.notes]

    def _wanted(self, note: object) -> bool:
        """Whether the filters keep ``note`` (malformed entries are kept, to be rejected with a reason)."""
        if not isinstance(note, dict):
            return True
        o = self.options
        if o.families and note.get("instrument_family_str") not in o.families:
            return False
        if o.instrument_sources and note.get("instrument_source_str") not in o.instrument_sources:
            return False
        pitch = note.get("pitch")
        if o.pitch_range and isinstance(pitch, int) and not o.pitch_range[0] <= pitch <= o.pitch_range[1]:
            return False
        return not o.qualities or set(o.qualities) <= set(note.get("qualities_str") or ())

    def __iter__(self) -> Iterator[SourceItem]:
        for (key, note), path in zip(self.notes, self.files, strict=True):
            ref = f"audio/{key}.wav"
            fields = ("pitch", "velocity", "instrument_family_str")
            if not isinstance(note, dict) or any(f not in note for f in fields):
                yield SourceItem(
                    ref, None, None, error=f"bad NSynth entry {key!r}: needs {', '.join(fields)}"
                )
                continue
            labels = {
                "label": note["instrument_family_str"],
                "pitch": int(note["pitch"]),
                "velocity": int(note["velocity"]),
                "instrument_source_str": note.get("instrument_source_str", ""),
                "qualities_str": list(note.get("qualities_str") or []),
                "instrument_str": note.get("instrument_str", ""),
            }
            speaker = str(note.get("instrument_str") or note["instrument_family_str"])
            error = None if path.is_file() else f"missing audio file {ref} (listed in examples.json)"
            yield SourceItem(ref, str(path), None, speaker, error=error, labels=labels)
