"""Training the spectrogram sound models' neural vocoder (HiFi-GAN on log-magnitudes) on the engine.

Each step takes ``segment``-sample crops of the prepared clips (:mod:`sesli.train.tasks.sound_data`),
computes their linear log-magnitude with the STFT the vocoder is for
(:func:`sesli.audio.features.log_magnitude`) and trains the generator ``gen``
(:class:`~sesli.models.sound.vocoder.SoundVocoder`) to give the crop back, against the VITS core's
discriminator ``disc`` (:class:`~sesli.train.tasks.vits.VitsDiscriminator`, MSD + MPD), D first,
through the shared :func:`~sesli.train.tasks.gan.adversarial_step` (HiFi-GAN's losses):

    D: LSGAN  sum_k mean((1 - D_k(y))^2) + mean(D_k(G(s))^2)
    G: mel_weight 45 · L1(log-mel(G(s)), log-mel(y)) + adv_weight 1 · LSGAN + fm_weight 2 · feature matching

with ``s`` the log-magnitude of ``y``. The generated audio is zeroed past each crop's valid length,
as the recording is. For the first ``adversarial_after`` steps only the mel term trains the
generator (0: adversarial from the start, as HiFi-GAN). AdamW (betas 0.8, 0.99) with HiFi-GAN's
decay 0.999 per epoch (:class:`~sesli.train.tasks.vits.EpochDecay`).

Validation (fixed crops): ``val/mel`` (the metric) and ``val/log_mag``, the mean absolute
difference of the output's log-magnitude from the input's, comparable with Griffin-Lim's.

The STFT comes from ``vocoder.model`` (a :class:`~sesli.models.sound.vocoder.VocoderConfig`) or,
with ``vocoder.sound_model`` set, from that trained spectrogram model (sample rate, n_fft, hop,
floor), so the vocoder fits it. The artifact (``VOC/model/``, ``model_type: "sound-vocoder"``) is
rewritten on every new best; :func:`sesli.models.sound.vocoder.load_vocoder` reads it.

Letters: B batch, N samples (``segment``), F bins, T frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sesli.train.config import TrainConfig
from sesli.train.task import Built, StepContext, Task
from sesli.train.tasks.gan import adversarial_step
from sesli.train.tasks.sound_data import SoundBatch, SoundDataError

ARTIFACT_DIR = "model"  # VOC/model/


class VocoderTrainError(ValueError):
    """A vocoder run that cannot start (no data, a sound model without spectrograms, bad settings)."""


@dataclass
class VocoderSection:
    """What to train (the ``vocoder:`` section; the engine's settings are ``train:``)."""

    data: str = ""  # a `sesli sound prepare` folder
    model: dict[str, Any] = field(default_factory=dict)  # VocoderConfig settings
    sound_model: str | None = None  # take sample rate, n_fft, hop, floor from this spectrogram model
    segment: int = 8192  # samples per training crop
    val_clips: int | None = 8  # held-out clips (None: all of val.jsonl; 0: no validation)
    n_mels: int = 80  # the mel loss's bands
    mel_weight: float = 45.0
    adv_weight: float = 1.0
    fm_weight: float = 2.0
    adversarial_after: int = 0  # steps of mel-only training before the discriminator joins
    eps: float = 1e-9
    lr_decay: float = 0.999  # per epoch, both optimizers (HiFi-GAN)
    disc_lr: float | None = None  # None: train.lr
    disc_periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    disc_mpd_channels: list[int] = field(default_factory=lambda: [32, 128, 512, 1024])
    disc_msd_channels: list[int] = field(default_factory=lambda: [16, 64, 256, 1024, 1024])
    disc_msd_scales: int = 3  # HiFi-GAN: 3 (VITS: 1)


@dataclass
class VocoderRunConfig:
    """The config tree of a vocoder run (= ``sesli/configs/sound/vocoder.yaml``)."""

    vocoder: VocoderSection = field(default_factory=VocoderSection)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=500,
            batch_size=16,
            lr=2e-4,
            weight_decay=0.01,
            betas=(0.8, 0.99),
            schedule="constant",
            grad_clip=None,
            metric="val/mel",
            keep_last=3,
            log_every=50,
            plot_every=200,
        )
    )


