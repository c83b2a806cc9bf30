"""RMVPE: a robust pitch estimator for vocals (Wei et al. 2023, arXiv:2306.15412), as RVC uses it.

A log-mel (128 HTK bands, Slaney-normalised, 16 kHz, n_fft 1024, hop 160, 30..8000 Hz, magnitude,
``log(clamp(mel, 1e-5))``) goes through a deep U-Net of residual conv blocks (5 average-pool
levels, 4 intermediate blocks, 5 transposed-conv levels), a conv to 3 channels, a BiGRU and a
linear layer to a salience over 360 pitch bins 20 cents apart (``cents = 20 i + 1997.38``, i.e.
about 31.7 Hz to 2005 Hz). Decoding takes a salience-weighted average of the cents of the 9 bins
around the peak; a frame whose peak is at most ``threshold`` (0.03) is unvoiced.
``f0 = 10 * 2 ** (cents / 1200)``.

Module and attribute names follow RVC's ``infer/lib/rmvpe.py`` (``E2E``) so that the ``rmvpe.pt``
state dict RVC and Applio ship loads strictly into :class:`RMVPE`.

Letters: B batch, T samples, F frames (``1 + T // 160``), M mel bands (128), C channels,
N pitch bins (360).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sesli.audio import features
from sesli.audio.features import MelConfig, _hz_to_mel, _mel_to_hz  # the one HTK mel scale
from sesli.audio.pitch import PitchError, check_model_path

SAMPLE_RATE = 16000
HOP_LENGTH = 160
N_CLASSES = 360
CENTS_STEP = 20.0
CENTS_OFFSET = 1997.3794084376191  # cents of bin 0 above 10 Hz (about 31.7 Hz)
THRESHOLD = 0.03  # RVC's voicing threshold on the peak salience
MEL = MelConfig(
    sample_rate=SAMPLE_RATE,
    n_fft=1024,
    win_length=1024,
    hop_length=HOP_LENGTH,
    n_mels=128,
    fmin=30.0,
    fmax=8000.0,
    power=1.0,
    log_offset=1e-5,
)


def rmvpe_filterbank(cfg: MelConfig = MEL) -> torch.Tensor:
    """RVC's ``librosa.filters.mel(htk=True)`` filters, (M, K).

    librosa's default Slaney norm scales each HTK triangle by ``2 / (upper - lower)`` (edges in
    Hz); sesli's :func:`~sesli.audio.features.mel_filterbank` is the same triangles without it.
    """
    fmax = cfg.fmax if cfg.fmax is not None else cfg.sample_rate / 2
    mels = np.linspace(_hz_to_mel(np.array(cfg.fmin)), _hz_to_mel(np.array(fmax)), cfg.n_mels + 2)
    edges = _mel_to_hz(mels)  # (M + 2,) Hz
    slaney = torch.from_numpy(2.0 / (edges[2:] - edges[:-2])).float()  # (M,)
    return features.mel_filterbank(cfg) * slaney[:, None]


def rmvpe_mel(wav: torch.Tensor, cfg: MelConfig = MEL) -> torch.Tensor:
    """RMVPE's input: (T,) or (B, T) at 16 kHz -> log-mel (B, M, F), float32.

    Magnitude STFT (Hann 1024, centred, reflect), :func:`rmvpe_filterbank`, then
    ``log(clamp(mel, 1e-5))`` as RVC (not sesli's usual ``log(mel + 1e-5)``).
    """
    wav = wav.unsqueeze(0) if wav.dim() == 1 else wav
    with features.float32_region(wav.device):
        spec = features.linear_spectrogram(wav.float(), cfg)  # (B, K, F) magnitude
        mel = torch.matmul(rmvpe_filterbank(cfg).to(spec.device), spec)  # (B, M, F)
        return torch.log(torch.clamp(mel, min=cfg.log_offset))


def salience_to_hz(salience: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Decode a salience (F, N) to F0 in Hz (F,), float32, 0 where the peak is <= ``threshold``.

    The estimate is the salience-weighted mean of the cents of the bins within 4 of the peak
    (fewer at the edges), as RVC's ``to_local_average_cents``.
    """
    salience = np.asarray(salience, dtype=np.float32)
    n_frames, n_bins = salience.shape
    cents = CENTS_STEP * np.arange(n_bins) + CENTS_OFFSET  # (N,)
    padded = np.pad(salience, ((0, 0), (4, 4)))  # (F, N + 8); pads weigh 0
    padded_cents = np.pad(cents, (4, 4))
    window = np.argmax(salience, axis=1)[:, None] + np.arange(9)[None, :]  # (F, 9), padded coords
    weights = np.take_along_axis(padded, window, axis=1)  # (F, 9)
    total = weights.sum(axis=1)
    mean_cents = np.divide(
        (weights * padded_cents[window]).sum(axis=1), total, out=np.zeros(n_frames), where=total > 0
    )
    f0 = 10.0 * 2.0 ** (mean_cents / 1200.0)
    voiced = (salience.max(axis=1) > threshold) & (total > 0)
    return np.where(voiced, f0, 0.0).astype(np.float32)


class ConvBlockRes(nn.Module):
    """Two 3x3 conv-BN-ReLU with a residual (1x1 conv when the channel count changes)."""

    def __init__(self, in_channels: int, out_channels: int, momentum: float = 0.01):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels, momentum=momentum),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels, momentum=momentum),
            nn.ReLU(),
        )
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, F, M)
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.conv(x) + skip


