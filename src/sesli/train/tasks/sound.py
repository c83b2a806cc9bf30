"""Sound auto-encoder training (VAE, VQ-VAE, VAE-GAN) as an engine task.

One step trains :class:`~sesli.models.sound.model.SoundModel` (module and optimizer ``gen``) on a
batch of random crops (``sound.segment`` samples, rounded up to whole latent frames) of a
``sesli sound prepare`` folder, labelled from the data (``sound.conditional``). The losses:

    recon   spectrogram models: mean |log_mag - log_mag'| over bins and frames
            waveform models: multi-resolution STFT distance (spectral convergence + log-magnitude
            L1, ``sound.stft_resolutions``; RAVE's multi-scale spectral distance)
    vae / vaegan:  loss = recon_weight recon + beta(step) KL       KL: nats per latent frame with
            ``free_bits`` per dimension; beta log-linear ``kl_start -> kl_end`` over
            ``kl_warmup_steps`` after ``kl_delay`` (RAVE: 1e-6 -> 0.05)
    vqvae:  loss = recon_weight recon + commitment (beta 0.25 inside the quantiser; the codebook
            follows the data by EMA, not by this loss)

**VAE-GAN** (RAVE's two phases): for ``sound.adversarial_after`` steps the model trains as a
waveform VAE; from then on the encoder is frozen (no gradient, so AdamW leaves it alone) and
each step is :func:`~sesli.train.tasks.gan.adversarial_step`: the discriminator ``disc`` (an MPD
next to a multi-resolution STFT discriminator) first, then the decoder on ``recon_weight recon
+ adv_weight LSGAN + fm_weight feature matching`` (RAVE weighs feature matching by 10).

Conditioning: ``sound.label_dropout`` (0.1) of the training clips are shown without their label
and pitch (-1, the "none" rows), so the model also works when generation gives no label.

Logged: ``train/{loss, recon, kl, kl_raw (with free bits), beta, commitment, perplexity, usage, reseeded, gen, fm, disc}``
(those the family has), ``val/{recon, kl, active_units, perplexity, usage}``. Validation draws a
fixed posterior sample (generator seeded 0) in a forked RNG, so validating more or less often does
not change the training run; ``val/active_units`` counts latent dimensions whose posterior mean
varies by more than ``sound.active_threshold`` across the batch's frames (Burda et al. 2016).

The artifact ``RUN/model/`` (:func:`~sesli.models.sound.artifact.save_sound_model`) is rewritten
whenever ``val/recon`` improves within the current phase: a VAE-GAN's adversarial decoder replaces
its phase-one weights at the first validation of phase two, although its spectral distance is
usually a little worse (the engine's ``checkpoints/best`` follows ``train.metric`` alone).

Letters: B batch, N samples (the segment), D latent_dim, T' latent frames.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sesli.train.config import TrainConfig
from sesli.train.task import Built, StepContext, Task
from sesli.train.tasks.gan import adversarial_step


class SoundTrainError(ValueError):
    """A sound run that cannot start: unknown preset, impossible model settings (the key named)."""


@dataclass
class SoundSection:
    """What to train and how (the ``sound:`` section; the engine's settings are ``train:``)."""

    preset: str = "vae-tiny"  # sesli.models.sound.config preset
    model: dict[str, Any] = field(default_factory=dict)  # SoundConfig overrides, e.g. latent_dim
    segment: int = 8192  # training crop, samples (rounded up to whole latent frames)
    conditional: bool = True  # label the model with the data's labels (False: unconditional)
    label_dropout: float = 0.1  # fraction of training clips shown with no label / unknown pitch
    val_clips: int | None = None  # see load_sound_data: None all of val.jsonl, k held out, 0 none
    recon_weight: float = 1.0
    kl_start: float = 1e-6
    kl_end: float = 0.05
    kl_warmup_steps: int = 100
    kl_delay: int = 0
    free_bits: float = 0.0  # nats per latent dimension (Kingma 2016)
    active_threshold: float = 0.01
    stft_resolutions: list[list[int]] = field(
        default_factory=lambda: [
            [2048, 512, 2048],
            [1024, 256, 1024],
            [512, 128, 512],
            [256, 64, 256],
            [128, 32, 128],
        ]
    )  # (n_fft, hop, win) of the waveform models' spectral distance
    adversarial_after: int = 100  # vaegan: reconstruction-only steps before the GAN phase
    adv_weight: float = 1.0
    fm_weight: float = 10.0  # RAVE's feature-matching weight
    disc_lr: float | None = None  # None: train.lr
    disc_periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    disc_mpd_channels: list[int] = field(default_factory=lambda: [32, 128, 512, 1024])
    disc_resolutions: list[list[int]] = field(
        default_factory=lambda: [[1024, 256, 1024], [2048, 512, 2048], [512, 128, 512]]
    )
    disc_mrd_channels: int = 32


@dataclass
class SoundRunConfig:
    """The config tree of a sound run (frozen to ``RUN/config.yaml``)."""

    sound: SoundSection = field(default_factory=SoundSection)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=1000,
            max_steps=400,
            batch_size=4,
            lr=1e-3,
            betas=(0.9, 0.99),
            weight_decay=0.0,
            schedule="constant",
            metric="val/recon",
            eval_every=100,
            log_every=10,
            plot_every=100,
        )
    )


