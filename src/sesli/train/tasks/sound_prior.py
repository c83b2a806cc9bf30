"""Training a latent prior for a trained sound model (what `sesli sound sample` and `continue` draw from).

The sound model of a run (``RUN/model/``, :func:`~sesli.models.sound.artifact.load_sound_model`)
is frozen in eval mode (a VQ-VAE's EMA codebook does not move) and encodes random crops of its
training data (:mod:`sesli.train.tasks.sound_data`; ``prior.data`` for other data with the same
labels) into latent frames; the prior (module ``prior``, optimizer ``main``;
:class:`~sesli.models.sound.prior.LatentPrior`) learns them autoregressively:

* VQ-VAE: the codes (B, Q, T'), next-code cross-entropy (nats per code);
* VAE / VAE-GAN: the posterior means (``prior.latent: mean``, default) or posterior samples
  (``sample``), next-frame Gaussian NLL (nats per standardised dimension). The per-dimension
  statistics come from the first ``prior.stats_batches`` training batches (the RNG forked, so
  the run's draws do not depend on it) and are stored in the prior.

The label of each clip (the sound model's label table) is the condition token; MIDI pitch too for
a pitch-conditioned model. Frames past a crop's valid audio are not scored. ``prior.segment`` (0:
the sound model's training crop) sets the context the prior learns: ``max_frames`` is the crop's
``segment / samples_per_frame`` latent frames, so sampling past it slides a window the prior was
trained on (a longer table would hold positions no crop ever reached).

The artifact ``RUN/prior/`` (``model_type: "sound-prior"``; :func:`save_prior`) is rewritten on
every new best ``val/loss`` and records the sound model it belongs to (its weights' sha256, path,
family) so :func:`~sesli.models.sound.prior.load_prior` can refuse a prior of another model. The
engine's run directory is ``RUN/prior/`` too (config.yaml, metrics, checkpoints); the sha256 is
part of the frozen config (``prior.sound_weights``), so resuming after the sound model was
retrained stops with the difference, while moving the whole run folder does not.

Letters: B batch, N samples, D latent_dim, Q code streams, T' latent frames.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sesli.train.config import TrainConfig
from sesli.train.task import Built, StepContext, Task
from sesli.train.tasks.sound_data import SoundBatch, SoundDataError


class PriorTrainError(ValueError):
    """A prior run that cannot start: no sound model, no data, or settings that contradict the model."""


@dataclass
class PriorSection:
    """What to train (the ``prior:`` section; the engine's settings are ``train:``)."""

    sound_weights: str = ""  # the sound model's weights' sha256 (set by train_prior; a resume checks it)
    data: str = ""  # a prepared folder ("": the one the sound model was trained on)
    model: dict[str, Any] = field(default_factory=dict)  # PriorConfig settings (d_model, n_layers...)
    segment: int = 0  # samples per crop (0: the sound model's training segment)
    latent: Literal["mean", "sample"] = "mean"  # VAE / VAE-GAN: model posterior means or samples
    val_clips: int | None = None  # see load_sound_data
    stats_batches: int = 8  # batches for the gaussian prior's normalisation statistics


@dataclass
class PriorRunConfig:
    """The config tree of a prior run (= ``sesli/configs/sound/prior.yaml``)."""

    prior: PriorSection = field(default_factory=PriorSection)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=1000,
            max_steps=20000,
            batch_size=16,
            lr=3e-4,
            betas=(0.9, 0.95),
            weight_decay=0.01,
            warmup_steps=200,
            schedule="cosine",
            grad_clip=1.0,
            metric="val/loss",
            eval_every=500,
            log_every=50,
            plot_every=500,
        )
    )


