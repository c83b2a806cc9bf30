"""A neural vocoder for the spectrogram sound models: HiFi-GAN from a linear log-magnitude STFT.

Letters: B batch, F frequency bins (``n_fft // 2 + 1``), T frames, N samples (``T * hop``).

The spectrogram VAE / VQ-VAE reconstruct sesli's linear log-magnitude
(``sesli.audio.features.log_magnitude``: ``log(max(|STFT|, floor))``, centred Hann STFT); turning
it into audio needs the phase. Griffin-Lim estimates it by iteration; this vocoder learns it: the
VITS core's HiFi-GAN generator (:class:`sesli.modules.hifigan.HifiGanGenerator`) reads the F
log-magnitude bins as its input channels and upsamples each frame by the hop (the product of
``upsample_rates``). Inputs are mapped to about [-1, 1] first, ``(x - c) / |c|`` with
``c = log(floor) / 2``, so the floor is -1 and a unit magnitude +1.

A vocoder only fits spectrograms of its STFT: the artifact records ``sample_rate``, ``n_fft``,
``hop_length``, ``win_length`` and ``floor`` (the log of silence), and :meth:`SoundVocoder.check_fits` (or
``load_vocoder(..., sound_config=...)``) turns a mismatch with a sound model into a clear
:class:`VocoderMismatchError` instead of noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from sesli.modules.hifigan import HifiGanGenerator

MODEL_TYPE = "sound-vocoder"


class VocoderConfigError(ValueError):
    """Impossible vocoder settings."""


class VocoderMismatchError(ValueError):
    """A vocoder used on spectrograms of other STFT settings than it was trained on."""


@dataclass
class VocoderConfig:
    """STFT the vocoder expects and its HiFi-GAN generator (defaults: HiFi-GAN V1 at hop 256).

    Attributes:
        sample_rate, n_fft, hop_length, win_length, floor: the log-magnitude STFT
            (``win_length`` None: ``n_fft``).
        resblock ... upsample_kernel_sizes: :class:`HifiGanGenerator` settings; the product of
            ``upsample_rates`` must be ``hop_length``.
        extra: notes that do not change the model (the artifact's training step and figures).
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None
    floor: float = 1e-5
    resblock: str = "1"
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 3, 5]] * 3)
    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 2, 2])
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 4, 4])
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes (the artifact's training info)

    def __post_init__(self) -> None:
        if math.prod(self.upsample_rates) != self.hop_length:
            raise VocoderConfigError(
                f"the vocoder's upsample_rates {list(self.upsample_rates)} multiply to "
                f"{math.prod(self.upsample_rates)}, not hop_length={self.hop_length}"
            )
        if self.upsample_initial_channel % 2 ** len(self.upsample_rates):
            raise VocoderConfigError(
                f"upsample_initial_channel={self.upsample_initial_channel} must be divisible by "
                f"2 ** {len(self.upsample_rates)} (one halving per upsampling stage)"
            )
        if not 0 < self.floor < 1:
            raise VocoderConfigError(f"floor must be in (0, 1), got {self.floor}")

    @property
    def n_bins(self) -> int:
        """F, the log-magnitude bins."""
        return self.n_fft // 2 + 1

    @property
    def window(self) -> int:
        return self.win_length or self.n_fft

    def stft_settings(self) -> dict[str, Any]:
        """What a spectrogram must have been made with: sample rate, n_fft, hop, window."""
        return {
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "win_length": self.window,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VocoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise VocoderConfigError(f"unknown vocoder setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


class SoundVocoder(nn.Module):
    """Log-magnitude frames (B, F, T) -> audio (B, 1, N).

    Args:
        config: the STFT and generator settings.
    """

    def __init__(self, config: VocoderConfig) -> None:
        super().__init__()
        self.config = c = config
        self.generator = HifiGanGenerator(
            in_channels=c.n_bins,
            resblock=c.resblock,
            resblock_kernel_sizes=tuple(c.resblock_kernel_sizes),
            resblock_dilation_sizes=tuple(tuple(d) for d in c.resblock_dilation_sizes),
            upsample_rates=tuple(c.upsample_rates),
            upsample_initial_channel=c.upsample_initial_channel,
            upsample_kernel_sizes=tuple(c.upsample_kernel_sizes),
        )
        self._centre = 0.5 * math.log(c.floor)  # floor -> -1, |X| = 1 -> +1

    def forward(self, log_mag: Tensor, length: int | None = None) -> Tensor:
        """``log_mag`` (B, F, T) -> audio (B, 1, T hop), cut to ``length`` samples when given.

        Raises:
            VocoderMismatchError: ``log_mag`` does not have this vocoder's F bins.
        """
        if log_mag.dim() != 3 or log_mag.shape[1] != self.config.n_bins:
            raise VocoderMismatchError(
                f"this vocoder reads log-magnitudes of {self.config.n_bins} bins (n_fft={self.config.n_fft}), "
                f"got shape {tuple(log_mag.shape)}"
            )
        x = (log_mag.float() - self._centre) / abs(self._centre)
        audio = self.generator(x)  # (B, 1, T hop)
        return audio if length is None else audio[..., :length]

    def check_stft(
        self,
        *,
        sample_rate: int,
        n_fft: int,
        hop_length: int,
        win_length: int | None = None,
        floor: float | None = None,
        what: str = "",
    ) -> None:
        """Raise :class:`VocoderMismatchError` unless these STFT settings are the vocoder's own
        (``floor`` is compared when given)."""
        given = {"sample_rate": sample_rate, "n_fft": n_fft, "hop_length": hop_length}
        given["win_length"] = win_length or n_fft
        own = self.config.stft_settings()
        if floor is not None:
            given["floor"], own["floor"] = floor, self.config.floor
        diff = [f"{k} {given[k]} (vocoder: {own[k]})" for k in own if given[k] != own[k]]
        if diff:
            raise VocoderMismatchError(
                f"the vocoder was trained on other spectrograms than {what or 'these'}: "
                + ", ".join(diff)
                + "; train a vocoder with the sound model's STFT settings, or vocode with Griffin-Lim"
            )

    def check_fits(self, sound_config: Any) -> None:
        """:meth:`check_stft` against a sound model's config (``sample_rate``, ``n_fft``,
        ``hop_length``, ``win_length``, ``log_floor`` read by attribute; a waveform model needs no
        vocoder)."""
        if getattr(sound_config, "representation", "spectrogram") != "spectrogram":
            raise VocoderMismatchError("a waveform sound model outputs audio itself: it needs no vocoder")
        self.check_stft(
            sample_rate=sound_config.sample_rate,
            n_fft=sound_config.n_fft,
            hop_length=sound_config.hop_length,
            win_length=getattr(sound_config, "win_length", None),
            floor=getattr(sound_config, "log_floor", None),
            what="the sound model's",
        )


def load_vocoder(path: str | Path, *, sound_config: Any = None) -> SoundVocoder:
    """Read a ``"sound-vocoder"`` artifact (``VOC/model``) into an eval-mode :class:`SoundVocoder`.

    Args:
        path: the vocoder's artifact folder.
        sound_config: a sound model's config to check the STFT settings against.

    Raises:
        ArtifactError: no artifact there, or damaged weights.
        VocoderMismatchError: another model type, or STFT settings other than ``sound_config``'s.
    """
    from sesli.artifacts import load_weights, read_meta

    meta = read_meta(path)
    if meta.model_type != MODEL_TYPE:
        raise VocoderMismatchError(f"{path} holds a {meta.model_type!r} model, not a {MODEL_TYPE!r}")
    vocoder = SoundVocoder(VocoderConfig.from_dict(meta.config))
    vocoder.load_state_dict(load_weights(path))
    if sound_config is not None:
        vocoder.check_fits(sound_config)
    return vocoder.eval()


__all__ = [
    "MODEL_TYPE",
    "SoundVocoder",
    "VocoderConfig",
    "VocoderConfigError",
    "VocoderMismatchError",
    "load_vocoder",
]
