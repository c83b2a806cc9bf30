"""Voice-conversion (RVC-style) hyper-parameters as one dataclass, with RVC's presets.

Facts carried over from RVC-Project/Retrieval-based-Voice-Conversion-WebUI (not code):

* Model (``configs/v1/40k.json``, ``configs/v2/32k.json``, ``configs/v2/48k.json``; v2 at 40 kHz
  trains with the v1 40k file, RVC ships no ``v2/40k.json``): inter/hidden 192, filter 768, 2 heads,
  6 layers, kernel 3, dropout 0, resblock "1" with kernels 3, 7, 11 and dilations (1, 3, 5) x 3,
  512 initial channels, ``gin_channels`` 256, ``spk_embed_dim`` 109 (the pretrained G was trained on
  VCTK's speakers; a user's voice is speaker 0 of those 109 rows).
  Upsampling: 40k 10, 10, 2, 2 (kernels 16, 16, 4, 4; hop 400); 48k (v2) 12, 10, 2, 2 (24, 20, 4,
  4; hop 480); 32k (v2) 10, 8, 2, 2 (20, 16, 4, 4; hop 320). So every rate runs at 100 frames/s.
* Fixed in RVC's model code (``infer/module/models.py``): the content encoder's relative attention
  window is 10 (``attentions.Encoder`` default, not VITS's 4); the posterior encoder is WN with
  kernel 5, dilation 1, 16 layers; the prior flow is 4 mean-only couplings of WN kernel 5, 3 layers;
  the NSF source has no overtones (``harmonic_num`` 0).
* Data: linear spectrogram (``filter_length`` / ``win_length``) 2048 at 40k and 48k, 1024 at 32k,
  hop = the model hop, ``center=False`` with ``(n_fft - hop) / 2`` reflect padding; mel bins 125
  (40k), 128 (48k), 80 (32k), fmin 0, fmax Nyquist; ``segment_size`` 12800 samples (40k, 32k) and
  17280 (48k v2). Voice files record ``segment_size`` as 32 frames whatever the rate.
* Content features: HuBERT/ContentVec at 16 kHz, hop 320 = 50 frames/s, 768-d (v2, layer 12) or
  256-d (v1, layer 9 + projection). RVC repeats every feature frame twice (``np.repeat(phone, 2)``
  in training, nearest ``F.interpolate(scale_factor=2)`` at inference) to reach the model's
  100 frames/s. In sesli the caller does that repetition
  (:func:`sesli.models.vc.model.upsample_features`): :class:`~sesli.models.vc.VcModel` takes
  100-fps features, frame-aligned with the pitch and the spectrogram.

sesli's extra presets: ``v2-24k`` (24 kHz, hop 240 = 10, 6, 2, 2 with kernels 20, 12, 4, 4; a
1024-point spectrogram as RVC's 32k) and ``tiny`` (16 kHz, hop 160, a few thousand parameters per
block, for tests and CPU runs in seconds).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

FRAME_RATE = 100  # model frames per second at every RVC rate
FEATURE_RATE = 50  # HuBERT / ContentVec frames per second (16 kHz, hop 320)


class VcConfigError(ValueError):
    """A voice-conversion config with unknown keys or impossible values."""


@dataclass
class VcConfig:
    """Everything needed to build a :class:`~sesli.models.vc.VcModel`."""

    feature_dim: int = 768  # content features: 768 (RVC v2) or 256 (v1)
    f0: bool = True  # pitch-conditioned prior + NSF decoder; False = RVC's "nono" models
    sample_rate: int = 40000
    # linear spectrogram of the posterior encoder (and the trainer's mel loss)
    n_fft: int = 2048
    hop_length: int = 400
    win_length: int = 2048
    n_mels: int = 125
    # content encoder (RVC's enc_p)
    hidden_channels: int = 192
    inter_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    window_size: int = 10
    p_dropout: float = 0.0
    # posterior encoder and prior flow
    posterior_layers: int = 16
    posterior_kernel_size: int = 5
    flow_layers: int = 3  # WN layers per coupling (VITS: 4, RVC: 3)
    n_flows: int = 4
    flow_kernel_size: int = 5
    # decoder (HiFi-GAN, NSF when f0)
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (10, 10, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    nsf_harmonics: int = 0
    # speakers (RVC always has the embedding: spk_embed_dim rows of gin_channels)
    n_speakers: int = 109
    gin_channels: int = 256
    # training
    segment_size: int = 12800  # audio samples decoded per item in training (a multiple of the hop)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. an RVC file's "info" string

    def __post_init__(self) -> None:
        self.resblock_kernel_sizes = tuple(int(k) for k in self.resblock_kernel_sizes)
        self.resblock_dilation_sizes = tuple(tuple(int(d) for d in ds) for ds in self.resblock_dilation_sizes)
        self.upsample_rates = tuple(int(u) for u in self.upsample_rates)
        self.upsample_kernel_sizes = tuple(int(k) for k in self.upsample_kernel_sizes)
        self.resblock = str(self.resblock)
        self.f0 = bool(self.f0)
        self.validate()

    @property
    def spec_channels(self) -> int:
        """Bins of the linear spectrogram the posterior encoder reads."""
        return self.n_fft // 2 + 1

    @property
    def hop(self) -> int:
        """Audio samples per model frame: the decoder's total upsampling."""
        return math.prod(self.upsample_rates)

    @property
    def segment_frames(self) -> int:
        """Model frames decoded per item in training."""
        return self.segment_size // self.hop

    @property
    def frame_rate(self) -> float:
        """Model frames per second (100 for every preset)."""
        return self.sample_rate / self.hop

    @property
    def version(self) -> str:
        """RVC's name for the feature size: ``"v1"`` for 256-d features, else ``"v2"``."""
        return "v1" if self.feature_dim == 256 else "v2"

    def validate(self) -> None:
        """Raise :class:`VcConfigError` for a config that cannot build a model."""
        problems = []
        if self.hop != self.hop_length:
            problems.append(f"prod(upsample_rates) = {self.hop} but hop_length = {self.hop_length}")
        if self.sample_rate != self.hop * FRAME_RATE:
            problems.append(
                f"sample_rate {self.sample_rate} / hop {self.hop} is not {FRAME_RATE} frames/s, the rate "
                f"content features reach after repeating their {FEATURE_RATE} fps frames twice"
            )
        if self.feature_dim < 1:
            problems.append(f"feature_dim must be positive, got {self.feature_dim}")
        if self.hidden_channels % self.n_heads:
            problems.append(
                f"hidden_channels {self.hidden_channels} is not a multiple of n_heads {self.n_heads}"
            )
        if self.inter_channels % 2:
            problems.append(f"inter_channels {self.inter_channels} must be even (coupling halves)")
        if self.n_speakers < 1 or self.gin_channels < 1:
            problems.append("n_speakers and gin_channels must be >= 1 (RVC always embeds the speaker)")
        if self.resblock not in ("1", "2"):
            problems.append(f"resblock must be '1' or '2', got {self.resblock!r}")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            problems.append("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            problems.append("upsample_rates and upsample_kernel_sizes differ in length")
        odd = [
            (u, k)
            for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes, strict=False)
            if (k - u) % 2
        ]
        if odd:
            problems.append(f"upsample kernel - rate must be even (exact lengths), got (rate, kernel) {odd}")
        if self.upsample_initial_channel % 2 ** len(self.upsample_rates):
            problems.append("upsample_initial_channel must halve once per upsampling stage")
        # the NSF branch's strided convs (kernel 2s, padding s // 2) keep lengths only for even s
        strides = [math.prod(self.upsample_rates[i + 1 :]) for i in range(len(self.upsample_rates))]
        if self.f0 and any(s > 1 and s % 2 for s in strides):
            problems.append(f"the NSF source needs even products of later upsample rates, got {strides}")
        if self.segment_size % max(self.hop, 1) or self.segment_size < self.hop:
            problems.append(f"segment_size {self.segment_size} is not a multiple of the hop {self.hop}")
        if problems:
            raise VcConfigError("invalid voice-conversion config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        return {k: (list(map(list, v)) if k == "resblock_dilation_sizes" else v) for k, v in out.items()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> VcConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo should not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise VcConfigError(f"unknown voice-conversion config keys: {', '.join(unknown)}")
        return cls(**copy.deepcopy(raw))

    def replace(self, **changes: Any) -> VcConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, dict[str, Any]] = {
    "v2-40k": {},  # the dataclass defaults are RVC v2 at 40 kHz
    "v2-48k": {
        "sample_rate": 48000,
        "hop_length": 480,
        "n_mels": 128,
        "upsample_rates": (12, 10, 2, 2),
        "upsample_kernel_sizes": (24, 20, 4, 4),
        "segment_size": 17280,
    },
    "v2-32k": {
        "sample_rate": 32000,
        "n_fft": 1024,
        "hop_length": 320,
        "win_length": 1024,
        "n_mels": 80,
        "upsample_rates": (10, 8, 2, 2),
        "upsample_kernel_sizes": (20, 16, 4, 4),
    },
    "v2-24k": {
        "sample_rate": 24000,
        "n_fft": 1024,
        "hop_length": 240,
        "win_length": 1024,
        "n_mels": 100,
        "upsample_rates": (10, 6, 2, 2),
        "upsample_kernel_sizes": (20, 12, 4, 4),
        "segment_size": 9600,
    },
    "tiny": {
        "sample_rate": 16000,
        "n_fft": 512,
        "hop_length": 160,
        "win_length": 512,
        "n_mels": 40,
        "hidden_channels": 16,
        "inter_channels": 8,
        "filter_channels": 32,
        "n_layers": 2,
        "window_size": 4,
        "posterior_layers": 2,
        "flow_layers": 2,
        "n_flows": 2,
        "resblock_kernel_sizes": (3, 5),
        "resblock_dilation_sizes": ((1, 3), (1, 3)),
        "upsample_rates": (10, 4, 4),
        "upsample_initial_channel": 32,
        "upsample_kernel_sizes": (20, 8, 8),
        "n_speakers": 4,
        "gin_channels": 16,
        "segment_size": 1920,  # 12 frames
    },
}


def preset(name: str, **overrides: Any) -> VcConfig:
    """A :class:`VcConfig` from a named preset (``v2-40k``, ``v2-48k``, ``v2-32k``, ``v2-24k``,
    ``tiny``), then ``overrides`` (e.g. ``f0=False``, ``feature_dim=256``)."""
    if name not in PRESETS:
        raise VcConfigError(f"unknown voice-conversion preset {name!r}; known: {', '.join(PRESETS)}")
    return VcConfig(**{**copy.deepcopy(PRESETS[name]), **overrides})


__all__ = ["FEATURE_RATE", "FRAME_RATE", "PRESETS", "VcConfig", "VcConfigError", "preset"]
