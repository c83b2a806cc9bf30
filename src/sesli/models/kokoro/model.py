"""Kokoro-82M (StyleTTS2 + iSTFTNet + ALBERT) as one trainable, batchable module.

Letters: B batch, T tokens (with the two boundary tokens), F frames, N samples (24 kHz,
``N = 600 F``), S style width (128), R reference width (2S = 256), D duration bins.

Submodules carry the official names (``bert``, ``bert_encoder``, ``predictor``, ``text_encoder``,
``decoder``) with identical parameter names and shapes, so ``kokoro-v1_0.pth`` loads unchanged.

Two entry points over the same submodules:

* :meth:`KokoroModel.forward_train` -- teacher-forced: durations are given (from an aligner),
  dropout follows ``train()``/``eval()``, gradients flow everywhere except through the sine source.
* :meth:`KokoroModel.infer` -- predicted durations scaled by ``speed``.

Both take padded batches with ``id_lengths``; each item gets the result it would get alone (the
random source noise aside: pass ``noise=False`` or a seeded ``generator`` for reproducible audio).
A reference vector ``ref (B, R)`` splits into the decoder style ``ref[:, :S]`` and the prosody
style ``ref[:, S:]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.weight_norm import WeightNorm

from sesli.models.kokoro.config import KokoroConfig
from sesli.models.kokoro.decoder import Decoder
from sesli.models.kokoro.predictor import ProsodyPredictor
from sesli.models.kokoro.text_encoder import KokoroAlbert, TextEncoder
from sesli.modules.masking import lengths_to_mask


@dataclass
class KokoroOutput:
    """Result of :meth:`KokoroModel.infer`."""

    audio: Tensor  # (B, N) zero after each item's end
    audio_lengths: Tensor  # (B,) valid samples
    durations: Tensor  # (B, T) frames per token, 0 on padding
    f0: Tensor  # (B, 2F) predicted F0 in Hz
    n: Tensor  # (B, 2F) predicted energy


@dataclass
class KokoroTrainOutput:
    """Result of :meth:`KokoroModel.forward_train`."""

    audio: Tensor  # (B, N) zero after each item's end
    audio_lengths: Tensor  # (B,)
    dur_logits: Tensor  # (B, T, D) ordinal duration logits (sigmoid-sum = frames)
    f0_pred: Tensor  # (B, 2F)
    n_pred: Tensor  # (B, 2F)
    frame_lengths: Tensor  # (B,)
    alignment: Tensor  # (B, T, F) one-hot token -> frame


def durations_to_alignment(durations: Tensor, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Integer durations ``(B, T)`` -> one-hot alignment ``(B, T, F)`` and frame lengths ``(B,)``."""
    end = durations.cumsum(dim=-1)  # (B, T)
    start = end - durations
    frame_lengths = end[:, -1]
    frames = torch.arange(int(frame_lengths.max()), device=durations.device)  # (F,)
    aln = (frames >= start.unsqueeze(-1)) & (frames < end.unsqueeze(-1))  # (B, T, F)
    return aln.to(dtype), frame_lengths


def _none_if_full(lengths: Tensor, size: int) -> Tensor | None:
    """Lengths, or None when every item fills ``size`` (then no masking is needed)."""
    return None if bool((lengths == size).all()) else lengths


