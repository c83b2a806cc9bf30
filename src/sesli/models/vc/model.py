"""RVC-style voice conversion on the VITS core: content features + pitch -> speech in a target voice.

Letters: B batch, T model frames (100 per second), C content-feature size (768 v2 / 256 v1),
H hidden channels, Z latent channels (``inter_channels``), S spectrogram bins, G speaker-condition
channels, N audio samples (``N = T * hop``), L decoded training frames (``segment_size / hop``).

The assembly is RVC's ``SynthesizerTrnMs768NSFsid`` / ``Ms256NSFsid`` and their ``_nono`` (no
pitch) variants, built from sesli's shared blocks, with RVC's parameter names, so an RVC state dict
loads with the identity map (:mod:`sesli.models.vc.rvc_format`):

* ``enc_p`` (:class:`ContentEncoder`): ``lrelu_0.1(sqrt(H) * (Linear(C->H)(feats) +
  Embedding(256, H)(coarse pitch)))``, VITS's relative-attention encoder (window 10 in RVC), a 1x1
  projection to the prior ``m_p, logs_p (B, Z, T)``. Frame-aligned: no durations, no alignment.
* ``enc_q``: VITS's posterior encoder on the linear spectrogram (training only; RVC's voice files
  drop it, and inference never needs it).
* ``flow``: mean-only coupling flow, ``z -> z_p``.
* ``dec``: HiFi-GAN, with the hn-NSF sine source driven by ``pitchf`` (Hz) when ``f0``.
* ``emb_g``: speaker embedding (RVC always has one: 109 rows in its pretrained models).

Frame rates: content features come at 50 frames/s (HuBERT at 16 kHz, hop 320); the model runs at
100 frames/s (hop 400 at 40 kHz, 480 at 48 kHz, 320 at 32 kHz). The *caller* repeats each feature
frame twice (:func:`upsample_features`, as RVC's ``np.repeat(phone, 2)``) and computes pitch at the
model's hop, so ``feats``, ``pitch``, ``pitchf`` and the spectrogram share the one time axis T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.models.vc.config import VcConfig
from sesli.models.vits.encoders import PosteriorEncoder
from sesli.modules.flows import ResidualCouplingBlock
from sesli.modules.hifigan import HifiGanGenerator
from sesli.modules.masking import lengths_to_mask, segment_starts, take_segments
from sesli.modules.vits_attention import RelativeTransformerEncoder

PITCH_BINS = 256  # RVC's coarse pitch: 1..255 (1 = unvoiced), one embedding row per value


class VcInputError(ValueError):
    """Features, pitch, lengths or speakers that the model cannot take."""


@dataclass
class VcTrainOutput:
    """Result of :meth:`VcModel.forward` (everything an RVC trainer's losses need)."""

    audio: Tensor  # (B, 1, L * hop) decoded slice
    ids_slice: Tensor  # (B,) first frame of each slice (audio: ids_slice * hop)
    z: Tensor  # (B, Z, T) posterior sample
    z_p: Tensor  # (B, Z, T) flow(z)
    m_p: Tensor  # (B, Z, T) prior mean
    logs_p: Tensor  # (B, Z, T) prior log-std
    m_q: Tensor  # (B, Z, T)
    logs_q: Tensor  # (B, Z, T)
    x_mask: Tensor  # (B, 1, T) float, from feat_lengths
    y_mask: Tensor  # (B, 1, T) float, from spec_lengths (the KL loss's mask)


@dataclass
class VcInferOutput:
    """Result of :meth:`VcModel.infer`."""

    audio: Tensor  # (B, N) zero after each item's end
    lengths: Tensor  # (B,) valid samples (frames * hop)


@dataclass
class VcLatent:
    """Result of :meth:`VcModel.latent`: what the decoder turns into audio."""

    z: Tensor  # (B, Z, T) decoder input, zero past each item's frames
    x_mask: Tensor  # (B, 1, T)
    g: Tensor  # (B, G, 1) speaker condition
    lengths: Tensor  # (B,) frames per item


def upsample_features(feats: Tensor, factor: int = 2) -> Tensor:
    """Content features ``(B, T', C)`` at 50 fps -> ``(B, factor * T', C)`` by repeating frames.

    RVC's own step (``np.repeat(phone, 2, axis=0)`` in training, nearest interpolation with scale
    2 at inference: the same thing), needed before :meth:`VcModel.forward` / :meth:`VcModel.infer`.
    """
    return feats.repeat_interleave(factor, dim=1)


class ContentEncoder(nn.Module):
    """Content features ``(B, T, C)`` (+ coarse pitch ``(B, T)``) -> prior ``m_p, logs_p`` and mask.

    RVC's ``TextEncoder(768 | 256, ..., f0=True | False)``: the parameter names (``emb_phone``,
    ``emb_pitch``, ``encoder``, ``proj``) are RVC's.
    """

    def __init__(
        self,
        *,
        feature_dim: int,
        out_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        dropout: float,
        window_size: int = 10,
        f0: bool = True,
    ) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.emb_phone = nn.Linear(feature_dim, hidden_channels)
        self.emb_pitch = nn.Embedding(PITCH_BINS, hidden_channels) if f0 else None
        self.encoder = RelativeTransformerEncoder(
            hidden_channels=hidden_channels,
            filter_channels=filter_channels,
            n_heads=n_heads,
            n_layers=n_layers,
            kernel_size=kernel_size,
            dropout=dropout,
            window_size=window_size,
        )
        self.proj = nn.Conv1d(hidden_channels, 2 * out_channels, 1)

    def forward(self, feats: Tensor, pitch: Tensor | None, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.emb_phone(feats)  # (B, T, H)
        if self.emb_pitch is not None:
            x = x + self.emb_pitch(pitch)
        x = F.leaky_relu(x * math.sqrt(self.hidden_channels), 0.1).transpose(1, 2)  # (B, H, T)
        mask = lengths_to_mask(lengths, feats.shape[1]).unsqueeze(1).to(x.dtype)  # (B, 1, T)
        x = self.encoder(x * mask, mask)
        m, logs = (self.proj(x) * mask).split(self.out_channels, dim=1)  # (B, Z, T) each
        return m, logs, mask


class VcModel(nn.Module):
    """The RVC generator: content encoder, posterior encoder, flow, (NSF) HiFi-GAN, speakers."""

    def __init__(self, config: VcConfig) -> None:
        super().__init__()
        cfg = self.config = config
        gin = cfg.gin_channels
        self.enc_p = ContentEncoder(
            feature_dim=cfg.feature_dim,
            out_channels=cfg.inter_channels,
            hidden_channels=cfg.hidden_channels,
            filter_channels=cfg.filter_channels,
            n_heads=cfg.n_heads,
            n_layers=cfg.n_layers,
            kernel_size=cfg.kernel_size,
            dropout=cfg.p_dropout,
            window_size=cfg.window_size,
            f0=cfg.f0,
        )
        self.enc_q = PosteriorEncoder(
            in_channels=cfg.spec_channels,
            out_channels=cfg.inter_channels,
            hidden_channels=cfg.hidden_channels,
            kernel_size=cfg.posterior_kernel_size,
            n_layers=cfg.posterior_layers,
            gin_channels=gin,
        )
        self.flow = ResidualCouplingBlock(
            channels=cfg.inter_channels,
            hidden_channels=cfg.hidden_channels,
            kernel_size=cfg.flow_kernel_size,
            n_layers=cfg.flow_layers,
            n_flows=cfg.n_flows,
            gin_channels=gin,
        )
        self.dec = HifiGanGenerator(
            in_channels=cfg.inter_channels,
            resblock=cfg.resblock,
            resblock_kernel_sizes=cfg.resblock_kernel_sizes,
            resblock_dilation_sizes=cfg.resblock_dilation_sizes,
            upsample_rates=cfg.upsample_rates,
            upsample_initial_channel=cfg.upsample_initial_channel,
            upsample_kernel_sizes=cfg.upsample_kernel_sizes,
            gin_channels=gin,
            nsf=cfg.f0,
            sample_rate=cfg.sample_rate,
            harmonic_num=cfg.nsf_harmonics,
        )
        self.emb_g = nn.Embedding(cfg.n_speakers, gin)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    # -- checks --------------------------------------------------------------------------------

    def _check_inputs(
        self,
        feats: Tensor,
        lengths: Tensor | None,
        pitch: Tensor | None,
        pitchf: Tensor | None,
        *,
        with_pitchf: bool = True,
    ) -> Tensor:
        """Validate the frame-aligned inputs; returns ``lengths (B,)``."""
        cfg = self.config
        if feats.dim() != 3 or not feats.is_floating_point():
            raise VcInputError(
                f"feats must be a float tensor (B, T, C), got {tuple(feats.shape)} {feats.dtype}"
            )
        b, t, c = feats.shape
        if c != cfg.feature_dim:
            got = {768: " (v2)", 256: " (v1)"}.get(c, "")
            raise VcInputError(
                f"this model expects {cfg.feature_dim}-d features ({cfg.version}) but got {c}-d{got}: "
                "extract features with the content model this voice was trained on"
            )
        if cfg.f0:
            if pitch is None or (with_pitchf and pitchf is None):
                raise VcInputError(
                    "this model uses pitch (f0=True): pass pitch (B, T) coarse ids 1..255 and pitchf (B, T) in Hz"
                )
            for name, p in (("pitch", pitch), ("pitchf", pitchf)):
                if p is not None and tuple(p.shape) != (b, t):
                    raise VcInputError(
                        f"{name} has shape {tuple(p.shape)} but feats have (B, T) = {(b, t)}: pitch must be "
                        "computed at the model's hop and features repeated to 100 fps (upsample_features)"
                    )
            if pitch.dtype not in (torch.int64, torch.int32):
                raise VcInputError(f"pitch must hold integer coarse ids, got {pitch.dtype}")
            if bool(((pitch < 0) | (pitch >= PITCH_BINS)).any()):
                raise VcInputError(f"coarse pitch ids must be in 0..{PITCH_BINS - 1} (RVC: 1..255)")
        elif pitch is not None or pitchf is not None:
            raise VcInputError("this model has no pitch input (f0=False): pass pitch=None, pitchf=None")
        if lengths is None:
            return torch.full((b,), t, dtype=torch.long, device=feats.device)
        lengths = torch.as_tensor(lengths, device=feats.device).long().reshape(-1)
        if lengths.shape[0] != b or bool((lengths < 1).any()) or bool((lengths > t).any()):
            raise VcInputError(f"lengths {lengths.tolist()} do not fit feats of shape {tuple(feats.shape)}")
        return lengths

    def speaker_condition(self, sid: int | Tensor, batch: int, device: torch.device) -> Tensor:
        """Speaker ids (one int or ``(B,)``) -> ``g (B, G, 1)``."""
        n = self.config.n_speakers
        sid = torch.as_tensor(sid, device=device).long().reshape(-1)
        if sid.numel() == 1:
            sid = sid.expand(batch)
        if sid.shape[0] != batch or bool(((sid < 0) | (sid >= n)).any()):
            raise VcInputError(f"speaker {sid.tolist()} is out of range: this model has speakers 0..{n - 1}")
        return self.emb_g(sid).unsqueeze(-1)

    # -- training ------------------------------------------------------------------------------

    def forward(
        self,
        feats: Tensor,
        feat_lengths: Tensor,
        pitch: Tensor | None,
        pitchf: Tensor | None,
        spec: Tensor,
        spec_lengths: Tensor,
        sid: int | Tensor = 0,
        *,
        generator: torch.Generator | None = None,
    ) -> VcTrainOutput:
        """One training pass (RVC's ``SynthesizerTrnMs768NSFsid.forward``).

        Args:
            feats: content features at 100 fps ``(B, T, C)`` (:func:`upsample_features`).
            feat_lengths: ``(B,)`` valid frames.
            pitch: coarse pitch ids ``(B, T)`` (long, 1..255), None for an ``f0=False`` model.
            pitchf: pitch in Hz ``(B, T)`` (0 = unvoiced) for the NSF source, None without f0.
            spec: linear magnitude spectrogram ``(B, S, T)`` at the same hop (``S = n_fft / 2 + 1``).
            spec_lengths: ``(B,)``, equal to ``feat_lengths`` (RVC trims both to the shorter).
            sid: speaker ids ``(B,)`` or one int.
            generator: for the posterior sample, the slice positions and the NSF noise.

        Raises:
            VcInputError: wrong feature size, pitch missing or misaligned, misaligned spectrogram.
        """
        feat_lengths = self._check_inputs(feats, feat_lengths, pitch, pitchf)
        b, t, _ = feats.shape
        if spec.dim() != 3 or spec.shape[0] != b or spec.shape[1] != self.config.spec_channels:
            raise VcInputError(
                f"spec must be (B, {self.config.spec_channels}, T) for n_fft {self.config.n_fft}, "
                f"got {tuple(spec.shape)}"
            )
        spec_lengths = torch.as_tensor(spec_lengths, device=spec.device).long().reshape(-1)
        if spec.shape[2] != t or not torch.equal(spec_lengths, feat_lengths.to(spec_lengths.device)):
            raise VcInputError(
                f"features ({t} frames, lengths {feat_lengths.tolist()}) and spectrogram ({spec.shape[2]} "
                f"frames, lengths {spec_lengths.tolist()}) must be frame-aligned: trim both to the shorter"
            )
        g = self.speaker_condition(sid, b, feats.device)
        m_p, logs_p, x_mask = self.enc_p(feats, pitch, feat_lengths)
        z, m_q, logs_q, y_mask = self.enc_q(spec, spec_lengths, g=g, generator=generator)
        z_p = self.flow(z, y_mask, g=g)
        ids_slice = self._slice_starts(spec_lengths, generator)
        z_slice = self._take(z, ids_slice)  # (B, Z, L)
        f0_slice = None if pitchf is None else self._take(pitchf.unsqueeze(1), ids_slice).squeeze(1)
        audio = self.dec(z_slice, g=g, f0=f0_slice, generator=generator)  # (B, 1, L * hop)
        return VcTrainOutput(
            audio=audio,
            ids_slice=ids_slice,
            z=z,
            z_p=z_p,
            m_p=m_p,
            logs_p=logs_p,
            m_q=m_q,
            logs_q=logs_q,
            x_mask=x_mask,
            y_mask=y_mask,
        )

    def _take(self, x: Tensor, start: Tensor) -> Tensor:
        return take_segments(x, start, self.config.segment_frames)

    def _slice_starts(self, lengths: Tensor, generator: torch.Generator | None) -> Tensor:
        return segment_starts(lengths, self.config.segment_frames, generator)

    # -- inference -----------------------------------------------------------------------------

    def latent(
        self,
        feats: Tensor,
        lengths: Tensor | None = None,
        pitch: Tensor | None = None,
        sid: int | Tensor = 0,
        *,
        noise_scale: float = 0.66666,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> VcLatent:
        """Everything of :meth:`infer` before the decoder: ``z = flow^-1(m_p + eps exp(logs_p) s)``.

        ``noise`` ``(B, Z, T)`` replaces the standard-normal draw ``eps`` (ONNX export, parity tests).
        """
        lengths = self._check_inputs(feats, lengths, pitch, None, with_pitchf=False)
        g = self.speaker_condition(sid, feats.shape[0], feats.device)
        m_p, logs_p, x_mask = self.enc_p(feats, pitch, lengths)
        if noise is None:
            noise = torch.randn(m_p.shape, generator=generator, device=m_p.device, dtype=m_p.dtype)
        elif tuple(noise.shape) != tuple(m_p.shape):
            raise VcInputError(f"noise must have shape {tuple(m_p.shape)}, got {tuple(noise.shape)}")
        z_p = (m_p + torch.exp(logs_p) * noise * noise_scale) * x_mask
        z = self.flow(z_p, x_mask, g=g, reverse=True) * x_mask
        return VcLatent(z=z, x_mask=x_mask, g=g, lengths=lengths)

    @torch.no_grad()
    def infer(
        self,
        feats: Tensor,
        lengths: Tensor | None = None,
        pitch: Tensor | None = None,
        pitchf: Tensor | None = None,
        sid: int | Tensor = 0,
        *,
        noise_scale: float = 0.66666,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> VcInferOutput:
        """Convert: features (+ pitch) of the source speech -> audio in speaker ``sid``'s voice.

        Args:
            feats: content features at 100 fps ``(B, T, C)``.
            lengths: ``(B,)`` valid frames (None: all of T).
            pitch: coarse pitch ids ``(B, T)`` for an ``f0`` model (already shifted, e.g. +12
                semitones), else None.
            pitchf: the same pitch in Hz ``(B, T)`` for the NSF source, else None.
            sid: speaker id(s).
            noise_scale: std of the prior sample relative to ``exp(logs_p)`` (RVC: 0.66666).
            noise: optional fixed ``eps (B, Z, T)`` instead of a random draw.
            generator: for the prior noise and the NSF source's noise.

        Returns:
            :class:`VcInferOutput` with ``T * hop`` samples per full-length item.

        Raises:
            VcInputError: wrong feature size, pitch missing or misaligned, speaker out of range.
        """
        lengths = self._check_inputs(feats, lengths, pitch, pitchf)
        lat = self.latent(
            feats, lengths, pitch, sid, noise_scale=noise_scale, noise=noise, generator=generator
        )
        mask = lat.x_mask if feats.shape[0] > 1 else None  # one item: nothing to keep apart
        audio = self.dec(lat.z, g=lat.g, mask=mask, f0=pitchf, generator=generator).squeeze(1)  # (B, N)
        audio_lengths = lengths * self.config.hop
        audio = audio * lengths_to_mask(audio_lengths, audio.shape[-1]).to(audio.dtype)
        return VcInferOutput(audio=audio, lengths=audio_lengths)

    convert_voice = infer  # the task-named entry point of STYLE habit 3; same arguments


__all__ = [
    "PITCH_BINS",
    "ContentEncoder",
    "VcInferOutput",
    "VcInputError",
    "VcLatent",
    "VcModel",
    "VcTrainOutput",
    "upsample_features",
]
