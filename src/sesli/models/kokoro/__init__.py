"""Kokoro-82M: the architecture, its configs and its loaders.

``KokoroModel`` holds the nn.Modules; ``from_pretrained`` / ``save_pretrained`` live in
``sesli.models.kokoro.loading``.
"""

from sesli.models.kokoro.config import KokoroConfig, KokoroConfigError, debug_config, official_config
from sesli.models.kokoro.model import KokoroModel, KokoroOutput, KokoroTrainOutput, durations_to_alignment

__all__ = [
    "KokoroConfig",
    "KokoroConfigError",
    "KokoroModel",
    "KokoroOutput",
    "KokoroTrainOutput",
    "debug_config",
    "durations_to_alignment",
    "official_config",
]
