"""The one path from any source to an experiment folder.

::

    OUT/
      wavs/<id>.wav        16-bit PCM at the target rate
      train.jsonl          Utterance records (sesli.data.manifest)
      val.jsonl
      rejects.jsonl        Reject records: source reference + reason, for every clip left out
      stats.json           counts, hours, rejects by reason, per speaker
      durations.png        histogram of kept durations
      .prepare/            settings.json + journal.jsonl (the resumable record of finished clips)

Each finished clip appends one fsync'd line to the journal *after* its wav is in place, so a
killed run loses at most the clips in flight; re-running skips every clip the journal already
holds (kept clips only if their wavs still exist) and then rebuilds the manifests from the journal.
Clips are processed in parallel but their results are consumed in source order, so duplicate
detection (the later copy is rejected) and the output do not depend on the worker count.

The validation split hashes each id (or, with ``split_by="speaker"``, each speaker) with the seed:
an id goes to ``val.jsonl`` when its hash falls below ``val_split``. That is stable when the corpus
grows and needs no second copy of the data in memory; if it leaves validation empty on a small
corpus, the clip with the smallest hash is moved there.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sesli.data.manifest import Reject
from sesli.data.process import ClipResult, ProcessConfig, process_item, utterance_id
from sesli.data.report import Summary, write_report
from sesli.data.sources import SourceItem, SourceOptions, open_source
from sesli.fileio import atomic_open, write_json


class PrepareError(RuntimeError):
    """The run cannot start (e.g. the output folder was prepared with other settings)."""


@dataclass
class PrepareConfig:
    """Everything ``sesli prepare`` needs besides the source and output folder.

    Attributes:
        format: source format or ``auto``.
        source: source options (split, columns, streaming, transcripts).
        process: per-clip settings (rate, filters, normalisation, slicing).
        val_split: fraction of kept clips (or speakers) for validation.
        seed: split seed.
        split_by: ``utterance`` or ``speaker`` (hold out whole speakers).
        workers: processes (1 runs in this process).
        dedup: reject clips whose processed audio equals an earlier kept clip's.
        overwrite: discard an existing run in the output folder instead of resuming it.
        progress: show a progress bar.
        stop_after: testing hook: raise ``KeyboardInterrupt`` after this many clips (simulates a kill).
    """

    format: str = "auto"
    source: SourceOptions = field(default_factory=SourceOptions)
    process: ProcessConfig = field(default_factory=ProcessConfig)
    val_split: float = 0.1
    seed: int = 0
    split_by: Literal["utterance", "speaker"] = "utterance"
    workers: int = 1
    dedup: bool = True
    overwrite: bool = False
    progress: bool = True
    stop_after: int | None = None


class Journal:
    """Append-only JSONL of :class:`ClipResult`, fsync'd per line; the last record per ref wins."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[str, bool] = {}  # ref -> kept
        self.wavs: dict[str, list[str]] = {}
        self.hashes: dict[str, str] = {}  # audio hash -> utterance id, of kept clips
        self._hash_of: dict[str, str] = {}  # utterance id -> its audio hash
        if path.is_file():
            self._load()
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _load(self) -> None:
        raw = self.path.read_bytes()
        end = raw.rfind(b"\n") + 1
        if end < len(raw):  # a line cut by a kill: drop it, that clip is redone
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
        for rec in self.records():
            self._index(rec)

    def _index(self, rec: dict) -> None:
        ref = rec["ref"]
        for uid in self.wavs.pop(ref, []):  # a redone clip: forget its old audio
            digest = self._hash_of.pop(uid, None)
            if digest is not None and self.hashes.get(digest) == uid:
                del self.hashes[digest]
        kept = rec["reason"] is None
        self.done[ref] = kept
        if kept:
            self.wavs[ref] = [u["id"] for u in rec["utterances"]]
            for u in rec["utterances"]:
                self.hashes.setdefault(u["hash"], u["id"])
                self._hash_of[u["id"]] = u["hash"]

    def records(self) -> Iterator[dict]:
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    def append(self, result: ClipResult) -> None:
        rec = result.to_json()
        self._fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._index(rec)

    def close(self) -> None:
        self._fh.close()