def vocoder_config(cfg: VocoderSection) -> Any:
    """The run's :class:`VocoderConfig`: ``cfg.model``, with a sound model's STFT when one is named.

    Raises:
        VocoderTrainError: bad settings, or a ``sound_model`` that is not a spectrogram model.
    """
    from sesli.models.sound.vocoder import VocoderConfig, VocoderConfigError

    settings = dict(cfg.model)
    if cfg.sound_model:
        sound = _sound_config(cfg.sound_model)
        settings.update(sample_rate=sound.sample_rate, n_fft=sound.n_fft, hop_length=sound.hop_length)
        settings.update(win_length=None, floor=sound.log_floor)
    try:
        return VocoderConfig.from_dict(settings)
    except (VocoderConfigError, TypeError) as err:
        raise VocoderTrainError(f"vocoder.model {cfg.model}: {err}") from None


def _sound_config(path: str) -> Any:
    from sesli.artifacts import read_meta
    from sesli.models.sound.artifact import artifact_dir
    from sesli.models.sound.config import SoundConfig

    config = SoundConfig.from_dict(read_meta(artifact_dir(path)).config)
    if config.representation != "spectrogram":
        raise VocoderTrainError(
            f"vocoder.sound_model {path} is a {config.representation} model: it outputs audio itself"
        )
    return config


def build_discriminator(cfg: VocoderSection) -> nn.Module:
    from sesli.train.tasks.vits import VitsDiscriminator

    return VitsDiscriminator(
        periods=tuple(cfg.disc_periods),
        mpd_channels=tuple(cfg.disc_mpd_channels),
        msd_channels=tuple(cfg.disc_msd_channels),
        msd_scales=cfg.disc_msd_scales,
    )


