"""The sound models' conv blocks: residual units, strided encoder/decoder stages, conditioning.

Built as RAVE's and SoundStream's encoders are: each stage is residual units with growing dilation
(1, 3, 9: a wide receptive field at little cost) and one strided conv (kernel 2 x stride) that
divides the frame rate by its stride; the decoder mirrors it with transposed convs. Lengths are
exact: a stage maps T frames to T / s (T a multiple of s) and back to T * s.

Conditioning is additive: a (B, E) vector (label and pitch embeddings, summed) is projected to a
per-channel bias after the encoder's input conv and after every decoder stage (a FiLM with only the
shift), which is enough for a class-conditional decoder and keeps the blocks plain convolutions.

Letters: B batch, C channels, T frames, E label_dim, D latent channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

LRELU = 0.2


class ResidualUnit(nn.Module):
    """``x + conv1x1(lrelu(conv_k,dilated(lrelu(x))))``: (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, *, kernel_size: int, dilation: int) -> None:
        super().__init__()
        pad = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation, padding=pad)
        self.proj = nn.Conv1d(channels, channels, 1)
        self.act = nn.LeakyReLU(LRELU)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.proj(self.act(self.conv(self.act(x))))


def _down(c_in: int, c_out: int, stride: int) -> nn.Conv1d:
    """T -> T / stride (T a multiple of stride)."""
    if stride == 1:
        return nn.Conv1d(c_in, c_out, 3, padding=1)
    kernel = 2 * stride
    return nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=(kernel - stride + 1) // 2)


def _up(c_in: int, c_out: int, stride: int) -> nn.Module:
    """T -> T * stride."""
    if stride == 1:
        return nn.Conv1d(c_in, c_out, 3, padding=1)
    pad = (stride + 1) // 2
    return nn.ConvTranspose1d(c_in, c_out, 2 * stride, stride=stride, padding=pad, output_padding=stride % 2)


class Encoder(nn.Module):
    """(B, C_in, T) -> (B, out_channels, T / prod(strides)).

    Args:
        in_channels: spectrogram bins or PQMF bands.
        channels: width of each stage (the stage's residual units run at the previous width).
        strides: frame-rate divisor of each stage.
        out_channels: 2 D (VAE: mean and scale) or D (VQ).
        kernel_size, dilations: the residual units'.
        cond_dim: E, the conditioning vector's size (0: unconditional).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        channels: Sequence[int],
        strides: Sequence[int],
        out_channels: int,
        kernel_size: int = 7,
        dilations: Sequence[int] = (1, 3, 9),
        cond_dim: int = 0,
    ) -> None:
        super().__init__()
        first = channels[0]
        self.inp = nn.Conv1d(in_channels, first, kernel_size, padding=kernel_size // 2)
        self.cond = nn.Linear(cond_dim, first) if cond_dim else None
        stages: list[nn.Module] = []
        widths = [first, *channels]
        for c_in, c_out, s in zip(widths[:-1], widths[1:], strides, strict=True):
            units = [ResidualUnit(c_in, kernel_size=kernel_size, dilation=d) for d in dilations]
            stages.append(nn.Sequential(*units, nn.LeakyReLU(LRELU), _down(c_in, c_out, s)))
        self.stages = nn.ModuleList(stages)
        self.out = nn.Sequential(nn.LeakyReLU(LRELU), nn.Conv1d(channels[-1], out_channels, 3, padding=1))

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        h = self.inp(x)  # (B, C_0, T)
        if self.cond is not None and cond is not None:
            h = h + self.cond(cond)[:, :, None]
        for stage in self.stages:
            h = stage(h)  # (B, C_i, T / s_1...s_i)
        return self.out(h)


class Decoder(nn.Module):
    """(B, D, T') -> (B, out_channels, T' * prod(strides)): the encoder's mirror.

    Args:
        latent_dim: D.
        channels, strides: the encoder's (walked in reverse).
        out_channels: spectrogram bins or PQMF bands.
        kernel_size, dilations: the residual units'.
        cond_dim: E (0: unconditional).
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        channels: Sequence[int],
        strides: Sequence[int],
        out_channels: int,
        kernel_size: int = 7,
        dilations: Sequence[int] = (1, 3, 9),
        cond_dim: int = 0,
    ) -> None:
        super().__init__()
        rev = list(channels)[::-1]
        self.inp = nn.Conv1d(latent_dim, rev[0], kernel_size, padding=kernel_size // 2)
        widths = [*rev, rev[-1]]
        stages, conds = [], []
        for c_in, c_out, s in zip(widths[:-1], widths[1:], list(strides)[::-1], strict=True):
            units = [ResidualUnit(c_out, kernel_size=kernel_size, dilation=d) for d in dilations]
            stages.append(nn.Sequential(nn.LeakyReLU(LRELU), _up(c_in, c_out, s), *units))
            conds.append(nn.Linear(cond_dim, c_in) if cond_dim else nn.Identity())
        self.stages = nn.ModuleList(stages)
        self.conds = nn.ModuleList(conds) if cond_dim else None
        self.out = nn.Sequential(
            nn.LeakyReLU(LRELU), nn.Conv1d(widths[-1], out_channels, kernel_size, padding=kernel_size // 2)
        )

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        h = self.inp(z)  # (B, C_last, T')
        for i, stage in enumerate(self.stages):
            if self.conds is not None and cond is not None:
                h = h + self.conds[i](cond)[:, :, None]
            h = stage(h)  # (B, C, T' * s...)
        return self.out(h)


class Conditioning(nn.Module):
    """Label and pitch ids -> one (B, E) vector (the embeddings summed).

    Row ``n_labels`` of the label table is "no label" (labels None, or id -1) and row 128 of the
    pitch table is "unknown pitch" (-1), so a conditional model still decodes without them.
    """

    def __init__(self, *, n_labels: int, use_pitch: bool, dim: int, n_pitches: int = 128) -> None:
        super().__init__()
        self.n_labels, self.n_pitches = n_labels, n_pitches
        self.label = nn.Embedding(n_labels + 1, dim) if n_labels else None
        self.pitch = nn.Embedding(n_pitches + 1, dim) if use_pitch else None
        self.dim = dim

    def forward(
        self, batch: int, labels: Tensor | None, pitch: Tensor | None, device: torch.device
    ) -> Tensor:
        out = torch.zeros(batch, self.dim, device=device)
        if self.label is not None:
            ids = self._ids(labels, batch, self.n_labels, "label", device)
            out = out + self.label(ids)
        if self.pitch is not None:
            ids = self._ids(pitch, batch, self.n_pitches, "pitch", device)
            out = out + self.pitch(ids)
        return out  # (B, E)

    @staticmethod
    def _ids(ids: Tensor | None, batch: int, n: int, what: str, device: torch.device) -> Tensor:
        if ids is None:
            return torch.full((batch,), n, dtype=torch.long, device=device)
        ids = torch.as_tensor(ids, device=device).long().reshape(-1)
        if ids.shape[0] != batch:
            raise ValueError(f"{what} ids: expected {batch} (one per item), got {ids.shape[0]}")
        if bool(((ids < -1) | (ids >= n)).any()):
            raise ValueError(f"{what} ids must be in -1..{n - 1} (-1: unknown), got {ids.tolist()}")
        return torch.where(ids < 0, torch.full_like(ids, n), ids)


__all__ = ["Conditioning", "Decoder", "Encoder", "ResidualUnit"]