def prior_config(cfg: PriorSection, sound: Any, frames: int) -> Any:
    """The :class:`PriorConfig` for sound model config ``sound`` and crops of ``frames`` latent frames.

    Raises:
        PriorTrainError: ``prior.model`` sets a size the sound model fixes to another value, or bad values.
    """
    from sesli.models.sound.prior import PriorConfig, PriorConfigError

    fixed = {
        "max_frames": max(2, frames),
        "kind": "codes" if sound.family == "vqvae" else "gaussian",
        "n_labels": len(sound.labels),
        "use_pitch": bool(sound.use_pitch),
        "codebook_size": sound.codebook_size,
        "n_quantizers": sound.n_quantizers,
        "latent_dim": sound.latent_dim,
    }
    clash = {k: v for k, v in cfg.model.items() if k in fixed and v != fixed[k]}
    if clash:
        raise PriorTrainError(
            f"prior.model {clash} contradicts the sound model and the crop ({ {k: fixed[k] for k in clash} }); "
            "leave them out (the context is prior.segment samples)"
        )
    settings = {**cfg.model, **fixed}
    try:
        return PriorConfig.from_dict(settings)
    except (PriorConfigError, TypeError) as err:
        raise PriorTrainError(f"prior.model {cfg.model}: {err}") from None


def sound_model_meta(path: str | Path) -> tuple[Path, Any]:
    """The sound model's artifact folder and ``model.json`` (:class:`~sesli.artifacts.ArtifactMeta`).

    Raises:
        PriorTrainError: no sound model there.
    """
    from sesli.artifacts import ArtifactError, read_meta
    from sesli.models.sound.artifact import artifact_dir

    try:
        folder = artifact_dir(path)
        return folder, read_meta(folder)
    except ArtifactError as err:
        raise PriorTrainError(str(err)) from None


