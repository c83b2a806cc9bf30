"""Voice-conversion (RVC) training as an engine task: the VITS core on content features and pitch.

Each task step trains the generator :class:`~sesli.models.vc.VcModel` and the discriminator, D
first, on a random ``segment_size``-sample slice of each clip (12800 at 40 kHz): the posterior
encoder reads the clip's whole linear spectrogram, the prior (content encoder) its features and
coarse pitch, the NSF decoder only the slice's latent frames and pitch in Hz; the recording is cut
at the same place. The losses are RVC's (``infer/modules/train/train.py``), which are VITS's
without the duration term:

    D: LSGAN  sum_k mean((1 - D_k(y))^2) + mean(D_k(G(z))^2)          (generated audio detached)
    G: mel_weight 45 · L1(log-mel(G(z)), log-mel(y))    (the slice; sesli's one mel front-end)
     + kl_weight 1 · KL(q(z | spec) || p(z | features, pitch)) per frame
     + adv_weight 1 · LSGAN sum_k mean((1 - D_k(G(z)))^2)
     + fm_weight 2 · feature matching  (RVC's ``feature_loss`` is ``2 ·`` the L1 sum)

The discriminator is RVC v2's ``MultiPeriodDiscriminatorV2``: one scale discriminator on the raw
waveform and periods 2, 3, 5, 7, 11, 17, 23, 37 (:data:`~sesli.models.vc.rvc_format.RVC_PERIODS`),
so ``f0D40k.pth`` loads into it (``vc.pretrained_d``) and ``f0G40k.pth`` into the generator
(``vc.pretrained_g``), both at the start of a fresh run (a resumed run takes its checkpoint).
Both optimizers are AdamW (lr 1e-4, betas 0.8, 0.99, eps 1e-9, weight decay 0.01) with RVC's
decay 0.999875 per epoch (:class:`~sesli.train.tasks.vits.EpochDecay`); nothing is clipped.

**At every save** (``train.save_every`` steps, by default ``vc.save_every_epochs`` epochs; the
validation runs at the same steps): the validation losses on the held-out clips, ``val/mel`` and
``val/kl`` on fixed slices through the posterior (comparable with ``train/mel``) and
``val/convert_mel``, the log-mel L1 of each held-out clip converted back from its own features and
pitch through the prior, as ``sesli vc convert`` would, against its recording: the number to watch
for over-training. The first ``vc.samples`` held-out conversions are written to
``EXP/train/samples/step-N/{stem}.wav`` (the recordings once to ``samples/reference/``) and to
TensorBoard (``EXP/train/tensorboard``, the engine's log folder). And the inference artifact is
rewritten with the weights just validated:

* ``EXP/train/model.json`` + ``weights.safetensors`` (:mod:`sesli.artifacts`, ``model_type: "vc"``;
  ``config`` is the :class:`~sesli.models.vc.VcConfig`, whose ``extra`` carries the step, the epoch,
  the validation losses and the experiment's name; ``inference`` RVC's convert defaults);
* ``EXP/{name}.pth``, an RVC voice file (:func:`~sesli.models.vc.rvc_format.save_rvc_voice`), what
  RVC's WebUI and its forks load.

After training (:func:`train`) the step is recorded in the experiment and, unless
``build_index=False`` (``--no-index``), the index step runs (``sesli.train.vc_steps.build_index_vc``).

Letters: B batch, T frames (100 per second), S spectrogram bins, L = segment_size samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sesli.models.vc.rvc_format import RVC_PERIODS
from sesli.train.config import TrainConfig
from sesli.train.task import Built, StepContext, Task
from sesli.train.tasks.gan import adversarial_step
from sesli.train.tasks.vc_data import VcBatch, VcTrainError
from sesli.train.tasks.vits import EpochDecay, VitsDiscriminator, kl_loss, slice_audio, spectrogram

# RVC's convert defaults (``infer-web.py``), recorded in the artifact for the convert step
CONVERT_DEFAULTS = {
    "speaker": 0,
    "pitch": 0,
    "f0_method": "harvest",
    "index_rate": 0.75,
    "protect": 0.33,
    "filter_radius": 3,
    "rms_mix_rate": 0.25,
    "noise_scale": 0.66666,
}


@dataclass
class VcSection:
    """What to train and how (the ``vc:`` section; the engine's settings are ``train:``)."""

    preset: str = "auto"  # sesli.models.vc.config preset; auto: v2-{rate}k for the experiment's rate
    model: dict[str, Any] = field(default_factory=dict)  # VcConfig overrides, e.g. segment_size
    pretrained_g: str | None = None  # RVC f0G40k.pth (G40k.pth without pitch), or a voice .pth
    pretrained_d: str | None = None  # RVC f0D40k.pth
    speaker: int = 0  # speaker id of the experiment's voice (RVC: 0 of the pretrained 109)
    val_clips: int = 2  # clips held out for validation and samples (0: validate on training clips)
    samples: int = 2  # held-out clips converted and written at every save
    save_every_epochs: int | None = 5  # RVC's save_every_epoch; used when train.save_every is null
    mel_weight: float = 45.0
    kl_weight: float = 1.0
    adv_weight: float = 1.0
    fm_weight: float = 2.0  # x2 as RVC's feature_loss
    eps: float = 1e-9  # AdamW epsilon (RVC)
    lr_decay: float = 0.999875  # per epoch, both optimizers (RVC)
    disc_lr: float | None = None  # None: train.lr
    disc_periods: list[int] = field(default_factory=lambda: list(RVC_PERIODS))
    disc_mpd_channels: list[int] = field(default_factory=lambda: [32, 128, 512, 1024])
    disc_msd_channels: list[int] = field(default_factory=lambda: [16, 64, 256, 1024, 1024])


@dataclass
class VcRunConfig:
    """The config tree of a VC run (RVC v2's settings; frozen to ``EXP/train/config.yaml``)."""

    vc: VcSection = field(default_factory=VcSection)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=20,  # RVC WebUI's total_epoch default
            batch_size=4,  # configs/v1/40k.json (the WebUI proposes GPU memory // 2)
            lr=1e-4,
            weight_decay=0.01,
            betas=(0.8, 0.99),
            schedule="constant",
            grad_clip=None,
            metric="val/mel",
            keep_last=3,
            log_every=20,  # RVC's log_interval
            plot_every=200,
            seed=1234,  # RVC's
        )
    )


