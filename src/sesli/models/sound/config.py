"""Sound model hyper-parameters: one dataclass for the VAE, VQ-VAE and VAE-GAN families, and presets.

A model is a convolutional auto-encoder over one of two representations:

* ``spectrogram``: the linear log-magnitude STFT (``sesli.audio.features.log_magnitude``,
  ``n_fft``/``hop_length``); its K = n_fft / 2 + 1 bins are the channels of a 1-D conv stack that
  strides over frames. The decoder returns a log-magnitude; audio needs Griffin-Lim or a neural
  vocoder (inference's job). A latent frame is ``hop_length * prod(strides)`` samples.
* ``waveform``: the audio split into ``n_bands`` PQMF sub-bands (RAVE: 16), strided over band
  frames; the decoder returns bands that PQMF synthesis turns back into audio. A latent frame is
  ``n_bands * prod(strides)`` samples.

``family`` picks the bottleneck: ``vae`` (diagonal Gaussian, KL), ``vqvae`` (EMA codebook, optionally
residual) or ``vaegan`` (the waveform VAE; the training task adds a discriminator and, after a
while, freezes the encoder). A VAE-GAN has no spectrogram variant: its discriminators judge audio.

Conditioning: ``labels`` names the classes (user tags, NSynth family; ``[]``: none) and
``use_pitch`` adds the MIDI pitch; both are embedded into ``label_dim`` values that bias the
encoder and every decoder stage.

Presets: ``vae-tiny``, ``vae`` (spectrogram), ``vae-wave-tiny``, ``vae-wave`` (waveform), ``vqvae-tiny``,
``vqvae`` (spectrogram), ``vaegan-tiny``, ``vaegan`` (waveform). The tiny ones train on one CPU core
in minutes (tests); the others are sized for a GPU (RAVE-like widths at 16 kHz).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

FAMILIES = ("vae", "vqvae", "vaegan")
REPRESENTATIONS = ("spectrogram", "waveform")
N_PITCHES = 128  # MIDI 0..127; -1 (unknown) gets its own embedding row


class SoundConfigError(ValueError):
    """A sound model config with unknown keys, an unknown preset or impossible values."""


@dataclass
class SoundConfig:
    """Everything needed to build a :class:`~sesli.models.sound.model.SoundModel`."""

    family: str = "vae"  # "vae" | "vqvae" | "vaegan"
    representation: str = "spectrogram"  # "spectrogram" | "waveform" (vaegan: waveform only)
    sample_rate: int = 16000
    # spectrogram representation
    n_fft: int = 1024
    hop_length: int = 256
    log_floor: float = 1e-5  # log(floor) is silence
    log_offset: float = -4.0  # the encoder reads (log_mag - offset) / scale, the decoder predicts it
    log_scale: float = 4.0
    # waveform representation
    n_bands: int = 16  # PQMF bands
    pqmf_attenuation: float = 100.0  # dB
    # the conv stack
    channels: list[int] = field(default_factory=lambda: [64, 128, 256])
    strides: list[int] = field(default_factory=lambda: [2, 2, 2])
    kernel_size: int = 7
    dilations: list[int] = field(default_factory=lambda: [1, 3, 9])  # residual units per stage
    latent_dim: int = 16
    # conditioning
    labels: list[str] = field(default_factory=list)
    label_dim: int = 16
    use_pitch: bool = False
    # vqvae
    codebook_size: int = 512
    n_quantizers: int = 1
    commitment: float = 0.25
    ema_decay: float = 0.99
    kmeans_init: bool = True
    reseed: bool = True
    dead_after: int = 10  # batches unchosen before a code is re-seeded (modules.quantizer)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes (the artifact's training info)

    def __post_init__(self) -> None:
        self.channels = [int(c) for c in self.channels]
        self.strides = [int(s) for s in self.strides]
        self.dilations = [int(d) for d in self.dilations]
        self.labels = [str(x) for x in self.labels]
        self.validate()

    @property
    def n_bins(self) -> int:
        """K, the spectrogram's frequency bins."""
        return self.n_fft // 2 + 1

    @property
    def in_channels(self) -> int:
        """Channels the encoder reads: K bins or M bands."""
        return self.n_bins if self.representation == "spectrogram" else self.n_bands

    @property
    def base_hop(self) -> int:
        """Samples per input frame: the STFT hop or the number of PQMF bands."""
        return self.hop_length if self.representation == "spectrogram" else self.n_bands

    @property
    def samples_per_frame(self) -> int:
        """Audio samples per latent frame."""
        return self.base_hop * math.prod(self.strides)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def conditional(self) -> bool:
        """Whether the model reads labels or pitch."""
        return bool(self.labels) or self.use_pitch

    def validate(self) -> None:
        """Raise :class:`SoundConfigError` for a config that cannot build a model."""
        problems = []
        if self.family not in FAMILIES:
            problems.append(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.representation not in REPRESENTATIONS:
            problems.append(
                f"representation must be one of {', '.join(REPRESENTATIONS)}, got {self.representation!r}"
            )
        elif self.family == "vaegan" and self.representation != "waveform":
            problems.append(
                "a vaegan decodes audio for its discriminators: representation must be 'waveform' "
                "(for a spectrogram model use family 'vae' or 'vqvae')"
            )
        if len(self.channels) != len(self.strides) or not self.channels:
            problems.append(f"channels {self.channels} and strides {self.strides} need one entry per stage")
        if any(c < 1 for c in self.channels) or any(s < 1 for s in self.strides):
            problems.append("channels and strides must be >= 1")
        if self.latent_dim < 1 or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            problems.append(
                f"latent_dim >= 1 and an odd kernel_size needed, got {self.latent_dim}, {self.kernel_size}"
            )
        if self.sample_rate < 1 or self.n_bands < 1:
            problems.append("sample_rate and n_bands must be >= 1")
        if self.hop_length < 1 or self.hop_length > self.n_fft:
            problems.append(f"hop_length {self.hop_length} must be in 1..n_fft ({self.n_fft})")
        if len(set(self.labels)) != len(self.labels):
            problems.append(f"labels must be unique, got {self.labels}")
        if self.family == "vqvae" and (self.codebook_size < 2 or self.n_quantizers < 1):
            problems.append("a vqvae needs codebook_size >= 2 and n_quantizers >= 1")
        if self.conditional and self.label_dim < 1:
            problems.append("conditioning needs label_dim >= 1")
        if problems:
            raise SoundConfigError("invalid sound model config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SoundConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo should not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SoundConfigError(
                f"unknown sound config keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return cls(**copy.deepcopy(raw))

    def replace(self, **changes: Any) -> SoundConfig:
        """A copy with ``changes`` applied (validated)."""
        return SoundConfig.from_dict({**self.to_dict(), **changes})


_TINY_SPEC: dict[str, Any] = {
    "representation": "spectrogram",
    "n_fft": 256,
    "hop_length": 64,
    "channels": [64, 64],
    "strides": [2, 2],
    "kernel_size": 5,
    "dilations": [1, 3],
    "latent_dim": 8,
    "label_dim": 8,
}
_TINY_WAVE: dict[str, Any] = {
    "representation": "waveform",
    "n_bands": 16,
    "channels": [32, 64],
    "strides": [4, 4],
    "kernel_size": 5,
    "dilations": [1, 3],
    "latent_dim": 8,
    "label_dim": 8,
}
_FULL_SPEC: dict[str, Any] = {
    "representation": "spectrogram",
    "n_fft": 1024,
    "hop_length": 256,
    "channels": [256, 384, 512],
    "strides": [2, 2, 2],
    "latent_dim": 32,
}
_FULL_WAVE: dict[str, Any] = {  # RAVE v2's widths, ratios 2, 4, 4, 2 after 16 bands: 1024 samples a frame
    "representation": "waveform",
    "n_bands": 16,
    "channels": [64, 128, 256, 512],
    "strides": [2, 4, 4, 2],
    "latent_dim": 16,
}
PRESETS: dict[str, dict[str, Any]] = {
    "vae-tiny": {"family": "vae", **_TINY_SPEC},
    "vae": {"family": "vae", **_FULL_SPEC},
    "vae-wave-tiny": {"family": "vae", **_TINY_WAVE},
    "vae-wave": {"family": "vae", **_FULL_WAVE},
    "vqvae-tiny": {"family": "vqvae", **_TINY_SPEC, "latent_dim": 16, "codebook_size": 64},
    "vqvae": {"family": "vqvae", **_FULL_SPEC, "latent_dim": 64, "codebook_size": 512, "n_quantizers": 2},
    "vaegan-tiny": {"family": "vaegan", **_TINY_WAVE},
    "vaegan": {"family": "vaegan", **_FULL_WAVE},
}


def preset(name: str, **overrides: Any) -> SoundConfig:
    """The named preset with ``overrides`` applied.

    Raises:
        SoundConfigError: an unknown preset (the known ones listed), an unknown key, a bad value.
    """
    if name not in PRESETS:
        raise SoundConfigError(f"unknown sound preset {name!r}; known presets: {', '.join(PRESETS)}")
    return SoundConfig.from_dict({**copy.deepcopy(PRESETS[name]), **overrides})


__all__ = ["FAMILIES", "N_PITCHES", "PRESETS", "REPRESENTATIONS", "SoundConfig", "SoundConfigError", "preset"]