class VocoderTask(Task):
    """HiFi-GAN on the prepared clips' log-magnitudes: generator ``gen``, discriminator ``disc``.

    Args:
        cfg: the ``vocoder:`` settings.
        out: the run directory (the artifact goes to ``out/model``).
        quiet: no messages.
    """

    def __init__(self, cfg: VocoderSection, out: str | Path, *, quiet: bool = False) -> None:
        self.cfg = cfg
        self.out = Path(out)
        self.quiet = quiet
        self.meta: dict[str, Any] = {}
        self.mel_loss: nn.Module | None = None

    def build(self, accelerator: Any, train_cfg: TrainConfig) -> Built:
        from sesli.audio.features import MelConfig
        from sesli.losses.spectral import MelL1Loss
        from sesli.models.sound.vocoder import SoundVocoder
        from sesli.train.tasks.sound_data import load_sound_data
        from sesli.train.tasks.vits import EpochDecay

        config = vocoder_config(self.cfg)
        if self.cfg.segment < config.n_fft:
            raise VocoderTrainError(
                f"vocoder.segment {self.cfg.segment} is shorter than n_fft {config.n_fft}"
            )
        try:
            data = load_sound_data(
                self.cfg.data,
                sample_rate=config.sample_rate,
                segment=self.cfg.segment,
                batch_size=train_cfg.batch_size,
                seed=train_cfg.seed,
                labels=[],  # a vocoder is not conditioned
                val_clips=self.cfg.val_clips,
                num_workers=train_cfg.num_workers,
            )
        except SoundDataError as err:
            raise VocoderTrainError(str(err)) from None
        gen, disc = SoundVocoder(config), build_discriminator(self.cfg)
        self.mel_loss = MelL1Loss(
            cfg=MelConfig(
                sample_rate=config.sample_rate,
                n_fft=config.n_fft,
                win_length=config.window,
                hop_length=config.hop_length,
                n_mels=self.cfg.n_mels,
                power=1.0,
            )
        )

        def adamw(module: nn.Module, lr: float) -> torch.optim.AdamW:
            return torch.optim.AdamW(module.parameters(), lr=lr, betas=tuple(train_cfg.betas),
                                     eps=self.cfg.eps, weight_decay=train_cfg.weight_decay)  # fmt: skip

        optimizers = {"gen": adamw(gen, train_cfg.lr), "disc": adamw(disc, self.cfg.disc_lr or train_cfg.lr)}
        per_rank = math.ceil(len(data.train) / max(1, getattr(accelerator, "num_processes", 1)))
        per_epoch = math.ceil(per_rank / train_cfg.grad_accum)
        schedulers = {
            n: torch.optim.lr_scheduler.LambdaLR(o, EpochDecay(self.cfg.lr_decay, per_epoch))
            for n, o in optimizers.items()
        }
        self.meta = {"data": data.summary}
        return Built(
            modules={"gen": gen, "disc": disc},
            optimizers=optimizers,
            train_data=data.train,
            val_data=data.val,
            schedulers=schedulers,
            ema_module="gen",
        )

    # ---- steps ---------------------------------------------------------------------------------
    def _generate(self, batch: SoundBatch, ctx: StepContext) -> tuple[Tensor, Tensor]:
        """(log-magnitude (B, F, T), generated audio (B, 1, N) zeroed past each item's length)."""
        from sesli.audio.features import log_magnitude

        gen, c = ctx.modules["gen"], ctx.unwrap("gen").config
        log_mag = log_magnitude(batch.audio, c.n_fft, c.hop_length, c.win_length, c.floor)  # (B, F, T)
        n = batch.audio.shape[-1]
        fake = gen(log_mag, length=n)  # (B, 1, N)
        valid = torch.arange(n, device=fake.device)[None, None, :] < batch.lengths[:, None, None]
        return log_mag, fake * valid

    def _mel(self, fake: Tensor, batch: SoundBatch) -> dict[str, Tensor]:
        mel = self.mel_loss(fake, batch.audio, batch.lengths)
        return {"mel": mel, "loss": self.cfg.mel_weight * mel}

    def train_step(self, batch: SoundBatch, ctx: StepContext) -> dict[str, Tensor]:
        batch = batch.to(ctx.device)
        _, fake = self._generate(batch, ctx)
        if ctx.global_step < self.cfg.adversarial_after:
            terms = self._mel(fake, batch)
            ctx.backward(terms["loss"])
            ctx.step("gen")
            return {k: v.detach() for k, v in terms.items()}
        return adversarial_step(ctx, fake, batch.audio, lambda: self._mel(fake, batch),
                                adv_weight=self.cfg.adv_weight, fm_weight=self.cfg.fm_weight)  # fmt: skip

    def eval_step(self, batch: SoundBatch, ctx: StepContext) -> dict[str, Tensor]:
        batch = batch.to(ctx.device)
        log_mag, fake = self._generate(batch, ctx)
        terms = self._mel(fake, batch)
        terms["log_mag"] = log_magnitude_distance(fake, log_mag, batch.lengths, ctx.unwrap("gen").config)
        return {k: v.detach() for k, v in terms.items()}

    def on_best(self, run_dir: Path, ctx: StepContext) -> None:
        self.save_artifact(ctx, step=ctx.global_step)

    def save_artifact(self, ctx: StepContext, *, step: int) -> Path:
        """The generator as ``out/model`` with the validation losses of ``step``."""
        from sesli.train.logging import read_metrics

        metrics = self.out / "metrics.csv"
        best = {}
        if metrics.is_file():
            best = {k: v for s, _, k, v in read_metrics(metrics) if s == step and k.startswith("val/")}
        extra = {**self.meta, "step": step, "best_validation": best}
        return save_vocoder(self.out / ARTIFACT_DIR, ctx.unwrap("gen"), extra=extra)