def model_config(cfg: VcSection, exp: Any) -> Any:
    """The run's :class:`VcConfig`: the preset, the experiment's pitch use and feature size, ``cfg.model``.

    Raises:
        VcTrainError: an unknown preset or key, an impossible value, or ``model`` settings that
            contradict the experiment (pitch, feature size).
    """
    from sesli.models.vc.config import VcConfigError, preset

    name = cfg.preset
    if name == "auto":
        name = f"v2-{exp.sample_rate // 1000}k"
    fixed = {"f0": exp.f0, "feature_dim": exp.feature_dim}
    clash = [f"{k} {cfg.model[k]!r}" for k in fixed if k in cfg.model and cfg.model[k] != fixed[k]]
    if clash:
        raise VcTrainError(
            f"vc.model sets {', '.join(clash)}, but the experiment has f0={exp.f0}, "
            f"{exp.feature_dim}-d features ({exp.version}): these are fixed when the experiment is made"
        )
    try:
        return preset(name, **{**cfg.model, **fixed})
    except (VcConfigError, TypeError) as err:
        raise VcTrainError(f"vc.preset {name!r} with vc.model {cfg.model}: {err}") from None


def build_discriminator(cfg: VcSection) -> VitsDiscriminator:
    """RVC's D: scale discriminator first, then the periods (``f0D40k.pth``'s order)."""
    return VitsDiscriminator(
        periods=tuple(cfg.disc_periods),
        mpd_channels=tuple(cfg.disc_mpd_channels),
        msd_channels=tuple(cfg.disc_msd_channels),
        msd_scales=1,
    )


