"""The latent prior task on real (tiny) sound models of the calming corpus: learning, the artifact
and its binding to the sound model, sampling + decoding, exact resume, clear errors.

Measured (one thread, tiny sound models trained 3 steps, ``prior-tiny``): codes (VQ-VAE, 64 codes)
start at ln 64 = 4.16 nats per code and reach 0.54 on the validation crops after 40 steps (a
barely trained codebook uses few codes; after 20 sound-model steps it is 1.9 after 60 prior steps);
Gaussian frames (VAE means) go from 1.41 to 0.30 nats per standardised dimension in 20 steps.
About 0.06 CPU-seconds a step.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from sesli.models.sound.prior import PriorMismatchError, load_prior
from sesli.train.config import ConfigError
from sesli.train.tasks.sound_prior import PriorTrainError, train_prior

FAST = ["train.log_every=1", "train.warmup_steps=0"]


def _metrics(run: Path, key: str) -> list[tuple[int, float]]:
    from sesli.train.logging import read_metrics

    return [(s, v) for s, _, k, v in read_metrics(run / "metrics.csv") if k == key]


def _sound_run(data: Path, root: Path, name: str) -> Path:
    from sesli.train.tasks.sound import train

    torch.set_num_threads(1)
    over = ["train.max_steps=3", "train.eval_every=3", "sound.segment=4096", "train.mixed_precision=no"]
    train(data, root / name, config=name, overrides=over, quiet=True)
    return root / name


@pytest.fixture(scope="module")
def vq_run(calm_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sound_run(calm_data, tmp_path_factory.mktemp("runs"), "vqvae-tiny")


@pytest.fixture(scope="module")
def vae_run(calm_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sound_run(calm_data, tmp_path_factory.mktemp("runs"), "vae-tiny")


@pytest.fixture(scope="module")
def vq_prior(vq_run: Path) -> Path:
    torch.set_num_threads(1)
    over = [*FAST, "train.max_steps=40", "train.eval_every=40"]
    result = train_prior(vq_run, config="prior-tiny", overrides=over, quiet=True)
    assert result.fit.step == 40 and result.artifact == vq_run / "prior"
    return result.artifact


def test_codes_prior_learns_the_vqvae_codes(vq_prior: Path) -> None:
    first = _metrics(vq_prior, "train/loss")[0][1]  # the zero-initialised head: uniform over 64 codes
    last = _metrics(vq_prior, "val/loss")[-1][1]
    assert abs(first - math.log(64)) < 1e-3
    assert last < first / 3, (first, last)
    assert _metrics(vq_prior, "val/accuracy")[-1][1] > 1 / 64


def test_gaussian_prior_learns_the_vae_frames(vae_run: Path) -> None:
    over = [*FAST, "train.max_steps=20", "train.eval_every=20"]
    result = train_prior(vae_run, config="prior-tiny", overrides=over, quiet=True)
    first = _metrics(result.artifact, "train/loss")[0][1]  # a standard normal per standardised dim
    last = _metrics(result.artifact, "val/loss")[-1][1]
    assert abs(first - 0.5 * (math.log(2 * math.pi) + 1)) < 0.3
    assert last < first - 0.8, (first, last)
    prior = load_prior(vae_run, sound_model=vae_run)
    assert prior.config.kind == "gaussian" and prior.binding.latent == "mean"
    assert bool((prior.latent_std != 1).all())  # the normalisation statistics were stored


def test_the_artifact_is_bound_to_its_sound_model_and_samples_decode(vq_prior: Path, vq_run: Path) -> None:
    from sesli.artifacts import read_meta
    from sesli.models.sound.artifact import load_sound_model

    meta = read_meta(vq_prior)
    assert meta.model_type == "sound-prior" and meta.voices == ["bells", "drone", "rain", "waves", "wind"]
    prior = load_prior(vq_run / "prior", sound_model=vq_run)
    assert prior.binding.weights_sha256 == read_meta(vq_run / "model").weights_sha256
    assert prior.binding.family == "vqvae" and not prior.training
    sound = load_sound_model(vq_run)
    prior.check_fits(sound.config)
    audio = torch.randn(2, 1, 4 * sound.config.samples_per_frame) * 0.1
    labels = torch.tensor([0, 3])
    prompt = sound.encode(audio, labels).vq.codes  # (2, 1, 4)
    codes = prior.sample(labels, 6, prompt=prompt, generator=torch.Generator().manual_seed(0))
    assert codes.shape == (2, 1, 10) and torch.equal(codes[..., :4], prompt)
    log_mag = sound.decode_codes(codes, labels).log_mag
    frames = 10 * sound.config.samples_per_frame // sound.config.hop_length + 1
    assert log_mag.shape == (2, sound.config.n_bins, frames)


def test_a_prior_of_another_sound_model_is_refused(vq_prior: Path, vae_run: Path) -> None:
    with pytest.raises(PriorMismatchError, match="was trained on the sound model with weights"):
        load_prior(vq_prior, sound_model=vae_run)


def test_a_killed_run_resumes_bit_for_bit(
    vae_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sesli.train.checkpoint import list_checkpoints, load_checkpoint
    from sesli.train.tasks.sound_prior import PriorTask

    ref, run = tmp_path / "ref", tmp_path / "run"
    for folder in (ref, run):
        shutil.copytree(vae_run, folder, ignore=shutil.ignore_patterns("prior*"))
    over = [*FAST, "train.max_steps=6", "train.save_every=2", "train.eval_every=3"]
    train_prior(ref, config="prior-tiny", overrides=over, quiet=True)
    calls = {"n": 0}
    real_step = PriorTask.train_step

    def dying_step(self, batch, ctx):
        calls["n"] += 1
        if calls["n"] == 4:  # during step 4: the last checkpoint is step 2
            raise KeyboardInterrupt("killed")
        return real_step(self, batch, ctx)

    monkeypatch.setattr(PriorTask, "train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train_prior(run, config="prior-tiny", overrides=over, quiet=True)
    monkeypatch.setattr(PriorTask, "train_step", real_step)
    assert [s for s, _ in list_checkpoints(run / "prior" / "checkpoints")] == [2]
    assert train_prior(run, config="prior-tiny", overrides=over, quiet=True).fit.step == 6
    a = load_checkpoint(ref / "prior" / "checkpoints" / "step-00000006")
    b = load_checkpoint(run / "prior" / "checkpoints" / "step-00000006")
    for name, value in a.weights["prior"].items():
        assert torch.equal(value, b.weights["prior"][name]), name
    assert _metrics(ref / "prior", "train/loss") == _metrics(run / "prior", "train/loss")
    assert _metrics(ref / "prior", "val/loss") == _metrics(run / "prior", "val/loss")


def test_a_retrained_sound_model_stops_the_resume_and_bad_settings_are_named(
    vae_run: Path, tmp_path: Path
) -> None:
    from sesli.models.sound.artifact import load_sound_model, save_sound_model

    run = tmp_path / "sound"
    shutil.copytree(vae_run, run, ignore=shutil.ignore_patterns("prior*"))
    over = [*FAST, "train.max_steps=1", "train.eval_every=1"]
    with pytest.raises(PriorTrainError, match="contradicts the sound model"):
        train_prior(run, config="prior-tiny", overrides=[*over, "prior.model.latent_dim=3"], quiet=True)
    shutil.rmtree(run / "prior", ignore_errors=True)
    train_prior(run, config="prior-tiny", overrides=over, quiet=True)
    model = load_sound_model(run)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    save_sound_model(run / "model", model, extra=model.config.extra)
    with pytest.raises(ConfigError, match="prior.sound_weights"):
        train_prior(run, config="prior-tiny", overrides=[*over, "train.max_steps=2"], quiet=True)
    with pytest.raises(PriorTrainError, match="holds no sound model"):
        train_prior(tmp_path / "nothing", config="prior-tiny", quiet=True)


@pytest.mark.parametrize("name", ["prior-tiny", "prior"])
@pytest.mark.parametrize("family", ["vqvae", "vae"])
def test_every_shipped_prior_config_builds_for_each_family(name: str, family: str) -> None:
    from sesli.models.sound.config import preset
    from sesli.models.sound.prior import LatentPrior
    from sesli.train.tasks.sound_prior import load_run_config, prior_config

    cfg = load_run_config(name)
    assert cfg.train.metric == "val/loss" and cfg.train.save_best
    sound = preset(family, labels=["rain", "wind"])
    prior = LatentPrior(prior_config(cfg.prior, sound, frames=8))
    x = torch.randint(0, sound.codebook_size, (2, sound.n_quantizers, 8))
    x = x if family == "vqvae" else torch.randn(2, sound.latent_dim, 8)
    assert prior(x, torch.tensor([0, -1])).loss.isfinite()
    assert prior.config.max_frames == 8 and prior.config.kind == (
        "codes" if family == "vqvae" else "gaussian"
    )
