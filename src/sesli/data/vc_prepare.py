"""The ``prepare`` step of a voice-conversion experiment: audio files to RVC's training pieces.

Per input file, as RVC's ``preprocess.py`` does (its defaults are ours):

1. decode to mono float32 in [-1, 1] at the experiment's rate (:func:`sesli.audio.io.load_audio`:
   libsndfile, then ffmpeg for other containers);
2. 48 Hz order-5 Butterworth high-pass, **causal** (RVC filters once with ``lfilter``);
3. slice on silence (:func:`sesli.audio.effects.slice_on_silence`: -42 dB, 1.5 s minimum slice,
   0.4 s minimum pause, 15 ms hop, at most 0.5 s of silence kept);
4. cut into 3.7 s pieces overlapping by 0.3 s (:func:`sesli.audio.effects.windows`; the last piece of
   a slice takes the remainder, so a piece is at most ``piece_s + overlap_s`` = 4.0 s long, as in RVC);
5. level each piece with RVC's blend ``x / peak * (0.9 * 0.75) + 0.25 * x``, dropping pieces whose
   peak exceeds 2.5 (broken float audio) and digital silence;
6. write ``0_gt_wavs/{file}_{piece}.wav`` (float32, target rate) and ``1_16k_wavs/{file}_{piece}.wav``
   (float32, 16 kHz, soxr), each atomically.

Inputs differ from RVC in one way, on purpose: a folder is read **recursively** (sesli's folder
source; sessions are often kept in sub-folders), where the RVC WebUI reads only the files directly
inside. Files inside the experiment folder itself are never read.

Resuming: ``EXP/.prepare/journal.jsonl`` gets one fsync'd line per finished file, written after its
pieces are in place, holding the file's index, size, mtime and piece names. A re-run keeps every
file whose journal line still matches the file and whose pieces all exist; the rest are redone
(their leftovers deleted first), and pieces no file claims are removed. Changing a processing
setting (not the inputs) starts the pieces over. A file's index is fixed the first time it is seen,
so adding files never renames the pieces of the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import traceback
from pathlib import Path

import numpy as np
import soundfile as sf

from sesli.audio import effects
from sesli.audio.io import AUDIO_EXTENSIONS, AudioDecodeError, load_audio, resample
from sesli.data.sources.folder import audio_files
from sesli.data.vc_experiment import Experiment, ExperimentError
from sesli.fileio import atomic_path, write_json

LIST_EXTENSIONS = (".txt", ".lst", ".list", ".scp")  # a text file naming one input per line
MIN_FILE_S = 0.5  # shorter files cannot give a useful piece
LEVEL_MAX, LEVEL_ALPHA = 0.9, 0.75  # RVC's norm_write
BROKEN_PEAK = 2.5  # RVC drops pieces above this peak as broken
SR_16K = 16000


def _skip(path: str | Path, reason: str) -> dict:
    return {"path": str(path), "reason": reason}


def collect_inputs(
    inputs: list[str | Path] | str | Path, exclude: Path | None = None
) -> tuple[list[Path], list[dict]]:
    """Expand folders (recursively) and path lists into audio files, in order, without repeats.

    Returns:
        ``(files, skipped)``: resolved paths, and ``{"path", "reason"}`` for entries of a list
        file that do not exist and for paths given twice.

    Raises:
        ExperimentError: nothing given, a given path does not exist, or no audio file is found.
    """
    items = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    if not items:
        raise ExperimentError("no inputs given: pass folders, audio files or a text file listing them")
    out: list[Path] = []
    skipped: list[dict] = []
    seen: set[Path] = set()
    ex = exclude.resolve() if exclude is not None else None

    def add(p: Path) -> None:
        p = p.resolve()
        if ex is not None and p.is_relative_to(ex):
            return
        if p in seen:
            skipped.append(_skip(p, "duplicate: listed twice"))
            return
        seen.add(p)
        out.append(p)

    def expand(p: Path, from_list: bool) -> None:
        if p.is_dir():
            found = audio_files(p)
            if not found and not from_list:
                exts = ", ".join(AUDIO_EXTENSIONS)
                raise ExperimentError(f"no audio files ({exts}) in {p} or its sub-folders")
            for f in found:
                add(f)
        elif p.suffix.lower() in LIST_EXTENSIONS and p.is_file() and not from_list:
            for line in p.read_text(encoding="utf-8").splitlines():
                entry = line.strip()
                if entry and not entry.startswith("#"):
                    q = Path(entry).expanduser()
                    expand(q if q.is_absolute() else p.parent / q, True)
        elif p.exists():
            add(p)  # any other file: decoding will tell whether it is audio
        elif from_list:
            skipped.append(_skip(p, "not found"))
        else:
            raise ExperimentError(f"input {p} does not exist")

    for item in items:
        expand(Path(item).expanduser(), False)
    if not out:
        raise ExperimentError(f"no audio files found in {', '.join(str(i) for i in items)}")
    return out, skipped


def _level(piece: np.ndarray) -> np.ndarray:
    """RVC's levelling: 75 % peak-normalised to 0.9, 25 % the piece as it was."""
    peak = float(np.max(np.abs(piece)))
    return (piece / peak * (LEVEL_MAX * LEVEL_ALPHA) + (1 - LEVEL_ALPHA) * piece).astype(np.float32)