class VcTask(Task):
    """RVC training on one experiment: generator ``gen``, discriminator ``disc``.

    Args:
        cfg: the ``vc:`` settings.
        exp: the :class:`~sesli.data.vc_experiment.Experiment` (its ``train/`` is the run directory).
        quiet: no messages about left-out clips or pretrained weights.
    """

    def __init__(self, cfg: VcSection, exp: Any, *, quiet: bool = False) -> None:
        self.cfg, self.exp, self.quiet = cfg, exp, quiet
        self.run_dir = Path(exp.train_dir)
        self.meta: dict[str, Any] = {}
        self.mel_loss: nn.Module | None = None
        self.steps_per_epoch = 1
        self._val_batches = 1
        self._eval: dict[str, Any] | None = None
        self._tb: Any = None  # the samples' TensorBoard writer (False: tensorboard missing)
        self._is_main = True

    def build(self, accelerator: Any, train_cfg: TrainConfig) -> Built:
        from sesli.audio.features import MelConfig
        from sesli.losses.spectral import MelL1Loss
        from sesli.models.vc.model import VcModel
        from sesli.train.tasks.vc_data import load_splits

        if train_cfg.warmup_steps:
            raise VcTrainError(
                "RVC decays its LR per epoch (vc.lr_decay) without a warm-up: set train.warmup_steps=0"
            )
        config = model_config(self.cfg, self.exp)
        if not 0 <= self.cfg.speaker < config.n_speakers:
            raise VcTrainError(f"vc.speaker {self.cfg.speaker} is not in 0..{config.n_speakers - 1}")
        data = load_splits(
            self.exp,
            sample_rate=config.sample_rate,
            hop=config.hop,
            feature_dim=config.feature_dim,
            batch_size=train_cfg.batch_size,
            seed=train_cfg.seed,
            val_clips=self.cfg.val_clips,
            speaker=self.cfg.speaker,
            num_workers=train_cfg.num_workers,
            quiet=self.quiet,
        )
        gen, disc = VcModel(config), build_discriminator(self.cfg)
        pretrained = self._load_pretrained(gen, disc, config)
        if pretrained and not self.quiet:
            accelerator.print("\n".join(pretrained))
        self.mel_loss = MelL1Loss(
            cfg=MelConfig(
                sample_rate=config.sample_rate,
                n_fft=config.n_fft,
                win_length=config.win_length,
                hop_length=config.hop_length,
                n_mels=config.n_mels,
                power=1.0,  # magnitude mel, as RVC
            )
        )

        def adamw(module: nn.Module, lr: float) -> torch.optim.AdamW:
            return torch.optim.AdamW(
                module.parameters(),
                lr=lr,
                betas=tuple(train_cfg.betas),
                eps=self.cfg.eps,
                weight_decay=train_cfg.weight_decay,
            )

        optimizers = {"gen": adamw(gen, train_cfg.lr), "disc": adamw(disc, self.cfg.disc_lr or train_cfg.lr)}
        ranks = max(1, getattr(accelerator, "num_processes", 1))
        self.steps_per_epoch = math.ceil(math.ceil(len(data.train) / ranks) / train_cfg.grad_accum)
        self._val_batches = math.ceil(len(data.val) / ranks)
        schedulers = {
            n: torch.optim.lr_scheduler.LambdaLR(o, EpochDecay(self.cfg.lr_decay, self.steps_per_epoch))
            for n, o in optimizers.items()
        }
        self.meta = {"data": data.summary, "pretrained": pretrained}
        self._is_main = getattr(accelerator, "is_main_process", True)
        return Built(
            modules={"gen": gen, "disc": disc},
            optimizers=optimizers,
            train_data=data.train,
            val_data=data.val,
            schedulers=schedulers,
            ema_module="gen",
        )

    def _load_pretrained(self, gen: nn.Module, disc: VitsDiscriminator, config: Any) -> list[str]:
        """Load ``vc.pretrained_g`` / ``vc.pretrained_d``; returns a line per file loaded."""
        from sesli.models.vc.rvc_format import RvcFormatError, load_rvc_discriminator, load_rvc_pretrained

        done = []
        try:
            if self.cfg.pretrained_g:
                load_rvc_pretrained(self.cfg.pretrained_g, config, model=gen)
                done.append(f"pretrained G: {self.cfg.pretrained_g}")
            if self.cfg.pretrained_d:
                load_rvc_discriminator(self.cfg.pretrained_d, mpd=disc.mpd, msd=disc.msd)
                done.append(f"pretrained D: {self.cfg.pretrained_d}")
        except RvcFormatError as err:
            raise VcTrainError(
                f"{err}\n(the pretrained files must match the preset: sample rate, "
                f"{config.version} {config.feature_dim}-d features, {'with' if config.f0 else 'without'} pitch)"
            ) from None
        return done

    # ---- steps ---------------------------------------------------------------------------------
    def _forward(self, batch: VcBatch, gen: nn.Module, config: Any, generator: Any = None):
        """Generator pass -> (output, generated slice (B, L), recording slice (B, L), valid samples (B,))."""
        spec = spectrogram(batch.wavs, config)[..., : batch.feats.shape[1]]  # (B, S, T)
        out = gen(
            batch.feats, batch.lengths, batch.pitch, batch.pitchf, spec, batch.lengths, batch.speakers,
            generator=generator,
        )  # fmt: skip
        starts = out.ids_slice * config.hop  # (B,)
        real = slice_audio(batch.wavs, starts, config.segment_size)  # (B, L)
        valid = (batch.lengths * config.hop - starts).clamp(0, config.segment_size)
        return out, out.audio.squeeze(1), real, valid

    def _reconstruction(self, out: Any, fake: Tensor, real: Tensor, valid: Tensor) -> dict[str, Tensor]:
        terms = {
            "mel": self.mel_loss(fake, real, valid),
            "kl": kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.y_mask),
        }
        terms["loss"] = self.cfg.mel_weight * terms["mel"] + self.cfg.kl_weight * terms["kl"]
        return terms

    def train_step(self, batch: VcBatch, ctx: StepContext) -> dict[str, Tensor]:
        batch = batch.to(ctx.device)
        out, fake, real, valid = self._forward(batch, ctx.modules["gen"], ctx.unwrap("gen").config)
        return adversarial_step(ctx, fake, real, lambda: self._reconstruction(out, fake, real, valid),
                                adv_weight=self.cfg.adv_weight, fm_weight=self.cfg.fm_weight)  # fmt: skip

    def eval_step(self, batch: VcBatch, ctx: StepContext) -> dict[str, Tensor]:
        # Fixed draws (posterior sample, slices, prior noise, NSF noise) so evaluations compare;
        # fork_rng leaves the training RNG as it was, so validating more or less often (or a
        # resumed run's extra validation) does not change the training run.
        batch = batch.to(ctx.device)
        model = ctx.unwrap("gen")
        g = torch.Generator(device=ctx.device).manual_seed(0)
        with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []):
            out, fake, real, valid = self._forward(batch, ctx.modules["gen"], model.config, g)
            terms = self._reconstruction(out, fake, real, valid)
            conv = model.infer(
                batch.feats, batch.lengths, batch.pitch, batch.pitchf, batch.speakers,
                noise_scale=CONVERT_DEFAULTS["noise_scale"], generator=g,
            )  # fmt: skip
            terms["convert_mel"] = self.mel_loss(conv.audio, batch.wavs, conv.lengths)
        terms = {k: v.detach() for k, v in terms.items()}
        if self._is_main:
            self._after_eval_batch(batch, conv.audio, terms, ctx)
        return terms

    # ---- what every save leaves ----------------------------------------------------------------
    def _after_eval_batch(
        self, batch: VcBatch, audio: Tensor, terms: dict[str, Tensor], ctx: StepContext
    ) -> None:
        """Write this batch's samples; after the evaluation's last batch, the artifact."""
        step = ctx.global_step
        if self._eval is None or self._eval["step"] != step:
            self._eval = {"step": step, "items": 0, "batches": 0, "sums": {}}
        ev = self._eval
        sr = ctx.unwrap("gen").config.sample_rate
        for i, stem in enumerate(batch.stems):
            if ev["items"] + i < self.cfg.samples:
                n = int(batch.lengths[i]) * ctx.unwrap("gen").config.hop
                self._write_sample(stem, audio[i, :n], batch.wavs[i, :n], step, sr)
        ev["items"] += len(batch.stems)
        ev["batches"] += 1
        for k, v in terms.items():
            ev["sums"][k] = ev["sums"].get(k, 0.0) + float(v)
        if ev["batches"] == self._val_batches:
            losses = {f"val/{k}": v / ev["batches"] for k, v in ev["sums"].items()}
            self.save_artifact(ctx, step=step, validation=losses)

    def _write_sample(self, stem: str, audio: Tensor, reference: Tensor, step: int, sr: int) -> None:
        from sesli.audio.io import save_wav

        samples = self.run_dir / "samples"
        converted = audio.detach().float().cpu().clamp(-1, 1).numpy()
        save_wav(samples / f"step-{step:08d}" / f"{stem}.wav", converted, sr)
        ref_path = samples / "reference" / f"{stem}.wav"
        new_ref = not ref_path.is_file()
        if new_ref:
            save_wav(ref_path, reference.detach().float().cpu().clamp(-1, 1).numpy(), sr)
        tb = self._writer()
        if tb is not None:
            tb.add_audio(f"convert/{stem}", torch.from_numpy(converted)[None], step, sample_rate=sr)
            if new_ref:
                tb.add_audio(
                    f"reference/{stem}", reference.detach().float().cpu()[None], step, sample_rate=sr
                )
            tb.flush()

    def _writer(self) -> Any:
        """A TensorBoard writer in the engine's log folder (its own event file), or None."""
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard not installed: the wav files are enough
                self._tb = False
                return None
            self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), filename_suffix=".samples")
        return self._tb or None

    def close(self) -> None:
        """Close the samples' TensorBoard writer."""
        if self._tb:
            self._tb.close()
        self._tb = None

    def save_artifact(
        self, ctx: StepContext, *, step: int, validation: dict[str, float] | None = None
    ) -> Path:
        """The generator as ``EXP/train`` (model.json + weights.safetensors) and ``EXP/{name}.pth``."""
        epochs = step // max(1, self.steps_per_epoch)
        return save_vc_artifact(
            self.run_dir,
            ctx.unwrap("gen"),
            name=self.exp.name,
            speaker=self.cfg.speaker,
            voice_path=voice_path(self.exp),
            extra={"step": step, "epochs": epochs, "validation": validation or {}, **self.meta},
            info=f"{epochs}epoch",
        )


