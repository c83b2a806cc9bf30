"""The sound auto-encoder: one core for the VAE, VQ-VAE and VAE-GAN families.

``SoundModel(config)`` is an encoder, a bottleneck and a decoder over the config's representation
(see :mod:`sesli.models.sound.config`):

* ``encode(audio, labels, pitch)`` -> :class:`Encoded`: the posterior mean (VAE) or the
  pre-quantisation latent (VQ-VAE) and the latent ``z`` the decoder reads (the mean unless
  ``sample=True``; the quantised codewords for a VQ-VAE, with its :class:`QuantizedResult`).
* ``decode(z, labels, pitch)`` -> :class:`Decoded`: audio (waveform models) or a log-magnitude
  (spectrogram models; ``Decoded.audio`` is None).
* ``decode_codes(codes, labels, pitch)``: a VQ-VAE's codes (B, Q, T') -> the same.
* ``forward(audio, labels, pitch, generator=...)`` -> :class:`SoundOutput`, what training needs:
  a posterior sample (VAE), the reconstruction and its target.

Frames: audio of N samples is zero-padded to a multiple of ``samples_per_frame`` (N'); a latent has
T' = N' / samples_per_frame frames. A spectrogram model's log-magnitude has ``N' / hop + 1``
frames, exactly ``log_magnitude(audio)``'s, so ``griffin_lim(log_mag, ..., length=N')`` inverts it:
the encoder reads the first ``N' / hop``, the decoder predicts those and its last frame is
repeated for the STFT's final centred frame.

A waveform decoder predicts 2M channels per band frame: a signal (through tanh) and an amplitude
(through :func:`mod_sigmoid`), multiplied, as RAVE's generator does; the product is PQMF-synthesised.

The VAE's posterior scale is ``softplus(.) + 1e-4`` (RAVE), so the variance never reaches 0 and the
log-variance is finite. Nothing here knows about files or training: the task adds the losses.

Letters: B batch, N samples, M bands, K bins, F spectrogram frames, D latent_dim, T' latent frames,
Q quantiser stages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.models.sound.blocks import Conditioning, Decoder, Encoder
from sesli.models.sound.config import N_PITCHES, SoundConfig
from sesli.modules.pqmf import PQMF
from sesli.modules.quantizer import QuantizedResult, ResidualVQ


@dataclass
class Encoded:
    """``mean`` (B, D, T'): posterior mean or pre-quantisation latent; ``logvar`` (VAE only);
    ``z`` (B, D, T'): what the decoder reads; ``vq``: the quantiser's result (VQ-VAE only)."""

    mean: Tensor
    logvar: Tensor | None
    z: Tensor
    vq: QuantizedResult | None = None


@dataclass
class Decoded:
    """``audio`` (B, 1, N') for waveform models, ``log_mag`` (B, K, N' / hop + 1) for spectrogram ones."""

    audio: Tensor | None
    log_mag: Tensor | None


@dataclass
class SoundOutput:
    """One training pass: the encoding, the reconstruction and what it is compared with."""

    mean: Tensor  # (B, D, T')
    logvar: Tensor | None  # (B, D, T') VAE
    z: Tensor  # (B, D, T') decoded latent (a posterior sample for a VAE)
    vq: QuantizedResult | None
    audio: Tensor | None  # (B, 1, N') waveform models' reconstruction
    log_mag: Tensor | None  # (B, K, F) spectrogram models' reconstruction
    target_audio: Tensor  # (B, 1, N') the input, zero-padded to whole latent frames
    target_log_mag: Tensor | None  # (B, K, F) log_magnitude(target_audio) (spectrogram models)


def mod_sigmoid(x: Tensor) -> Tensor:
    """RAVE's amplitude nonlinearity ``2 sigmoid(x)^log(10) + 1e-7``: in (1e-7, 2), and for
    negative x about ``2 exp(2.3 x)``, so a band's log-amplitude moves linearly with x and the
    decoder can silence a band within a few steps of a log-magnitude loss."""
    return 2 * torch.sigmoid(x).pow(math.log(10)) + 1e-7


class SoundModel(nn.Module):
    """The VAE / VQ-VAE / VAE-GAN auto-encoder of ``config`` (see the module docstring)."""

    def __init__(self, config: SoundConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        c = config
        cond_dim = c.label_dim if c.conditional else 0
        self.cond = (
            Conditioning(n_labels=c.n_labels, use_pitch=c.use_pitch, dim=c.label_dim, n_pitches=N_PITCHES)
            if c.conditional
            else None
        )
        out = 2 * c.latent_dim if c.family != "vqvae" else c.latent_dim
        common = {"channels": c.channels, "strides": c.strides, "kernel_size": c.kernel_size,
                  "dilations": c.dilations, "cond_dim": cond_dim}  # fmt: skip
        self.encoder = Encoder(in_channels=c.in_channels, out_channels=out, **common)
        # a waveform decoder also predicts a per-band amplitude (see mod_sigmoid)
        dec_out = 2 * c.n_bands if c.representation == "waveform" else c.n_bins
        self.decoder = Decoder(latent_dim=c.latent_dim, out_channels=dec_out, **common)
        self.pqmf = PQMF(c.n_bands, c.pqmf_attenuation) if c.representation == "waveform" else None
        self.quantizer = (
            ResidualVQ(
                c.latent_dim,
                c.codebook_size,
                c.n_quantizers,
                decay=c.ema_decay,
                commitment=c.commitment,
                kmeans_init=c.kmeans_init,
                reseed=c.reseed,
                dead_after=c.dead_after,
            )
            if c.family == "vqvae"
            else None
        )

    # ---- representation ------------------------------------------------------------------------
    def pad(self, audio: Tensor) -> Tensor:
        """(B, 1, N) -> (B, 1, N') zero-padded to whole latent frames."""
        if audio.dim() != 3 or audio.shape[1] != 1:
            raise ValueError(f"SoundModel: expected mono audio (B, 1, N), got {tuple(audio.shape)}")
        rest = -audio.shape[-1] % self.config.samples_per_frame
        return F.pad(audio, (0, rest)) if rest else audio

    def log_magnitude(self, audio: Tensor) -> Tensor:
        """(B, 1, N') -> (B, K, N' / hop + 1), the spectrogram models' target."""
        from sesli.audio.features import log_magnitude

        c = self.config
        return log_magnitude(audio, c.n_fft, c.hop_length, floor=c.log_floor)

    def _features(self, audio: Tensor) -> Tensor:
        """(B, 1, N') -> the encoder's input (B, K, N' / hop) or (B, M, N' / M)."""
        c = self.config
        if self.pqmf is not None:
            return self.pqmf.analysis(audio)
        log_mag = self.log_magnitude(audio)[..., :-1]  # drop the final centred frame
        return (log_mag - c.log_offset) / c.log_scale

    def _condition(self, batch: int, labels: Tensor | None, pitch: Tensor | None, device: torch.device):
        return self.cond(batch, labels, pitch, device) if self.cond is not None else None

    # ---- entry points --------------------------------------------------------------------------
    def encode(
        self,
        audio: Tensor,
        labels: Tensor | None = None,
        pitch: Tensor | None = None,
        *,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> Encoded:
        """Audio (B, 1, N) -> latents (B, D, T'), T' = ceil(N / samples_per_frame).

        Args:
            audio: mono audio at ``config.sample_rate``.
            labels: (B,) label ids (-1 or None: no label); pitch: (B,) MIDI pitch (-1: unknown).
            sample: a VAE returns a posterior sample as ``z`` (else its mean).
            generator: the sample's random source.
        """
        audio = self.pad(audio)
        cond = self._condition(audio.shape[0], labels, pitch, audio.device)
        h = self.encoder(self._features(audio), cond)  # (B, 2D or D, T')
        if self.quantizer is not None:
            vq = self.quantizer(h)
            return Encoded(mean=h, logvar=None, z=vq.quantized, vq=vq)
        mean, scale = h.chunk(2, dim=1)  # (B, D, T') each
        std = F.softplus(scale) + 1e-4
        z = mean
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + std * noise
        return Encoded(mean=mean, logvar=2 * torch.log(std), z=z)

    def decode(self, z: Tensor, labels: Tensor | None = None, pitch: Tensor | None = None) -> Decoded:
        """Latents (B, D, T') -> audio (B, 1, T' spf) or a log-magnitude (B, K, T' spf / hop + 1)."""
        c = self.config
        if z.dim() != 3 or z.shape[1] != c.latent_dim:
            raise ValueError(
                f"SoundModel.decode: expected latents (B, {c.latent_dim}, T'), got {tuple(z.shape)}"
            )
        cond = self._condition(z.shape[0], labels, pitch, z.device)
        y = self.decoder(z, cond)  # (B, 2M or K, T' * prod(strides))
        if self.pqmf is not None:
            wave, amp = y.chunk(2, dim=1)  # (B, M, N' / M) each
            bands = torch.tanh(wave) * mod_sigmoid(amp)
            return Decoded(audio=self.pqmf.synthesis(bands), log_mag=None)
        log_mag = y * c.log_scale + c.log_offset
        return Decoded(audio=None, log_mag=F.pad(log_mag, (0, 1), mode="replicate"))

    def decode_codes(
        self, codes: Tensor, labels: Tensor | None = None, pitch: Tensor | None = None
    ) -> Decoded:
        """A VQ-VAE's codes (B, Q, T') int64 -> :meth:`decode` of their codewords."""
        if self.quantizer is None:
            raise ValueError(f"decode_codes needs a vqvae model, this one is a {self.config.family}")
        return self.decode(self.quantizer.decode(codes), labels, pitch)

    def forward(
        self,
        audio: Tensor,
        labels: Tensor | None = None,
        pitch: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        freeze_encoder: bool = False,
    ) -> SoundOutput:
        """The training pass: encode (a posterior sample for a VAE), decode, and the target.

        ``freeze_encoder`` runs the encoder (and quantiser) without gradients: the VAE-GAN's
        adversarial phase trains only the decoder (RAVE's second phase).
        """
        target = self.pad(audio)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not freeze_encoder):
            enc = self.encode(target, labels, pitch, sample=True, generator=generator)
        dec = self.decode(enc.z, labels, pitch)
        target_log_mag = self.log_magnitude(target) if self.pqmf is None else None
        return SoundOutput(
            mean=enc.mean,
            logvar=enc.logvar,
            z=enc.z,
            vq=enc.vq,
            audio=dec.audio,
            log_mag=dec.log_mag,
            target_audio=target,
            target_log_mag=target_log_mag,
        )

    def frames(self, samples: int) -> int:
        """Latent frames of ``samples`` samples of audio."""
        return -(-samples // self.config.samples_per_frame)


__all__ = ["Decoded", "Encoded", "SoundModel", "SoundOutput"]
