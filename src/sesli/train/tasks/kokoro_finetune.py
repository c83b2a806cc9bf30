"""Kokoro-82M Turkish fine-tuning with LoRA, as an engine task.

The base model is frozen; PEFT LoRA layers (``sesli.models.kokoro.lora``; by default the ``all`` preset) and a
new 256-d voice style train. Each step is teacher-forced on durations (from the aligner); the
decoder is fed the *predicted* F0 and energy by default, as StyleTTS2's second stage does, so the
spectral losses reach the predictor and ALBERT (an ALBERT-only LoRA learns from them too). With
``decode_with: ground_truth`` the decoder gets the extracted F0/energy instead (StyleTTS2's first
stage): then mel/STFT gradients stop at the decoder and text encoder, and an ALBERT-only LoRA
learns only from the duration/F0/energy terms. The losses are

    L = w_mel · log-mel L1(decoder audio, recording)
      + w_stft · multi-resolution STFT (spectral convergence + log magnitude)
      + w_dur · (duration bins BCE + duration L1)
      + w_f0 · F0 smooth-L1 (Hz) + w_energy · energy smooth-L1   (the predictor's curves)

With ``adversarial: true`` an MPD + MRD discriminator (``sesli.modules.discriminators``, trained
from scratch: Kokoro ships none) joins from step ``adversarial_after`` on, as StyleTTS2 joins its
discriminators after a reconstruction-only phase. Inside one task step the discriminator steps
first (LSGAN on a random ``adversarial_segment``-second crop of the recording and of the decoder's
audio, detached), then the generator adds ``w_adv · LSGAN + w_fm · feature matching`` on the same
crops with D frozen. The discriminator and its optimizer are in every checkpoint from step 0, so a
run resumes the same before and after the switch. Validation losses stay the reconstruction terms
above, so they compare across the switch.

Training targets come from ``sesli.train.targets`` (cached next to the manifest; extracted on the
first run). Checkpoints hold only the trainable tensors (:class:`FinetuneModel` state), so a
checkpoint of the 82M model is a few MB; every new best validation loss rewrites the run
directory's adapter, voice pack and model card (``sesli.models.kokoro.adapter``).

Resume is safe: the engine refuses a resumed run whose settings differ from its ``config.yaml``
(except ``sesli.train.engine.RESUMABLE``: epochs, max_steps, patience and the log/plot/eval/save
frequencies), and the task refuses a base whose weights' sha256 is not the one in the run's
``model_card.json``. ``restart=True`` moves the old run aside and starts fresh.

Letters: B batch, T tokens (with boundaries), F frames (600 samples), N samples.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sesli.fileio import atomic_path, write_json
from sesli.models.kokoro import adapter as adapter_io
from sesli.models.kokoro import lora
from sesli.models.kokoro.config import SAMPLE_RATE
from sesli.train.config import TrainConfig, load_task_config
from sesli.train.engine import Engine, FitResult
from sesli.train.task import Built, StepContext, Task
from sesli.train.tasks.kokoro_common import FinetuneBatch, FinetuneError

OFFICIAL_PARTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
OFFICIAL_WEIGHTS = "kokoro-v1_0.pth"
DECODE_WITH = ("predicted", "ground_truth")


@dataclass
class FinetuneConfig:
    """What to fine-tune and how (the engine's settings are in :class:`TrainConfig`)."""

    data: str = ""  # a `sesli prepare` experiment folder (train.jsonl, val.jsonl, wavs/)
    base: str | None = None  # hub id, local path, "debug"; None: official if cached, else packaged int8
    voice: str | None = None  # voice pack to start the new style from (name/path); None: mean of packs
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: ["all"])  # won bench/kokoro_finetune_presets.py
    train_style: bool = True
    max_seconds: float | None = 15.0  # longer clips are left out (with a message); None: keep all
    mel_weight: float = 1.0
    stft_weight: float = 1.0
    dur_weight: float = 1.0
    f0_weight: float = 0.1  # F0 is in Hz: StyleTTS2 divides its F0 loss by 10
    energy_weight: float = 1.0
    decode_with: str = "predicted"  # F0/energy into the decoder: "predicted" or "ground_truth"
    aligner_steps: int = 300  # if targets must be extracted: aligner training steps
    boundary_shift: int = 2  # frames: aligner boundaries -> Kokoro's (bench/aligner_accuracy.py)
    targets_dir: str | None = None  # where targets (and the aligner) are written; None: <data>/targets
    adversarial: bool = False  # MPD + MRD discriminator, feature matching (see the module docstring)
    adversarial_after: int = 0  # optimizer steps of reconstruction only before D joins
    adversarial_segment: float = 2.0  # seconds of audio each discriminator step judges
    adv_weight: float = 1.0  # StyleTTS2 lambda_gen
    fm_weight: float = 2.0  # HiFi-GAN / StyleTTS2 feature matching (x2)
    disc_lr: float | None = None  # None: train.lr
    disc_mpd_channels: list[int] = field(default_factory=lambda: [32, 128, 512, 1024])  # HiFi-GAN's
    disc_mrd_channels: int = 32


