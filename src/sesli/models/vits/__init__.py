"""VITS (Piper / MeloTTS style): config and presets, the model, and loaders of foreign formats.

``VitsModel`` holds the nn.Modules; ``load_piper_voice`` reads a Piper ``.onnx`` voice and
``load_checkpoint`` a PyTorch ``G_*.pth`` / Piper ``.ckpt``.
"""

from sesli.models.vits.config import PRESETS, VitsConfig, VitsConfigError, preset
from sesli.models.vits.loading import VitsLoadError, load_checkpoint, upstream_state_dict
from sesli.models.vits.model import VitsInferOutput, VitsInputError, VitsModel, VitsTrainOutput
from sesli.models.vits.piper_import import PiperImportError, PiperVoice, load_piper_voice

__all__ = [
    "PRESETS",
    "PiperImportError",
    "PiperVoice",
    "VitsConfig",
    "VitsConfigError",
    "VitsInferOutput",
    "VitsInputError",
    "VitsLoadError",
    "VitsModel",
    "VitsTrainOutput",
    "load_checkpoint",
    "load_piper_voice",
    "preset",
    "upstream_state_dict",
]