def log_magnitude_distance(audio: Tensor, log_mag: Tensor, lengths: Tensor | None, config: Any) -> Tensor:
    """Mean |log_magnitude(audio) - log_mag| over the valid frames: how far ``audio`` (B, 1, N) is
    from the spectrogram (B, F, T) it was made from (the vocoder's, or Griffin-Lim's, error)."""
    from sesli.audio.features import log_magnitude

    c = config
    got = log_magnitude(audio, c.n_fft, c.hop_length, c.win_length, c.floor)[..., : log_mag.shape[-1]]
    diff = (got - log_mag[..., : got.shape[-1]]).abs()  # (B, F, T)
    if lengths is None:
        return diff.mean()
    frames = 1 + lengths.to(diff.device) // c.hop_length  # (B,)
    mask = torch.arange(diff.shape[-1], device=diff.device)[None, :] < frames[:, None]  # (B, T)
    return diff.masked_select(mask[:, None, :].expand_as(diff)).mean()


def save_vocoder(directory: str | Path, vocoder: nn.Module, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``vocoder`` as a ``model_type: "sound-vocoder"`` bundle (its STFT in ``config``)."""
    from sesli.artifacts import ArtifactMeta, save_artifact
    from sesli.models.sound.vocoder import MODEL_TYPE

    config = vocoder.config.to_dict()
    config["extra"] = {**config.get("extra", {}), **(extra or {})}
    meta = ArtifactMeta(
        model_type=MODEL_TYPE,
        config=config,
        sample_rate=int(vocoder.config.sample_rate),
        symbols="",
        inference=vocoder.config.stft_settings(),
    )
    return save_artifact(directory, vocoder.state_dict(), meta)


def load_run_config(
    config: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> VocoderRunConfig:
    """The run's config: the task's defaults (= ``sound/vocoder.yaml``), a YAML (path or shipped
    name: ``vocoder-tiny``, ``vocoder``), then dotted overrides.

    Raises:
        ConfigError: an unreadable file, an unknown key or a value of the wrong type.
    """
    from sesli.train.config import load_task_config

    return load_task_config(VocoderRunConfig, "sound", config, list(overrides))


@dataclass
class VocoderTrainResult:
    """What :func:`train_vocoder` did."""

    fit: Any  # the engine's FitResult
    artifact: Path  # VOC/model


def train_vocoder(
    data_dir: str | Path,
    out: str | Path,
    *,
    config: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    restart: bool = False,
    quiet: bool = False,
) -> VocoderTrainResult:
    """Train a vocoder on ``data_dir``'s clips into ``out`` (resuming its checkpoints when there are some).

    Args:
        data_dir: a `sesli sound prepare` folder (recorded as ``vocoder.data``).
        out: the run directory; the artifact goes to ``out/model``.
        config: a YAML config or shipped name (``vocoder-tiny``; None: the task's defaults).
        overrides: dotted ``key=value`` overrides (``vocoder.sound_model=RUN``, ``train.max_steps=100``).
        restart: move an existing run aside to ``<out>.old-<timestamp>`` and start fresh.
        quiet: no messages or progress bars.

    Raises:
        VocoderTrainError: no usable data, impossible settings, a waveform ``sound_model``.
        ConfigError: a bad config or override, or resuming with other settings than the run's.
    """
    from sesli.train.engine import fit_keeping_artifact

    cfg = load_run_config(config, overrides)
    cfg.vocoder.data = str(Path(data_dir).resolve())  # frozen into config.yaml: a resume must use it
    out = Path(out)
    task = VocoderTask(cfg.vocoder, out, quiet=quiet)
    fit = fit_keeping_artifact(
        task, cfg.train, out, artifact=out / ARTIFACT_DIR,
        save_final=lambda ctx, step: task.save_artifact(ctx, step=step), config=cfg, restart=restart, quiet=quiet,
    )  # fmt: skip
    return VocoderTrainResult(fit=fit, artifact=out / ARTIFACT_DIR)


__all__ = [
    "ARTIFACT_DIR",
    "VocoderRunConfig",
    "VocoderSection",
    "VocoderTask",
    "VocoderTrainError",
    "VocoderTrainResult",
    "build_discriminator",
    "load_run_config",
    "log_magnitude_distance",
    "save_vocoder",
    "train_vocoder",
    "vocoder_config",
]