@dataclass
class FinetuneRunConfig:
    """The config tree of a fine-tuning run (frozen to RUN/config.yaml)."""

    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=5,
            batch_size=2,
            lr=1e-4,
            betas=(0.9, 0.99),
            schedule="constant",
            early_stopping_patience=3,
            keep_last=2,
            log_every=5,
            plot_every=20,
        )
    )


class FinetuneModel(nn.Module):
    """The LoRA-wrapped Kokoro model plus the trainable voice style.

    ``state_dict`` holds only the trainable tensors (LoRA A/B, ``modules_to_save`` copies,
    ``style``): the frozen base is re-loaded from its source on resume, so checkpoints stay small.

    Args:
        kokoro: a ``KokoroModel`` already prepared by :func:`lora.apply_lora`.
        style: the initial reference vector, (R,).
        train_style: whether the style is trained.
    """

    def __init__(
        self, kokoro: nn.Module, style: Tensor, *, train_style: bool = True, decode_with: str = "predicted"
    ) -> None:
        super().__init__()
        if decode_with not in DECODE_WITH:
            raise FinetuneError(f"decode_with must be one of {', '.join(DECODE_WITH)}, not {decode_with!r}")
        self.kokoro = kokoro
        self.decode_with = decode_with
        self.style = nn.Parameter(style.detach().clone().float().reshape(-1), requires_grad=train_style)

    def forward(self, batch: FinetuneBatch, *, generator: torch.Generator | None = None):
        """Forward with the aligner's durations -> ``KokoroTrainOutput``.

        The decoder gets the predicted F0/energy (``decode_with="predicted"``) or the extracted ones.
        """
        truth = self.decode_with == "ground_truth"
        return self.kokoro.forward_train(
            batch.ids,
            batch.id_lengths,
            batch.durations,
            self.style.unsqueeze(0).expand(batch.ids.shape[0], -1),  # (B, R)
            f0=batch.f0 if truth else None,
            n=batch.energy if truth else None,
            noise=True,
            generator=generator,
        )

    def trainable_names(self) -> list[str]:
        return [n for n, p in self.named_parameters() if p.requires_grad]

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Tensor]:  # type: ignore[override]
        keep = set(self.trainable_names()) | {"style"}
        full = super().state_dict(*args, **kwargs)
        prefix = kwargs.get("prefix", "")
        return OrderedDict((k, v) for k, v in full.items() if k[len(prefix) :] in keep)

    def load_state_dict(self, state: dict[str, Tensor], strict: bool = True, assign: bool = False):  # type: ignore[override]
        expected = set(self.trainable_names()) | {"style"}
        if strict and set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise RuntimeError(f"fine-tune state does not fit: missing {missing[:4]}, unexpected {extra[:4]}")
        return super().load_state_dict(state, strict=False, assign=assign)


