"""Kokoro training targets, extracted once and cached next to the manifests.

For each utterance of a prepared folder (``train.jsonl`` and ``val.jsonl``, or one manifest):

* ``tokens``: Kokoro ids with the boundary pad token on both ends, ``[0, *ids, 0]``, exactly what
  ``KModel`` feeds its encoders; N = phonemes + 2.
* ``durations``: frames per token in Kokoro's unit, one frame = 600 samples at 24 kHz, from the
  trained aligner (``sesli.models.aligner``) and monotonic alignment search. The clip has
  ``n_frames = num_samples // 600`` frames (floor, defined once in :func:`kokoro_frames`); the
  audio is trimmed to ``600 * n_frames`` samples, which is what Kokoro's decoder produces for
  those durations, and ``durations.sum() == n_frames`` exactly.
* ``f0``: Hz per 300-sample hop (80 Hz, twice the text frame rate, because Kokoro's F0/N heads
  upsample by two in ``F0Ntrain``), 0 where unvoiced, ``2 * n_frames`` values. pyworld (Harvest +
  StoneMask, via ``sesli.audio.features.f0``), chosen over parselmouth because pyworld is MIT
  while parselmouth/Praat are GPL, which an Apache-2.0 core cannot import.
* ``energy``: ``log ||mel||_2`` per hop 300 frame (``sesli.audio.features.energy``), StyleTTS2's
  ``log_norm`` of the mel that Kokoro's N head was trained to predict; ``2 * n_frames`` values.

Layout: ``<out>/<id>.npz`` per utterance (written atomically) and ``<out>/index.json`` with the
manifests' fingerprint (sha256 of their bytes), the extraction settings (the aligner's, as the
caller gives them), the finished ids and the skipped ones with reasons. Extraction skips ids whose
``.npz`` already holds the same utterance record made with the same settings, so an interrupted
run resumes where it stopped. :func:`open_targets` raises :class:`TargetsError` when the cache is
missing, incomplete, made from other manifests or with other settings, saying which command to run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sesli.audio.features import MelConfig, energy, f0, mel_spectrogram
from sesli.fileio import atomic_path, write_json
from sesli.models.aligner import Aligner
from sesli.models.kokoro.config import SAMPLE_RATE, SAMPLES_PER_FRAME  # 24 kHz, one Kokoro text frame

HOP = 300  # F0 / energy hop: two per text frame
INDEX = "index.json"
FORMAT = "sesli-targets/1"
MANIFEST_NAMES = ("train.jsonl", "val.jsonl")


class TargetsError(RuntimeError):
    """The targets cache is missing, stale, incomplete or unreadable (the message says what to do)."""


def kokoro_frames(num_samples: int) -> int:
    """Kokoro text frames in a clip: ``num_samples // 600`` (the tail under 600 samples is dropped)."""
    return int(num_samples) // SAMPLES_PER_FRAME


@dataclass
class UtteranceTargets:
    """Targets of one utterance (N tokens incl. the 2 boundary pads, F text frames)."""

    id: str
    tokens: np.ndarray  # (N,) int64
    durations: np.ndarray  # (N,) int64, sum = F
    f0: np.ndarray  # (2F,) float32 Hz
    energy: np.ndarray  # (2F,) float32

    @property
    def n_frames(self) -> int:
        """F, the clip's length in 600-sample frames."""
        return int(self.durations.sum())


@dataclass
class TargetsCache:
    """A complete targets cache: ``cache[id]`` loads one utterance's targets."""

    root: Path
    fingerprint: str
    ids: list[str]
    skipped: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._id_set = set(self.ids)

    def __contains__(self, utt_id: object) -> bool:
        return utt_id in self._id_set

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, utt_id: str) -> UtteranceTargets:
        path = self.root / f"{utt_id}.npz"
        if utt_id not in self:
            why = self.skipped.get(utt_id, "not in the manifests it was extracted from")
            raise TargetsError(f"no targets for {utt_id!r} in {self.root}: {why}")
        try:
            with np.load(path) as z:
                return UtteranceTargets(utt_id, z["tokens"], z["durations"], z["f0"], z["energy"])
        except (OSError, KeyError, ValueError) as err:
            raise TargetsError(f"{path} is unreadable ({err}); delete it and run extraction again") from None


def _manifest_paths(prepared: Path) -> list[Path]:
    if prepared.is_file():
        return [prepared]
    paths = [prepared / n for n in MANIFEST_NAMES if (prepared / n).is_file()]
    if not paths:
        raise TargetsError(f"{prepared}: no {' or '.join(MANIFEST_NAMES)}; run `sesli prepare` first")
    return paths


