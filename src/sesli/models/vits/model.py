"""VITS (Kim et al. 2021) as Piper and MeloTTS train it: one module, two entry points.

Letters: B batch, T tokens, F latent frames, S spectrogram bins, Z latent channels
(``inter_channels``), C hidden channels, G speaker-condition channels, N audio samples
(``N = F * hop``), L decoded training frames (``segment_size / hop``).

Submodules keep the VITS/Piper names (``enc_p``, ``enc_q``, ``flow``, ``dec``, ``emb_g``), so their
state dicts line up with upstream's; the duration predictors are ``sdp`` (stochastic, upstream's
``dp`` in VITS and Piper) and ``dp`` (deterministic, as MeloTTS), either or both.

* :meth:`VitsModel.forward` -- training: posterior ``z ~ q(z | spec)``, ``z_p = flow(z)``,
  monotonic alignment search of ``z_p`` against the prior ``N(m_p, exp(logs_p))``
  (:func:`sesli.modules.monotonic_align.maximum_path`), duration losses on the found durations,
  and the decoder on a random ``L``-frame slice of ``z``. The trainer adds mel, KL and GAN losses
  from the returned :class:`VitsTrainOutput`.
* :meth:`VitsModel.infer` -- TTS: log-durations from the predictors (``sdp_ratio`` mixes them),
  ``ceil(exp(logw) * length_scale)`` frames per token, ``z_p ~ N(m_p, (noise_scale *
  exp(logs_p))^2)``, the inverse flow and the decoder. With ``noise_scale = noise_w = 0`` it is
  deterministic, which is how it is checked against Piper's ONNX graph.

Padded batches: masks reach every block (including the decoder), so each item gets the audio it
would get alone, random draws aside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sesli.models.vits.config import VitsConfig
from sesli.models.vits.duration import DurationPredictor, StochasticDurationPredictor
from sesli.models.vits.encoders import PosteriorEncoder, TextEncoder
from sesli.modules.flows import ResidualCouplingBlock
from sesli.modules.hifigan import HifiGanGenerator
from sesli.modules.masking import lengths_to_mask, segment_starts, take_segments
from sesli.modules.monotonic_align import maximum_path, path_from_durations


class VitsInputError(ValueError):
    """Ids, lengths, speakers or settings that the model cannot take."""


@dataclass
class VitsTrainOutput:
    """Result of :meth:`VitsModel.forward` (everything a VITS trainer's losses need)."""

    audio: Tensor  # (B, 1, L * hop) decoded slice
    ids_slice: Tensor  # (B,) first latent frame of each slice (audio: ids_slice * hop)
    duration_loss: Tensor  # () sdp_loss + dp_loss
    sdp_loss: Tensor  # () stochastic predictor's bound, summed over items / valid tokens (0 if none)
    dp_loss: Tensor  # () deterministic predictor's L2 on log-durations / valid tokens (0 if none)
    alignment: Tensor  # (B, T, F) hard MAS path
    durations: Tensor  # (B, T) frames per token from the path
    z: Tensor  # (B, Z, F) posterior sample
    z_p: Tensor  # (B, Z, F) flow(z)
    m_p: Tensor  # (B, Z, F) prior mean, expanded to frames
    logs_p: Tensor  # (B, Z, F) prior log-std, expanded to frames
    m_q: Tensor  # (B, Z, F)
    logs_q: Tensor  # (B, Z, F)
    x_mask: Tensor  # (B, 1, T) float
    y_mask: Tensor  # (B, 1, F) float


@dataclass
class VitsInferOutput:
    """Result of :meth:`VitsModel.infer`."""

    audio: Tensor  # (B, N) zero after each item's end
    lengths: Tensor  # (B,) valid samples
    durations: Tensor  # (B, T) frames per token, 0 on padding


@dataclass
class VitsLatent:
    """Result of :meth:`VitsModel.latent`: what the decoder turns into audio."""

    z: Tensor  # (B, Z, F) decoder input, zero past each item's frames
    y_mask: Tensor  # (B, 1, F)
    g: Tensor | None  # (B, G, 1) speaker condition
    frames: Tensor  # (B,) latent frames per item
    durations: Tensor  # (B, T) frames per token


class VitsModel(nn.Module):
    """The VITS generator (text encoder, posterior encoder, flow, duration predictors, HiFi-GAN)."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        cfg = self.config = config
        gin = cfg.gin_channels if cfg.n_speakers > 1 else 0
        self.enc_p = TextEncoder(
            n_symbols=cfg.n_symbols,
            out_channels=cfg.inter_channels,
            hidden_channels=cfg.hidden_channels,
            filter_channels=cfg.filter_channels,
            n_heads=cfg.n_heads,
            n_layers=cfg.n_layers,
            kernel_size=cfg.kernel_size,
            dropout=cfg.p_dropout,
            window_size=cfg.window_size,
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
        self.sdp = (
            StochasticDurationPredictor(
                in_channels=cfg.hidden_channels,
                filter_channels=cfg.sdp_filter_channels,
                kernel_size=cfg.sdp_kernel_size,
                dropout=cfg.sdp_dropout,
                n_flows=cfg.sdp_flows,
                gin_channels=gin,
            )
            if cfg.use_sdp
            else None
        )
        self.dp = (
            DurationPredictor(
                in_channels=cfg.hidden_channels,
                filter_channels=cfg.dp_filter_channels,
                kernel_size=cfg.dp_kernel_size,
                dropout=cfg.dp_dropout,
                gin_channels=gin,
            )
            if cfg.use_dp
            else None
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
            nsf=cfg.nsf,
            sample_rate=cfg.sample_rate,
            harmonic_num=cfg.nsf_harmonics,
        )
        self.emb_g = nn.Embedding(cfg.n_speakers, cfg.gin_channels) if gin else None

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    # -- checks --------------------------------------------------------------------------------

    def _check_ids(self, ids: Tensor, lengths: Tensor | None) -> Tensor:
        if ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise VitsInputError(f"ids must be an integer tensor (B, T), got {tuple(ids.shape)} {ids.dtype}")
        bad = ids[(ids < 0) | (ids >= self.config.n_symbols)]
        if bad.numel():
            raise VitsInputError(
                f"symbol ids {sorted(set(bad.tolist()))[:8]} are out of range: this model has "
                f"{self.config.n_symbols} symbols (ids 0..{self.config.n_symbols - 1})"
            )
        if lengths is None:
            return torch.full((ids.shape[0],), ids.shape[1], dtype=torch.long, device=ids.device)
        lengths = torch.as_tensor(lengths, device=ids.device).long().reshape(-1)
        if (
            lengths.shape[0] != ids.shape[0]
            or bool((lengths < 1).any())
            or bool((lengths > ids.shape[1]).any())
        ):
            raise VitsInputError(f"lengths {lengths.tolist()} do not fit ids of shape {tuple(ids.shape)}")
        return lengths

    def speaker_condition(
        self, speaker: int | Tensor | None, batch: int, device: torch.device
    ) -> Tensor | None:
        """Speaker ids -> ``g (B, G, 1)`` (None for a one-speaker model)."""
        n = self.config.n_speakers
        if self.emb_g is None:
            if speaker is not None and bool((torch.as_tensor(speaker) != 0).any()):
                raise VitsInputError(
                    f"speaker {torch.as_tensor(speaker).tolist()} given to a one-speaker model"
                )
            return None
        if speaker is None:
            raise VitsInputError(f"this model has {n} speakers: pass speaker= (0..{n - 1})")
        sid = torch.as_tensor(speaker, device=device).long().reshape(-1)
        if sid.numel() == 1:
            sid = sid.expand(batch)
        if sid.shape[0] != batch or bool(((sid < 0) | (sid >= n)).any()):
            raise VitsInputError(
                f"speaker {sid.tolist()} is out of range: this model has speakers 0..{n - 1}"
            )
        return self.emb_g(sid).unsqueeze(-1)

    # -- training ------------------------------------------------------------------------------

    def forward(
        self,
        ids: Tensor,
        id_lengths: Tensor,
        spec: Tensor,
        spec_lengths: Tensor,
        speaker: int | Tensor | None = None,
        *,
        f0: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> VitsTrainOutput:
        """One training pass.

        Args:
            ids: token ids ``(B, T)``.
            id_lengths: ``(B,)``.
            spec: linear magnitude spectrogram ``(B, S, F)`` (``S = n_fft / 2 + 1``).
            spec_lengths: ``(B,)`` frames; each item needs at least as many frames as tokens.
            speaker: ``(B,)`` ids or one int, for multi-speaker models.
            f0: ``(B, F)`` Hz, only for a decoder with the NSF source.
            generator: for the posterior sample, the SDP noise and the slice positions.
        """
        id_lengths = self._check_ids(ids, id_lengths)
        g = self.speaker_condition(speaker, ids.shape[0], ids.device)
        x, m_p, logs_p, x_mask = self.enc_p(ids, id_lengths)
        z, m_q, logs_q, y_mask = self.enc_q(spec, spec_lengths, g=g, generator=generator)
        z_p = self.flow(z, y_mask, g=g)
        attn = self._align(z_p, m_p, logs_p, id_lengths, spec_lengths)  # (B, T, F)
        w = attn.sum(-1).unsqueeze(1)  # (B, 1, T) frames per token
        n_tokens = x_mask.sum()
        zero = z.new_zeros(())
        sdp_loss = self.sdp.nll(x, x_mask, w, g=g).sum() / n_tokens if self.sdp is not None else zero
        if self.dp is not None:
            logw_target = torch.log(w + 1e-6) * x_mask
            dp_loss = torch.sum((self.dp(x, x_mask, g=g) - logw_target) ** 2) / n_tokens
        else:
            dp_loss = zero
        m_p, logs_p = m_p @ attn, logs_p @ attn  # (B, Z, T) @ (B, T, F) -> (B, Z, F)
        z_slice, ids_slice = self._slice(z, spec_lengths, generator)
        f0_slice = None if f0 is None else self._take(f0.unsqueeze(1), ids_slice).squeeze(1)
        audio = self.dec(z_slice, g=g, f0=f0_slice, generator=generator)
        return VitsTrainOutput(
            audio=audio,
            ids_slice=ids_slice,
            duration_loss=sdp_loss + dp_loss,
            sdp_loss=sdp_loss,
            dp_loss=dp_loss,
            alignment=attn,
            durations=w.squeeze(1).round().long(),
            z=z,
            z_p=z_p,
            m_p=m_p,
            logs_p=logs_p,
            m_q=m_q,
            logs_q=logs_q,
            x_mask=x_mask,
            y_mask=y_mask,
        )

    @torch.no_grad()
    def _align(
        self, z_p: Tensor, m_p: Tensor, logs_p: Tensor, id_lengths: Tensor, spec_lengths: Tensor
    ) -> Tensor:
        """Hard alignment maximising ``log N(z_p[:, :, f]; m_p[:, :, t], exp(logs_p[:, :, t]))``."""
        s_p_sq_r = torch.exp(-2 * logs_p)  # (B, Z, T)
        # log-likelihood of every (token, frame) pair, expanded as VITS does: (B, T, F)
        ll = (
            torch.sum(-0.5 * math.log(2 * math.pi) - logs_p, 1).unsqueeze(-1)
            + s_p_sq_r.transpose(1, 2) @ (-0.5 * z_p.pow(2))
            + (m_p * s_p_sq_r).transpose(1, 2) @ z_p
            + torch.sum(-0.5 * m_p.pow(2) * s_p_sq_r, 1).unsqueeze(-1)
        )
        return maximum_path(ll, id_lengths, spec_lengths).to(z_p.dtype)

    def _take(self, x: Tensor, start: Tensor) -> Tensor:
        return take_segments(x, start, self.config.segment_frames)

    def _slice(self, z: Tensor, lengths: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        start = segment_starts(lengths.to(z.device), self.config.segment_frames, generator)
        return self._take(z, start), start

    # -- inference -----------------------------------------------------------------------------

    @torch.no_grad()
    def infer(
        self,
        ids: Tensor,
        lengths: Tensor | None = None,
        *,
        noise_scale: float = 0.667,
        length_scale: float = 1.0,
        noise_w: float = 0.8,
        sdp_ratio: float | None = None,
        speaker: int | Tensor | None = None,
        f0: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> VitsInferOutput:
        """Speak token ids.

        Args:
            ids: ``(B, T)`` symbol ids (Piper: ``^ _ (id _)* $`` through ``phoneme_id_map``).
            lengths: ``(B,)`` valid tokens (None: all of T).
            noise_scale: std of the prior sample, relative to ``exp(logs_p)`` (Piper: 0.667).
            length_scale: multiplies every duration (> 1 is slower).
            noise_w: std of the stochastic duration predictor's input noise (Piper: 0.8).
            sdp_ratio: weight of the stochastic predictor's log-durations against the
                deterministic one's, in [0, 1]; None = the stochastic one when present. A model
                with only one predictor uses that one whatever the ratio.
            speaker: id(s) for a multi-speaker model.
            f0: ``(B, F)`` Hz for a decoder with the NSF source (F must match the durations).
            generator: for the noise draws.

        Raises:
            VitsInputError: ids out of the symbol range, bad lengths, speaker out of range,
                ``sdp_ratio`` outside [0, 1] or a non-positive ``length_scale``.
        """
        lat = self.latent(ids, lengths, noise_scale=noise_scale, length_scale=length_scale, noise_w=noise_w,
                          sdp_ratio=sdp_ratio, speaker=speaker, generator=generator)  # fmt: skip
        mask = lat.y_mask if ids.shape[0] > 1 else None  # one item: nothing to keep apart
        audio = self.dec(lat.z, g=lat.g, mask=mask, f0=f0, generator=generator).squeeze(1)  # (B, N)
        audio_lengths = lat.frames * self.config.hop
        audio = audio * lengths_to_mask(audio_lengths, audio.shape[-1]).to(audio.dtype)
        return VitsInferOutput(audio=audio, lengths=audio_lengths, durations=lat.durations)

    def latent(
        self,
        ids: Tensor,
        lengths: Tensor | None = None,
        *,
        noise_scale: float = 0.667,
        length_scale: float = 1.0,
        noise_w: float = 0.8,
        sdp_ratio: float | None = None,
        speaker: int | Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> VitsLatent:
        """Everything of :meth:`infer` before the decoder (same arguments): the latent ``z``.

        The decoder is convolutional, so a caller may decode ``z`` in overlapping windows of frames
        and get the first audio before the whole sentence is decoded (``sesli.inference.vits``).
        """
        lengths = self._check_ids(ids, lengths)
        if not length_scale > 0:
            raise VitsInputError(f"length_scale must be > 0, got {length_scale}")
        if sdp_ratio is not None and not 0.0 <= sdp_ratio <= 1.0:
            raise VitsInputError(f"sdp_ratio must be in [0, 1], got {sdp_ratio}")
        g = self.speaker_condition(speaker, ids.shape[0], ids.device)
        x, m_p, logs_p, x_mask = self.enc_p(ids, lengths)
        logw = self._log_durations(x, x_mask, g, noise_w=noise_w, sdp_ratio=sdp_ratio, generator=generator)
        w_ceil = torch.ceil(torch.exp(logw) * x_mask * length_scale)  # (B, 1, T)
        frames = torch.clamp_min(w_ceil.sum([1, 2]), 1).long()  # (B,)
        durations = w_ceil.squeeze(1).long()
        attn = path_from_durations(durations, int(frames.max())).to(m_p.dtype)  # (B, T, F)
        m_p, logs_p = m_p @ attn, logs_p @ attn  # (B, Z, F)
        y_mask = lengths_to_mask(frames, attn.shape[-1]).unsqueeze(1).to(m_p.dtype)  # (B, 1, F)
        eps = torch.randn(m_p.shape, generator=generator, device=m_p.device, dtype=m_p.dtype)
        z_p = m_p + eps * torch.exp(logs_p) * noise_scale
        z = self.flow(z_p, y_mask, g=g, reverse=True) * y_mask
        return VitsLatent(z=z, y_mask=y_mask, g=g, frames=frames, durations=durations)

    def _log_durations(
        self,
        x: Tensor,
        x_mask: Tensor,
        g: Tensor | None,
        *,
        noise_w: float,
        sdp_ratio: float | None,
        generator: torch.Generator | None,
    ) -> Tensor:
        """Mixed log-durations ``(B, 1, T)``: ``r * sdp + (1 - r) * dp``."""
        if self.sdp is None:
            return self.dp(x, x_mask, g=g)
        if self.dp is None:
            return self.sdp.infer(x, x_mask, g=g, noise_scale=noise_w, generator=generator)
        ratio = 1.0 if sdp_ratio is None else float(sdp_ratio)
        logw = 0.0
        if ratio > 0:
            logw = ratio * self.sdp.infer(x, x_mask, g=g, noise_scale=noise_w, generator=generator)
        if ratio < 1:
            logw = logw + (1 - ratio) * self.dp(x, x_mask, g=g)
        return logw


__all__ = ["VitsInferOutput", "VitsInputError", "VitsLatent", "VitsModel", "VitsTrainOutput"]