def base_style(voices: Tensor | None, ref_dim: int) -> Tensor:
    """The starting style: the mean over a voice pack's rows (or a zero-mean small vector)."""
    if voices is None:
        return torch.zeros(ref_dim)
    return voices.reshape(-1, voices.shape[-1]).float().mean(dim=0)


def build_discriminator(cfg: FinetuneConfig) -> nn.Module:
    """MPD (periods 2, 3, 5, 7, 11) + MRD (three STFT resolutions), sized by ``cfg``."""
    from sesli.modules.discriminators import (
        CombinedDiscriminator,
        MultiPeriodDiscriminator,
        MultiResolutionDiscriminator,
    )

    return CombinedDiscriminator(
        mpd=MultiPeriodDiscriminator(channels=tuple(cfg.disc_mpd_channels)),
        mrd=MultiResolutionDiscriminator(channels=cfg.disc_mrd_channels),
    )


def random_segments(
    audio: Tensor, target: Tensor, lengths: Tensor, size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """The same random ``size``-sample window of each item's valid audio in both: (B, size) each.

    An item shorter than ``size`` is taken from its start (its padding is zeros in both).
    """
    n = min(audio.shape[-1], target.shape[-1])
    size = min(size, n)
    room = (lengths.clamp(max=n) - size).clamp(min=0)  # (B,)
    u = torch.rand(room.shape, generator=generator, device=generator.device if generator else "cpu")
    starts = (u.to(room.device) * (room + 1).float()).long().clamp(max=n - size)  # (B,)
    idx = starts[:, None] + torch.arange(size, device=audio.device)[None, :]  # (B, size)
    return audio[..., :n].gather(-1, idx), target[..., :n].gather(-1, idx)


def loss_terms(
    out: Any, batch: FinetuneBatch, cfg: FinetuneConfig, samples_per_frame: int
) -> dict[str, Tensor]:
    """The weighted losses of one teacher-forced forward (``loss`` is their sum).

    Args:
        out: the model's ``KokoroTrainOutput``.
        batch: the batch it was computed from.
        cfg: loss weights.
        samples_per_frame: 600 for Kokoro.
    """
    from sesli.losses.duration import duration_loss
    from sesli.losses.prosody import energy_loss, f0_loss, frame_mask
    from sesli.losses.spectral import MelL1Loss, MultiResolutionSTFTLoss

    n = min(out.audio.shape[-1], batch.wavs.shape[-1])
    audio, target = out.audio[..., :n], batch.wavs[..., :n]  # (B, N)
    lengths = torch.minimum(out.audio_lengths, batch.frame_lengths * samples_per_frame).clamp(max=n)
    mask = frame_mask(2 * batch.frame_lengths, out.f0_pred.shape[-1])  # (B, 2F)
    dur = duration_loss(out.dur_logits, batch.durations, batch.id_lengths)
    terms = {
        "mel": MelL1Loss()(audio, target, lengths),
        "stft": MultiResolutionSTFTLoss()(audio, target).total,
        "dur": dur.bins + dur.sum,
        "f0": f0_loss(out.f0_pred, batch.f0[..., : out.f0_pred.shape[-1]], mask),
        "energy": energy_loss(out.n_pred, batch.energy[..., : out.n_pred.shape[-1]], mask),
    }
    weights = {
        "mel": cfg.mel_weight,
        "stft": cfg.stft_weight,
        "dur": cfg.dur_weight,
        "f0": cfg.f0_weight,
        "energy": cfg.energy_weight,
    }
    terms["loss"] = sum(weights[k] * v for k, v in terms.items())
    return terms


class KokoroFinetuneTask(Task):
    """LoRA fine-tuning of Kokoro on a prepared Turkish corpus.

    Args:
        cfg: the fine-tuning settings.
        run_dir: the run directory (the adapter is written there on every new best).
        quiet: no parameter table, no target-extraction messages or progress bars.
        base_sha256: the base weights' sha256 a resumed run was trained on (None: not checked).
    """

    def __init__(
        self, cfg: FinetuneConfig, run_dir: str | Path, *, quiet: bool = False, base_sha256: str | None = None
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        self.base_sha256 = base_sha256
        self.card: dict[str, Any] = {}
        self.lora_config: Any = None

    def build(self, accelerator: Any, train_cfg: TrainConfig) -> Built:
        from sesli.train.tasks import kokoro_data

        kokoro, voices, base_info = _load_base(self.cfg.base, voice=self.cfg.voice)
        base_hash = adapter_io.base_weights_hash(kokoro)
        if self.base_sha256 is not None and base_hash != self.base_sha256:
            raise FinetuneError(
                f"{self.run_dir} was trained on other base weights than {base_info['id']!r} gives now "
                f"(sha256 {self.base_sha256[:12]}... -> {base_hash[:12]}...); resuming would mix them. "
                "Use the original base, another --out, or --restart."
            )
        self.lora_config = lora.apply_lora(
            kokoro,
            r=self.cfg.lora_r,
            alpha=self.cfg.lora_alpha,
            dropout=self.cfg.lora_dropout,
            targets=self.cfg.targets,
            base_id=base_info["id"],
        )
        model = FinetuneModel(
            kokoro,
            base_style(voices, kokoro.config.ref_dim),
            train_style=self.cfg.train_style,
            decode_with=self.cfg.decode_with,
        )
        if not self.quiet:
            rows = lora.parameter_table(kokoro, extra={"style": model.style})
            accelerator.print(f"base: {base_info['id']} ({base_info['source']})")
            accelerator.print(lora.format_parameter_table(rows))
        data = kokoro_data.load_splits(
            self.cfg, kokoro.config, train_cfg, quiet=self.quiet, accelerator=accelerator
        )
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params, lr=train_cfg.lr, betas=tuple(train_cfg.betas), weight_decay=train_cfg.weight_decay
        )
        modules: dict[str, nn.Module] = {"model": model}
        optimizers: dict[str, torch.optim.Optimizer] = {"main": optimizer}
        if self.cfg.adversarial:
            modules["disc"] = build_discriminator(self.cfg)
            optimizers["disc"] = torch.optim.AdamW(
                modules["disc"].parameters(),
                lr=self.cfg.disc_lr or train_cfg.lr,
                betas=tuple(train_cfg.betas),
                weight_decay=train_cfg.weight_decay,
            )
            if not self.quiet:
                n_disc = sum(p.numel() for p in modules["disc"].parameters())
                accelerator.print(
                    f"adversarial: MPD + MRD, {n_disc / 1e6:.1f}M parameters, "
                    f"from step {self.cfg.adversarial_after}"
                )
        self.card = {
            "base": {"id": base_info["id"], "weights_sha256": base_hash, "source": base_info["source"]},
            "lora": {
                "r": self.cfg.lora_r,
                "alpha": self.cfg.lora_alpha,
                "dropout": self.cfg.lora_dropout,
                "targets": list(lora.parse_targets(self.cfg.targets)),
                "trainable_parameters": sum(p.numel() for p in params),
            },
            "data": data.summary,
            "sample_rate": SAMPLE_RATE,
            "symbols": "kokoro",
            "voice": adapter_io.VOICE_FILE,
        }
        return Built(
            modules=modules,
            optimizers=optimizers,
            train_data=data.train,
            val_data=data.val,
            ema_module="model",
        )

    def adversarial_active(self, ctx: StepContext) -> bool:
        """Whether the discriminator trains in this step."""
        return self.cfg.adversarial and ctx.global_step >= self.cfg.adversarial_after

    def train_step(self, batch: FinetuneBatch, ctx: StepContext) -> dict[str, Tensor]:
        from sesli.losses.gan import discriminator_loss, feature_matching_loss, generator_loss

        batch = batch.to(ctx.device)
        out = ctx.modules["model"](batch)
        spf = ctx.unwrap("model").kokoro.samples_per_frame
        terms = loss_terms(out, batch, self.cfg, spf)
        if self.adversarial_active(ctx):
            disc = ctx.modules["disc"]
            lengths = torch.minimum(out.audio_lengths, batch.frame_lengths * spf)
            fake, real = random_segments(
                out.audio.float(), batch.wavs, lengths, int(self.cfg.adversarial_segment * SAMPLE_RATE)
            )  # (B, S) each
            d_real, d_fake = disc(real), disc(fake.detach())
            terms["disc"] = discriminator_loss(d_real.scores, d_fake.scores)
            ctx.backward(terms["disc"])
            ctx.step("disc")
            with ctx.frozen("disc"):
                d_fake, d_real = disc(fake), disc(real)
                terms["gen"] = generator_loss(d_fake.scores)
                terms["fm"] = feature_matching_loss(d_real.features, d_fake.features)
            terms["loss"] = (
                terms["loss"] + self.cfg.adv_weight * terms["gen"] + self.cfg.fm_weight * terms["fm"]
            )
        ctx.backward(terms["loss"])
        ctx.step("main")
        return {k: v.detach() for k, v in terms.items()}

    def eval_step(self, batch: FinetuneBatch, ctx: StepContext) -> dict[str, Tensor]:
        # A fixed noise seed: validation losses compare across evaluations.
        batch = batch.to(ctx.device)
        g = torch.Generator(device=ctx.device).manual_seed(0)
        out = ctx.modules["model"](batch, generator=g)
        terms = loss_terms(out, batch, self.cfg, ctx.unwrap("model").kokoro.samples_per_frame)
        return {k: v.detach() for k, v in terms.items()}

    def on_best(self, run_dir: Path, ctx: StepContext) -> None:
        """Write the adapter, voice pack and model card for the new best validation loss."""
        self.save_adapter(ctx, step=ctx.global_step)

    def save_adapter(self, ctx: StepContext, *, step: int) -> None:
        """Write adapter + voice pack + model card (steps, best validation losses) to the run."""
        from sesli.train.logging import read_metrics

        best = {
            k: v
            for s, _, k, v in read_metrics(self.run_dir / "metrics.csv")
            if s == step and k.startswith("val/")
        }
        model: FinetuneModel = ctx.unwrap("model")
        card = dict(self.card, steps=step, best_validation=best)
        adapter_io.save_adapter_run(
            self.run_dir, model=model.kokoro, config=self.lora_config, style=model.style, card=card
        )


def load_run_config(
    config: str | Path | None = None, overrides: list[str] | None = None
) -> FinetuneRunConfig:
    """The run's config: this task's defaults (= ``sesli/configs/kokoro/finetune.yaml``), a YAML file, overrides.

    ``config`` is a YAML path or a shipped name (``finetune``, ``debug/kokoro_finetune``; see
    ``sesli.train.config.config_path``); a partly given ``train`` section keeps this task's defaults.

    Raises:
        ConfigError: an unreadable file, an unknown key or a value of the wrong type.
    """
    return load_task_config(FinetuneRunConfig, "kokoro", config, overrides)


def _load_base(base: str | None, *, voice: str | None = None) -> tuple[Any, Tensor | None, dict[str, str]]:
    """``sesli.models.kokoro.base.load_base``, its errors as :class:`FinetuneError`."""
    from sesli.models.kokoro.base import load_base
    from sesli.models.kokoro.loading import ModelLoadError

    try:
        return load_base(base, voice=voice)
    except ModelLoadError as err:
        raise FinetuneError(str(err)) from None


def _trained_base_sha256(run_dir: Path) -> str | None:
    """The base weights' sha256 of a run to resume (None: no checkpoint or card yet, or no hash)."""
    from sesli.train.checkpoint import latest_checkpoint

    card = run_dir / adapter_io.MODEL_CARD
    if not card.is_file() or latest_checkpoint(run_dir / "checkpoints") is None:
        return None
    try:
        return json.loads(card.read_text(encoding="utf-8")).get("base", {}).get("weights_sha256")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def finetune(
    run_dir: str | Path,
    *,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    resume: bool = True,
    restart: bool = False,
    quiet: bool = False,
) -> FitResult:
    """Fine-tune Kokoro with LoRA into ``run_dir`` (resuming its checkpoints when there are some).

    Args:
        run_dir: the run directory.
        config: a YAML config (None: the task's defaults).
        overrides: dotted ``key=value`` overrides.
        resume: continue from the run's checkpoints (False refuses a run that has some).
        restart: move an existing run aside to ``<run_dir>.old-<timestamp>`` and start fresh.
        quiet: no tables, messages or progress bars (target extraction included).

    Raises:
        FinetuneError: the data, its targets or the base model cannot be used, or a resumed run's
            base weights changed.
        ConfigError: a bad config file or override, or resuming with other settings than the run's.
    """
    cfg = load_run_config(config, overrides)
    if not cfg.finetune.data:
        raise FinetuneError("no data: pass --data PREPARED_DIR (a `sesli prepare` folder)")
    run_dir = Path(run_dir)
    resuming = resume and not restart
    base_sha256 = _trained_base_sha256(run_dir) if resuming else None
    task = KokoroFinetuneTask(cfg.finetune, run_dir, quiet=quiet, base_sha256=base_sha256)
    engine = Engine(task, cfg.train, run_dir, config=cfg, quiet=quiet)
    result = engine.run(resume=resume, restart=restart)
    if not (Path(run_dir) / adapter_io.ADAPTER_WEIGHTS).is_file():
        # No validation ran (e.g. --max-steps inside the first epoch): keep the final weights.
        task.save_adapter(engine.ctx, step=result.step)
    card_path = Path(run_dir) / adapter_io.MODEL_CARD
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["training"] = {
        "steps": result.step,
        "last_epoch": result.epoch,
        "stopped_by": result.stopped_by,
        "best_step": result.best_step,
        "best_metric": {cfg.train.metric: result.best_metric},
    }
    write_json(card_path, card)
    return result


def merge_run(run_dir: str | Path, out_dir: str | Path, *, base: str | None = None) -> Path:
    """Fold a run's adapter into its base and write full weights in the official format.

    ``out_dir`` gets ``kokoro-v1_0.pth`` (a dict of the five state dicts, weight norm as
    ``weight_g``/``weight_v``, as hexgrad/Kokoro-82M ships it), ``config.json`` and the trained voice
    as ``voices/tr_sesli.pt``: upstream ``kokoro.KModel(config=..., model=...)`` loads it.

    Raises:
        AdapterError: an incomplete run, or a base other than the one it was trained on.
    """
    run = adapter_io.read_adapter_run(run_dir)
    model, _, _ = _load_base(base or run.base_id)
    adapter_io.attach_adapter(model, run)
    lora.merge_lora(model)
    out = Path(out_dir)
    (out / "voices").mkdir(parents=True, exist_ok=True)
    weights = {name: getattr(model, name).state_dict() for name in OFFICIAL_PARTS}
    with atomic_path(out / OFFICIAL_WEIGHTS) as tmp:
        torch.save(
            {k: {n: t.detach().cpu().contiguous() for n, t in sd.items()} for k, sd in weights.items()}, tmp
        )
    write_json(out / "config.json", model.config.to_dict())
    with atomic_path(out / "voices" / "tr_sesli.pt") as tmp:
        torch.save(run.voice, tmp)
    return out / OFFICIAL_WEIGHTS
