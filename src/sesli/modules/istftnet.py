"""iSTFTNet generator with a harmonic-plus-noise source (the Kokoro / StyleTTS2 vocoder head).

Letters: B batch, C channels, T frames at the generator's input rate, N audio samples, H harmonics
(fundamental + overtones), F STFT frames.

The generator upsamples features by ``prod(upsample_rates)``, adds at each stage a projection of
the STFT of a sine excitation built from F0 (neural source filter), and ends in a ``conv_post``
that predicts a log-magnitude and a phase per STFT bin; ``torch.istft`` turns them into audio, so
``N = T * prod(upsample_rates) * hop``.

Batches are padded: ``lengths`` (valid input steps per item) drive masks at every rate, and the
two steps whose edges depend on the true signal end (the sine source with its interpolations, and
the STFT/iSTFT with their centre padding) run per item. They are cheap next to the convolutions.

Export path: :meth:`ISTFTGenerator.forward_export` (what ``export_mode = True`` routes
``forward`` to) is the same generator for items that fill ``T`` (batch 1), traceable into one ONNX
graph: no per-item loop, no complex tensor, the STFT/iSTFT as convolutions
(:class:`sesli.modules.stft.ConvSTFT`), the source without noise, and the phase of source bins that
hold only rounding put at a canonical angle (:meth:`ISTFTGenerator.source_spectrum` says why).

Under mixed precision the source STFT, the magnitude/phase head and the iSTFT run in float32 with
autocast off (``sesli.audio.features.float32_region``): the CPU FFT takes no bf16, and fp16 would
make complex32, which ``torch.istft`` does not take. The audio is float32 (float64 for a float64 model).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.audio.features import at_least_float32, float32_region
from sesli.modules.masking import apply_mask, lengths_to_mask, weight_norm
from sesli.modules.stft import ConvSTFT, stable_phase
from sesli.modules.style import SnakeResBlock


class HarmonicSource(nn.Module):
    """Sine excitation from F0: ``tanh(linear(harmonics))`` with noise in unvoiced regions.

    The maths follows the hn-NSF source (Wang et al. 2019) as Kokoro computes it: the per-sample
    phase increment ``f * h / sr`` is averaged down to frame rate, integrated, and interpolated
    back up, which keeps the phase smooth across frames. Random draws (initial phase of the
    overtones, then additive noise) use the global RNG in that order unless a generator is given.

    Args:
        sample_rate: audio rate in Hz.
        upsample_scale: audio samples per F0 step.
        harmonic_num: overtones above the fundamental.
        sine_amp: amplitude of the sines.
        noise_std: noise std in voiced regions (unvoiced: ``sine_amp / 3``).
        voiced_threshold: F0 (Hz) above which a sample counts as voiced.
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        upsample_scale: int,
        harmonic_num: int = 8,
        sine_amp: float = 0.1,
        noise_std: float = 0.003,
        voiced_threshold: float = 10.0,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.upsample_scale = upsample_scale
        self.dim = harmonic_num + 1
        self.sine_amp = sine_amp
        self.noise_std = noise_std
        self.voiced_threshold = voiced_threshold
        self.l_linear = nn.Linear(self.dim, 1)

    @torch.no_grad()
    def sines(self, f0: Tensor, *, noise: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """Noisy harmonic sines for one item: ``f0 (1, T)`` in Hz -> ``(1, N, H)``."""
        up = self.upsample_scale
        f0 = F.interpolate(f0[:, None], scale_factor=float(up), mode="nearest").transpose(1, 2)  # (1, N, 1)
        harmonics = torch.arange(1, self.dim + 1, device=f0.device, dtype=f0.dtype)
        rad = (f0 * harmonics / self.sample_rate) % 1  # (1, N, H) phase increment per sample
        if noise:
            rand_ini = torch.rand(f0.shape[0], self.dim, device=f0.device, generator=generator)
            rand_ini[:, 0] = 0  # the fundamental starts at phase 0, overtones at random phases
            rad[:, 0, :] = rad[:, 0, :] + rand_ini
        rad = F.interpolate(rad.transpose(1, 2), scale_factor=1 / up, mode="linear")  # (1, H, T)
        phase = torch.cumsum(rad, dim=-1) * 2 * math.pi
        phase = F.interpolate(phase * up, scale_factor=float(up), mode="linear").transpose(1, 2)  # (1, N, H)
        sines = torch.sin(phase) * self.sine_amp
        uv = (f0 > self.voiced_threshold).to(sines.dtype)  # (1, N, 1)
        if not noise:
            return sines * uv
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        # empty_like keeps the transposed layout, so the draws land where upstream's randn_like puts them
        eps = torch.empty_like(sines).normal_(generator=generator)
        return sines * uv + noise_amp * eps

    def forward(self, f0: Tensor, *, noise: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """One item's excitation: ``f0 (1, T)`` -> ``(1, N)``."""
        return torch.tanh(self.l_linear(self.sines(f0, noise=noise, generator=generator))).squeeze(-1)


class ISTFTGenerator(nn.Module):
    """Upsampling generator ending in an inverse STFT (iSTFTNet, Kawamura et al. 2023).

    Args:
        in_channels: channels of the input features (``upsample_initial_channel``).
        style_dim: width of the style vector.
        upsample_rates: time upsampling per stage.
        upsample_kernel_sizes: kernel of each transposed conv.
        resblock_kernel_sizes: kernels of the parallel residual blocks per stage.
        resblock_dilation_sizes: dilations of those blocks.
        n_fft: FFT size of the output STFT (and of the source STFT).
        hop: STFT hop in samples.
        sample_rate: audio rate in Hz.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        style_dim: int,
        upsample_rates: list[int],
        upsample_kernel_sizes: list[int],
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
        n_fft: int,
        hop: int,
        sample_rate: int = 24000,
    ) -> None:
        super().__init__()
        self.upsample_rates = list(upsample_rates)
        self.num_kernels = len(resblock_kernel_sizes)
        self.n_fft = n_fft
        self.hop = hop
        self.m_source = HarmonicSource(
            sample_rate=sample_rate, upsample_scale=math.prod(upsample_rates) * hop
        )
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        self.noise_convs = nn.ModuleList()
        self.noise_res = nn.ModuleList()
        ch = in_channels
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            ch = in_channels // 2 ** (i + 1)
            self.ups.append(weight_norm(nn.ConvTranspose1d(ch * 2, ch, k, u, padding=(k - u) // 2)))
            for rk, rd in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(
                    SnakeResBlock(channels=ch, kernel_size=rk, dilations=tuple(rd), style_dim=style_dim)
                )
            if i + 1 < len(upsample_rates):
                stride = math.prod(upsample_rates[i + 1 :])
                conv = nn.Conv1d(
                    n_fft + 2, ch, kernel_size=stride * 2, stride=stride, padding=(stride + 1) // 2
                )
                res = SnakeResBlock(channels=ch, kernel_size=7, dilations=(1, 3, 5), style_dim=style_dim)
            else:
                conv = nn.Conv1d(n_fft + 2, ch, kernel_size=1)
                res = SnakeResBlock(channels=ch, kernel_size=11, dilations=(1, 3, 5), style_dim=style_dim)
            self.noise_convs.append(conv)
            self.noise_res.append(res)
        self.conv_post = weight_norm(nn.Conv1d(ch, n_fft + 2, 7, 1, padding=3))
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        # a plain attribute: the module tree (state dict, LoRA targets, the ONNX importer's
        # module names) stays as the checkpoints have it
        self.export_mode = False

    def _stft(self, wav: Tensor) -> Tensor:
        """``(N,)`` -> magnitude and phase stacked ``(n_fft + 2, F)``, at least float32."""
        with float32_region(wav.device):
            wav = at_least_float32(wav)
            window = self.window.to(wav.dtype)
            spec = torch.stft(wav, self.n_fft, self.hop, self.n_fft, window=window, return_complex=True)
            return torch.cat([spec.abs(), spec.angle()], dim=0)

    def forward(
        self,
        x: Tensor,
        s: Tensor,
        f0: Tensor,
        lengths: Tensor | None = None,
        *,
        noise: bool = True,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Features to audio.

        Args:
            x: ``(B, C, T)`` features.
            s: ``(B, S)`` style.
            f0: ``(B, T)`` F0 in Hz at the same rate as ``x``.
            lengths: ``(B,)`` valid steps per item (None: all ``T``).
            noise: draw the source's random phases and noise (False: deterministic source).
            generator: RNG for the source (None: the global RNG).

        Returns:
            ``(B, N)`` audio, zero after each item's end (``N = T * prod(rates) * hop``).
        """
        if self.export_mode:
            if lengths is not None or noise:
                raise ValueError("export_mode takes no lengths and noise=False (see forward_export)")
            return self.forward_export(x, s, f0)
        B, _, T = x.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=x.device)
        scale = math.prod(self.upsample_rates)
        n_frames = T * scale + 1  # STFT frames of the source == generator output steps
        with torch.no_grad():
            har = x.new_zeros(B, self.n_fft + 2, n_frames)  # (B, n_fft + 2, F)
            for b in range(B):
                n = int(lengths[b])
                src = self.m_source(f0[b : b + 1, :n], noise=noise, generator=generator)  # (1, N_b)
                har[b, :, : n * scale + 1] = self._stft(src[0])
        ragged = not bool((lengths == T).all())  # no masks needed when every item fills T
        step_len = lengths.clone()
        mask = lengths_to_mask(lengths, T) if ragged else None
        for i, rate in enumerate(self.upsample_rates):
            last = i == len(self.upsample_rates) - 1
            step_len = step_len * rate + (1 if last else 0)
            x = F.leaky_relu(x, 0.1)
            steps = T * math.prod(self.upsample_rates[: i + 1]) + int(last)
            new_mask = lengths_to_mask(step_len, steps) if ragged else None
            x_source = self.noise_res[i](self.noise_convs[i](har), s, new_mask)
            x = self.ups[i](apply_mask(x, mask))
            if last:
                x = F.pad(x, (1, 0), mode="reflect")
            x = x + x_source
            mask = new_mask
            xs = self.resblocks[i * self.num_kernels](x, s, mask)
            for j in range(1, self.num_kernels):
                xs = xs + self.resblocks[i * self.num_kernels + j](x, s, mask)
            x = xs / self.num_kernels
        x = self.conv_post(apply_mask(F.leaky_relu(x), mask))  # (B, n_fft + 2, F)
        half = self.n_fft // 2 + 1
        with float32_region(x.device):
            x = at_least_float32(x)
            window = self.window.to(x.dtype)
            spec, phase = torch.exp(x[:, :half]), torch.sin(x[:, half:])
            audio = x.new_zeros(B, (n_frames - 1) * self.hop)  # (B, N) float32
            for b in range(B):
                f = int(step_len[b])
                z = spec[b, :, :f] * torch.exp(phase[b, :, :f] * 1j)  # complex64
                wav = torch.istft(z, self.n_fft, self.hop, self.n_fft, window=window)
                audio[b, : wav.shape[-1]] = wav
        return audio

    def _stages(self, x: Tensor, s: Tensor, har: Tensor) -> Tensor:
        """The upsampling stages on unpadded items: ``x (B, C, T)``, ``har (B, n_fft + 2, F)`` ->
        ``(B, C', F)`` (no masks: every item fills its length)."""
        for i in range(len(self.upsample_rates)):
            x = F.leaky_relu(x, 0.1)
            x_source = self.noise_res[i](self.noise_convs[i](har), s)
            x = self.ups[i](x)
            if i == len(self.upsample_rates) - 1:
                x = F.pad(x, (1, 0), mode="reflect")
            x = x + x_source
            xs = self.resblocks[i * self.num_kernels](x, s)
            for j in range(1, self.num_kernels):
                xs = xs + self.resblocks[i * self.num_kernels + j](x, s)
            x = xs / self.num_kernels
        return x

    def source_spectrum(
        self, f0: Tensor, *, noise: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        """The source's magnitude and phase by convolution: ``f0 (B, T)`` -> ``(B, n_fft + 2, F)``.

        What :meth:`forward` builds per item with ``torch.stft``, for items that fill ``T``. The
        real and imaginary parts equal ``torch.stft``'s to float rounding, but the phase of bins
        that hold only rounding (a constant source, which unvoiced stretches are without noise, has
        nothing above its first bin) or that sit on the branch cut is put at a canonical angle
        (:func:`~sesli.modules.stft.stable_phase`): there ``torch.stft``'s own angle is decided
        by its FFT's rounding, so any other STFT, or the same graph on another runtime, would
        disagree by up to ``2 pi`` and the audio would follow.
        """
        # built per call, not registered, so the module tree stays the checkpoint's; the bases
        # are a few hundred numbers (a trace stores them as constants)
        stft = ConvSTFT(n_fft=self.n_fft, hop=self.hop).to(device=f0.device, dtype=f0.dtype)
        with torch.no_grad():
            src = self.m_source(f0, noise=noise, generator=generator)  # (B, N)
            real, imag = stft.transform(src)  # (B, K, F) each
            magnitude = torch.sqrt(real * real + imag * imag)
            # the source is tanh-bounded, so |X| <= sum(window) = n_fft / 2; its empty bins measure
            # up to ~4e-7 of that bound and branch-cut bins ~1e-7 relative (float32 rounding): the
            # thresholds sit ~10x above, at -120 dB, where no bin carries anything audible
            angle = stable_phase(imag, real, floor=1e-6 * self.n_fft / 2, rel=1e-6)
            return torch.cat([magnitude, angle], dim=1)

    def spectrum_to_audio(self, x: Tensor, s: Tensor, har: Tensor) -> Tensor:
        """The stages, ``conv_post`` and the iSTFT by convolution, for items that fill ``T``.

        Args:
            x: ``(B, C, T)`` features.
            s: ``(B, S)`` style.
            har: ``(B, n_fft + 2, F)`` source magnitude and phase (:meth:`source_spectrum`).

        Returns:
            ``(B, N)`` audio, ``N = T * prod(upsample_rates) * hop``.
        """
        stft = ConvSTFT(n_fft=self.n_fft, hop=self.hop).to(device=x.device, dtype=x.dtype)
        x = self.conv_post(F.leaky_relu(self._stages(x, s, har)))  # (B, n_fft + 2, F)
        half = self.n_fft // 2 + 1
        spec, phase = torch.exp(x[:, :half]), torch.sin(x[:, half:])
        return stft.inverse(spec * torch.cos(phase), spec * torch.sin(phase))  # (B, N)

    def forward_export(
        self,
        x: Tensor,
        s: Tensor,
        f0: Tensor,
        *,
        noise: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """:meth:`forward` for items that fill ``T`` (batch 1), written for ONNX export.

        The same maths, traceable: no per-item loop, no complex tensor and no Python int taken
        from a tensor; the STFT and iSTFT are convolutions (:class:`~sesli.modules.stft.ConvSTFT`).
        It runs in the dtype of ``x``. The export traces it with ``noise=False``; ``noise`` and
        ``generator`` are there for eager comparisons.

        Args:
            x: ``(B, C, T)`` features.
            s: ``(B, S)`` style.
            f0: ``(B, T)`` F0 in Hz.
            noise: the source's random phases and noise.
            generator: RNG for them.

        Returns:
            ``(B, N)`` audio, ``N = T * prod(upsample_rates) * hop``.
        """
        har = self.source_spectrum(f0, noise=noise, generator=generator)
        return self.spectrum_to_audio(x, s, har)
