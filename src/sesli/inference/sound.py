"""Generating sounds with a trained sound model: sample, interpolate, continue, vary.

:class:`SoundGenerator` wraps a :class:`~sesli.models.sound.model.SoundModel` (a ``sesli sound
train`` run or its ``model/`` artifact), the optional latent prior trained on it (``RUN/prior``)
and, for spectrogram models, how their log-magnitudes become audio: a neural vocoder trained on
the same STFT (``sesli sound train --vocoder``) or Griffin-Lim (torch, on the CPU; the default).

* :meth:`~SoundGenerator.sample`: new sounds, per label, with a temperature. With a prior the
  latent frames come from it (a VQ-VAE has no other way to sample); without one a VAE draws its
  latents from its own prior, N(0, I), frame by frame (no temporal structure: expect texture).
* :meth:`~SoundGenerator.interpolate`: latents of two clips mixed ``(1 - t) a + t b`` (for a
  VQ-VAE the pre-quantisation latents, quantised again).
* :meth:`~SoundGenerator.continue_clip`: the clip's own latents as the prior's prompt, followed by
  new frames (needs a prior).
* :meth:`~SoundGenerator.vary`: variations of a clip: its latents plus Gaussian noise of
  ``amount`` times their per-dimension spread over the clip (a VAE's posterior spread when that is
  larger), quantised again for a VQ-VAE.

Every method returns :class:`SoundClip` objects (float32 audio at the model's rate, what made it)
and is deterministic for a given ``seed``. Letters: B batch, D latent width, T latent frames,
Q code streams, N samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

GRIFFIN_LIM = "griffin-lim"


class SoundGenerationError(ValueError):
    """A request the model cannot serve (unknown label, no prior for a VQ-VAE, bad lengths)."""


@dataclass
class SoundClip:
    """One generated sound.

    Attributes:
        audio: (N,) float32 at ``sample_rate``.
        sample_rate: Hz (the model's).
        label: the label it was made for ("" for none).
        seed: the random seed of the draw.
        how: what made it ("sample", "interpolate 0.50", "continue", "vary 0.5").
        info: model, prior, vocoder and settings (for a manifest).
    """

    audio: np.ndarray
    sample_rate: int
    label: str = ""
    seed: int = 0
    how: str = "sample"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def save(self, path: str | Path) -> Path:
        """Write a 16-bit PCM WAV atomically; returns the path."""
        from sesli.audio.io import save_wav

        return save_wav(path, self.audio, self.sample_rate)


class SoundGenerator:
    """A trained sound model, its optional prior and its vocoding.

    Args:
        model: the eval-mode sound model.
        prior: a :class:`~sesli.models.sound.prior.LatentPrior` trained on ``model``'s latents.
        vocoder: a :class:`~sesli.models.sound.vocoder.SoundVocoder` for a spectrogram model
            (None: Griffin-Lim).
        gl_iters: Griffin-Lim iterations.
        name: what to call the model in :attr:`SoundClip.info`.
        pitch: the MIDI pitch every method conditions on (a pitch-conditioned model, e.g. NSynth);
            None: "unknown" (the row training's label dropout teaches).
    """

    def __init__(
        self,
        model: Any,
        *,
        prior: Any = None,
        vocoder: Any = None,
        gl_iters: int = 32,
        name: str = "",
        pitch: int | None = None,
    ) -> None:
        self.model, self.prior, self.vocoder, self.gl_iters = model.eval(), prior, vocoder, gl_iters
        if pitch is not None and not 0 <= int(pitch) < 128:
            raise SoundGenerationError(f"pitch must be a MIDI note 0..127, got {pitch}")
        self.pitch = None if pitch is None else int(pitch)
        self.config = model.config
        self.name = name
        if vocoder is not None:
            vocoder.check_fits(self.config)
        if prior is not None:
            prior.check_fits(self.config)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        prior: str | Path | bool | None = None,
        vocoder: str | Path | None = None,
        gl_iters: int = 32,
        pitch: int | None = None,
    ) -> SoundGenerator:
        """Load a run (or its ``model/`` artifact), its prior and a vocoder.

        Args:
            path: a ``sesli sound train`` run or a sound model artifact.
            prior: a prior artifact; None: the run's ``prior/`` when there is one; False: none.
            vocoder: a vocoder run or artifact, ``"griffin-lim"``, or None (Griffin-Lim).
            gl_iters: Griffin-Lim iterations.
            pitch: see the class.

        Raises:
            SoundLoadError, PriorMismatchError, VocoderMismatchError: what cannot be loaded, or a
                prior or vocoder made for another model.
        """
        from sesli.models.sound.artifact import artifact_dir, load_sound_model
        from sesli.models.sound.prior import PRIOR_DIR, load_prior

        path = Path(path)
        model = load_sound_model(path)
        art = artifact_dir(path)
        found = None
        if prior is None:
            for candidate in (path / PRIOR_DIR, art.parent / PRIOR_DIR):
                if (candidate / "model.json").is_file():
                    found = candidate
                    break
        elif prior is not False:
            found = Path(prior)
        loaded_prior = load_prior(found, sound_model=art) if found is not None else None
        voc = None
        if vocoder is not None and str(vocoder) != GRIFFIN_LIM:
            from sesli.models.sound.vocoder import load_vocoder

            vpath = Path(vocoder)
            vpath = vpath / "model" if (vpath / "model" / "model.json").is_file() else vpath
            voc = load_vocoder(vpath, sound_config=model.config)
        return cls(model, prior=loaded_prior, vocoder=voc, gl_iters=gl_iters, name=str(path), pitch=pitch)

    # ---- facts ---------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.config.sample_rate)

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)

    def describe(self) -> dict[str, Any]:
        """Model, prior and vocoder, for manifests and logs."""
        c = self.config
        voc = "waveform (none needed)" if c.representation == "waveform" else (
            "neural (HiFi-GAN)" if self.vocoder is not None else f"griffin-lim ({self.gl_iters} iterations)"
        )  # fmt: skip
        return {
            "model": self.name,
            "family": c.family,
            "representation": c.representation,
            "sample_rate": self.sample_rate,
            "prior": self.prior is not None,
            "vocoder": voc,
            **({"pitch": self.pitch} if self.pitch is not None and c.use_pitch else {}),
        }

    def label_ids(self, label: str | None, n: int) -> torch.Tensor | None:
        """(n,) ids of ``label`` (None for an unconditional model or no label)."""
        if not label:
            return None if not self.labels else torch.full((n,), -1, dtype=torch.long)
        if label not in self.labels:
            known = ", ".join(self.labels) or "none: the model is unconditional"
            raise SoundGenerationError(f"unknown label {label!r}; the model knows: {known}")
        return torch.full((n,), self.labels.index(label), dtype=torch.long)

    def pitch_ids(self, n: int) -> torch.Tensor | None:
        """(n,) copies of :attr:`pitch` for a pitch-conditioned model, else None."""
        if self.pitch is None or not self.config.use_pitch:
            return None
        return torch.full((n,), self.pitch, dtype=torch.long)

    def frames(self, seconds: float) -> int:
        if not (seconds > 0 and math.isfinite(seconds)):
            raise SoundGenerationError(f"seconds must be a positive number, got {seconds}")
        return max(1, math.ceil(seconds * self.sample_rate / self.config.samples_per_frame))

    # ---- latents <-> audio ---------------------------------------------------------------------
    def _audio_in(self, audio: np.ndarray | str | Path, sample_rate: int | None) -> torch.Tensor:
        """A clip (path or array at ``sample_rate``) -> (1, 1, N) at the model's rate."""
        from sesli.audio.io import load_audio, resample

        if isinstance(audio, str | Path):
            audio, sample_rate = load_audio(audio, sr=self.sample_rate)
        elif sample_rate is None:
            raise SoundGenerationError("give the clip's sample_rate with an array")
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if audio.size < self.config.samples_per_frame:
            raise SoundGenerationError(
                f"the clip is {audio.size} samples; the model needs at least {self.config.samples_per_frame} "
                f"({self.config.samples_per_frame / self.sample_rate * 1000:.0f} ms)"
            )
        if not np.isfinite(audio).all():
            raise SoundGenerationError("the clip holds NaN or infinite samples")
        audio = resample(audio, int(sample_rate), self.sample_rate)
        return torch.from_numpy(audio).view(1, 1, -1)

    @torch.no_grad()
    def encode(
        self, audio: np.ndarray | str | Path, sample_rate: int | None = None, label: str | None = None
    ):
        """A clip's :class:`~sesli.models.sound.model.Encoded` (batch of one) and its length in samples."""
        x = self._audio_in(audio, sample_rate)
        return self.model.encode(x, self.label_ids(label, 1), self.pitch_ids(1)), x.shape[-1]

    @torch.no_grad()
    def render(
        self, z: torch.Tensor, labels: torch.Tensor | None, *, codes: bool = False, seed: int = 0
    ) -> np.ndarray:
        """Latents (B, D, T) or codes (B, Q, T) -> audio (B, N) float32, vocoded when needed."""
        pitch = self.pitch_ids(z.shape[0])
        dec = self.model.decode_codes(z, labels, pitch) if codes else self.model.decode(z, labels, pitch)
        if dec.audio is not None:
            return dec.audio[:, 0].float().clamp(-1.0, 1.0).cpu().numpy()
        return self.render_log_mag(dec.log_mag, seed=seed)

    @torch.no_grad()
    def render_log_mag(self, log_mag: torch.Tensor, *, seed: int = 0) -> np.ndarray:
        """A spectrogram model's log-magnitude (B, K, F) -> audio (B, N): the vocoder, else Griffin-Lim."""
        from sesli.audio.features import griffin_lim

        if self.vocoder is not None:
            audio = self.vocoder(log_mag)[:, 0]
        else:
            # one initial phase per item, from the seed: a clip does not depend on its batch position
            c = self.config
            audio = torch.cat([
                griffin_lim(x[None], c.n_fft, c.hop_length, n_iter=self.gl_iters,
                            generator=torch.Generator().manual_seed(seed))
                for x in log_mag
            ])  # fmt: skip
        return audio.float().clamp(-1.0, 1.0).cpu().numpy()

    def _quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-quantisation latents -> their codewords (VQ-VAE; a VAE's latents pass through)."""
        q = self.model.quantizer
        if q is None:
            return z
        was = q.training
        q.eval()
        try:
            return q(z).quantized
        finally:
            q.train(was)

    def _clip(self, audio: np.ndarray, n: int, **kw: Any) -> SoundClip:
        return SoundClip(
            audio=np.ascontiguousarray(audio[:n]), sample_rate=self.sample_rate, info=self.describe(), **kw
        )

    # ---- the four ways to make a sound ---------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        label: str | None = None,
        seconds: float = 4.0,
        *,
        n: int = 1,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> list[SoundClip]:
        """``n`` new sounds of ``seconds`` for ``label`` (see the module docstring), seeds ``seed``,
        ``seed + 1``, ... (each clip's own seed is in :attr:`SoundClip.seed`).

        Raises:
            SoundGenerationError: an unknown label, a bad length, or a VQ-VAE without a prior.
        """
        if temperature < 0:
            raise SoundGenerationError(f"temperature must be >= 0, got {temperature}")
        if n < 1:
            raise SoundGenerationError(f"n must be at least 1, got {n}")
        frames, labels = self.frames(seconds), self.label_ids(label, 1)
        c = self.config
        codes = c.family == "vqvae"
        if self.prior is None and codes:
            raise SoundGenerationError(
                "a VQ-VAE samples through its prior: train one with `sesli sound train --prior RUN`"
            )
        length, clips = round(seconds * self.sample_rate), []
        for k in range(n):  # clip k is seed + k: any one of them can be made again on its own
            g = torch.Generator().manual_seed(seed + k)
            if self.prior is not None:
                z = self.prior.sample(
                    labels, frames, temperature=temperature, n=1, pitch=self.pitch_ids(1), generator=g
                )
            else:
                z = temperature * torch.randn(1, c.latent_dim, frames, generator=g)
            audio = self.render(z, labels, codes=codes, seed=seed + k)[0]
            clips.append(
                self._clip(audio, length, label=label or "", seed=seed + k, how=f"sample t={temperature:g}")
            )
        return clips

    @torch.no_grad()
    def interpolate(
        self, a: np.ndarray | str | Path, b: np.ndarray | str | Path, *, steps: int = 5,
        sample_rate: int | None = None, label: str | None = None, seed: int = 0,
    ) -> list[SoundClip]:  # fmt: skip
        """``steps`` sounds from clip ``a`` to clip ``b`` (t = 0 .. 1); the shorter clip's length."""
        if steps < 2:
            raise SoundGenerationError(f"steps must be >= 2, got {steps}")
        (ea, na), (eb, nb) = self.encode(a, sample_rate, label), self.encode(b, sample_rate, label)
        t_frames = min(ea.mean.shape[-1], eb.mean.shape[-1])
        za, zb = ea.mean[..., :t_frames], eb.mean[..., :t_frames]
        ts = torch.linspace(0.0, 1.0, steps)
        z = torch.cat([self._quantize((1 - t) * za + t * zb) for t in ts])  # (steps, D, T)
        audio = self.render(z, self.label_ids(label, steps), seed=seed)
        return [self._clip(x, min(na, nb), label=label or "", seed=seed, how=f"interpolate {float(t):.2f}")
                for x, t in zip(audio, ts, strict=True)]  # fmt: skip

    @torch.no_grad()
    def continue_clip(
        self, audio: np.ndarray | str | Path, seconds: float, *, sample_rate: int | None = None,
        label: str | None = None, temperature: float = 1.0, seed: int = 0,
    ) -> SoundClip:  # fmt: skip
        """The clip followed by ``seconds`` of continuation from the prior.

        The clip is re-synthesised, cut to whole latent frames (up to ``samples_per_frame - 1``
        samples shorter), so the continuation follows its last real frame with no gap.
        """
        if self.prior is None:
            raise SoundGenerationError("continuing a clip needs a prior: `sesli sound train --prior RUN`")
        x = self._audio_in(audio, sample_rate)
        spf = self.config.samples_per_frame
        n = x.shape[-1] // spf * spf  # whole frames only: a padded last frame would decode as a gap
        enc = self.model.encode(x[..., :n], self.label_ids(label, 1), self.pitch_ids(1))
        codes = self.config.family == "vqvae"
        prompt = enc.vq.codes if codes else enc.mean
        labels = self.label_ids(label, 1)
        g = torch.Generator().manual_seed(seed)
        z = self.prior.sample(
            labels,
            self.frames(seconds),
            temperature=temperature,
            prompt=prompt,
            pitch=self.pitch_ids(1),
            generator=g,
        )
        out = self.render(z, labels, codes=codes, seed=seed)[0]
        return self._clip(
            out, n + round(seconds * self.sample_rate), label=label or "", seed=seed, how="continue"
        )

    @torch.no_grad()
    def vary(
        self, audio: np.ndarray | str | Path, *, n: int = 4, amount: float = 0.5,
        sample_rate: int | None = None, label: str | None = None, seed: int = 0,
    ) -> list[SoundClip]:  # fmt: skip
        """``n`` variations of the clip (``amount`` 0: its reconstruction; 1: far from it)."""
        if amount < 0:
            raise SoundGenerationError(f"amount must be >= 0, got {amount}")
        enc, length = self.encode(audio, sample_rate, label)
        mean = enc.mean  # (1, D, T)
        spread = mean.std(dim=-1, keepdim=True) if mean.shape[-1] > 1 else mean.abs() + 1e-3
        if enc.logvar is not None:
            spread = torch.maximum(spread, torch.exp(0.5 * enc.logvar))
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn((n, *mean.shape[1:]), generator=g)
        z = self._quantize(mean + amount * spread * noise)
        out = self.render(z, self.label_ids(label, n), seed=seed)
        return [self._clip(x, length, label=label or "", seed=seed, how=f"vary {amount:g}") for x in out]


__all__ = ["GRIFFIN_LIM", "SoundClip", "SoundGenerationError", "SoundGenerator"]
