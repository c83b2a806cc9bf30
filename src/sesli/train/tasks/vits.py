"""VITS training (Kim et al. 2021, as jaywalnut310/vits and Piper train it) as an engine task.

Each task step trains the generator :class:`VitsModel` and the discriminator, D first, on a
random ``segment_size``-sample slice of each clip (8192 for Piper medium): the posterior encoder
reads the whole clip's linear spectrogram, the decoder only the slice's latent frames, and the
recording is cut at the same place. The losses are VITS's:

    D: LSGAN  sum_k mean((1 - D_k(y))^2) + mean(D_k(G(z))^2)       (generated audio detached)
    G: mel_weight 45 · L1(log-mel(G(z)), log-mel(y))  (the slice, sesli's one mel front-end)
     + kl_weight 1 · KL(q(z | spec) || p(z | text)) per frame  (VITS's kl_loss on z_p)
     + dur_weight 1 · (stochastic predictor's bound + deterministic predictor's L2, those present)
     + adv_weight 1 · LSGAN sum_k mean((1 - D_k(G(z)))^2)
     + fm_weight 2 · feature matching  (sesli's ``feature_matching_loss`` is VITS's
       ``feature_loss`` before its "* 2"; ``fm_weight: 2`` follows VITS and Piper exactly)

The discriminator is VITS's: one scale discriminator on the raw waveform next to HiFi-GAN's
periods 2, 3, 5, 7, 11 (:class:`VitsDiscriminator`), laid out so a Piper ``.ckpt``'s ``model_d``
loads by name. Both optimizers are AdamW (betas 0.8, 0.99, eps 1e-9, lr 2e-4, weight decay 0.01)
with VITS's exponential decay 0.999875 **per epoch** (``lr * gamma ** epoch``, a
:class:`EpochDecay` LambdaLR stepped per optimizer step, so it is in every checkpoint);
``train.schedule``/``warmup_steps`` are not used (a warm-up is refused). No gradient clipping by
default (VITS computes the norm and clips nothing).

The linear spectrogram is VITS's: ``sqrt(|STFT|^2 + 1e-6)``, Hann window, the clip reflect-padded
by ``(n_fft - hop) / 2`` each side and not centred, so a clip of N samples has ``N // hop``
frames and latent frame f decodes samples ``[f hop, (f + 1) hop)`` -- the posterior encoder of
a ``G_*.pth`` sees what it was trained on. It is computed in float32 with autocast off
(:func:`sesli.audio.features.float32_region`), as is the mel loss, so bf16/fp16 runs stay safe.
The mel front-end is sesli's (HTK filters, ``log(mel + 1e-5)``), not librosa's Slaney filters
with ``log(clamp(mel, 1e-5))``: a log-mel L1 is blind to the filters' scale except near silence,
so the ×45 keeps VITS's balance.

Multi-speaker: the manifests' ``speaker`` field numbers the speakers (sorted names, saved as
``speaker_id_map`` in ``vits.json``); more than one gives the model ``n_speakers`` and
``gin_channels`` (``vits.speaker_channels``, 512 as Piper, unless the preset sets it). Warm start
(``vits.init``) and the artifact are in :mod:`sesli.train.tasks.vits_io`.

Letters: B batch, T ids, N samples, S spectrogram bins, F frames, L = segment_size samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.modules.discriminators import DiscriminatorOutput
from sesli.train.config import TrainConfig
from sesli.train.task import Built, StepContext, Task
from sesli.train.tasks.gan import adversarial_step
from sesli.train.tasks.vits_data import VitsBatch, VitsTrainError


@dataclass
class VitsSection:
    """What to train and how (the ``vits:`` section; the engine's settings are ``train:``)."""

    data: str = ""  # a `sesli prepare` folder (train.jsonl, val.jsonl, wavs/)
    preset: str = "medium"  # sesli.models.vits.preset name: x_low, medium, high, tr-24k, tr-44k, tiny
    model: dict[str, Any] = field(default_factory=dict)  # VitsConfig overrides, e.g. segment_size
    init: str | None = None  # warm start: Piper .onnx, G_*.pth / .ckpt, or a sesli VITS run dir
    max_seconds: float | None = 15.0  # longer clips are left out (named); None keeps all
    speaker_channels: int = 512  # gin_channels for a multi-speaker run when the preset has none
    mel_weight: float = 45.0
    kl_weight: float = 1.0
    dur_weight: float = 1.0
    adv_weight: float = 1.0
    fm_weight: float = 2.0  # x2 as VITS's feature_loss
    eps: float = 1e-9  # AdamW epsilon (VITS)
    lr_decay: float = 0.999875  # per epoch, both optimizers (VITS / Piper)
    disc_lr: float | None = None  # None: train.lr
    disc_periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    disc_mpd_channels: list[int] = field(default_factory=lambda: [32, 128, 512, 1024])
    disc_msd_channels: list[int] = field(default_factory=lambda: [16, 64, 256, 1024, 1024])
    disc_msd_scales: int = 1  # VITS/Piper: 1 (raw audio); HiFi-GAN: 3


@dataclass
class VitsRunConfig:
    """The config tree of a VITS run (= ``sesli/configs/vits/medium.yaml``; frozen to RUN/config.yaml)."""

    vits: VitsSection = field(default_factory=VitsSection)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=1000,
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


class EpochDecay:
    """LR multiplier ``gamma ** (step // steps_per_epoch)``: VITS's per-epoch ExponentialLR, counted
    in optimizer steps (an object, so LambdaLR's state_dict keeps its fields)."""

    def __init__(self, gamma: float, steps_per_epoch: int) -> None:
        self.gamma = float(gamma)
        self.steps_per_epoch = max(1, int(steps_per_epoch))

    def __call__(self, step: int) -> float:
        return self.gamma ** (step // self.steps_per_epoch)


class VitsDiscriminator(nn.Module):
    """VITS's discriminator: MSD (one scale by default) and MPD side by side, sub-judges in the
    order VITS lists them (scale first), so Piper's ``model_d.discriminators.i`` map to them."""

    def __init__(
        self,
        *,
        periods: tuple[int, ...] = (2, 3, 5, 7, 11),
        mpd_channels: tuple[int, ...] = (32, 128, 512, 1024),
        msd_channels: tuple[int, ...] = (16, 64, 256, 1024, 1024),
        msd_scales: int = 1,
    ) -> None:
        super().__init__()
        from sesli.modules.discriminators import MultiPeriodDiscriminator, MultiScaleDiscriminator

        self.msd = MultiScaleDiscriminator(n_scales=msd_scales, channels=msd_channels)
        self.mpd = MultiPeriodDiscriminator(periods=periods, channels=mpd_channels)

    def forward(self, wav: Tensor) -> DiscriminatorOutput:
        """wav: (B, L) or (B, 1, L)."""
        a, b = self.msd(wav), self.mpd(wav)
        return DiscriminatorOutput(a.scores + b.scores, a.features + b.features)


def build_discriminator(cfg: VitsSection) -> VitsDiscriminator:
    return VitsDiscriminator(
        periods=tuple(cfg.disc_periods),
        mpd_channels=tuple(cfg.disc_mpd_channels),
        msd_channels=tuple(cfg.disc_msd_channels),
        msd_scales=cfg.disc_msd_scales,
    )


def model_config(cfg: VitsSection, n_speakers: int = 1) -> Any:
    """The run's :class:`VitsConfig`: the preset, ``cfg.model``, sesli's symbol count, the speakers.

    Raises:
        VitsTrainError: an unknown preset or key, an impossible value, or an ``n_symbols`` other
            than the symbol table's.
    """
    from sesli.models.vits import VitsConfigError, preset
    from sesli.text.piper_ids import PIPER_SYMBOLS

    extra = dict(cfg.model)
    n_symbols = len(PIPER_SYMBOLS)
    if extra.pop("n_symbols", n_symbols) != n_symbols:
        raise VitsTrainError(f"vits.model.n_symbols is fixed by the symbol table ({n_symbols} symbols)")
    try:
        config = preset(cfg.preset, **extra, n_symbols=n_symbols)
        if n_speakers > 1:
            gin = config.gin_channels or cfg.speaker_channels
            config = config.replace(n_speakers=n_speakers, gin_channels=gin)
    except (VitsConfigError, TypeError) as err:
        raise VitsTrainError(f"vits.preset {cfg.preset!r} with vits.model {cfg.model}: {err}") from None
    return config


def spectrogram(wavs: Tensor, config: Any) -> Tensor:
    """VITS's linear spectrogram (see the module docstring): (B, N) -> (B, S, N // hop), float32."""
    from sesli.audio.features import at_least_float32, float32_region

    with float32_region(wavs.device):
        x = at_least_float32(wavs)
        pad = (config.n_fft - config.hop_length) // 2
        x = F.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)  # (B, N + n_fft - hop)
        window = torch.hann_window(config.win_length, device=x.device, dtype=x.dtype)
        spec = torch.stft(
            x, config.n_fft, config.hop_length, config.win_length, window, center=False, return_complex=True
        )  # (B, S, F)
        return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-6)