def model_config(cfg: SoundSection, labels: list[str]) -> Any:
    """The run's :class:`SoundConfig`: the preset, ``cfg.model``, the data's labels.

    Raises:
        SoundTrainError: an unknown preset or key, or impossible values (e.g. a spectrogram vaegan).
    """
    from sesli.models.sound.config import SoundConfigError, preset

    extra = dict(cfg.model)
    if "labels" not in extra:
        extra["labels"] = list(labels) if cfg.conditional else []
    try:
        return preset(cfg.preset, **extra)
    except (SoundConfigError, TypeError) as err:
        raise SoundTrainError(f"sound.preset {cfg.preset!r} with sound.model {cfg.model}: {err}") from None


def cfg_name(cfg: SoundSection) -> str:
    """``preset`` plus its overrides, for messages."""
    extra = {k: v for k, v in cfg.model.items() if k != "labels"}
    return cfg.preset + (f" {extra}" if extra else "")


def build_discriminator(cfg: SoundSection) -> nn.Module:
    """The VAE-GAN's judge: HiFi-GAN's MPD next to a multi-resolution STFT discriminator."""
    from sesli.modules.discriminators import (
        CombinedDiscriminator,
        MultiPeriodDiscriminator,
        MultiResolutionDiscriminator,
    )

    return CombinedDiscriminator(
        mpd=MultiPeriodDiscriminator(periods=tuple(cfg.disc_periods), channels=tuple(cfg.disc_mpd_channels)),
        mrd=MultiResolutionDiscriminator(
            resolutions=tuple(tuple(r) for r in cfg.disc_resolutions), channels=cfg.disc_mrd_channels
        ),
    )