def fingerprint(manifests: list[Path]) -> str:
    """sha256 over the manifests' names and bytes."""
    h = hashlib.sha256()
    for p in manifests:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def default_out(prepared: str | os.PathLike) -> Path:
    """Where the cache lives: ``<prepared>/targets`` (or beside a manifest file)."""
    prepared = Path(prepared)
    return (prepared.parent if prepared.is_file() else prepared) / "targets"


def open_targets(
    prepared: str | os.PathLike, out: str | os.PathLike | None = None, *, settings: dict | None = None
) -> TargetsCache:
    """Open a finished cache, checking it was made from the current manifests (and ``settings``).

    Args:
        prepared: the prepared folder (or manifest) the cache belongs to.
        out: the cache folder (default ``<prepared>/targets``).
        settings: the extraction settings the caller needs (None: any).

    Raises:
        TargetsError: missing, interrupted or stale cache (with the command to fix it).
    """
    prepared = Path(prepared)
    root = Path(out) if out is not None else default_out(prepared)
    index = root / INDEX
    hint = f"run `sesli kokoro align --data {prepared}` (or fine-tune: it extracts them)"
    if not index.is_file():
        raise TargetsError(f"no targets cache at {root}: {hint}")
    try:
        meta = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise TargetsError(f"{index} is unreadable ({err}): {hint}") from None
    if meta.get("format") != FORMAT:
        raise TargetsError(f"{index}: unknown format {meta.get('format')!r}: {hint}")
    if not meta.get("complete"):
        raise TargetsError(f"the targets cache at {root} is incomplete (interrupted?): {hint}")
    current = fingerprint(_manifest_paths(prepared))
    if meta.get("fingerprint") != current:
        raise TargetsError(f"the targets cache at {root} was made from other manifests (stale): {hint}")
    made = meta.get("settings")
    if settings is not None and made != _jsonable(settings):
        diff = ", ".join(
            f"{k}: {(made or {}).get(k)!r} -> {v!r}"
            for k, v in _jsonable(settings).items()
            if (made or {}).get(k) != v
        )
        raise TargetsError(
            f"the targets cache at {root} was made with other settings ({diff or made}): {hint}"
        )
    return TargetsCache(root, current, list(meta["ids"]), dict(meta.get("skipped", {})))


def _jsonable(settings: dict) -> dict:
    """``settings`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(settings, sort_keys=True))


def _record_key(utt, settings: dict | None = None) -> str:
    blob = json.dumps([dataclasses.asdict(utt), settings], sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(blob.encode()).hexdigest()


def _done(path: Path, key: str) -> bool:
    try:
        with np.load(path) as z:
            return str(z["key"]) == key
    except (OSError, KeyError, ValueError, EOFError):
        return False  # absent or half-written: redo


@torch.no_grad()
def targets_for_audio(
    wav: np.ndarray, tokens: list[int], aligner: Aligner, *, mel_cfg: MelConfig = MelConfig()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Durations, F0 and energy for one 24 kHz clip and its token ids (pads included).

    Returns (durations (N,), f0 (2F,), energy (2F,)) with F = ``kokoro_frames(len(wav))``.

    Raises:
        TargetsError: the clip has fewer frames than tokens.
    """
    n_frames = kokoro_frames(len(wav))
    if n_frames < len(tokens):
        raise TargetsError(
            f"{len(wav) / SAMPLE_RATE:.2f} s gives {n_frames} frames for {len(tokens)} tokens "
            "(each token needs at least one 600-sample frame)"
        )
    wav = np.ascontiguousarray(wav[: n_frames * SAMPLES_PER_FRAME], dtype=np.float32)
    mel = mel_spectrogram(torch.from_numpy(wav), mel_cfg)  # (1, M, 2F + 1)
    device = next(aligner.parameters()).device
    out = aligner(
        torch.tensor([tokens], device=device),
        torch.tensor([len(tokens)], device=device),
        mel.to(device),
        torch.tensor([mel.shape[-1]], device=device),
    )
    durations = out.durations[0].cpu().numpy().astype(np.int64)  # (N,)
    if int(durations.sum()) != n_frames:  # the aligner's frame count disagrees with ours
        raise TargetsError(f"aligner gave {int(durations.sum())} frames, expected {n_frames}")
    pitch = f0(wav, SAMPLE_RATE, HOP)[: 2 * n_frames].astype(np.float32)  # (2F,)
    en = energy(mel)[0, : 2 * n_frames].numpy().astype(np.float32)  # (2F,)
    return durations, pitch, en


