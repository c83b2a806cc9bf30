"""Sound data (NSynth, MAESTRO, a folder of your own recordings) through the one prepare pipeline.

:func:`prepare_sound` is :func:`sesli.data.prepare.prepare` with sound defaults
(:data:`SOUND_PROCESS`): 16 kHz, no text front-end, no silence trimming (a note's attack and a
texture's start are content), peak normalisation to -1 dBFS, 0.1-60 s clips; a longer recording (a
half-hour of rain) is cut into consecutive 10 s pieces rather than rejected. The output folder is
the same as for speech (``wavs/``, ``train.jsonl``, ``val.jsonl``, ``rejects.jsonl``, the resumable
journal), and each utterance carries its source's ``labels`` (NSynth family and pitch, MAESTRO
composer, ...). For a folder source the first sub-folder (``rain/``, ``waves/``) is the speaker,
which :func:`sesli.train.tasks.sound_data.clip_label` takes as the label.

What is rejected, and why (``rejects.jsonl``): silent or near-silent clips (``near-silent``,
below -60 dBFS), clips shorter than 0.1 s, a 1-sample file among them (``too short``), files that
do not decode (``decode error``), a listed wav that is missing (``missing audio``), crops that
fall outside their recording (``bad crop``). Files at other sample rates are resampled (soxr),
stereo is down-mixed.

The source options that choose *which* clips exist (NSynth filters, MAESTRO split, crop length,
count and seed) are stored in ``.prepare/sound_source.json``: resuming with other ones is refused,
as the base pipeline refuses other processing settings, since the journal would mix both.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Literal

from sesli.data.prepare import PrepareConfig, PrepareError, prepare
from sesli.data.process import ProcessConfig
from sesli.data.report import Summary
from sesli.data.sources import SourceOptions, detect_format
from sesli.fileio import write_json

SOUND_PROCESS = ProcessConfig(
    sample_rate=16000,
    trim=False,
    normalize="peak",
    peak_db=-1.0,
    min_words=0,
    min_duration=0.1,
    max_duration=60.0,
    max_clipping=0.01,
    silence_db=-60.0,
    reject_unknown=False,
    slice=False,
    use_text=False,
    piece_seconds=10.0,
)


def _source_settings(fmt: str, options: SourceOptions) -> dict:
    raw = {"format": fmt, "options": dataclasses.asdict(options)}
    return json.loads(json.dumps(raw))  # tuples as lists, as they read back


def _guard(out: Path, settings: dict, overwrite: bool) -> None:
    """Refuse to resume a run made with other source options (see the module docstring)."""
    state = out / ".prepare"
    if overwrite and state.exists():
        shutil.rmtree(state)
        shutil.rmtree(out / "wavs", ignore_errors=True)
    stored = state / "sound_source.json"
    if stored.is_file():
        old = json.loads(stored.read_text(encoding="utf-8"))
        if old != settings:
            keys = sorted(
                k for k in settings["options"] if old.get("options", {}).get(k) != settings["options"][k]
            )
            what = ", ".join(keys) if keys else "format"
            raise PrepareError(
                f"{out} holds a sound run prepared with other source options ({what}); "
                "use a new --out folder, or --overwrite to start again"
            )
    elif not (state / "settings.json").is_file():  # a fresh run (an older one: prepare decides)
        state.mkdir(parents=True, exist_ok=True)
        write_json(stored, settings)


def prepare_sound(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    fmt: str = "auto",
    sample_rate: int = 16000,
    options: SourceOptions | None = None,
    process: ProcessConfig | None = None,
    val_split: float = 0.1,
    seed: int = 0,
    split_by: Literal["utterance", "speaker"] = "utterance",
    workers: int = 1,
    dedup: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    stop_after: int | None = None,
) -> Summary:
    """Prepare sound clips from ``source`` into ``out`` (resumable; see the module docstring).

    Args:
        source: an NSynth split folder (or its ``examples.json``), a MAESTRO folder (or its CSV),
            or a folder of audio files (sub-folders become labels).
        out: the experiment folder.
        fmt: ``auto``, ``nsynth``, ``maestro``, ``folder`` (or any speech format, without text).
        sample_rate: output rate in Hz (ignored when ``process`` is given).
        options: source options: NSynth filters, MAESTRO split and crops (transcripts are off).
        process: full processing settings instead of :data:`SOUND_PROCESS` at ``sample_rate``.
        val_split, seed, split_by, workers, dedup, overwrite, progress, stop_after: as
            :class:`~sesli.data.prepare.PrepareConfig`.

    Returns:
        the run's summary (also in ``stats.json``).

    Raises:
        DataSourceError: the source as a whole cannot be read (or a filter names no known value).
        PrepareError: ``out`` holds a run with other processing settings or source options.
        ValueError: a sample rate below 1000 Hz or a ``val_split`` outside [0, 1).
    """
    if process is None:
        if sample_rate < 1000:
            raise ValueError(f"sample_rate must be at least 1000 Hz, got {sample_rate}")
        process = dataclasses.replace(SOUND_PROCESS, sample_rate=int(sample_rate))
    if not 0.0 <= val_split < 1.0:
        raise ValueError(f"val_split must be in [0, 1), got {val_split}")
    options = options or SourceOptions()
    if options.transcripts is None:
        options = dataclasses.replace(options, transcripts=False)
    fmt = detect_format(source) if fmt == "auto" else fmt
    out = Path(out)
    _guard(out, _source_settings(fmt, options), overwrite)
    cfg = PrepareConfig(
        format=fmt,
        source=options,
        process=dataclasses.replace(process, use_text=False),
        val_split=val_split,
        seed=seed,
        split_by=split_by,
        workers=workers,
        dedup=dedup,
        overwrite=False,  # done by _guard, before its record is written
        progress=progress,
        stop_after=stop_after,
    )
    return prepare(source, out, cfg)


__all__ = ["SOUND_PROCESS", "prepare_sound"]
