"""Kokoro-82M hyper-parameters: the official JSON config as a dataclass, plus a tiny debug size.

The official ``config.json`` (shipped as ``sesli/models/kokoro-82m-v1.0-config.json``, the one
source of truth, also read by ``sesli.text.symbols``) is parsed as is. Two widths that upstream
hard-codes in its decoder (1024 and 64) are fields here so the ``debug`` size can shrink them; they
are written to JSON only when they differ from the official values, so a saved full-size config
stays readable by upstream ``kokoro``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

OFFICIAL_CONFIG = "kokoro-82m-v1.0-config.json"
SAMPLE_RATE = 24000  # Hz, of every Kokoro-82M model
SAMPLES_PER_FRAME = 600  # audio samples per text (duration) frame at SAMPLE_RATE: 40 frames/s


class KokoroConfigError(ValueError):
    """A Kokoro config that is missing keys or has impossible values."""


@dataclass
class KokoroConfig:
    """Everything needed to build a Kokoro model (names follow the official JSON)."""

    vocab: dict[str, int]
    n_token: int = 178
    hidden_dim: int = 512
    style_dim: int = 128
    n_layer: int = 3
    max_dur: int = 50
    dropout: float = 0.2
    n_mels: int = 80
    text_encoder_kernel_size: int = 5
    plbert: dict[str, Any] = field(default_factory=dict)
    istftnet: dict[str, Any] = field(default_factory=dict)
    decoder_dim: int = 1024  # upstream hard-codes the decoder's width
    asr_res_dim: int = 64  # and the width of its text-feature shortcut
    extra: dict[str, Any] = field(default_factory=dict)  # other official keys, kept for round trips

    @property
    def ref_dim(self) -> int:
        """Width of a reference (voice) vector: decoder style + prosody style."""
        return 2 * self.style_dim

    @property
    def max_phonemes(self) -> int:
        """Most phonemes one utterance may have (two positions go to the boundary tokens)."""
        return int(self.plbert.get("max_position_embeddings", 512)) - 2

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> KokoroConfig:
        """Parse an official-style config dict, with a clear error for a missing key."""
        required = ("vocab", "n_token", "hidden_dim", "style_dim", "n_layer", "plbert", "istftnet")
        missing = [k for k in required if k not in raw]
        if missing:
            raise KokoroConfigError(f"Kokoro config is missing {', '.join(missing)}")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        kwargs = {k: copy.deepcopy(v) for k, v in raw.items() if k in known}
        extra = {k: copy.deepcopy(v) for k, v in raw.items() if k not in known}
        cfg = cls(**kwargs, extra=extra)
        if max(cfg.vocab.values()) >= cfg.n_token:
            raise KokoroConfigError(f"vocab uses id {max(cfg.vocab.values())} but n_token is {cfg.n_token}")
        return cfg

    @classmethod
    def from_json(cls, path: str | Path) -> KokoroConfig:
        """Read a config JSON file."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise KokoroConfigError(f"cannot read Kokoro config {path}: {err}") from err
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        """Official-style dict (upstream ``KModel(config=...)`` accepts it)."""
        out: dict[str, Any] = dict(copy.deepcopy(self.extra))
        for name in self.__dataclass_fields__:
            if name == "extra":
                continue
            value = copy.deepcopy(getattr(self, name))
            if name == "decoder_dim" and value == 1024 or name == "asr_res_dim" and value == 64:
                continue
            out[name] = value
        return out


def official_config() -> KokoroConfig:
    """The Kokoro-82M v1.0 config shipped with sesli."""
    text = resources.files("sesli.models").joinpath(OFFICIAL_CONFIG).read_text(encoding="utf-8")
    return KokoroConfig.from_dict(json.loads(text))


def debug_config() -> KokoroConfig:
    """A tiny Kokoro (same code paths, same vocab, 24 kHz, ~0.3M parameters) for tests and demos."""
    cfg = official_config()
    cfg.hidden_dim, cfg.style_dim, cfg.n_layer = 32, 16, 2
    cfg.decoder_dim, cfg.asr_res_dim = 64, 8
    cfg.plbert = {
        "hidden_size": 32,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 512,
        "num_hidden_layers": 2,
        "dropout": 0.1,
        "embedding_size": 16,
    }
    cfg.istftnet = dict(cfg.istftnet, upsample_initial_channel=32)
    return cfg
