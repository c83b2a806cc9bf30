"""Self-describing model bundles: ``weights.safetensors`` + a ``model.json`` sidecar.

The sidecar says what the weights are (model type, config), how to feed them (symbol table, sample
rate, default inference settings), which voices or speakers come along, which sesli wrote them, and
the sha256 of the weights, so loading never needs the training config and a damaged file is
caught before it reaches the model. Small and model-agnostic: Kokoro uses it today, other models
later. (Like piper's ``.onnx.json`` or PEFT's ``adapter_config.json``.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sesli.fileio import atomic_path, write_json

META_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION = 1


class ArtifactError(RuntimeError):
    """A bundle that is missing, unreadable, or whose weights fail their checksum."""


@dataclass
class ArtifactMeta:
    """The ``model.json`` sidecar."""

    model_type: str  # e.g. "kokoro"
    config: dict[str, Any]
    sample_rate: int
    symbols: str  # name of the symbol table (sesli.text.symbols.get_table)
    voices: list[str] = field(default_factory=list)
    default_voice: str | None = None
    inference: dict[str, Any] = field(default_factory=dict)  # default settings, e.g. {"speed": 1.0}
    sesli_version: str = ""
    weights_sha256: str = ""
    format_version: int = FORMAT_VERSION


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def is_artifact(path: str | Path) -> bool:
    """True when ``path`` is a directory holding a ``model.json``."""
    return (Path(path) / META_FILE).is_file()


def save_artifact(directory: str | Path, state_dict: dict[str, Any], meta: ArtifactMeta) -> Path:
    """Write ``weights.safetensors`` then ``model.json`` (with the weights' sha256) atomically.

    Returns:
        The bundle directory.
    """
    from safetensors.torch import save_file

    from sesli import __version__

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    meta.weights_sha256 = sha256_file(directory / WEIGHTS_FILE)
    meta.sesli_version = meta.sesli_version or __version__
    write_json(directory / META_FILE, asdict(meta))
    return directory


def read_meta(directory: str | Path) -> ArtifactMeta:
    """Parse a bundle's ``model.json`` (clear :class:`ArtifactError` when absent or malformed)."""
    path = Path(directory) / META_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ArtifactMeta(**raw)
    except FileNotFoundError as err:
        raise ArtifactError(f"{directory} is not a sesli bundle: no {META_FILE}") from err
    except (json.JSONDecodeError, TypeError) as err:
        raise ArtifactError(f"{path} is not a valid sesli {META_FILE}: {err}") from err


def load_weights(directory: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """Read a bundle's weights, checking their sha256 against ``model.json`` first."""
    from safetensors.torch import load_file

    meta = read_meta(directory)
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise ArtifactError(f"{directory}: {WEIGHTS_FILE} is missing")
    if verify and meta.weights_sha256:
        actual = sha256_file(path)
        if actual != meta.weights_sha256:
            raise ArtifactError(
                f"{path} is damaged or was replaced: sha256 {actual[:12]}... does not match "
                f"{meta.weights_sha256[:12]}... recorded in {META_FILE}"
            )
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own error types
        raise ArtifactError(f"cannot read {path}: {err}") from err