def _settings(source: str | os.PathLike, cfg: PrepareConfig) -> dict:
    return {"source": str(source), "process": cfg.process.to_dict()}


def _open_run(source: str | os.PathLike, out: Path, cfg: PrepareConfig) -> Journal:
    state = out / ".prepare"
    settings = _settings(source, cfg)
    if cfg.overwrite and state.exists():
        shutil.rmtree(state)
        shutil.rmtree(out / "wavs", ignore_errors=True)
    state.mkdir(parents=True, exist_ok=True)
    stored = state / "settings.json"
    if stored.is_file():
        old = json.loads(stored.read_text(encoding="utf-8"))
        if old != settings:
            diff = sorted(
                k for k in settings["process"] if old.get("process", {}).get(k) != settings["process"][k]
            )
            what = ", ".join(diff) or "source"
            raise PrepareError(
                f"{out} holds a run prepared with other settings ({what}); "
                "use a new --out folder, or --overwrite to start again"
            )
    else:
        write_json(stored, settings)
    return Journal(state / "journal.jsonl")


def _results(
    items: Iterable[SourceItem], cfg: PrepareConfig, wav_dir: Path, use_text: bool
) -> Iterator[ClipResult]:
    """Process items in order, ``cfg.workers`` at a time with a bounded queue (streams large sets)."""
    if cfg.workers <= 1:
        for item in items:
            yield process_item(item, cfg.process, wav_dir, use_text)
        return
    pending: collections.deque[Future] = collections.deque()
    with ProcessPoolExecutor(max_workers=cfg.workers) as pool:
        try:
            for item in items:
                pending.append(pool.submit(process_item, item, cfg.process, wav_dir, use_text))
                if len(pending) >= 4 * cfg.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()


def _todo(
    items: Iterable[SourceItem],
    journal: Journal,
    out: Path,
    rejects: list[ClipResult],
    on_skip: Callable[[], object],
) -> Iterator[SourceItem]:
    """Items not finished yet; duplicate references become rejects without being processed."""
    seen: set[str] = set()
    for item in items:
        if item.ref in seen:
            rejects.append(
                ClipResult(item.ref, reason="duplicate entry", detail="listed twice in the source")
            )
            on_skip()
            continue
        seen.add(item.ref)
        kept = journal.done.get(item.ref)
        if kept is False or (
            kept and all((out / "wavs" / f"{u}.wav").is_file() for u in journal.wavs[item.ref])
        ):
            on_skip()
            continue
        yield item


def prepare(source: str | os.PathLike, out: str | os.PathLike, cfg: PrepareConfig | None = None) -> Summary:
    """Turn ``source`` into an experiment folder at ``out`` (see the module docstring).

    Returns:
        the run's :class:`~sesli.data.report.Summary` (also written to ``stats.json``).

    Raises:
        DataSourceError: the source as a whole cannot be read.
        PrepareError: ``out`` holds a run with different processing settings.
    """
    cfg = cfg or PrepareConfig()
    out = Path(out)
    src = open_source(source, cfg.format, cfg.source)
    use_text = bool(src.has_text) and cfg.process.use_text and not cfg.process.slice
    if use_text:
        try:
            import sesli.text.g2p  # noqa: F401 - fail now, not once per clip
        except ImportError as err:
            raise PrepareError(f"the Turkish G2P (sesli.text.g2p) is not available: {err}") from err
    journal = _open_run(source, out, cfg)
    wav_dir = out / "wavs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    dup_refs: list[ClipResult] = []
    total = len(getattr(src, "files", ())) or None
    try:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="clip", desc="prepare", disable=not cfg.progress, dynamic_ncols=True)
        for n, res in enumerate(
            _results(_todo(src, journal, out, dup_refs, bar.update), cfg, wav_dir, use_text), 1
        ):
            if cfg.dedup:
                res = _dedup(res, journal, wav_dir)
            journal.append(res)
            bar.update(1)
            if cfg.stop_after is not None and n >= cfg.stop_after:
                raise KeyboardInterrupt(f"stop_after={cfg.stop_after}")
        bar.close()
    finally:
        journal.close()
    return _finalize(out, journal, dup_refs, cfg)


