"""Checkpoints: one directory each, written atomically, verified on load.

Layout of a checkpoint directory::

    step-00001200/
        model.safetensors         one file per module the task built (weights only)
        state.pt                  optimizers, schedulers, grad scaler, EMA, RNG states, counters
        manifest.json             written last: step, and size + sha256 of every file above

The directory is first written as ``.tmp-<name>-<pid>`` beside its final place, every file is
fsynced, and then it is renamed, so a run killed at any moment (SIGKILL included) leaves either a
complete checkpoint or a stray temporary directory that :func:`clean_stale` removes. Loading
re-hashes every file against the manifest; a missing, truncated or altered file raises
:class:`CheckpointError` naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

MANIFEST = "manifest.json"
STATE = "state.pt"
FORMAT = "sesli-checkpoint/1"
_STEP_DIR = re.compile(r"^step-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that is incomplete, truncated or corrupt (the message names the file)."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: per-module weights, the training state and the manifest."""

    path: Path
    weights: dict[str, dict[str, torch.Tensor]]
    state: dict[str, Any]
    manifest: dict[str, Any]


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _plain_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors; tensors sharing storage (tied weights) are cloned for safetensors."""
    out, seen = {}, set()
    for k, v in sd.items():
        v = v.detach().to("cpu")
        ptr = v.untyped_storage().data_ptr()
        if ptr in seen or not v.is_contiguous():
            v = v.contiguous().clone()
        seen.add(v.untyped_storage().data_ptr())
        out[k] = v
    return out


def save_checkpoint(
    path: str | Path,
    *,
    weights: dict[str, dict[str, torch.Tensor]],
    state: dict[str, Any],
    step: int,
) -> Path:
    """Write a checkpoint directory atomically (replacing one already at ``path``).

    Args:
        path: the final directory, e.g. ``run/checkpoints/step-00000100`` or ``.../best``.
        weights: module name -> state dict; each becomes ``<name>.safetensors``.
        state: everything else (picklable with torch's ``weights_only`` loader: tensors, numbers,
            strings, lists, dicts).
        step: the optimizer step this checkpoint holds.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        files = {}
        for name, sd in weights.items():
            fname = f"{name}.safetensors"
            save_file(_plain_state_dict(sd), str(tmp / fname), metadata={"module": name})
            files[fname] = tmp / fname
        torch.save(state, tmp / STATE)
        files[STATE] = tmp / STATE
        manifest = {
            "format": FORMAT,
            "step": int(step),
            "modules": sorted(weights),
            "files": {n: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for n, p in files.items()},
        }
        for p in files.values():
            _fsync(p)
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        old = None
        if path.exists():  # e.g. best/: move the old one aside, then swap in the new one
            old = path.parent / f".old-{path.name}-{os.getpid()}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def verify_checkpoint(path: str | Path) -> dict[str, Any]:
    """Check every file of a checkpoint against its manifest; return the manifest.

    Raises:
        CheckpointError: missing directory, manifest or file; wrong size; wrong sha256.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise CheckpointError(f"checkpoint {path} is incomplete: {MANIFEST} is missing")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"checkpoint {path}: {mpath.name} is corrupt ({err})") from None
    for name, meta in files.items():
        fpath = path / name
        if not fpath.is_file():
            raise CheckpointError(f"checkpoint {path}: file {name} listed in the manifest is missing")
        size = fpath.stat().st_size
        if size != meta["bytes"]:
            raise CheckpointError(
                f"checkpoint {path}: file {name} is truncated or altered ({size} bytes, expected {meta['bytes']})"
            )
        if _sha256(fpath) != meta["sha256"]:
            raise CheckpointError(
                f"checkpoint {path}: file {name} is corrupt (sha256 does not match manifest)"
            )
    return manifest


def load_checkpoint(path: str | Path, *, weights_only: bool = False) -> Checkpoint:
    """Verify and load a checkpoint directory (tensors on CPU).

    Args:
        path: the checkpoint directory.
        weights_only: skip ``state.pt`` (inference needs only the weights).
    """
    path = Path(path)
    manifest = verify_checkpoint(path)
    weights = {}
    for name in manifest.get("modules", []):
        try:
            weights[name] = load_file(str(path / f"{name}.safetensors"))
        except SafetensorError as err:
            raise CheckpointError(f"checkpoint {path}: {name}.safetensors cannot be read ({err})") from None
    state: dict[str, Any] = {}
    if not weights_only:
        try:
            state = torch.load(path / STATE, map_location="cpu", weights_only=True)
        except Exception as err:  # unpickling errors come in many types
            raise CheckpointError(f"checkpoint {path}: {STATE} cannot be read ({err})") from None
    return Checkpoint(path=path, weights=weights, state=state, manifest=manifest)


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the ``step-*`` checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest ``step-*`` checkpoint in ``directory`` (None when there is none)."""
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def prune_checkpoints(directory: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` ``step-*`` checkpoints (``best/`` is never touched)."""
    found = list_checkpoints(directory)
    doomed = [p for _, p in found[: max(0, len(found) - max(1, keep_last))]]
    for p in doomed:
        shutil.rmtree(p, ignore_errors=True)
    return doomed


def clean_stale(directory: str | Path) -> None:
    """Remove temporary directories left by a run killed while writing a checkpoint."""
    directory = Path(directory)
    if directory.is_dir():
        for p in sorted(directory.iterdir()):
            if not p.is_dir():
                continue
            if p.name.startswith(".old-"):
                # killed between moving the old ``best/`` aside and renaming the new one in
                final = directory / p.name[len(".old-") :].rsplit("-", 1)[0]
                if not final.exists():
                    os.replace(p, final)
                    continue
            if p.name.startswith((".tmp-", ".old-")):
                shutil.rmtree(p, ignore_errors=True)


def move_run_aside(run_dir: str | Path) -> Path | None:
    """Rename a non-empty run directory to ``<run>.old-<YYYYmmdd-HHMMSS>`` (for a fresh restart).

    Returns:
        the new path, or None when there was nothing to move (no directory, or an empty one).
    """
    import time

    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}.old-{stamp}")
    n = 1
    while target.exists():  # two restarts within a second
        target = run_dir.with_name(f"{run_dir.name}.old-{stamp}-{n}")
        n += 1
    os.replace(run_dir, target)
    return target


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states, in a form ``weights_only`` loading accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
