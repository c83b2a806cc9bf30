"""Kokoro voice packs from the files other runtimes ship.

A voice pack is a ``[510, 1, 256]`` float32 tensor (one style vector per utterance length in
phonemes). Formats read:

* ``.pt`` -- one pack (upstream ``voices/<name>.pt``), named after the file;
* ``.npz`` -- kokoro-onnx's ``voices*.npz`` (also its ``voices-v1.0.bin``, which is an npz):
  name -> ``(510, 1, 256)``;
* ``.bin`` that is not an npz -- sherpa-onnx's raw float32, ``510 x 256`` per speaker in speaker-id
  order, named ``<stem>_<id>`` (``<stem>`` alone for one speaker); the size must be an exact multiple.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

PACK_ROWS = 510


class VoiceFileError(ValueError):
    """A voice file that cannot be read or has the wrong shape."""


def _check(name: str, pack: np.ndarray | Tensor, path: Path, dim: int) -> Tensor:
    t = torch.as_tensor(np.asarray(pack, dtype=np.float32)).reshape(-1, 1, dim) if pack.size else None
    if t is None or tuple(np.shape(pack))[-1] != dim or t.shape[0] < 1:
        raise VoiceFileError(
            f"{path}: voice {name!r} has shape {tuple(np.shape(pack))}; expected [{PACK_ROWS}, 1, {dim}]"
        )
    if not torch.isfinite(t).all():
        raise VoiceFileError(f"{path}: voice {name!r} holds NaN or infinite values")
    return t


def read_voices(path: str | Path, dim: int = 256) -> dict[str, Tensor]:
    """Read every voice pack in ``path`` (``.pt``, ``.npz`` or ``.bin``) as ``name -> [510, 1, dim]``.

    Raises:
        VoiceFileError: unreadable file, wrong shape or size (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise VoiceFileError(f"voice file not found: {path}")
    if path.suffix == ".pt":
        try:
            pack = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise VoiceFileError(f"cannot read voice file {path}: {type(err).__name__}") from err
        if not isinstance(pack, Tensor):
            raise VoiceFileError(f"{path} does not hold a tensor")
        return {path.stem: _check(path.stem, pack.detach().float().numpy(), path, dim)}
    if zipfile.is_zipfile(path):
        try:
            with np.load(path) as npz:
                return {k: _check(k, npz[k], path, dim) for k in npz.files}
        except VoiceFileError:
            raise
        except Exception as err:
            raise VoiceFileError(f"cannot read voice archive {path}: {type(err).__name__}: {err}") from err
    if path.suffix == ".bin":
        size = path.stat().st_size
        per = PACK_ROWS * dim * 4
        if size == 0 or size % per:
            raise VoiceFileError(
                f"{path}: {size:,} bytes is not a whole number of raw voice packs "
                f"({PACK_ROWS} x {dim} float32 = {per:,} bytes each)"
            )
        raw = np.fromfile(path, dtype="<f4").reshape(-1, PACK_ROWS, 1, dim)
        if len(raw) == 1:
            return {path.stem: _check(path.stem, raw[0], path, dim)}
        return {f"{path.stem}_{i}": _check(f"{path.stem}_{i}", v, path, dim) for i, v in enumerate(raw)}
    raise VoiceFileError(f"{path}: unknown voice file type {path.suffix!r} (expected .pt, .npz or .bin)")


__all__ = ["PACK_ROWS", "VoiceFileError", "read_voices"]