class PriorTask(Task):
    """A :class:`LatentPrior` on a frozen sound model's latents (see the module docstring).

    Args:
        cfg: the ``prior:`` settings.
        sound_model: the sound model's artifact folder (``RUN/model``).
        out: the run directory, also the artifact folder (``RUN/prior``).
        quiet: no messages.
    """

    def __init__(
        self, cfg: PriorSection, sound_model: str | Path, out: str | Path, *, quiet: bool = False
    ) -> None:
        self.cfg = cfg
        self.sound_model = Path(sound_model)
        self.out = Path(out)
        self.quiet = quiet
        self.sound: nn.Module | None = None
        self.meta: dict[str, Any] = {}

    def build(self, accelerator: Any, train_cfg: TrainConfig) -> Built:
        from sesli.models.sound.artifact import load_sound_model
        from sesli.models.sound.prior import LatentPrior, PriorBinding
        from sesli.train.schedule import make_optimizer
        from sesli.train.tasks.sound_data import load_sound_data

        folder, meta = sound_model_meta(self.sound_model)
        if self.cfg.sound_weights and meta.weights_sha256 != self.cfg.sound_weights:
            raise PriorTrainError(f"{folder} changed while the prior run was starting; run it again")
        sound = load_sound_model(folder, device=str(accelerator.device)).requires_grad_(False)
        self.sound = sound.eval()
        sc = sound.config
        trained = sc.extra.get("data", {})
        data_dir = self.cfg.data or trained.get("data_dir", "")
        if not data_dir:
            raise PriorTrainError(f"{folder} does not say which data it was trained on: set prior.data")
        spf = sc.samples_per_frame
        segment = math.ceil((self.cfg.segment or trained.get("segment") or 16 * spf) / spf) * spf
        try:
            data = load_sound_data(
                data_dir, sample_rate=sc.sample_rate, segment=segment, batch_size=train_cfg.batch_size,
                seed=train_cfg.seed, labels=sc.labels, val_clips=self.cfg.val_clips,
                num_workers=train_cfg.num_workers,
            )  # fmt: skip
        except SoundDataError as err:
            raise PriorTrainError(str(err)) from None
        prior = LatentPrior(prior_config(self.cfg, sc, segment // spf)).to(accelerator.device)
        if prior.config.kind == "gaussian":
            prior.set_normalization(*self._statistics(data.train, accelerator.device))
        binding = PriorBinding(
            weights_sha256=meta.weights_sha256, path=str(folder.resolve()), family=sc.family,
            latent=self.cfg.latent if sc.family != "vqvae" else "codes", labels=list(sc.labels),
        )  # fmt: skip
        self.meta = {"binding": binding, "data": {**data.summary, "frames": segment // spf}}
        return Built(
            modules={"prior": prior},
            optimizers={"main": make_optimizer(prior, train_cfg)},
            train_data=data.train,
            val_data=data.val,
        )

    # ---- latents -------------------------------------------------------------------------------
    @torch.no_grad()
    def latents(self, batch: SoundBatch, *, generator: torch.Generator | None = None) -> Tensor:
        """The frozen model's latents of ``batch``: codes (B, Q, T') or frames (B, D, T')."""
        sc = self.sound.config
        labels = batch.labels if sc.labels else None
        pitch = batch.pitch if sc.use_pitch else None
        sample = self.cfg.latent == "sample"
        enc = self.sound.encode(batch.audio, labels, pitch, sample=sample, generator=generator)
        return enc.vq.codes if enc.vq is not None else enc.z.float()

    def _statistics(self, loader: Any, device: Any) -> tuple[Tensor, Tensor]:
        """Per-dimension mean and std (D,) of the latents of the first ``stats_batches`` batches."""
        frames = []
        with torch.random.fork_rng(devices=[device] if torch.device(device).type == "cuda" else []):
            for i, batch in enumerate(loader):
                if i >= max(1, self.cfg.stats_batches):
                    break
                batch = batch.to(device)
                z = self.latents(batch)  # (B, D, T')
                valid = self._valid_frames(batch, z.shape[-1])  # (B, T')
                frames.append(z.transpose(1, 2)[valid])  # (frames, D)
        stack = torch.cat(frames)
        return stack.mean(0), stack.std(0) if len(stack) > 1 else torch.ones_like(stack[0])

    def _valid_frames(self, batch: SoundBatch, frames: int) -> Tensor:
        """(B, T') True for latent frames holding real audio."""
        n = -(-batch.lengths // self.sound.config.samples_per_frame)  # (B,) ceil
        return torch.arange(frames, device=n.device)[None, :] < n[:, None]

    # ---- steps ---------------------------------------------------------------------------------
    def _forward(self, batch: SoundBatch, ctx: StepContext, generator: Any = None) -> dict[str, Tensor]:
        x = self.latents(batch, generator=generator)
        sc = self.sound.config
        n = self._valid_frames(batch, x.shape[-1]).sum(1)  # (B,)
        out = ctx.modules["prior"](x, batch.labels, batch.pitch if sc.use_pitch else None, lengths=n)
        terms = {"loss": out.loss}
        if out.mse is not None:
            terms["mse"] = out.mse
        if out.logits is not None:  # top-1 accuracy of the next code over the valid frames
            flat = x.transpose(1, 2).reshape(x.shape[0], -1)  # (B, T' Q)
            mask = self._valid_frames(batch, x.shape[-1]).repeat_interleave(x.shape[1], dim=1)
            terms["accuracy"] = (out.logits.argmax(-1) == flat)[mask].float().mean()
        return terms

    def train_step(self, batch: SoundBatch, ctx: StepContext) -> dict[str, Tensor]:
        batch = batch.to(ctx.device)
        terms = self._forward(batch, ctx)
        ctx.backward(terms["loss"])
        ctx.step("main")
        return {k: v.detach() for k, v in terms.items()}

    def eval_step(self, batch: SoundBatch, ctx: StepContext) -> dict[str, Tensor]:
        batch = batch.to(ctx.device)
        g = torch.Generator(device=ctx.device).manual_seed(0)  # fixed posterior samples
        return {k: v.detach() for k, v in self._forward(batch, ctx, g).items()}

    def on_best(self, run_dir: Path, ctx: StepContext) -> None:
        self.save_artifact(ctx, step=ctx.global_step)

    def save_artifact(self, ctx: StepContext, *, step: int) -> Path:
        """The prior as ``RUN/prior`` with the validation losses of ``step``."""
        from sesli.train.logging import read_metrics

        metrics = self.out / "metrics.csv"
        best = {}
        if metrics.is_file():
            best = {k: v for s, _, k, v in read_metrics(metrics) if s == step and k.startswith("val/")}
        extra = {"data": self.meta["data"], "step": step, "best_validation": best}
        return save_prior(self.out, ctx.unwrap("prior"), self.meta["binding"], self.sound.config, extra=extra)


def save_prior(
    directory: str | Path,
    prior: nn.Module,
    binding: Any,
    sound_config: Any,
    *,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``prior`` as a ``model_type: "sound-prior"`` bundle bound to its sound model.

    ``config`` holds ``prior`` (the :class:`PriorConfig`), ``sound_model`` (the
    :class:`PriorBinding`), ``frames_per_second`` and ``extra`` (training notes).
    """
    from sesli.artifacts import ArtifactMeta, save_artifact
    from sesli.models.sound.prior import MODEL_TYPE

    sc = sound_config
    config = {
        "prior": prior.config.to_dict(),
        "sound_model": dataclasses.asdict(binding),
        "frames_per_second": sc.sample_rate / sc.samples_per_frame,
        "extra": dict(extra or {}),
    }
    meta = ArtifactMeta(
        model_type=MODEL_TYPE,
        config=config,
        sample_rate=int(sc.sample_rate),
        symbols="",
        voices=list(sc.labels),
        default_voice=sc.labels[0] if sc.labels else None,
        inference={"temperature": 1.0, "top_k": None},
    )
    return save_artifact(directory, prior.state_dict(), meta)


def load_run_config(
    config: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> PriorRunConfig:
    """The run's config: the task's defaults (= ``sound/prior.yaml``), a YAML (path or shipped name:
    ``prior-tiny``, ``prior``), then dotted overrides.

    Raises:
        ConfigError: an unreadable file, an unknown key or a value of the wrong type.
    """
    from sesli.train.config import load_task_config

    return load_task_config(PriorRunConfig, "sound", config, list(overrides))


@dataclass
class PriorTrainResult:
    """What :func:`train_prior` did."""

    fit: Any  # the engine's FitResult
    artifact: Path  # RUN/prior
    config: PriorRunConfig


def train_prior(
    run_dir: str | Path,
    *,
    config: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    restart: bool = False,
    quiet: bool = False,
) -> PriorTrainResult:
    """Train a prior for the sound model of ``run_dir`` into ``run_dir/prior`` (resuming its checkpoints).

    Args:
        run_dir: a sound model's run (holding ``model/``) or its artifact folder (the prior then
            goes to ``<artifact>/../prior``).
        config: a YAML config or shipped name (``prior-tiny``, ``prior``; None: the task's defaults).
        overrides: dotted ``key=value`` overrides (``prior.model.n_layers=2``, ``train.max_steps=100``).
        restart: move an existing ``run_dir/prior`` aside and start fresh.
        quiet: no messages or progress bars.

    Raises:
        PriorTrainError: no sound model, no usable data, settings that contradict the model.
        ConfigError: a bad config or override, or resuming with other settings than the run's
            (a sound model retrained since is one: ``prior.sound_weights`` differs).
    """
    from sesli.models.sound.prior import PRIOR_DIR
    from sesli.train.engine import fit_keeping_artifact

    cfg = load_run_config(config, overrides)
    folder, meta = sound_model_meta(run_dir)
    cfg.prior.sound_weights = meta.weights_sha256
    out = folder.parent / PRIOR_DIR
    task = PriorTask(cfg.prior, folder, out, quiet=quiet)
    fit = fit_keeping_artifact(
        task, cfg.train, out, artifact=out, save_final=lambda ctx, step: task.save_artifact(ctx, step=step),
        config=cfg, restart=restart, quiet=quiet,
    )  # fmt: skip
    return PriorTrainResult(fit=fit, artifact=out, config=cfg)


__all__ = [
    "PriorRunConfig",
    "PriorSection",
    "PriorTask",
    "PriorTrainError",
    "PriorTrainResult",
    "load_run_config",
    "prior_config",
    "save_prior",
    "sound_model_meta",
    "train_prior",
]
