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
from sesli.models.kokoro.loading import OFFICIAL_REPO, ModelLoadError, from_pretrained

ADAPTER_CONFIG = "adapter_config.json"


def load(
    model: str | Path = OFFICIAL_REPO,
    *,
    device: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
    batch_size: int | None = None,
    noise: bool = True,
) -> Synthesizer:
    """Load a speech model for synthesis.

    Args:
        model: ``"debug"``, a hub repo id, a local bundle/folder/weight file, or a LoRA run dir.
        device: torch device (default CPU).
        revision: hub revision.
        local_files_only: never use the network.
        batch_size: chunks synthesised together (None: 1 on CPU, where batching is slower, 16 on GPUs).
        noise: random excitation noise as upstream Kokoro (False: deterministic audio).

    Raises:
        ModelLoadError: when the model cannot be found or read (the message says where to put it).
    """
    path = Path(str(model)).expanduser()
    if path.is_dir() and (path / ADAPTER_CONFIG).is_file():
        # a LoRA run directory (issue 6): its base model, the adapter merged in, its trained voice
        from sesli.models.kokoro.adapter import load_run_model

        loaded = load_run_model(path, device=device, revision=revision, local_files_only=local_files_only)
    else:
        loaded = from_pretrained(model, revision=revision, local_files_only=local_files_only, device=device)
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