def _save_float_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    """float32 WAV, as RVC writes its pieces (its training loader reads them unscaled)."""
    with atomic_path(path) as tmp:
        sf.write(tmp, np.asarray(audio, dtype=np.float32), sr, subtype="FLOAT", format="WAV")


def _pieces(audio: np.ndarray, sr: int, cfg: dict) -> list[np.ndarray]:
    if cfg["highpass_hz"]:
        audio = effects.highpass(audio, sr, cfg["highpass_hz"], causal=True)
    if cfg["slice"]:
        slices = effects.slice_on_silence(
            audio, sr, cfg["threshold_db"], cfg["min_length_s"], cfg["min_interval_s"], cfg["hop_s"],
            cfg["max_silence_s"],
        )  # fmt: skip
    else:
        slices = [audio] if effects.rms_db(audio) >= cfg["threshold_db"] else []
    return [w for s in slices for w in effects.windows(s, sr, cfg["piece_s"], cfg["overlap_s"])]


def _remove_pieces(exp: Experiment, idx: int) -> None:
    for d in (exp.gt_dir, exp.wav16k_dir):
        for p in d.glob(f"{idx}_*.wav"):
            p.unlink(missing_ok=True)


def _process_file(exp: Experiment, path: Path, idx: int, cfg: dict) -> dict:
    """One input file to its pieces; returns its journal record (``reason`` set when skipped)."""
    st = path.stat()
    rec = {"path": str(path), "idx": idx, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
           "pieces": [], "seconds": 0.0, "reason": None}  # fmt: skip
    _remove_pieces(exp, idx)  # leftovers of a killed run
    sr = exp.sample_rate
    try:
        audio, _ = load_audio(path, sr, mono=True)
    except AudioDecodeError as err:
        return {**rec, "reason": f"decode error: {err}"}
    if not np.all(np.isfinite(audio)):
        return {**rec, "reason": "broken: NaN or infinite samples"}
    if len(audio) < MIN_FILE_S * sr:
        return {**rec, "reason": f"too short: {len(audio) / sr:.2f} s (< {MIN_FILE_S} s)"}
    pieces = _pieces(audio, sr, cfg)
    if not pieces:
        return {**rec, "reason": f"silent: no sound above {cfg['threshold_db']} dBFS"}
    broken = 0
    for piece in pieces:
        peak = float(np.max(np.abs(piece)))
        if peak > BROKEN_PEAK or peak == 0.0:
            broken += peak > BROKEN_PEAK
            continue
        if cfg["normalize"]:
            piece = _level(piece)
        stem = f"{idx}_{len(rec['pieces'])}"
        _save_float_wav(exp.gt_dir / f"{stem}.wav", piece, sr)
        _save_float_wav(exp.wav16k_dir / f"{stem}.wav", resample(piece, sr, SR_16K), SR_16K)
        rec["pieces"].append(stem)
        rec["seconds"] += len(piece) / sr
    rec["seconds"] = round(rec["seconds"], 3)
    if not rec["pieces"]:
        why = f"{broken} with peak > {BROKEN_PEAK}" if broken else "digital silence"
        return {**rec, "reason": f"broken: all {len(pieces)} pieces dropped ({why})"}
    return rec


