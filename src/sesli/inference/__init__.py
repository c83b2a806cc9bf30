"""Inference: ``load(model)`` -> an object that speaks (``synthesize``, ``stream``).

``load`` looks at what it is given and picks a loader; today every source is a Kokoro model
("debug", a hub id such as ``hexgrad/Kokoro-82M``, a sesli bundle, an official folder or weight
file), or a LoRA run directory (``adapter_config.json`` + voice pack, issue 6), which loads its
base model with the adapter merged in and its trained voice as the default.
"""

from __future__ import annotations

from pathlib import Path

from sesli.inference.chunking import Chunk, split_phonemes
from sesli.inference.kokoro import Synthesis, SynthesisError, Synthesizer
from sesli.models.kokoro.loading import ModelLoadError, from_pretrained

ADAPTER_CONFIG = "adapter_config.json"


def load(
    model: str | Path | None = None,
    *,
    device: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
    batch_size: int | None = None,
    noise: bool = True,
    voices: str | Path | None = None,
) -> Synthesizer:
    """Load a speech model for synthesis.

    Args:
        model: ``"debug"``, a hub repo id, a local bundle/folder/weight/``.onnx`` file, a LoRA run
            dir, or None for the default base (official weights when cached or downloadable, else
            the packaged int8 export; see ``sesli.models.kokoro.defaults``).
        device: torch device (default CPU).
        revision: hub revision.
        local_files_only: never use the network.
        batch_size: chunks synthesised together (None: 1 on CPU, where batching is slower, 16 on GPUs).
        noise: random excitation noise as upstream Kokoro (False: deterministic audio).
        voices: a voice file to add (kokoro-onnx ``.npz``, sherpa-onnx raw ``.bin`` or a ``.pt``
            pack); its voices become selectable by name, and the first is the default when the
            model has none.

    Raises:
        ModelLoadError: when the model cannot be found or read (the message says where to put it).
    """
    path = Path(str(model)).expanduser() if model is not None else None
    if path is not None and path.is_dir() and (path / ADAPTER_CONFIG).is_file():
        # a LoRA run directory (issue 6): its base model, the adapter merged in, its trained voice
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
    return Synthesizer(loaded, batch_size=batch_size, noise=noise)


__all__ = [
    "Chunk",
    "ModelLoadError",
    "Synthesis",
    "SynthesisError",
    "Synthesizer",
    "load",
    "split_phonemes",
]