def voice_path(exp: Any) -> Path:
    """``EXP/{name}.pth``: the experiment's RVC voice file."""
    return Path(exp.path) / f"{exp.name}.pth"


def save_vc_artifact(
    directory: str | Path,
    model: nn.Module,
    *,
    name: str,
    speaker: int = 0,
    voice_path: str | Path | None = None,
    extra: dict[str, Any] | None = None,
    info: str | None = None,
) -> Path:
    """Write ``model`` as a sesli artifact (``model_type: "vc"``) and, given ``voice_path``, an RVC
    voice file; returns the artifact folder.

    Load it back with ``VcModel(VcConfig.from_dict(read_meta(d).config))`` and
    ``load_state_dict(load_weights(d))`` (:mod:`sesli.artifacts`), or the ``.pth`` with
    :func:`sesli.models.vc.rvc_format.load_rvc_voice`.
    """
    from sesli.artifacts import ArtifactMeta, save_artifact
    from sesli.models.vc.rvc_format import save_rvc_voice

    config = model.config
    sr = config.sample_rate
    config_dict = config.to_dict()
    config_dict["extra"] = {
        "name": name,
        "info": info or "sesli",
        "sr": f"{sr // 1000}k" if sr % 1000 == 0 else str(sr),
        "version": config.version,
        **(extra or {}),
    }
    meta = ArtifactMeta(
        model_type="vc",
        config=config_dict,
        sample_rate=sr,
        symbols="",  # a converter reads content features, not symbols
        voices=[str(speaker)],  # the speaker id the experiment's voice was trained as
        default_voice=str(speaker),
        inference={**CONVERT_DEFAULTS, "speaker": speaker},
    )
    if voice_path is not None:
        save_rvc_voice(model, None, voice_path, info=info)
    return save_artifact(directory, model.state_dict(), meta)