class _Journal:
    """``.prepare/settings.json`` + append-only ``journal.jsonl`` (last line per path wins)."""

    def __init__(self, exp: Experiment, process: dict):
        self.dir = exp.path / ".prepare"
        self.file = self.dir / "journal.jsonl"
        self.restarted = False
        stored = self.dir / "settings.json"
        if stored.is_file() and json.loads(stored.read_text(encoding="utf-8")) != process:
            self.restarted = True  # other processing settings: every piece is stale
            shutil.rmtree(self.dir)
            for d in (exp.gt_dir, exp.wav16k_dir):
                shutil.rmtree(d, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not stored.is_file():
            write_json(stored, process)
        self.records: dict[str, dict] = {}
        if self.file.is_file():
            raw = self.file.read_bytes()
            end = raw.rfind(b"\n") + 1
            if end < len(raw):  # a line cut by a kill: that file is redone
                with open(self.file, "r+b") as fh:
                    fh.truncate(end)
            for line in raw[:end].decode("utf-8").splitlines():
                if line.strip():
                    rec = json.loads(line)
                    self.records[rec["path"]] = rec

    def append(self, rec: dict) -> None:
        with open(self.file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records[rec["path"]] = rec


def _current(rec: dict | None, path: Path, exp: Experiment) -> bool:
    """The journal record still describes ``path`` and all its pieces exist."""
    if rec is None:
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    if (rec["size"], rec["mtime_ns"]) != (st.st_size, st.st_mtime_ns):
        return False
    return all((d / f"{s}.wav").is_file() for s in rec["pieces"] for d in (exp.gt_dir, exp.wav16k_dir))


def _strays(exp: Experiment, keep: set[str]) -> list[Path]:
    """Files in the piece folders that no current input claims (old inputs, kills, temp files)."""
    found = []
    for d in (exp.gt_dir, exp.wav16k_dir):
        if d.is_dir():
            found += [p for p in d.iterdir() if p.is_file() and (p.suffix != ".wav" or p.stem not in keep)]
    return found


def _inputs_digest(files: list[Path]) -> str:
    h = hashlib.sha1()
    for p in files:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def prepare_vc(
    exp: Experiment,
    inputs: list[str | Path] | str | Path,
    *,
    slice: bool = True,  # the name `sesli prepare --slice` uses
    threshold_db: float = -42.0,
    min_length_s: float = 1.5,
    min_interval_s: float = 0.4,
    hop_s: float = 0.015,
    max_silence_s: float = 0.5,
    piece_s: float = 3.7,
    overlap_s: float = 0.3,
    highpass_hz: float | None = 48.0,
    normalize: bool = True,
    progress: bool = True,
) -> dict:
    """Prepare the experiment's training pieces from ``inputs`` (see the module docstring).

    Args:
        exp: the experiment (its sample rate is the target rate).
        inputs: a folder (read recursively), audio files, a text file listing paths (one per line,
            ``#`` comments, relative to the list), or a list of these.
        slice: split on silence first; False keeps each file whole before cutting pieces.
        threshold_db, min_length_s, min_interval_s, hop_s, max_silence_s: the silence slicer.
        piece_s, overlap_s: piece length and overlap, seconds.
        highpass_hz: causal order-5 high-pass cutoff; None or 0 for none.
        normalize: RVC's per-piece levelling.
        progress: a tqdm bar over files.

    Returns:
        ``{"files", "pieces", "seconds", "skipped": [{"path", "reason"}], "inputs", "recursive",
        "pieces_sha1"}``,
        also recorded as the ``prepare`` step. Re-running with the same settings and intact
        outputs returns the recorded result without touching a file.

    Raises:
        ExperimentError: bad settings, missing inputs, no audio found, or no file gave a piece.
    """
    if not 0 <= overlap_s < piece_s:
        raise ExperimentError(
            f"overlap {overlap_s} s must be at least 0 and shorter than the piece {piece_s} s"
        )
    if highpass_hz and not 0 < highpass_hz < exp.sample_rate / 2:
        raise ExperimentError(f"high-pass {highpass_hz} Hz must lie in (0, {exp.sample_rate / 2}) Hz")
    process = {
        "sample_rate": exp.sample_rate, "slice": bool(slice), "threshold_db": float(threshold_db),
        "min_length_s": float(min_length_s), "min_interval_s": float(min_interval_s), "hop_s": float(hop_s),
        "max_silence_s": float(max_silence_s), "piece_s": float(piece_s), "overlap_s": float(overlap_s),
        "highpass_hz": float(highpass_hz or 0.0), "normalize": bool(normalize),
    }  # fmt: skip
    files, skipped = collect_inputs(inputs, exclude=exp.path)
    settings = {**process, "inputs": len(files), "inputs_sha1": _inputs_digest(files)}
    journal = _Journal(exp, process)
    if journal.restarted and progress:
        print("vc prepare: processing settings changed; preparing every file again", file=sys.stderr)
    todo = [p for p in files if not _current(journal.records.get(str(p)), p, exp)]
    keep = {s for p in files if (r := journal.records.get(str(p))) for s in r["pieces"]}
    if exp.step_done("prepare", settings) and not todo and not _strays(exp, keep):
        return exp.result("prepare") or {}
    if not exp.step_done("prepare", settings):
        exp.invalidate("prepare")  # the pieces will change: later steps are stale from now on
    next_idx = 1 + max((r["idx"] for r in journal.records.values()), default=-1)
    from tqdm import tqdm

    with tqdm(
        total=len(files), unit="file", desc="vc prepare", disable=not progress, dynamic_ncols=True
    ) as bar:
        bar.update(len(files) - len(todo))
        for path in todo:
            old = journal.records.get(str(path))
            if old is not None:
                idx = old["idx"]
            else:
                idx, next_idx = next_idx, next_idx + 1
            try:
                rec = _process_file(exp, path, idx, process)
            except Exception as err:  # an exotic file must not stop a long run
                last = traceback.extract_tb(err.__traceback__)[-1]
                _remove_pieces(exp, idx)
                st = path.stat()
                rec = {"path": str(path), "idx": idx, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                       "pieces": [], "seconds": 0.0, "reason": f"processing error: {type(err).__name__}: "
                       f"{err} ({Path(last.filename).name}:{last.lineno})"}  # fmt: skip
            journal.append(rec)
            bar.update(1)
    recs = [journal.records[str(p)] for p in files]
    for stray in _strays(exp, {s for r in recs for s in r["pieces"]}):
        stray.unlink(missing_ok=True)
    result = {
        "files": sum(1 for r in recs if r["pieces"]),
        "pieces": sum(len(r["pieces"]) for r in recs),
        "seconds": round(sum(r["seconds"] for r in recs), 2),
        "skipped": skipped + [_skip(r["path"], r["reason"]) for r in recs if r["reason"]],
        "inputs": len(files),
        "recursive": True,
        # Which file gave which pieces: equal results mean the later steps' inputs are unchanged.
        "pieces_sha1": hashlib.sha1(
            json.dumps([[r["path"], r["pieces"]] for r in recs]).encode()
        ).hexdigest(),
    }
    if result["pieces"] == 0:
        reasons = "; ".join(f"{Path(s['path']).name}: {s['reason']}" for s in result["skipped"][:5])
        raise ExperimentError(
            f"no usable audio: every one of the {len(files)} input file(s) was skipped ({reasons})"
        )
    exp.record("prepare", settings, result)
    return result