def shift_boundaries(durations: np.ndarray, shift: int) -> np.ndarray:
    """Durations with every token boundary ``shift`` frames later, the total kept.

    The first token (the leading pad) gains ``shift`` frames; they are taken from the end, each
    token keeping at least one frame (fewer are moved when the tail cannot give them). Kokoro's
    decoder sounds a token about two frames before the span its duration gives it
    (``bench/aligner_accuracy.py``: on its own speech an acoustic aligner puts boundaries 2-3
    frames earlier than the durations Kokoro was given), so targets from an aligner are shifted
    to Kokoro's convention.
    """
    d = np.asarray(durations, dtype=np.int64).copy()
    if shift <= 0 or len(d) < 2:
        return d
    left = shift
    for i in range(len(d) - 1, 0, -1):
        take = min(left, int(d[i]) - 1)
        d[i] -= take
        left -= take
        if not left:
            break
    d[0] += shift - left
    return d


def extract_targets(
    prepared_dir: str | os.PathLike,
    aligner: Aligner | str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    table: str = "kokoro",
    progress: Callable[[int, int, str], None] | None = None,
    settings: dict | None = None,
    boundary_shift: int = 0,
) -> TargetsCache:
    """Extract (or finish extracting) the targets of every utterance in a prepared folder.

    Args:
        prepared_dir: a ``sesli prepare`` folder (its ``train.jsonl``/``val.jsonl``) or a manifest.
        aligner: a trained :class:`Aligner`, or an aligner run directory (see
            ``sesli.train.tasks.aligner.load_aligner``).
        out: cache folder (default ``<prepared_dir>/targets``).
        table: symbol table encoding the manifests' phonemes.
        progress: called as ``progress(done, total, utt_id)`` after each utterance.
        settings: what made the aligner (recorded in the index and in every record's key, so a
            cache made with other settings is stale).
        boundary_shift: move every token boundary this many frames later (see
            :func:`shift_boundaries`).

    Returns:
        the complete cache. Utterances that cannot have targets (unknown symbols, too short for
        their phonemes, unreadable audio) are listed in ``skipped`` with the reason.
    """
    from sesli.audio.io import load_audio
    from sesli.data.manifest import read_manifest
    from sesli.text.symbols import get_table

    if not isinstance(aligner, Aligner):
        from sesli.train.tasks.aligner import load_aligner

        aligner = load_aligner(aligner)
    aligner.eval()
    prepared = Path(prepared_dir)
    manifests = _manifest_paths(prepared)
    root = Path(out) if out is not None else default_out(prepared)
    root.mkdir(parents=True, exist_ok=True)
    fp = fingerprint(manifests)
    meta = {"format": FORMAT, "fingerprint": fp, "complete": False, "sample_rate": SAMPLE_RATE,
            "samples_per_frame": SAMPLES_PER_FRAME, "hop": HOP, "f0": "pyworld harvest+stonemask",
            "energy": "log L2 norm of mel power", "manifests": [p.name for p in manifests],
            "settings": _jsonable({**(settings or {}), "boundary_shift": boundary_shift})}  # fmt: skip
    write_json(root / INDEX, meta)  # marks the cache incomplete until the end
    symbols = get_table(table)
    utts = [(u, p.parent) for p in manifests for u in read_manifest(p)]
    ids: list[str] = []
    skipped: dict[str, str] = {}
    for k, (utt, base) in enumerate(utts):
        path, key = root / f"{utt.id}.npz", _record_key(utt, meta["settings"])
        if not _done(path, key):
            try:
                tokens = [symbols.pad_id, *symbols.encode(utt.phonemes), symbols.pad_id]
                wav, _ = load_audio(utt.resolve_audio(base), sr=SAMPLE_RATE)
                dur, pitch, en = targets_for_audio(wav, tokens, aligner)
                dur = shift_boundaries(dur, boundary_shift)
            except (TargetsError, ValueError, OSError) as err:  # UnknownSymbolError is a ValueError
                skipped[utt.id] = f"{type(err).__name__}: {err}"
                continue
            with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
                np.savez(fh, tokens=np.asarray(tokens, np.int64), durations=dur, f0=pitch, energy=en, key=key)
        ids.append(utt.id)
        if progress is not None:
            progress(k + 1, len(utts), utt.id)
    write_json(root / INDEX, {**meta, "complete": True, "ids": ids, "skipped": skipped})
    return TargetsCache(root, fp, ids, skipped)


__all__ = [
    "HOP",
    "SAMPLES_PER_FRAME",
    "SAMPLE_RATE",
    "TargetsCache",
    "TargetsError",
    "UtteranceTargets",
    "default_out",
    "extract_targets",
    "fingerprint",
    "kokoro_frames",
    "open_targets",
    "shift_boundaries",
    "targets_for_audio",
]