class SoundTask(Task):
    """A sound auto-encoder on a prepared folder: module ``gen`` (+ ``disc`` for a vaegan).

    Args:
        cfg: the ``sound:`` settings.
        data_dir: the prepared folder.
        run_dir: the run directory (``model/`` is the artifact).
        quiet: no messages.
    """

    def __init__(
        self, cfg: SoundSection, data_dir: str | Path, run_dir: str | Path, *, quiet: bool = False
    ) -> None:
        self.cfg, self.data_dir, self.run_dir, self.quiet = cfg, Path(data_dir), Path(run_dir), quiet
        self.meta: dict[str, Any] = {}
        self.spectral: nn.Module | None = None
        self._val_batches = 1
        self._eval: dict[str, Any] | None = None
        self._best: dict[str, Any] = {}  # the artifact's phase and val/recon
        self._is_main = True

    def build(self, accelerator: Any, train_cfg: TrainConfig) -> Built:
        from sesli.losses.spectral import MultiResolutionSTFTLoss
        from sesli.models.sound.model import SoundModel
        from sesli.train.schedule import make_optimizer
        from sesli.train.tasks.sound_data import load_sound_data

        probe = model_config(self.cfg, [])
        spf = probe.samples_per_frame
        segment = math.ceil(self.cfg.segment / spf) * spf
        labels = self.cfg.model.get("labels") if self.cfg.conditional else []
        data = load_sound_data(
            self.data_dir, sample_rate=probe.sample_rate, segment=segment, batch_size=train_cfg.batch_size,
            seed=train_cfg.seed, labels=labels, val_clips=self.cfg.val_clips, num_workers=train_cfg.num_workers,
        )  # fmt: skip
        config = model_config(self.cfg, data.labels)
        if config.family == "vqvae" and train_cfg.ema_decay is not None:
            raise SoundTrainError(
                "train.ema_decay would average the VQ codebook's own EMA statistics with stale copies "
                "(the codebook already follows the data by EMA): leave it unset for a vqvae"
            )
        gen = SoundModel(config)
        self.spectral = MultiResolutionSTFTLoss(resolutions=[tuple(r) for r in self.cfg.stft_resolutions])
        modules: dict[str, nn.Module] = {"gen": gen}
        optimizers = {"gen": make_optimizer(gen, train_cfg)}
        if config.family == "vaegan":
            modules["disc"] = disc = build_discriminator(self.cfg)
            disc_cfg = dataclasses.replace(train_cfg, lr=self.cfg.disc_lr or train_cfg.lr)
            optimizers["disc"] = make_optimizer(disc, disc_cfg)
        ranks = max(1, getattr(accelerator, "num_processes", 1))
        self._val_batches = math.ceil(len(data.val) / ranks) if data.val is not None else 0
        self._is_main = getattr(accelerator, "is_main_process", True)
        self.meta = {"data": {**data.summary, "segment": segment}}
        if not self.quiet:
            s = data.summary
            accelerator.print(
                f"{config.family} ({config.representation}, {cfg_name(self.cfg)}): {s['train_clips']} training "
                f"clips, {s['val_clips']} for validation, crops of {segment} samples "
                f"({segment / config.sample_rate:.2f} s); labels: {', '.join(config.labels) or 'none'}"
            )
        self._best = self._artifact_record()
        return Built(modules=modules, optimizers=optimizers, train_data=data.train, val_data=data.val,
                     ema_module="gen")  # fmt: skip

    # ---- losses --------------------------------------------------------------------------------
    def _recon(self, out: Any) -> Tensor:
        if out.log_mag is not None:
            return (out.log_mag.float() - out.target_log_mag.float()).abs().mean()
        return self.spectral(out.audio, out.target_audio).total

    def _terms(self, out: Any, config: Any, step: int) -> dict[str, Tensor]:
        """The reconstruction-phase terms of one forward pass, with their weighted ``loss``."""
        from sesli.losses.kl import gaussian_kl, kl_beta

        c = self.cfg
        terms = {"recon": self._recon(out)}
        loss = c.recon_weight * terms["recon"]
        if out.logvar is not None:
            beta = kl_beta(
                step, warmup_steps=c.kl_warmup_steps, start=c.kl_start, end=c.kl_end, delay=c.kl_delay
            )
            terms["kl"] = gaussian_kl(out.mean, out.logvar, free_bits=c.free_bits)
            if c.free_bits > 0:  # the loss term above is floored; log the KL itself as well
                terms["kl_raw"] = gaussian_kl(out.mean.detach(), out.logvar.detach())
            terms["beta"] = torch.tensor(beta)
            loss = loss + beta * terms["kl"]
        if out.vq is not None:
            terms["commitment"] = out.vq.commitment
            terms["perplexity"] = out.vq.perplexity
            terms["usage"] = out.vq.usage
            terms["reseeded"] = torch.tensor(float(out.vq.reseeded))
            loss = loss + out.vq.commitment
        terms["loss"] = loss
        return terms

    def _inputs(self, batch: Any, config: Any) -> tuple[Tensor | None, Tensor | None]:
        return (batch.labels if config.labels else None), (batch.pitch if config.use_pitch else None)

    def adversarial(self, config: Any, step: int) -> bool:
        """Whether ``step`` is in the VAE-GAN's adversarial phase (encoder frozen)."""
        return config.family == "vaegan" and step >= self.cfg.adversarial_after

    def phase(self, config: Any, steps_done: int) -> str:
        """The phase of the weights after ``steps_done`` steps: "adversarial" or "reconstruction"."""
        return "adversarial" if steps_done and self.adversarial(config, steps_done - 1) else "reconstruction"

    def _drop(self, ids: Tensor | None) -> Tensor | None:
        """``sound.label_dropout`` of the ids replaced by -1 ("none"), so that row is trained too:
        generation without a label (or pitch) uses it. The global RNG: a resumed run replays it."""
        p = self.cfg.label_dropout
        if ids is None or p <= 0:
            return ids
        drop = torch.rand(ids.shape, device=ids.device) < p
        return ids.masked_fill(drop, -1)

    def train_step(self, batch: Any, ctx: StepContext) -> dict[str, Tensor]:
        batch = batch.to(ctx.device)
        config, step = ctx.unwrap("gen").config, ctx.global_step
        labels, pitch = (self._drop(x) for x in self._inputs(batch, config))
        if self.adversarial(config, step):
            out = ctx.modules["gen"](batch.audio, labels, pitch, freeze_encoder=True)

            def recon() -> dict[str, Tensor]:
                r = self._recon(out)
                return {"recon": r, "loss": self.cfg.recon_weight * r}

            return adversarial_step(ctx, out.audio, out.target_audio, recon,
                                    adv_weight=self.cfg.adv_weight, fm_weight=self.cfg.fm_weight)  # fmt: skip
        out = ctx.modules["gen"](batch.audio, labels, pitch)
        terms = self._terms(out, config, step)
        ctx.backward(terms["loss"])
        ctx.step("gen")
        return {k: v.detach() for k, v in terms.items()}

    def eval_step(self, batch: Any, ctx: StepContext) -> dict[str, Tensor]:
        from sesli.losses.kl import active_units

        batch = batch.to(ctx.device)
        config = ctx.unwrap("gen").config
        labels, pitch = self._inputs(batch, config)
        g = torch.Generator(device=ctx.device).manual_seed(0)
        with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []):
            out = ctx.modules["gen"](batch.audio, labels, pitch, generator=g)
            terms = self._terms(out, config, ctx.global_step)
        means = out.mean.transpose(1, 2).reshape(-1, config.latent_dim)  # (B T', D)
        terms["active_units"] = torch.tensor(float(active_units(means, self.cfg.active_threshold)))
        for k in ("beta", "reseeded", "loss"):
            terms.pop(k, None)
        terms = {k: v.detach().float() for k, v in terms.items()}
        if self._is_main:
            self._after_eval_batch(terms, ctx)
        return terms

    # ---- the artifact --------------------------------------------------------------------------
    def _after_eval_batch(self, terms: dict[str, Tensor], ctx: StepContext) -> None:
        """Average this evaluation's terms; after its last batch, rewrite the artifact if it improved."""
        step = ctx.global_step
        if self._eval is None or self._eval["step"] != step:
            self._eval = {"step": step, "batches": 0, "sums": {}}
        ev = self._eval
        ev["batches"] += 1
        for k, v in terms.items():
            ev["sums"][k] = ev["sums"].get(k, 0.0) + float(v)
        if ev["batches"] != self._val_batches:
            return
        val = {k: v / ev["batches"] for k, v in ev["sums"].items()}
        phase = self.phase(ctx.unwrap("gen").config, step)
        if self._best.get("phase") != phase or val["recon"] < self._best.get("recon", math.inf):
            self.save_artifact(ctx, step=step, validation=val, phase=phase)

    def _artifact_record(self) -> dict[str, Any]:
        """The phase and val/recon of the artifact already in the run (a resumed run), else {}."""
        from sesli.artifacts import ArtifactError, is_artifact, read_meta

        folder = self.run_dir / "model"
        if not is_artifact(folder):
            return {}
        try:
            extra = read_meta(folder).config.get("extra", {})
        except ArtifactError:
            return {}
        recon = (extra.get("validation") or {}).get("recon")
        return {"phase": extra.get("phase"), "recon": recon} if recon is not None else {}

    def save_artifact(
        self, ctx: StepContext, *, step: int, validation: dict[str, float] | None = None, phase: str = ""
    ) -> Path:
        """The model as ``RUN/model/`` with the step, the phase and the validation figures."""
        from sesli.models.sound.artifact import save_sound_model

        validation = validation or {}
        extra = {**self.meta, "step": step, "phase": phase, "validation": validation}
        if "recon" in validation:
            self._best = {"phase": phase, "recon": validation["recon"]}
        return save_sound_model(self.run_dir / "model", ctx.unwrap("gen"), extra=extra)