def slice_audio(wavs: Tensor, starts: Tensor, size: int) -> Tensor:
    """``size`` samples of each item from ``starts`` (zeros past the end): (B, N) -> (B, size)."""
    need = int(starts.max()) + size - wavs.shape[-1]
    if need > 0:
        wavs = F.pad(wavs, (0, need))
    idx = starts[:, None] + torch.arange(size, device=wavs.device)[None, :]  # (B, size)
    return wavs.gather(1, idx)


def kl_loss(z_p: Tensor, logs_q: Tensor, m_p: Tensor, logs_p: Tensor, y_mask: Tensor) -> Tensor:
    """VITS's KL term: ``sum((logs_p - logs_q - 1/2 + (z_p - m_p)^2 / (2 exp(2 logs_p))) mask) / sum(mask)``.

    All (B, Z, F) but ``y_mask`` (B, 1, F); in float32. The divisor counts frames, not channels.
    """
    z_p, logs_q, m_p, logs_p, y_mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, y_mask))
    kl = logs_p - logs_q - 0.5 + 0.5 * (z_p - m_p).pow(2) * torch.exp(-2.0 * logs_p)
    return (kl * y_mask).sum() / y_mask.sum()


class VitsTask(Task):
    """VITS on a prepared Turkish corpus: generator ``gen``, discriminator ``disc``.

    Args:
        cfg: the ``vits:`` settings.
        run_dir: the run directory (``vits.safetensors`` + ``vits.json`` on every new best).
        quiet: no messages about left-out clips or the warm start.
    """

    def __init__(self, cfg: VitsSection, run_dir: str | Path, *, quiet: bool = False) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        self.meta: dict[str, Any] = {}
        self.mel_loss: nn.Module | None = None

    def build(self, accelerator: Any, train_cfg: TrainConfig) -> Built:
        from sesli.audio.features import MelConfig
        from sesli.losses.spectral import MelL1Loss
        from sesli.models.vits import VitsModel
        from sesli.text.piper_ids import phoneme_id_map
        from sesli.train.tasks.vits_data import load_splits

        if train_cfg.warmup_steps:
            raise VitsTrainError(
                "VITS decays its LR per epoch (vits.lr_decay) without a warm-up: set train.warmup_steps=0"
            )
        probe = model_config(self.cfg)
        data = load_splits(
            self.cfg.data,
            sample_rate=probe.sample_rate,
            hop=probe.hop_length,
            batch_size=train_cfg.batch_size,
            seed=train_cfg.seed,
            max_seconds=self.cfg.max_seconds,
            num_workers=train_cfg.num_workers,
            quiet=self.quiet,
        )
        config = model_config(self.cfg, len(data.speaker_id_map))
        gen, disc = VitsModel(config), build_discriminator(self.cfg)
        report = self._warm_start(gen, disc, phoneme_id_map()) if self.cfg.init else None
        if report is not None and not self.quiet:
            accelerator.print(report.describe())
        self.mel_loss = MelL1Loss(
            cfg=MelConfig(
                sample_rate=config.sample_rate,
                n_fft=config.n_fft,
                win_length=config.win_length,
                hop_length=config.hop_length,
                n_mels=config.n_mels,
                power=1.0,  # magnitude mel, as VITS
            )
        )

        def adamw(module: nn.Module, lr: float) -> torch.optim.AdamW:
            betas = tuple(train_cfg.betas)
            return torch.optim.AdamW(
                module.parameters(), lr=lr, betas=betas, eps=self.cfg.eps, weight_decay=train_cfg.weight_decay
            )

        optimizers = {"gen": adamw(gen, train_cfg.lr), "disc": adamw(disc, self.cfg.disc_lr or train_cfg.lr)}
        per_rank = math.ceil(len(data.train) / max(1, getattr(accelerator, "num_processes", 1)))
        steps_per_epoch = math.ceil(per_rank / train_cfg.grad_accum)  # what the engine will count
        schedulers = {
            n: torch.optim.lr_scheduler.LambdaLR(o, EpochDecay(self.cfg.lr_decay, steps_per_epoch))
            for n, o in optimizers.items()
        }
        speakers = data.speaker_id_map if config.n_speakers > 1 else {}
        self.meta = {
            "speaker_id_map": speakers,
            "data": data.summary,
            "warm_start": report.to_dict() if report is not None else None,
        }
        return Built(
            modules={"gen": gen, "disc": disc},
            optimizers=optimizers,
            train_data=data.train,
            val_data=data.val,
            schedulers=schedulers,
            ema_module="gen",
        )

    def _warm_start(self, gen: nn.Module, disc: nn.Module, table: dict[str, int]) -> Any:
        from sesli.models.vits import VitsLoadError
        from sesli.train.tasks.vits_io import read_init, warm_start

        with torch.random.fork_rng(devices=[]):  # reading builds models: keep the run's RNG as it was
            try:
                source = read_init(self.cfg.init)
            except VitsLoadError as err:
                raise VitsTrainError(f"vits.init {self.cfg.init}: {err}") from None
        return warm_start(gen, source, table, disc=disc)

    # ---- steps ---------------------------------------------------------------------------------
    def _forward(self, batch: VitsBatch, gen: nn.Module, config: Any, generator: Any = None):
        """Generator pass -> (output, generated slice (B, L), recording slice (B, L), valid samples (B,))."""
        spec = spectrogram(batch.wavs, config)  # (B, S, F)
        spec_lengths = (batch.wav_lengths // config.hop_length).clamp(max=spec.shape[-1])
        speaker = batch.speakers if config.n_speakers > 1 else None
        out = gen(batch.ids, batch.id_lengths, spec, spec_lengths, speaker, generator=generator)
        starts = out.ids_slice * config.hop_length  # (B,)
        real = slice_audio(batch.wavs, starts, config.segment_size)  # (B, L)
        valid = (spec_lengths * config.hop_length - starts).clamp(0, config.segment_size)
        return out, out.audio.squeeze(1), real, valid

    def _reconstruction(self, out: Any, fake: Tensor, real: Tensor, valid: Tensor) -> dict[str, Tensor]:
        terms = {
            "mel": self.mel_loss(fake, real, valid),
            "kl": kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.y_mask),
            "dur": out.duration_loss.float(),
        }
        c = self.cfg
        terms["loss"] = c.mel_weight * terms["mel"] + c.kl_weight * terms["kl"] + c.dur_weight * terms["dur"]
        return terms

    def train_step(self, batch: VitsBatch, ctx: StepContext) -> dict[str, Tensor]:
        batch = batch.to(ctx.device)
        config = ctx.unwrap("gen").config
        out, fake, real, valid = self._forward(batch, ctx.modules["gen"], config)
        return adversarial_step(ctx, fake, real, lambda: self._reconstruction(out, fake, real, valid),
                                adv_weight=self.cfg.adv_weight, fm_weight=self.cfg.fm_weight)  # fmt: skip

    def eval_step(self, batch: VitsBatch, ctx: StepContext) -> dict[str, Tensor]:
        # Fixed draws (posterior sample, SDP noise, slices): validation losses compare across evaluations.
        # fork_rng: a draw that ignores the generator (the SDP posterior's noise) leaves the training
        # RNG as it was, so validating more or less often does not change the training run.
        batch = batch.to(ctx.device)
        g = torch.Generator(device=ctx.device).manual_seed(0)
        with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []):
            out, fake, real, valid = self._forward(batch, ctx.modules["gen"], ctx.unwrap("gen").config, g)
            return {k: v.detach() for k, v in self._reconstruction(out, fake, real, valid).items()}

    def on_best(self, run_dir: Path, ctx: StepContext) -> None:
        """Write ``vits.safetensors`` + ``vits.json`` for the new best validation loss."""
        self.save_artifact(ctx, step=ctx.global_step)

    def save_artifact(self, ctx: StepContext, *, step: int, extra: dict[str, Any] | None = None) -> Path:
        """The generator as the run's artifact, with the validation losses of ``step``."""
        from sesli.train.logging import read_metrics
        from sesli.train.tasks.vits_io import save_run_artifact

        metrics = self.run_dir / "metrics.csv"
        best = {}
        if metrics.is_file():
            best = {k: v for s, _, k, v in read_metrics(metrics) if s == step and k.startswith("val/")}
        meta = {**self.meta, "step": step, "best_validation": best, **(extra or {})}
        return save_run_artifact(self.run_dir, ctx.unwrap("gen"), meta)