class ResEncoderBlock(nn.Module):
    """``n_blocks`` residual blocks, then an average pool (none in the intermediate stage)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | None, n_blocks: int = 1):
        super().__init__()
        channels = [in_channels] + [out_channels] * n_blocks
        self.conv = nn.ModuleList(ConvBlockRes(a, b) for a, b in pairwise(channels))
        self.pool = nn.AvgPool2d(kernel_size) if kernel_size is not None else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
        for block in self.conv:
            x = block(x)
        return x if self.pool is None else (x, self.pool(x))  # skip, pooled (B, C, F/2, M/2)


class Encoder(nn.Module):
    """Input batch norm, then ``n_encoders`` pooled levels doubling the channels from ``out_channels``."""

    def __init__(
        self, in_channels: int, n_encoders: int, kernel_size: int, n_blocks: int, out_channels: int = 16
    ):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels, momentum=0.01)
        self.layers = nn.ModuleList()
        for _ in range(n_encoders):
            self.layers.append(ResEncoderBlock(in_channels, out_channels, kernel_size, n_blocks))
            in_channels, out_channels = out_channels, out_channels * 2
        self.out_channel = out_channels  # twice the last level's width, as RVC counts it

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        x = self.bn(x)
        for layer in self.layers:
            skip, x = layer(x)
            skips.append(skip)
        return x, skips


class Intermediate(nn.Module):
    """``n_inters`` unpooled residual stages at the bottom of the U."""

    def __init__(self, in_channels: int, out_channels: int, n_inters: int, n_blocks: int):
        super().__init__()
        widths = [in_channels] + [out_channels] * n_inters
        self.layers = nn.ModuleList(ResEncoderBlock(a, b, None, n_blocks) for a, b in pairwise(widths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class ResDecoderBlock(nn.Module):
    """Transposed conv (x2 up), concatenate the skip, then residual blocks."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, n_blocks: int = 1):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.ConvTranspose2d(
                in_channels, out_channels, 3, stride=stride, padding=1, output_padding=stride - 1, bias=False
            ),
            nn.BatchNorm2d(out_channels, momentum=0.01),
            nn.ReLU(),
        )
        channels = [out_channels * 2] + [out_channels] * n_blocks
        self.conv2 = nn.ModuleList(ConvBlockRes(a, b) for a, b in pairwise(channels))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.conv1(x), skip), dim=1)  # (B, 2C, F, M)
        for block in self.conv2:
            x = block(x)
        return x