def _dedup(res: ClipResult, journal: Journal, wav_dir: Path) -> ClipResult:
    """Reject utterances whose audio a kept clip already has (and remove their wavs)."""
    kept, dropped = [], list(res.dropped)
    for utt in res.utterances:
        first = journal.hashes.get(utt["hash"])
        if first is None or first == utt["id"]:
            kept.append(utt)
            continue
        (wav_dir / f"{utt['id']}.wav").unlink(missing_ok=True)
        dropped.append(
            {
                "source": utt["source"],
                "reason": "duplicate audio",
                "detail": f"same audio as {first}",
                "id": utt["id"],
            }
        )
    if kept or not res.utterances:
        return ClipResult(res.ref, kept, res.reason, res.detail, dropped if kept else res.dropped)
    first = dropped[-1]
    return ClipResult(res.ref, reason="duplicate audio", detail=first["detail"])


def _split_key(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _finalize(out: Path, journal: Journal, extra: list[ClipResult], cfg: PrepareConfig) -> Summary:
    """Write train/val/rejects, stats.json and durations.png from the journal (two streaming passes)."""
    last: dict[str, int] = {}
    for i, rec in enumerate(journal.records()):
        last[rec["ref"]] = i

    def final() -> Iterator[dict]:
        for i, rec in enumerate(journal.records()):
            if last[rec["ref"]] == i:
                yield rec
        yield from (r.to_json() for r in extra)

    def key(utt: dict) -> float:
        return _split_key(cfg.seed, utt["speaker"] if cfg.split_by == "speaker" else utt["id"])

    n_val, smallest = 0, (2.0, "")
    for rec in final():
        for utt in rec["utterances"]:
            k = key(utt)
            n_val += k < cfg.val_split
            smallest = min(smallest, (k, utt["id"]))
    force_val = smallest[1] if cfg.val_split > 0 and n_val == 0 and smallest[1] else None
    summary = Summary(sample_rate=cfg.process.sample_rate)
    wav_names: set[str] = set()
    with (
        atomic_open(out / "train.jsonl") as train,
        atomic_open(out / "val.jsonl") as val,
        atomic_open(out / "rejects.jsonl") as rej,
    ):
        for rec in final():
            summary.inputs += 1
            if rec["reason"] is not None:
                reject = Reject(rec["ref"], rec["reason"], utterance_id(rec["ref"]), rec["detail"])
                rej.write(json.dumps(reject.__dict__, ensure_ascii=False) + "\n")
                summary.add_reject(rec["reason"])
            for d in rec.get("dropped", []):
                rej.write(
                    json.dumps(
                        Reject(d["source"], d["reason"], d.get("id", ""), d["detail"]).__dict__,
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                summary.add_reject(d["reason"])
            for utt in rec["utterances"]:
                utt = {k: v for k, v in utt.items() if k != "hash"}
                is_val = key(utt) < cfg.val_split or utt["id"] == force_val
                (val if is_val else train).write(json.dumps(utt, ensure_ascii=False) + "\n")
                summary.add_utterance(utt, "val" if is_val else "train")
                wav_names.add(f"{utt['id']}.wav")
    for wav in (out / "wavs").iterdir():  # wavs of clips later rejected, or left by a kill
        if wav.name not in wav_names:
            wav.unlink(missing_ok=True)
    write_report(out, summary)
    return summary