@dataclass
class VcPlan:
    """How long a run is, in clips, steps and epochs (what the start-up line explains)."""

    train_clips: int
    val_clips: int
    batch_size: int
    grad_accum: int
    steps_per_epoch: int
    epochs: int
    max_steps: int | None
    save_every: int | None

    @property
    def total_steps(self) -> int:
        total = self.epochs * self.steps_per_epoch
        return total if self.max_steps is None else min(total, self.max_steps)

    def describe(self) -> str:
        """One line: what a step, an epoch and a save are, and how many of each this run has."""
        per = "one batch" if self.grad_accum == 1 else f"{self.grad_accum} batches"
        held = f"{self.val_clips} held out" if self.val_clips else "none held out"
        line = (
            f"{self.train_clips} training clips ({held}), batch {self.batch_size}: a step is {per} of "
            f"{self.batch_size} clips, an epoch is {_steps(self.steps_per_epoch)} (every clip once); "
            f"{self.epochs} epochs = {_steps(self.epochs * self.steps_per_epoch)}"
        )
        if self.max_steps is not None and self.max_steps < self.epochs * self.steps_per_epoch:
            line += f", stopping at step {self.max_steps} ({_epochs(self.max_steps / self.steps_per_epoch)})"
        if self.save_every:
            line += (
                f"; checkpoint, validation, samples and voice file every {_steps(self.save_every)} "
                f"({_epochs(self.save_every / self.steps_per_epoch)}) and at the end"
            )
        else:
            line += "; validation every epoch, checkpoint and voice file at the end"
        return line


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def _epochs(x: float) -> str:
    """``1 epoch``, ``2.5 epochs``, ``0.33 epochs``: without float noise."""
    n = f"{x:.2f}".rstrip("0").rstrip(".")
    return f"{n} epoch" if n == "1" else f"{n} epochs"