class Decoder(nn.Module):
    """``n_decoders`` up levels halving the channels, consuming the encoder's skips deepest first."""

    def __init__(self, in_channels: int, n_decoders: int, stride: int, n_blocks: int):
        super().__init__()
        widths = [in_channels // 2**i for i in range(n_decoders + 1)]
        self.layers = nn.ModuleList(ResDecoderBlock(a, b, stride, n_blocks) for a, b in pairwise(widths))

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for layer, skip in zip(self.layers, reversed(skips), strict=True):
            x = layer(x, skip)
        return x


class DeepUnet(nn.Module):
    """Encoder, intermediate and decoder with skips; the mel and time axes shrink together."""

    def __init__(
        self,
        kernel_size: int,
        n_blocks: int,
        en_de_layers: int,
        inter_layers: int,
        in_channels: int,
        en_out_channels: int,
    ):
        super().__init__()
        self.encoder = Encoder(in_channels, en_de_layers, kernel_size, n_blocks, en_out_channels)
        width = self.encoder.out_channel
        self.intermediate = Intermediate(width // 2, width, inter_layers, n_blocks)
        self.decoder = Decoder(width, en_de_layers, kernel_size, n_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, F, M) -> (B, en_out_channels, F, M)
        x, skips = self.encoder(x)
        return self.decoder(self.intermediate(x), skips)


class BiGRU(nn.Module):
    def __init__(self, input_features: int, hidden_features: int, num_layers: int):
        super().__init__()
        self.gru = nn.GRU(
            input_features, hidden_features, num_layers=num_layers, batch_first=True, bidirectional=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, F, D) -> (B, F, 2H)
        return self.gru(x)[0]


class RMVPE(nn.Module):
    """RVC's ``E2E(n_blocks=4, n_gru=1, kernel_size=2)``; smaller settings build test models.

    Args:
        n_blocks: residual blocks per U-Net stage.
        n_gru: BiGRU layers (0: a linear head instead).
        kernel_size: pooling factor per level (time and mel).
        en_de_layers: encoder / decoder levels; frames are padded to a multiple of
            ``kernel_size ** en_de_layers`` and ``n_mels`` must divide by it.
        inter_layers: intermediate stages.
        in_channels: input planes (1: the log-mel).
        en_out_channels: width of the first level (doubles per level).
        n_mels: mel bands of the input.
        gru_hidden: BiGRU width per direction.
        n_classes: pitch bins.
    """

    def __init__(
        self,
        n_blocks: int = 4,
        n_gru: int = 1,
        kernel_size: int = 2,
        en_de_layers: int = 5,
        inter_layers: int = 4,
        in_channels: int = 1,
        en_out_channels: int = 16,
        n_mels: int = 128,
        gru_hidden: int = 256,
        n_classes: int = N_CLASSES,
    ):
        super().__init__()
        self.frame_multiple = kernel_size**en_de_layers
        if n_mels % self.frame_multiple:
            raise ValueError(
                f"n_mels {n_mels} must divide by kernel_size ** en_de_layers = {self.frame_multiple}"
            )
        self.unet = DeepUnet(kernel_size, n_blocks, en_de_layers, inter_layers, in_channels, en_out_channels)
        self.cnn = nn.Conv2d(en_out_channels, 3, 3, padding=1)
        if n_gru:
            head = [BiGRU(3 * n_mels, gru_hidden, n_gru), nn.Linear(2 * gru_hidden, n_classes)]
        else:
            head = [nn.Linear(3 * n_mels, n_classes)]
        self.fc = nn.Sequential(*head, nn.Dropout(0.25), nn.Sigmoid())

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Salience in [0, 1]: log-mel (B, M, F) -> (B, F, N); F must divide by ``frame_multiple``."""
        x = mel.transpose(-1, -2).unsqueeze(1)  # (B, 1, F, M)
        x = self.cnn(self.unet(x))  # (B, 3, F, M)
        x = x.transpose(1, 2).flatten(-2)  # (B, F, 3M)
        return self.fc(x)

    def salience(self, mel: torch.Tensor) -> torch.Tensor:
        """Like ``forward`` for any F: zero-pads frames up to ``frame_multiple``, crops back.

        Zeros, as RVC (2024 on) and Applio pad; RVC's first release reflected, which fails on clips
        shorter than the padding.
        """
        n_frames = mel.shape[-1]
        pad = -n_frames % self.frame_multiple
        return self(F.pad(mel, (0, pad)))[:, :n_frames]  # (B, F, N)

    @torch.inference_mode()
    def infer(self, wav16k: np.ndarray | torch.Tensor, threshold: float = THRESHOLD) -> np.ndarray:
        """F0 in Hz of a mono 16 kHz clip (T,): float32 (1 + T // 160,), 0 where unvoiced."""
        param = next(self.parameters())
        wav = torch.as_tensor(np.asarray(wav16k, dtype=np.float32)).reshape(1, -1).to(param.device)
        mel = rmvpe_mel(wav).to(param.dtype)  # (1, M, F)
        sal = self.salience(mel)[0].float().cpu().numpy()  # (F, N)
        return salience_to_hz(sal, threshold)


def load_rmvpe(path: str | Path, device: str | torch.device = "cpu", **config: int) -> RMVPE:
    """Load RVC's ``rmvpe.pt`` (a plain state dict; ``.safetensors`` also reads) into :class:`RMVPE`.

    The load is strict: a file from another model raises :class:`PitchError` naming the missing and
    unexpected keys (or the mismatched shapes). Returns the model in eval mode on ``device``.

    Args:
        path: the weights file.
        device: where the model runs.
        **config: :class:`RMVPE` settings when not RVC's (tests save and load tiny models).
    """
    path = check_model_path(path, "rmvpe")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # pickle of arbitrary objects, truncated file, not a torch file
            raise PitchError(f"cannot read {path} as an RMVPE state dict: {err}") from err
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise PitchError(f"{path} holds a {type(state).__name__}, not an RMVPE state dict")
    model = RMVPE(**config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise PitchError(
            f"{path} is not an RMVPE state dict: {len(missing)} missing keys {missing[:5]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:5]}"
        )
    wrong = [
        f"{k}: {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise PitchError(f"{path}: RMVPE tensors of the wrong shape: {wrong[:5]}")
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True
    )
    return model.eval().to(device)


__all__ = ["MEL", "RMVPE", "THRESHOLD", "load_rmvpe", "rmvpe_filterbank", "rmvpe_mel", "salience_to_hz"]
