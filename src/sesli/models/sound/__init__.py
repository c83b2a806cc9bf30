"""Sound generation models: VAE, VQ-VAE and VAE-GAN auto-encoders over spectrograms or PQMF bands.

``config`` (SoundConfig, presets), ``model`` (SoundModel), ``blocks`` (conv stages),
``artifact`` (save/load ``model_type: "sound"`` bundles); ``prior`` and ``vocoder`` build on them.
"""

from sesli.models.sound.config import PRESETS, SoundConfig, SoundConfigError, preset
from sesli.models.sound.model import Decoded, Encoded, SoundModel, SoundOutput

__all__ = [
    "PRESETS",
    "Decoded",
    "Encoded",
    "SoundConfig",
    "SoundConfigError",
    "SoundModel",
    "SoundOutput",
    "preset",
]
