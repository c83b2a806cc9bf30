"""VITS hyper-parameters as one dataclass, with Piper's quality presets and sesli's Turkish ones.

Facts carried over (not code):

* Piper (``piper_train``, ``--quality``): every quality keeps VITS's text encoder (6 layers, 2
  heads, window 4, kernel 3, dropout 0.1), posterior encoder (WN, 16 layers, kernel 5), prior flow
  (4 mean-only couplings, WN 4 layers, kernel 5) and stochastic duration predictor (192 filters,
  kernel 3, 4 spline flows, dropout 0.5). The spectrogram is 1024-point, hop 256.
  ``medium`` (the default): hidden/inter 192, filter 768, resblock "2" with kernels 3, 5, 7 and
  dilations (1, 2), (2, 6), (3, 12), upsample rates 8, 8, 4 (kernels 16, 16, 8), 256 initial
  channels. ``x_low``: medium with hidden/inter 96 and filter 384 (and so a 96-wide stochastic
  duration predictor, VITS tying its width to the hidden width; Piper x_low voices are 16 kHz).
  ``high``: resblock "1", kernels 3, 7, 11, dilations (1, 3, 5) x 3, rates 8, 8, 2, 2 (kernels
  16, 16, 4, 4), 512 initial channels. Multi-speaker voices use ``gin_channels`` 512.
* MeloTTS (44.1 kHz): 2048-point spectrogram, hop 512, rates 8, 8, 2, 2, 2 (kernels 16, 16, 8, 2,
  2), resblock "1", 512 initial channels, both duration predictors (deterministic: 256 filters),
  mixed at inference by ``sdp_ratio``.

sesli's presets: ``tr-24k`` (24 kHz, hop 256: Piper medium's width and the high decoder, with both
duration predictors so ``sdp_ratio`` is usable), ``tr-44k`` (MeloTTS's decoder and spectrogram at
44.1 kHz, both predictors), and ``tiny`` (a few thousand parameters per block, for tests in seconds).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


class VitsConfigError(ValueError):
    """A VITS config with unknown keys or impossible values."""


@dataclass
class VitsConfig:
    """Everything needed to build a :class:`~sesli.models.vits.VitsModel`."""

    n_symbols: int = 256
    sample_rate: int = 22050
    # linear spectrogram of the posterior encoder (and the trainer's mel loss)
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    # text encoder
    hidden_channels: int = 192
    inter_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    window_size: int = 4
    p_dropout: float = 0.1
    # posterior encoder and prior flow
    posterior_layers: int = 16
    posterior_kernel_size: int = 5
    flow_layers: int = 4  # WN layers per coupling
    n_flows: int = 4
    flow_kernel_size: int = 5
    # duration: stochastic (VITS/Piper) and/or deterministic (MeloTTS mixes both)
    use_sdp: bool = True
    use_dp: bool = False
    sdp_filter_channels: int = 192
    sdp_flows: int = 4
    sdp_kernel_size: int = 3
    sdp_dropout: float = 0.5
    dp_filter_channels: int = 256
    dp_kernel_size: int = 3
    dp_dropout: float = 0.5
    # decoder
    resblock: str = "2"
    resblock_kernel_sizes: tuple[int, ...] = (3, 5, 7)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 2), (2, 6), (3, 12))
    upsample_rates: tuple[int, ...] = (8, 8, 4)
    upsample_initial_channel: int = 256
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8)
    nsf: bool = False
    nsf_harmonics: int = 0
    # speakers
    n_speakers: int = 1
    gin_channels: int = 0
    # training
    segment_size: int = 8192  # audio samples decoded per item in training (a multiple of the hop)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the Piper JSON's inference defaults

    def __post_init__(self) -> None:
        self.resblock_kernel_sizes = tuple(int(k) for k in self.resblock_kernel_sizes)
        self.resblock_dilation_sizes = tuple(tuple(int(d) for d in ds) for ds in self.resblock_dilation_sizes)
        self.upsample_rates = tuple(int(u) for u in self.upsample_rates)
        self.upsample_kernel_sizes = tuple(int(k) for k in self.upsample_kernel_sizes)
        self.resblock = str(self.resblock)
        self.validate()

    @property
    def spec_channels(self) -> int:
        """Bins of the linear spectrogram the posterior encoder reads."""
        return self.n_fft // 2 + 1

    @property
    def hop(self) -> int:
        """Audio samples per latent frame: the decoder's total upsampling."""
        return math.prod(self.upsample_rates)

    @property
    def segment_frames(self) -> int:
        """Latent frames decoded per item in training."""
        return self.segment_size // self.hop

    def validate(self) -> None:
        """Raise :class:`VitsConfigError` for a config that cannot build a model."""
        problems = []
        if self.hop != self.hop_length:
            problems.append(f"prod(upsample_rates) = {self.hop} but hop_length = {self.hop_length}")
        if self.hidden_channels % self.n_heads:
            problems.append(
                f"hidden_channels {self.hidden_channels} is not a multiple of n_heads {self.n_heads}"
            )
        if self.inter_channels % 2:
            problems.append(f"inter_channels {self.inter_channels} must be even (coupling halves)")
        if not (self.use_sdp or self.use_dp):
            problems.append("at least one duration predictor (use_sdp / use_dp) is needed")
        if self.n_speakers > 1 and self.gin_channels <= 0:
            problems.append(f"{self.n_speakers} speakers need gin_channels > 0")
        if self.resblock not in ("1", "2"):
            problems.append(f"resblock must be '1' or '2', got {self.resblock!r}")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            problems.append("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            problems.append("upsample_rates and upsample_kernel_sizes differ in length")
        if self.upsample_initial_channel % 2 ** len(self.upsample_rates):
            problems.append("upsample_initial_channel must halve once per upsampling stage")
        if self.segment_size % max(self.hop, 1):
            problems.append(f"segment_size {self.segment_size} is not a multiple of the hop {self.hop}")
        if problems:
            raise VitsConfigError("invalid VITS config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        return {k: (list(map(list, v)) if k == "resblock_dilation_sizes" else v) for k, v in out.items()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> VitsConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo should not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise VitsConfigError(f"unknown VITS config keys: {', '.join(unknown)}")
        return cls(**copy.deepcopy(raw))

    def replace(self, **changes: Any) -> VitsConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


_MEDIUM: dict[str, Any] = {}
_HIGH_DECODER: dict[str, Any] = {
    "resblock": "1",
    "resblock_kernel_sizes": (3, 7, 11),
    "resblock_dilation_sizes": ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
    "upsample_rates": (8, 8, 2, 2),
    "upsample_initial_channel": 512,
    "upsample_kernel_sizes": (16, 16, 4, 4),
}
PRESETS: dict[str, dict[str, Any]] = {
    "x_low": {
        "sample_rate": 16000,
        "hidden_channels": 96,
        "inter_channels": 96,
        "filter_channels": 384,
        "sdp_filter_channels": 96,  # VITS sets the SDP width to the hidden width
    },
    "medium": _MEDIUM,
    "high": _HIGH_DECODER,
    "tr-24k": {"sample_rate": 24000, "use_dp": True, **_HIGH_DECODER},
    "tr-44k": {
        "sample_rate": 44100,
        "n_fft": 2048,
        "hop_length": 512,
        "win_length": 2048,
        "n_mels": 128,
        "use_dp": True,
        "resblock": "1",
        "resblock_kernel_sizes": (3, 7, 11),
        "resblock_dilation_sizes": ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
        "upsample_rates": (8, 8, 2, 2, 2),
        "upsample_initial_channel": 512,
        "upsample_kernel_sizes": (16, 16, 8, 2, 2),
        "segment_size": 16384,
    },
    "tiny": {
        "n_symbols": 40,
        "sample_rate": 8000,
        "n_fft": 128,
        "hop_length": 32,
        "win_length": 128,
        "n_mels": 16,
        "hidden_channels": 16,
        "inter_channels": 8,
        "filter_channels": 32,
        "n_layers": 2,
        "posterior_layers": 2,
        "flow_layers": 2,
        "n_flows": 2,
        "use_dp": True,
        "sdp_filter_channels": 16,
        "sdp_flows": 2,
        "dp_filter_channels": 16,
        "resblock_kernel_sizes": (3, 5),
        "resblock_dilation_sizes": ((1, 2), (2, 6)),
        "upsample_rates": (4, 4, 2),
        "upsample_initial_channel": 32,
        "upsample_kernel_sizes": (8, 8, 4),
        "segment_size": 512,
    },
}


def preset(name: str, **overrides: Any) -> VitsConfig:
    """A :class:`VitsConfig` from a named preset (``x_low``, ``medium``, ``high``, ``tr-24k``,
    ``tr-44k``, ``tiny``; ``x-low`` is accepted for Piper's spelling), then ``overrides``."""
    key = name.replace("x-low", "x_low")
    if key not in PRESETS:
        raise VitsConfigError(f"unknown VITS preset {name!r}; known: {', '.join(PRESETS)}")
    return VitsConfig(**{**copy.deepcopy(PRESETS[key]), **overrides})


__all__ = ["PRESETS", "VitsConfig", "VitsConfigError", "preset"]
