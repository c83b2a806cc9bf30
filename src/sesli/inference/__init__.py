"""Inference: ``load(model)`` -> an object that speaks (``synthesize``, ``generate``, ``stream``).

``load`` asks ``sesli.inference.registry`` which family the source belongs to: a VITS voice (a
sesli VITS run with ``vits.json``, or a Piper ``.onnx`` with its ``.onnx.json``) or a Kokoro model
("debug", a hub id such as ``hexgrad/Kokoro-82M``, a sesli bundle, an official folder or weight
file, a kokoro-onnx export, a LoRA run directory, or None for the default base). Every family's
synthesizer has the surface of :class:`sesli.inference.base.Speaker`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sesli.inference.base import Speaker, Synthesis, SynthesisError
from sesli.inference.chunking import Chunk, split_phonemes
from sesli.inference.kokoro import Synthesizer
from sesli.models.kokoro.loading import ModelLoadError


def load(
    model: str | Path | None = None,
    *,
    family: str | None = None,
    device: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
    batch_size: int | None = None,
    noise: bool = True,
    voices: str | Path | None = None,
    seed: int | None = None,
    backend: str = "torch",
) -> Any:
    """Load a speech model for synthesis.

    Args:
        model: a VITS run or Piper ``.onnx`` voice; or ``"debug"``, a hub repo id, a local
            Kokoro bundle/folder/weight/``.onnx`` file, a LoRA run dir, or None for the default
            Kokoro base (official weights when cached or downloadable, else the packaged int8
            export; see ``sesli.models.kokoro.defaults``).
        family: ``"kokoro"`` or ``"vits"`` to skip detection.
        device: torch device (default CPU).
        revision: hub revision (Kokoro).
        local_files_only: never use the network.
        batch_size: chunks synthesised together (Kokoro; None: 1 on CPU, 16 on GPUs).
        noise: random noise as upstream (False: deterministic audio).
        voices: a voice file to add (Kokoro: kokoro-onnx ``.npz``, sherpa-onnx raw ``.bin`` or a
            ``.pt`` pack); its voices become selectable by name.
        seed: seed of a VITS voice's noise draws (None: the global RNG).
        backend: ``"torch"``, or ``"onnx"`` (Kokoro: onnxruntime on a ``sesli kokoro export``
            folder or ``.onnx``, which also loads so without it).

    Raises:
        ModelLoadError: when the model cannot be found or read (the message says where to put it).
    """
    from sesli.inference.registry import load_speaker

    return load_speaker(model, family=family, device=device, revision=revision,
                        local_files_only=local_files_only, batch_size=batch_size, noise=noise,
                        voices=voices, seed=seed, backend=backend)  # fmt: skip


__all__ = [
    "Chunk",
    "ModelLoadError",
    "Speaker",
    "Synthesis",
    "SynthesisError",
    "Synthesizer",
    "load",
    "split_phonemes",
]
