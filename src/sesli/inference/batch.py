"""Batch synthesis: ``id<TAB>text`` lines to ``<id>.wav`` files and a manifest, resumable after a kill.

``manifest.jsonl`` in the output folder is both the result and the journal: each line
(``{"id", "text", "phonemes", "seconds"}``) is appended and fsync'd after its WAV has been written
atomically, so a rerun on the same folder skips every id that has its line and its WAV, and says
the rest. One run per folder at a time.

Decisions:

* The journal line comes after the WAV. A kill between the two leaves a WAV without a line, which
  is said again (and replaced); never a line without its WAV.
* On start the manifest is rewritten (atomically) when it holds a torn last line, an entry whose
  WAV is gone, an id twice, or an id whose text in the batch has changed since it was said. So
  appending never continues a torn line, each id is listed once, and an edited line is said again
  rather than kept with stale audio.
* A line that cannot be said (no tab, empty id or text, an id that is not a safe file name or
  repeats an earlier one, text with nothing speakable) is reported with its line number and
  recorded in ``errors.jsonl``, and the rest goes on. ``errors.jsonl`` holds this run's failures
  only (failed lines are tried again by the next run) and is absent when there are none.
* Ids are compared case-folded: ``A.wav`` and ``a.wav`` are one file on macOS and Windows.
* A bad voice or speed fails every line alike, so both are checked once before the first line
  (:class:`SynthesisError` from :func:`run_batch`); any other error (the model's, the disk's)
  propagates, and the journal lets the rerun carry on.
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from sesli.fileio import atomic_open
from sesli.inference.base import Speaker, SynthesisError

MANIFEST = "manifest.jsonl"
ERRORS = "errors.jsonl"
_SAFE_ID = re.compile(r"\w[\w.-]*")  # letters (any script), digits, _ - . ; not a leading dot
_MAX_ID_BYTES = 200  # file names are at most 255 bytes on common file systems; ".wav" and temp parts


@dataclass(frozen=True)
class BatchItem:
    """One line to say."""

    line: int  # 1-based line number in the batch file
    id: str
    text: str


@dataclass(frozen=True)
class LineError:
    """A line that was not said, and why."""

    line: int
    id: str | None
    reason: str


@dataclass
class BatchResult:
    """What a run did. ``seconds`` is the audio of every id now done (said now or before)."""

    said: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the manifest with their WAV
    failed: list[LineError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def parse_batch(lines: Iterable[str]) -> tuple[list[BatchItem], list[LineError]]:
    """Split ``id<TAB>text`` lines into items and errors; blank lines and ``#`` comments are skipped.

    The text is everything after the first tab; id and text are stripped of surrounding spaces.
    """
    items: list[BatchItem] = []
    errors: list[LineError] = []
    first_line: dict[str, int] = {}  # case-folded id -> line it was first given on
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if number == 1:
            line = line.removeprefix("\ufeff")  # a UTF-8 byte order mark
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "\t" not in line:
            errors.append(LineError(number, None, "no tab between id and text"))
            continue
        ident, text = (part.strip() for part in line.split("\t", 1))
        reason = _id_problem(ident) or ("empty text" if not text else None)
        if reason is None and ident.casefold() in first_line:
            reason = f"duplicate id {ident!r} (first on line {first_line[ident.casefold()]})"
        if reason is not None:
            errors.append(LineError(number, ident or None, reason))
            continue
        first_line[ident.casefold()] = number
        items.append(BatchItem(number, ident, text))
    return items, errors


def _id_problem(ident: str) -> str | None:
    if not ident:
        return "empty id"
    if not _SAFE_ID.fullmatch(ident):
        return f"id {ident!r} is not a safe file name (letters, digits, _ - . only, not first .)"
    if len(ident.encode("utf-8")) > _MAX_ID_BYTES:
        return f"id is longer than {_MAX_ID_BYTES} bytes"
    return None


def run_batch(
    synth: Speaker,
    lines: Iterable[str],
    out_dir: str | Path,
    *,
    voice: str | Path | None = None,
    speed: float = 1.0,
    source: str = "<batch>",
    progress: bool = False,
    log: TextIO | None = None,
    options: dict | None = None,
) -> BatchResult:
    """Say every line into ``out_dir/<id>.wav`` (16-bit PCM) and ``out_dir/manifest.jsonl``.

    Args:
        synth: a loaded model (:func:`sesli.inference.load`).
        lines: ``id<TAB>text`` lines (a file's lines, newlines allowed).
        out_dir: output folder, created if needed; rerunning on it resumes.
        voice, speed: as for the synthesizer's ``synthesize``.
        options: the family's other options (VITS: noise_scale, noise_w, sdp_ratio, speaker, ...).
        source: the batch file's name, used in reports (``source:line: reason``).
        progress: show a tqdm bar on stderr.
        log: where reports of failed lines and skipped symbols go (None: nowhere).

    Raises:
        SynthesisError: the voice or the speed is unusable (checked before any line is said).
    """
    items, failed = parse_batch(lines)
    options = dict(options or {})
    synth.check(voice, speed, **options)  # a bad voice, speed or option stops before any line

    out = Path(out_dir)
    done = _prepare_folder(out, items)
    result = BatchResult(
        skipped=[item.id for item in items if item.id in done],
        seconds=sum(float(done[item.id]["seconds"]) for item in items if item.id in done),
    )
    todo = [item for item in items if item.id not in done]

    def note(line: int, message: str) -> None:
        if log is not None:
            tqdm.write(f"{source}:{line}: {message}", file=log)

    def fail(error: LineError) -> None:
        result.failed.append(error)
        note(error.line, error.reason)
        with open(out / ERRORS, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(error), ensure_ascii=False) + "\n")

    for error in failed:
        fail(error)
    bar = tqdm(
        total=len(items),
        initial=len(result.skipped),
        unit="line",
        desc="say",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    with bar, open(out / MANIFEST, "a", encoding="utf-8") as journal:
        for item in todo:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # unknown symbols are noted below
                    said = synth.synthesize(item.text, voice=voice, speed=speed, **options)
            except SynthesisError as err:
                fail(LineError(item.line, item.id, str(err)))
                bar.update()
                continue
            if said.unknown:
                note(item.line, f"skipped symbols the model cannot say: {' '.join(said.unknown)}")
            said.save(out / f"{item.id}.wav")
            entry = {"id": item.id, "text": item.text, "phonemes": said.phonemes, "seconds": said.duration}
            journal.write(json.dumps(entry, ensure_ascii=False) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
            result.said.append(item.id)
            result.seconds += said.duration
            bar.update()
    return result


def _prepare_folder(out: Path, items: list[BatchItem]) -> dict[str, dict[str, Any]]:
    """Make ``out`` ready for a (re)run; returns the manifest's entries that are done, by id.

    Done: the WAV is there and the text is unchanged. The manifest is rewritten without the
    rest (see the module docstring) when there is any; a previous run's errors are dropped.
    """
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob(".*.wav.tmp"), *out.glob(f".{MANIFEST}.*.tmp")]:
        stale.unlink(missing_ok=True)  # temp files of a killed run (atomic_path names them so)
    (out / ERRORS).unlink(missing_ok=True)
    path = out / MANIFEST
    if not path.exists():
        return {}
    raw = path.read_bytes()
    texts = {item.id: item.text for item in items}
    entries: dict[str, dict[str, Any]] = {}
    pieces = [piece for piece in raw.split(b"\n") if piece.strip()]
    for piece in pieces:
        entry = _entry(piece)
        if entry is None:
            continue  # a torn line (a kill while appending): its id is said again
        entries.pop(entry["id"], None)  # an id twice: the later line wins, in its place
        entries[entry["id"]] = entry
    done = {
        ident: entry
        for ident, entry in entries.items()
        if (out / f"{ident}.wav").is_file() and texts.get(ident, entry["text"]) == entry["text"]
    }
    if len(done) != len(pieces) or (raw and not raw.endswith(b"\n")):
        with atomic_open(path) as fh:
            fh.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in done.values())
    return done


def _entry(piece: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(piece.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        return None
    if not isinstance(entry.get("text"), str) or not isinstance(entry.get("seconds"), (int, float)):
        return None
    return entry
