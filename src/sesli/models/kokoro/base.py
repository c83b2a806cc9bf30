"""The base model a Kokoro fine-tune starts from: the model, its voice packs, and where they came from.

:func:`load_base` resolves a base name (``"debug"``, a hub id, a local path, or None for the
default base) through :func:`sesli.models.kokoro.loading.from_pretrained`, picks the voice pack(s)
the new style starts from, and records an id a later load (resume, merge) can use again. Errors
are :class:`~sesli.models.kokoro.loading.ModelLoadError`; the training task wraps them in its own.

Letters: P voice packs, R reference width (2 x style width).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sesli.models.kokoro.loading import ModelLoadError, from_pretrained


def _as_pack(source: Tensor | Path | str, dim: int) -> Tensor:
    if isinstance(source, Tensor):
        return source
    from sesli.models.kokoro.voices import VoiceFileError, read_voices

    try:
        packs = read_voices(source, dim=dim)
    except VoiceFileError as err:
        raise ModelLoadError(f"cannot read voice pack: {err}") from None
    if len(packs) != 1:
        raise ModelLoadError(f"{source} holds {len(packs)} voices; name one of them")
    return next(iter(packs.values()))


def load_base(base: str | None, *, voice: str | None = None) -> tuple[Any, Tensor | None, dict[str, str]]:
    """The base Kokoro model, the voice pack(s) the new style starts from, and where they came from.

    Args:
        base: ``"debug"``, a hub id (``hexgrad/Kokoro-82M``), a local path, or None for the default
            base (official when cached, else the packaged int8 weights).
        voice: a voice name of the base or a ``.pt`` path; None takes every voice the base has
            locally (their mean becomes the start), else its default voice.

    Returns:
        ``(model, voices (P, 1, R) or None, {"id", "source"})``; ``id`` is what a later load
        needs (local paths made absolute).

    Raises:
        ModelLoadError: the base or the voice cannot be loaded.
    """
    try:
        loaded = from_pretrained(base)
    except ModelLoadError as err:
        raise ModelLoadError(f"cannot load the base model {base!r}: {err}") from None
    if base is None:  # the default base: record what it resolved to, so a later load is the same
        base_id = loaded.source
    else:
        local = Path(base).expanduser()
        base_id = str(local.resolve()) if base != "debug" and local.exists() else str(base)
    r = loaded.model.config.ref_dim
    packs: list[Tensor] = []
    if voice is not None:
        source = loaded.voices.get(voice) or (Path(voice) if Path(voice).is_file() else None)
        if source is None and loaded.fetch_voice is not None:
            source = loaded.fetch_voice(voice)
        if source is None:
            raise ModelLoadError(f"unknown voice {voice!r}; {base} has: {', '.join(loaded.voices) or 'none'}")
        packs = [_as_pack(source, r)]
    elif loaded.voices:
        packs = [_as_pack(v, r) for v in loaded.voices.values()]
    elif loaded.default_voice and loaded.fetch_voice is not None:
        packs = [_as_pack(loaded.fetch_voice(loaded.default_voice), r)]
    packs = [p.reshape(-1, 1, p.shape[-1]).float() for p in packs if p.shape[-1] == r]
    voices = torch.cat(packs) if packs else None
    return loaded.model, voices, {"id": base_id, "source": loaded.source}


__all__ = ["load_base"]
