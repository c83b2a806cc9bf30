"""onnxruntime-web for the in-browser page: fetched once from the npm registry into sesli's cache.

The browser page (:mod:`sesli.serve.browser`) runs the exported Kokoro graph with onnxruntime-web's
WebAssembly backend. Its three files (the ``ort`` JavaScript API and the threaded SIMD wasm build
with its loader, ~14.7 MB together) come from the package's published tarball, checked against the
registry's sha512 ``integrity`` pinned here, and are kept in ``$SESLI_CACHE/onnxruntime-web/<version>``.
No node or npm is needed. Offline, point ``$SESLI_ORT_WEB`` at a folder holding the same files
(for example ``node_modules/onnxruntime-web/dist``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import urllib.request
from pathlib import Path

from sesli.fileio import atomic_path
from sesli.packaged import cache_root

ORT_WEB_VERSION = "1.30.0"
# the registry's dist.integrity for onnxruntime-web@1.30.0 (sha512 of the .tgz)
ORT_WEB_INTEGRITY = (
    "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
)
ORT_WEB_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
TARBALL = "https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{version}.tgz"


class WebRuntimeError(RuntimeError):
    """onnxruntime-web could not be found or fetched (the message says what to do)."""


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ORT_WEB_FILES)


def ort_web_dir(*, fetch: bool = True, timeout: float = 120.0) -> Path:
    """The folder holding :data:`ORT_WEB_FILES` (fetched into the cache on first use).

    Args:
        fetch: download when the cache lacks them (False: raise instead).
        timeout: seconds for the download.

    Raises:
        WebRuntimeError: ``$SESLI_ORT_WEB`` lacks a file, or the download failed or did not match.
    """
    override = os.environ.get("SESLI_ORT_WEB")
    if override:
        folder = Path(override)
        if not _complete(folder):
            missing = [n for n in ORT_WEB_FILES if not (folder / n).is_file()]
            raise WebRuntimeError(
                f"$SESLI_ORT_WEB={folder} lacks {', '.join(missing)} (onnxruntime-web's dist/)"
            )
        return folder
    folder = cache_root() / "onnxruntime-web" / ORT_WEB_VERSION
    if _complete(folder):
        return folder
    if not fetch:
        raise WebRuntimeError(f"onnxruntime-web {ORT_WEB_VERSION} is not in {folder}; run `make web-runtime`")
    _download(folder, timeout)
    return folder


def _download(folder: Path, timeout: float) -> None:
    url = TARBALL.format(version=ORT_WEB_VERSION)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except OSError as err:
        raise WebRuntimeError(
            f"could not download onnxruntime-web from {url} ({err}). Offline, set $SESLI_ORT_WEB to a "
            f"folder with {', '.join(ORT_WEB_FILES)} (`npm pack onnxruntime-web@{ORT_WEB_VERSION}`, dist/)"
        ) from None
    algo, want = ORT_WEB_INTEGRITY.split("-", 1)
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != want:
        raise WebRuntimeError(
            f"{url} does not match its pinned {algo} (got {got[:16]}..., want {want[:16]}...)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for name in ORT_WEB_FILES:
            member = tar.extractfile(f"package/dist/{name}")
            if member is None:
                raise WebRuntimeError(f"onnxruntime-web {ORT_WEB_VERSION} has no dist/{name}")
            with atomic_path(folder / name) as tmp:
                tmp.write_bytes(member.read())


__all__ = ["ORT_WEB_FILES", "ORT_WEB_VERSION", "WebRuntimeError", "ort_web_dir"]
