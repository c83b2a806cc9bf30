"""Which family speaks a given model: a small registry shared by ``load``, ``say``, ``eval`` and the server.

Each :class:`Family` says whether a source is its own (``detect``) and loads it (``load``). The
first family whose ``detect`` accepts the source wins; Kokoro comes last and takes everything
else (hub ids, ``debug``, its bundles, kokoro-onnx files, LoRA runs, None = the default base), so
it keeps its own error messages. ``family=`` skips detection. A new family adds one entry here
and a synthesizer with the :class:`sesli.inference.base.Speaker` surface; shared code needs
nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sesli.models.kokoro.loading import ModelLoadError


@dataclass(frozen=True)
class Family:
    """A model family: its name, how to recognise its artifacts, how to load them."""

    name: str
    detect: Callable[[str | Path | None], bool]
    load: Callable[..., Any]


def load_torch_kokoro(model, *, device=None, revision=None, local_files_only=False, voices=None,
                      **_: Any):  # fmt: skip
    """A Kokoro source (hub id, path, ``debug``, LoRA run, None) -> ``LoadedKokoro`` (torch)."""
    from sesli.models.kokoro.loading import from_pretrained

    path = Path(str(model)).expanduser() if model is not None else None
    if path is not None and path.is_dir() and (path / "adapter_config.json").is_file():
        from sesli.models.kokoro.adapter import load_run_model

        loaded = load_run_model(path, device=device, revision=revision, local_files_only=local_files_only)
    else:
        loaded = from_pretrained(model, revision=revision, local_files_only=local_files_only, device=device)
    if voices is not None:
        from sesli.models.kokoro.voices import VoiceFileError, read_voices

        try:
            extra = read_voices(voices, dim=loaded.model.config.ref_dim)
        except VoiceFileError as err:
            raise ModelLoadError(str(err)) from err
        loaded.voices.update(extra)
        if loaded.default_voice is None:
            loaded.default_voice = next(iter(extra))
        loaded.notes.append(f"voices from {voices}: {', '.join(extra)}")
    return loaded


def _load_kokoro(model, *, batch_size=None, noise=True, backend="torch", threads=None,
                 **options: Any):  # fmt: skip
    from sesli.inference.kokoro_onnx import find_graph, load_onnx

    if backend == "onnx" or (model is not None and find_graph(model) is not None):
        # A sesli ONNX export is run by onnxruntime whatever the backend: it has no torch weights.
        return load_onnx(model, threads=threads)
    if backend != "torch":
        raise ModelLoadError(f"unknown backend {backend!r}: torch or onnx")
    from sesli.inference.kokoro import Synthesizer

    return Synthesizer(load_torch_kokoro(model, **options), batch_size=batch_size, noise=noise)


def _load_vits(model, *, device=None, noise=True, voices=None, seed=None, backend="torch", **_: Any):  # fmt: skip
    from sesli.inference.vits import VitsSynthesizer

    if backend != "torch":
        raise ModelLoadError("--backend onnx is for Kokoro models; Piper voices run in the Piper runtime")
    from sesli.models.vits.artifact import VoiceLoadError, load_voice

    if voices is not None:
        raise ModelLoadError("--voices is for Kokoro models; a VITS voice picks a --speaker")
    try:
        loaded = load_voice(model, device=device)
    except VoiceLoadError as err:
        raise ModelLoadError(str(err)) from err
    return VitsSynthesizer(loaded, noise=noise, seed=seed)


def _is_vits(model: str | Path | None) -> bool:
    from sesli.inference.kokoro_onnx import find_graph
    from sesli.models.vits.artifact import is_vits_source

    if model is not None and find_graph(model) is not None:  # a sesli Kokoro export, not a Piper voice
        return False
    return is_vits_source(model)


FAMILIES: tuple[Family, ...] = (
    Family("vits", _is_vits, _load_vits),
    Family("kokoro", lambda model: True, _load_kokoro),
)


def family_of(model: str | Path | None) -> str:
    """The name of the family that would load ``model``."""
    return next(f.name for f in FAMILIES if f.detect(model))


def load_speaker(model: str | Path | None = None, *, family: str | None = None, **options: Any) -> Any:
    """Load ``model`` with its family's loader (``family`` forces one).

    Raises:
        ModelLoadError: unknown family, or the model cannot be found or read.
    """
    if family is not None:
        chosen = next((f for f in FAMILIES if f.name == family), None)
        if chosen is None:
            raise ModelLoadError(
                f"unknown model family {family!r}; known: {', '.join(f.name for f in FAMILIES)}"
            )
    else:
        chosen = next(f for f in FAMILIES if f.detect(model))
    return chosen.load(model, **options)


__all__ = ["FAMILIES", "Family", "family_of", "load_speaker", "load_torch_kokoro"]