def plan_run(cfg: VcRunConfig, exp: Any) -> VcPlan:
    """Count the clips and resolve ``train.save_every`` from ``vc.save_every_epochs`` (one process).

    Raises:
        VcTrainError: no clip is ready to train (the step to run named).
    """
    from sesli.train.tasks.vc_data import find_clips, split_clips

    clips, _ = find_clips(exp, sample_rate=exp.sample_rate)
    if not clips:
        n = len(exp.clips())
        step = f"sesli vc extract {exp.path}" if n else f"sesli vc prepare {exp.path} INPUT..."
        raise VcTrainError(f"{exp.path}: no clip has its features and pitch yet; run `{step}` first")
    train, val = split_clips(clips, cfg.vc.val_clips)
    t = cfg.train
    per_epoch = math.ceil(math.ceil(len(train) / t.batch_size) / t.grad_accum)
    save = t.save_every
    if save is None and cfg.vc.save_every_epochs:
        save = cfg.vc.save_every_epochs * per_epoch
    held = 0 if val is train else len(val)
    return VcPlan(len(train), held, t.batch_size, t.grad_accum, per_epoch, t.epochs, t.max_steps, save)


def load_run_config(config: str | Path | None = None, overrides: list[str] | None = None) -> VcRunConfig:
    """The run's config: the task's defaults (RVC v2), a YAML (path or shipped name: ``tiny``,
    ``v2-40k``), then dotted overrides.

    Raises:
        ConfigError: an unreadable file, an unknown key or a value of the wrong type.
    """
    from sesli.train.config import load_task_config

    return load_task_config(VcRunConfig, "vc", config, overrides)


@dataclass
class VcTrainResult:
    """What :func:`train` did."""

    fit: Any  # the engine's FitResult
    plan: VcPlan
    artifact: Path  # EXP/train (model.json + weights.safetensors)
    voice: Path  # EXP/{name}.pth
    index: Any = None  # what the index step returned, when it ran


