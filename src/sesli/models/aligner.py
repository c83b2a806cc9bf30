"""A small text-to-mel aligner: soft attention with a beta-binomial prior, hard paths by MAS.

Kokoro-82M ships no aligner, so sesli trains this one on the user's own data and reads phoneme
durations off it. The design follows RAD-TTS and "One TTS Alignment To Rule Them All" (Badlani et
al., 2022): tokens and mel frames are projected by small conv stacks into one space, the attention
score of frame j on token i is the negative squared L2 distance of the two projections times a
temperature, a static beta-binomial prior pushes the attention towards the diagonal early on, and
training maximises the probability of all monotonic paths (forward-sum / CTC loss, in
``sesli.losses.alignment``), plus a bin loss towards the MAS path once the soft map has settled.
Hard durations come from monotonic alignment search on the soft map.

Two departures from RAD-TTS, both measured on the synthetic test (tones of known durations): the
forward-sum loss reads the *normalised* log attention (prior included), not the unnormalised
scores, so the fixed blank score (-1) cannot soak up frames while the prior makes every token
score very negative (with the unnormalised scores training settled on wrong, blank-filled
paths); and the text side is context-free by default (kernel 1: a key is a function of the
phoneme alone), since with text context (kernel 3 or 5) the small model, trained on a small corpus,
memorised wrong but self-consistent alignments (boundaries off by 2-8 frames on the synthetic test
for some seeds, against at most 1 with kernel 1). The mel side keeps +-1 frame of context.

Frame rate. The aligner reads the standard sesli log-mel (hop 300 at 24 kHz, 80 Hz) and
downsamples it by two, as StyleTTS2's text aligner does, so one aligner frame is one Kokoro text
frame of 600 samples (40 Hz). Aligner frame k covers samples ``[600k, 600k + 600)``, whose centre
is mel frame ``2k + 1``; it is the [1, 2, 1] / 4 weighted mean of mel frames 2k, 2k + 1, 2k + 2, so
it is centred on its own samples (a plain mean of pairs would lag by a quarter frame; larger even
factors use the matching triangle). A clip trimmed to ``600 * n`` samples has
``2n + 1`` centred mel frames and hence exactly ``n`` aligner frames: ``(mel_frames - 1) // 2``.

Letters: B batch, N tokens, M mel bands, F aligner frames (= (mel frames - 1) // 2), C channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sesli.modules.monotonic_align import durations_from_path, maximum_path

# StyleTTS2's log-mel normalisation ((log_mel - mean) / std), reused so inputs are roughly unit scale.
MEL_MEAN, MEL_STD = -4.0, 4.0


@dataclass
class AlignerOutput:
    """What :class:`Aligner` returns.

    Attributes:
        attn_logprob: unnormalised attention scores with the log prior added, (B, F, N).
        log_attn: log of the soft attention over tokens, (B, F, N); -1e4 at padding. The
            forward-sum and bin losses read this.
        attn_hard: MAS path as 0/1 floats, (B, F, N); None when ``hard=False``.
        durations: frames per token, (B, N) long, zero at padding; None when ``hard=False``.
        text_lengths: tokens per item, (B,).
        frame_lengths: aligner frames per item, (B,).
    """

    attn_logprob: torch.Tensor
    log_attn: torch.Tensor
    attn_hard: torch.Tensor | None
    durations: torch.Tensor | None
    text_lengths: torch.Tensor
    frame_lengths: torch.Tensor


def beta_binomial_log_prior(n_text: int, n_frames: int, scaling: float = 1.0) -> torch.Tensor:
    """Log beta-binomial alignment prior, (F, N): row j is BetaBinom(N-1, s(j+1), s(F-j)).

    ``log pmf(k) = log C(n, k) + log B(k + a, n - k + b) - log B(a, b)`` with lgamma, so no scipy.
    """
    n = float(n_text - 1)
    k = torch.arange(n_text, dtype=torch.float64)[None, :]  # (1, N)
    j = torch.arange(n_frames, dtype=torch.float64)[:, None]  # (F, 1)
    a, b = scaling * (j + 1), scaling * (n_frames - j)

    def log_beta(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)

    log_choose = torch.lgamma(torch.tensor(n + 1)) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
    return (log_choose + log_beta(k + a, n - k + b) - log_beta(a, b)).float()  # (F, N)


def _mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    return torch.arange(size, device=lengths.device)[None, :] < lengths[:, None]  # (B, size)


class Aligner(nn.Module):
    """Text/mel aligner with L2-distance soft attention and a beta-binomial prior.

    Args:
        n_tokens: size of the symbol table (ids are ``0 .. n_tokens - 1``).
        n_mels: mel bands of the input.
        channels: width of the conv encoders.
        attn_channels: dimension of the shared key/query space.
        kernel_size: text-side kernel (odd; 1 = context-free keys, see the module docstring).
        temperature: scale of the negative squared distance (RAD-TTS uses 5e-4 on wider
            projections; 1e-2 trained faster and better at this width in our tests).
        prior_scaling: beta-binomial prior concentration (1.0 in the paper; 0 disables the prior).
        downsample: mel hops per aligner frame, 1 or an even number (2: hop 300 -> 600 samples).
    """

    def __init__(
        self,
        *,
        n_tokens: int,
        n_mels: int = 80,
        channels: int = 192,
        attn_channels: int = 80,
        kernel_size: int = 1,
        temperature: float = 1e-2,
        prior_scaling: float = 1.0,
        downsample: int = 2,
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.prior_scaling = prior_scaling
        if downsample != 1 and downsample % 2:
            raise ValueError(f"Aligner: downsample must be 1 or even, got {downsample}")
        self.downsample = downsample
        half = downsample // 2
        tri = torch.cat([torch.arange(1, half + 1), torch.arange(half + 1, 0, -1)]).float()
        self.register_buffer("pool", (tri / tri.sum()).view(1, 1, -1), persistent=False)  # (1, 1, d + 1)
        pad = kernel_size // 2
        self.embedding = nn.Embedding(n_tokens, channels)
        self.key_proj = nn.Sequential(
            nn.Conv1d(channels, channels, kernel_size, padding=pad),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv1d(channels, attn_channels, 1),
        )
        self.query_proj = nn.Sequential(
            nn.Conv1d(n_mels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv1d(channels, attn_channels, 1),
        )

    def frame_lengths(self, mel_lengths: torch.Tensor) -> torch.Tensor:
        """Aligner frames for mel inputs of ``mel_lengths`` centred frames: ``(L - 1) // d``."""
        if self.downsample == 1:
            return mel_lengths.clone()
        return torch.div(mel_lengths - 1, self.downsample, rounding_mode="floor")

    def log_prior(
        self, text_lengths: torch.Tensor, frame_lengths: torch.Tensor, n: int, f: int
    ) -> torch.Tensor:
        """Batched log prior, (B, F, N), zero outside each item's (F_b, N_b) block."""
        out = torch.zeros(len(text_lengths), f, n)
        if self.prior_scaling > 0:
            for k, (nb, fb) in enumerate(zip(text_lengths.tolist(), frame_lengths.tolist(), strict=True)):
                out[k, :fb, :nb] = beta_binomial_log_prior(nb, fb, self.prior_scaling)
        return out

    def forward(
        self,
        tokens: torch.Tensor,
        text_lengths: torch.Tensor,
        mel: torch.Tensor,
        mel_lengths: torch.Tensor,
        *,
        hard: bool = True,
    ) -> AlignerOutput:
        """Align token ids to log-mel frames.

        Args:
            tokens: ids, (B, N) long.
            text_lengths: valid tokens per item, (B,).
            mel: sesli log-mel (hop 300), (B, M, T_mel).
            mel_lengths: valid mel frames per item, (B,).
            hard: also run MAS and return the hard path and durations.
        """
        frame_lengths = self.frame_lengths(mel_lengths)
        f = int(frame_lengths.max().item())
        mel = (mel - MEL_MEAN) / MEL_STD  # (B, M, T_mel)
        if self.downsample > 1:
            b, m, t = mel.shape
            mel = mel[:, :, : f * self.downsample + 1].reshape(b * m, 1, -1)
            mel = F.conv1d(mel, self.pool, stride=self.downsample).view(b, m, -1)  # (B, M, F)
        text_mask = _mask(text_lengths, tokens.shape[1])  # (B, N)
        frame_mask = _mask(frame_lengths, f)  # (B, F)
        keys = self.key_proj(self.embedding(tokens).transpose(1, 2) * text_mask[:, None])  # (B, A, N)
        queries = self.query_proj(mel * frame_mask[:, None])  # (B, A, F)
        dist = (queries[:, :, :, None] - keys[:, :, None, :]).pow(2).sum(dim=1)  # (B, F, N)
        scores = F.log_softmax(-self.temperature * dist, dim=-1)
        prior = self.log_prior(text_lengths, frame_lengths, tokens.shape[1], f).to(scores)
        attn_logprob = scores + prior  # (B, F, N)
        log_attn = F.log_softmax(attn_logprob.masked_fill(~text_mask[:, None, :], -1e4), dim=-1)
        log_attn = log_attn.masked_fill(~text_mask[:, None, :], -1e4)
        attn_hard = durations = None
        if hard:
            path = maximum_path(log_attn.detach().transpose(1, 2), text_lengths, frame_lengths)  # (B, N, F)
            attn_hard = path.transpose(1, 2).contiguous()  # (B, F, N)
            durations = durations_from_path(path)  # (B, N)
        return AlignerOutput(attn_logprob, log_attn, attn_hard, durations, text_lengths, frame_lengths)


__all__ = ["Aligner", "AlignerOutput", "beta_binomial_log_prior", "MEL_MEAN", "MEL_STD"]