class KokoroModel(nn.Module):
    """Kokoro text-to-speech model.

    Args:
        config: hyper-parameters (:func:`~sesli.models.kokoro.config.official_config` for 82M).
    """

    def __init__(self, config: KokoroConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = KokoroAlbert.build(vocab_size=config.n_token, plbert=config.plbert)
        self.bert_encoder = nn.Linear(self.bert.config.hidden_size, config.hidden_dim)
        self.predictor = ProsodyPredictor(
            style_dim=config.style_dim,
            d_hid=config.hidden_dim,
            nlayers=config.n_layer,
            max_dur=config.max_dur,
            dropout=config.dropout,
        )
        self.text_encoder = TextEncoder(
            channels=config.hidden_dim,
            kernel_size=config.text_encoder_kernel_size,
            depth=config.n_layer,
            n_symbols=config.n_token,
        )
        self.decoder = Decoder(
            dim_in=config.hidden_dim,
            style_dim=config.style_dim,
            dim=config.decoder_dim,
            asr_res_dim=config.asr_res_dim,
            istftnet=config.istftnet,
        )

    @property
    def samples_per_frame(self) -> int:
        """Audio samples per alignment frame (600 for Kokoro: 2 x 10 x 6 x hop 5)."""
        ist = self.config.istftnet
        return 2 * int(torch.tensor(ist["upsample_rates"]).prod()) * ist["gen_istft_hop_size"]

    def fuse_weight_norm(self) -> KokoroModel:
        """Fold every weight norm into a plain ``weight`` (inference only; saves its per-call cost).

        Weight norm recomputes ``g * v / ||v||`` on every call; folding computes it once. The
        state dict then holds ``weight`` instead of ``weight_g``/``weight_v``; the loaders accept
        both. Do not train a fused model.
        """
        for module in self.modules():
            for hook in list(module._forward_pre_hooks.values()):
                if isinstance(hook, WeightNorm):
                    nn.utils.remove_weight_norm(module, hook.name)
        return self

    def _prepare(
        self, ids: Tensor, style: Tensor, id_lengths: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        B, T = ids.shape
        if id_lengths is None:
            id_lengths = torch.full((B,), T, dtype=torch.long, device=ids.device)
        if style.dim() == 1:
            style = style.unsqueeze(0)
        if style.dim() != 2 or style.shape[-1] != self.config.ref_dim or style.shape[0] not in (1, B):
            raise ValueError(
                f"style must be (B, {self.config.ref_dim}) or ({self.config.ref_dim},), got {tuple(style.shape)}"
            )
        return id_lengths, lengths_to_mask(id_lengths, T), style.expand(B, -1)

    def _prosody(self, ids: Tensor, lengths: Tensor, mask: Tensor, s_p: Tensor) -> tuple[Tensor, Tensor]:
        """Duration-encoder features ``(B, T, C + S)`` and duration logits ``(B, T, D)``."""
        packed = _none_if_full(lengths, ids.shape[1])
        h = self.bert(ids, attention_mask=mask.long())  # (B, T, H)
        d_en = self.bert_encoder(h).transpose(1, 2)  # (B, C, T)
        d = self.predictor.text_encoder(d_en, s_p, packed, mask)  # (B, T, C + S)
        return d, self.predictor.duration_logits(d, packed)

    def _acoustics(
        self,
        ids: Tensor,
        lengths: Tensor,
        mask: Tensor,
        d: Tensor,
        aln: Tensor,
        frame_lengths: Tensor,
        ref: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Aligned text features ``(B, C, F)``, F0 and N ``(B, 2F)``."""
        s = self.config.style_dim
        frames = _none_if_full(frame_lengths, aln.shape[-1])
        en = d.transpose(1, 2) @ aln  # (B, C + S, F)
        f0, n = self.predictor.f0_energy(en, ref[:, s:], frames)
        t_en = self.text_encoder(ids, lengths, mask)  # (B, C, T)
        return t_en @ aln, f0, n

    def forward_train(
        self,
        ids: Tensor,
        id_lengths: Tensor,
        durations: Tensor,
        style: Tensor,
        *,
        f0: Tensor | None = None,
        n: Tensor | None = None,
        noise: bool = True,
        generator: torch.Generator | None = None,
    ) -> KokoroTrainOutput:
        """Teacher-forced forward.

        Args:
            ids: ``(B, T)`` token ids (padding anywhere past ``id_lengths``).
            id_lengths: ``(B,)`` valid tokens.
            durations: ``(B, T)`` frames per token (ignored past ``id_lengths``).
            style: ``(B, R)`` reference vectors.
            f0: optional ground-truth F0 ``(B, 2F)`` for the decoder (StyleTTS2 feeds the
                decoder real F0/N and trains the predictor on them); default: predicted.
            n: optional ground-truth energy ``(B, 2F)``.
            noise: random source noise in the generator.
            generator: RNG for that noise.
        """
        lengths, mask, ref = self._prepare(ids, style, id_lengths)
        durations = durations.long() * mask
        d, logits = self._prosody(ids, lengths, mask, ref[:, self.config.style_dim :])
        aln, frame_lengths = durations_to_alignment(durations, d.dtype)
        asr, f0_pred, n_pred = self._acoustics(ids, lengths, mask, d, aln, frame_lengths, ref)
        audio = self.decoder(
            asr,
            f0_pred if f0 is None else f0,
            n_pred if n is None else n,
            ref[:, : self.config.style_dim],
            _none_if_full(frame_lengths, aln.shape[-1]),
            noise=noise,
            generator=generator,
        )
        return KokoroTrainOutput(
            audio=audio,
            audio_lengths=frame_lengths * self.samples_per_frame,
            dur_logits=logits,
            f0_pred=f0_pred,
            n_pred=n_pred,
            frame_lengths=frame_lengths,
            alignment=aln,
        )

    def infer(
        self,
        ids: Tensor,
        style: Tensor,
        speed: float | Tensor = 1.0,
        id_lengths: Tensor | None = None,
        *,
        noise: bool = True,
        generator: torch.Generator | None = None,
        durations: Tensor | None = None,
    ) -> KokoroOutput:
        """Synthesise with predicted durations (or given ones).

        Args:
            ids: ``(B, T)`` token ids, each item ``[0, phonemes..., 0]`` then padding.
            style: ``(B, R)`` or ``(R,)`` reference vectors.
            speed: speaking rate (2.0 = twice as fast), a float or ``(B,)``.
            id_lengths: ``(B,)`` valid tokens (None: all ``T``).
            noise: random source noise (upstream behaviour); False for deterministic audio.
            generator: RNG for that noise (None: the global RNG, as upstream).
            durations: ``(B, T)`` frames per token to use instead of the predicted ones (F0 and
                energy are still predicted); ``speed`` is then ignored.
        """
        lengths, mask, ref = self._prepare(ids, style, id_lengths)
        d, logits = self._prosody(ids, lengths, mask, ref[:, self.config.style_dim :])
        if durations is None:
            speed_t = torch.as_tensor(speed, dtype=logits.dtype, device=ids.device).reshape(-1, 1)
            dur = torch.sigmoid(logits).sum(dim=-1) / speed_t  # (B, T)
            dur = torch.round(dur).clamp(min=1).long() * mask
        else:
            dur = durations.to(ids.device).long().clamp(min=1) * mask
        aln, frame_lengths = durations_to_alignment(dur, d.dtype)
        asr, f0, n = self._acoustics(ids, lengths, mask, d, aln, frame_lengths, ref)
        audio = self.decoder(
            asr,
            f0,
            n,
            ref[:, : self.config.style_dim],
            _none_if_full(frame_lengths, aln.shape[-1]),
            noise=noise,
            generator=generator,
        )
        return KokoroOutput(
            audio=audio,
            audio_lengths=frame_lengths * self.samples_per_frame,
            durations=dur,
            f0=f0,
            n=n,
        )