def load_run_config(config: str | Path | None = None, overrides: list[str] | None = None) -> SoundRunConfig:
    """The run's config: the task's defaults, a YAML (path or shipped name: ``vae-tiny``,
    ``vqvae``, ``vaegan``...), then dotted overrides.

    Raises:
        ConfigError: an unreadable file, an unknown key or a value of the wrong type.
    """
    from sesli.train.config import load_task_config

    return load_task_config(SoundRunConfig, "sound", config, overrides)


@dataclass
class SoundTrainResult:
    """What :func:`train` did."""

    fit: Any  # the engine's FitResult
    artifact: Path  # RUN/model (model.json + weights.safetensors)
    config: SoundRunConfig


def train(
    data_dir: str | Path,
    out: str | Path,
    *,
    config: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    restart: bool = False,
    quiet: bool = False,
) -> SoundTrainResult:
    """Train a sound model on ``data_dir`` into the run directory ``out`` (resuming its checkpoints).

    Args:
        data_dir: a ``sesli sound prepare`` folder.
        out: the run directory (config.yaml, metrics, checkpoints, ``model/``).
        config: a YAML config or shipped name (``vae-tiny``, ``vqvae``, ``vaegan``...; None: defaults).
        overrides: dotted ``key=value`` overrides (``sound.preset=vae-wave-tiny``, ``train.max_steps=50``).
        restart: move an existing run aside to ``<out>.old-<timestamp>`` and start fresh.
        quiet: no messages or progress bars.

    Raises:
        SoundTrainError: an unknown preset, impossible model settings.
        SoundDataError: no usable data, or data at another sample rate than the model's.
        ConfigError: a bad config or override, or resuming with other settings than the run's.
    """
    from sesli.train.engine import fit_keeping_artifact

    cfg = load_run_config(config, list(overrides))
    model_config(cfg.sound, [])  # an unknown preset or a bad setting fails before any data is read
    task = SoundTask(cfg.sound, data_dir, out, quiet=quiet)
    artifact = Path(out) / "model"

    def save_final(ctx: StepContext, step: int) -> None:
        task.save_artifact(ctx, step=step, phase=task.phase(ctx.unwrap("gen").config, step))

    fit = fit_keeping_artifact(task, cfg.train, out, artifact=artifact, save_final=save_final, config=cfg,
                               restart=restart, quiet=quiet)  # fmt: skip
    return SoundTrainResult(fit=fit, artifact=artifact, config=cfg)


__all__ = [
    "SoundRunConfig",
    "SoundSection",
    "SoundTask",
    "SoundTrainError",
    "SoundTrainResult",
    "build_discriminator",
    "load_run_config",
    "model_config",
    "train",
]