def train(
    experiment: str | Path,
    *,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    resume: bool = True,
    restart: bool = False,
    build_index: bool = True,
    quiet: bool = False,
) -> VcTrainResult:
    """Train the experiment's voice into ``EXP/train`` (resuming its checkpoints when there are some).

    Args:
        experiment: the experiment folder (prepared and extracted).
        config: a YAML config or shipped name (``tiny``, ``v2-40k``; None: RVC v2 at the experiment's rate).
        overrides: dotted ``key=value`` overrides (``train.max_steps=100``, ``vc.val_clips=4``).
        resume: continue from the run's checkpoints (False refuses a run that has some).
        restart: move an existing ``EXP/train`` aside to ``train.old-<timestamp>`` and start fresh.
        build_index: run the index step after training (``sesli vc index``).
        quiet: no messages or progress bars.

    Raises:
        VcTrainError: no extracted clips, bad pretrained weights, impossible model settings.
        ConfigError: a bad config or override, or resuming with other settings than the run's.
        ExperimentError: ``experiment`` is not an experiment folder.
    """
    from sesli.data.vc_experiment import Experiment
    from sesli.train.config import to_dict
    from sesli.train.engine import Engine

    exp = Experiment.open(experiment)
    cfg = load_run_config(config, overrides)
    plan = plan_run(cfg, exp)
    cfg.train.save_every = plan.save_every
    if cfg.train.eval_every is None and plan.save_every:
        cfg.train.eval_every = plan.save_every  # validation, samples and artifact at every save
    if not quiet:
        if exp.result("extract") is None:
            print(
                f"note: the extract step of {exp.path} is not recorded as done; training on the feature files there"
            )
        print(plan.describe(), flush=True)
    task = VcTask(cfg.vc, exp, quiet=quiet)
    engine = Engine(task, cfg.train, exp.train_dir, config=cfg, quiet=quiet)
    try:
        fit = engine.run(resume=resume, restart=restart)
    finally:
        task.close()
    from sesli.artifacts import is_artifact

    if not is_artifact(exp.train_dir) or not voice_path(exp).is_file():
        task.save_artifact(engine.ctx, step=fit.step)  # no validation ran: keep the final weights
    out = VcTrainResult(fit=fit, plan=plan, artifact=exp.train_dir, voice=voice_path(exp))
    if fit.stopped_by == "signal":
        return out  # not done: the same command resumes
    exp.record(
        "train",
        to_dict(cfg),
        {
            "steps": fit.step,
            "epochs": fit.epoch,
            "stopped_by": fit.stopped_by,
            "best_step": fit.best_step,
            "best": {cfg.train.metric: fit.best_metric},
            "artifact": str(exp.train_dir.relative_to(exp.path)),
            "voice": voice_path(exp).name,
        },
    )
    if build_index:
        out.index = _build_index(exp, quiet)
    return out


def _build_index(exp: Any, quiet: bool) -> Path | None:
    """The index step (``sesli vc index``); when it cannot run (no faiss, features not recorded as
    extracted), a note saying why and the command that builds it later: the voice is trained."""
    from sesli.data.vc_experiment import ExperimentError

    try:
        from sesli.train.vc_steps import build_index_vc
    except ImportError:  # a sesli without the index step
        build_index_vc = None
    try:
        if build_index_vc is None:
            raise ImportError("this sesli has no index step")
        path = build_index_vc(exp, progress=not quiet)
    except (ImportError, ExperimentError) as err:
        print(f"no index built ({err}); build it with `sesli vc index {exp.path}`")
        return None
    if not quiet:
        print(f"index: {path}")
    return path


__all__ = [
    "CONVERT_DEFAULTS",
    "VcPlan",
    "VcRunConfig",
    "VcSection",
    "VcTask",
    "VcTrainResult",
    "build_discriminator",
    "load_run_config",
    "model_config",
    "plan_run",
    "save_vc_artifact",
    "train",
    "voice_path",
]