def load_run_config(config: str | Path | None = None, overrides: list[str] | None = None) -> VitsRunConfig:
    """The run's config: the task's defaults (= ``sesli/configs/vits/medium.yaml``), a YAML, overrides.

    ``config`` is a YAML path or a shipped name (``medium``, ``tiny``; see
    ``sesli.train.config.config_path``). A partly given ``train:`` section keeps this task's
    defaults for the rest (not the engine's generic ones).

    Raises:
        ConfigError: an unreadable file, an unknown key or a value of the wrong type.
    """
    from sesli.train.config import load_task_config

    return load_task_config(VitsRunConfig, "vits", config, overrides)


def train(
    run_dir: str | Path,
    *,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    resume: bool = True,
    restart: bool = False,
    quiet: bool = False,
) -> Any:
    """Train a VITS voice into ``run_dir`` (resuming its checkpoints when there are some).

    Args:
        run_dir: the run directory (config.yaml, metrics, checkpoints, vits.safetensors/json).
        config: a YAML config or shipped name (None: the task's defaults, Piper medium).
        overrides: dotted ``key=value`` overrides (``vits.preset=tiny``, ``train.lr=1e-3``).
        resume: continue from the run's checkpoints (False refuses a run that has some).
        restart: move an existing run aside to ``<run_dir>.old-<timestamp>`` and start fresh.
        quiet: no messages or progress bars.

    Returns:
        The engine's ``FitResult``.

    Raises:
        VitsTrainError: no usable data, a bad ``vits.init``, impossible model settings.
        ConfigError: a bad config or override, or resuming with other settings than the run's.
    """
    from sesli.fileio import write_json
    from sesli.train.engine import Engine
    from sesli.train.tasks.vits_io import META, WEIGHTS, read_run_meta

    cfg = load_run_config(config, overrides)
    if not cfg.vits.data:
        raise VitsTrainError("no data: pass --data PREPARED_DIR (a `sesli prepare` folder)")
    run_dir = Path(run_dir)
    task = VitsTask(cfg.vits, run_dir, quiet=quiet)
    engine = Engine(task, cfg.train, run_dir, config=cfg, quiet=quiet)
    result = engine.run(resume=resume, restart=restart)
    if not (run_dir / WEIGHTS).is_file() or not (run_dir / META).is_file():
        task.save_artifact(engine.ctx, step=result.step)  # no validation ran: keep the final weights
    meta = read_run_meta(run_dir)
    meta["training"] = {
        "steps": result.step,
        "last_epoch": result.epoch,
        "stopped_by": result.stopped_by,
        "best_step": result.best_step,
        "best_metric": {cfg.train.metric: result.best_metric},
    }
    write_json(run_dir / META, meta)
    return result


__all__ = [
    "EpochDecay",
    "VitsDiscriminator",
    "VitsRunConfig",
    "VitsSection",
    "VitsTask",
    "build_discriminator",
    "kl_loss",
    "load_run_config",
    "model_config",
    "slice_audio",
    "spectrogram",
    "train",
]
