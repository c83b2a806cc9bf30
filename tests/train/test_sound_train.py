"""Sound auto-encoder training on the engine (tiny presets, one CPU thread): each family learns the
calming corpus, the VAE-GAN's encoder freezes for its adversarial phase, a killed run resumes bit
for bit, the artifact loads back with the data's labels, every shipped config builds, and bad
input gets clear errors.

The corpus: :func:`~sesli.testing.sound_corpus.write_calming_corpus`, 5 labels x 4 clips of 1 s
at 16 kHz, prepared with 20 % held out (14 training clips, 6 validation clips). "Reconstruction
distance" is each family's ``recon`` term (log-magnitude L1 for the spectrogram models, the
multi-resolution STFT distance for the waveform ones) on the fixed validation crops, measured with
the untrained model (the run's seed, so its initial weights) and with the trained artifact.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from sesli.train.config import ConfigError, shipped_configs
from sesli.train.tasks.sound import SoundTask, SoundTrainError, load_run_config, model_config, train
from sesli.train.tasks.sound_data import SoundDataError

FAST = ["train.log_every=1", "train.mixed_precision=no"]


def _metrics(run: Path, key: str) -> list[float]:
    from sesli.train.logging import read_metrics

    return [v for _, _, k, v in read_metrics(run / "metrics.csv") if k == key]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sesli.data.sound_prepare import prepare_sound
    from sesli.testing.sound_corpus import write_calming_corpus

    root = tmp_path_factory.mktemp("calming")
    write_calming_corpus(root / "raw", seconds=1.0, per_label=4)
    prepare_sound(root / "raw", root / "prepared", val_split=0.2)
    return root / "prepared"


def _val_distance(corpus: Path, run: Path, config: str, overrides: list[str], model=None) -> float:
    """Mean validation ``recon`` of ``model`` (None: the run's untrained model, rebuilt from its seed)."""
    from accelerate.utils import set_seed

    from sesli.train.local import LocalAccelerator

    cfg = load_run_config(config, [*FAST, *overrides])
    task = SoundTask(cfg.sound, corpus, run, quiet=True)
    set_seed(cfg.train.seed)  # what the engine does before build: the same initial weights
    built = task.build(LocalAccelerator(torch.device("cpu")), cfg.train)
    model = (model if model is not None else built.modules["gen"]).eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for batch in built.val_data:
            labels = batch.labels if model.config.labels else None
            out = model(batch.audio, labels, generator=torch.Generator().manual_seed(0))
            total, n = total + float(task._recon(out)), n + 1
    return total / n


@pytest.mark.parametrize(
    ("config", "steps", "floor"),
    [("vae-tiny", 40, 0.6), ("vqvae-tiny", 40, 0.6)],
)
def test_spectrogram_families_learn_the_corpus(
    corpus: Path, tmp_path: Path, config: str, steps: int, floor: float
):
    """40 steps (lr 1e-3, batch 4, 0.5 s crops). Measured validation log-magnitude L1, untrained ->
    trained: vae-tiny 4.12 -> 1.17 (x0.28), vqvae-tiny 4.11 -> 1.27 (x0.31); asserted x < 0.6."""
    from sesli.models.sound.artifact import load_sound_model

    over = [*FAST, f"train.max_steps={steps}", f"train.eval_every={steps}"]
    result = train(corpus, tmp_path / "run", config=config, overrides=over, quiet=True)
    assert result.fit.step == steps
    model = load_sound_model(result.artifact)
    before = _val_distance(corpus, tmp_path / "probe", config, over)
    after = _val_distance(corpus, tmp_path / "probe", config, over, model=model)
    assert after < floor * before, (before, after)
    assert model.config.labels == ["bells", "drone", "rain", "waves", "wind"]  # from the data
    assert model.config.extra["step"] == steps and model.config.extra["data"]["train_clips"] == 14
    run = tmp_path / "run"
    keys = ["train/recon", "val/recon", "val/active_units"]
    keys += ["train/kl", "train/beta", "val/kl"] if config.startswith("vae") else []
    keys += (
        ["train/perplexity", "train/usage", "train/reseeded", "val/usage"] if config.startswith("vq") else []
    )
    for key in keys:
        values = _metrics(run, key)
        assert values and all(math.isfinite(v) for v in values), key
    if config.startswith("vae"):
        beta = _metrics(run, "train/beta")
        assert beta[0] == pytest.approx(1e-6) and beta == sorted(beta)  # the warm-up climbs


@pytest.mark.slow
def test_vaegan_learns_then_trains_its_decoder_adversarially(corpus: Path, tmp_path: Path) -> None:
    """34 reconstruction steps, then 6 adversarial ones with the encoder frozen. Measured validation
    multi-resolution STFT distance, untrained -> trained: 6.09 -> 4.40 (x0.72); asserted x < 0.9.
    (Waveform models learn slower than spectrogram ones: most of the distance is the log-magnitude
    of near-silent bins, which the decoder must learn to leave quiet.)"""
    from sesli.models.sound.artifact import load_sound_model
    from sesli.train.checkpoint import load_checkpoint

    over = [*FAST, "train.max_steps=40", "train.eval_every=20", "train.save_every=34",
            "sound.adversarial_after=34", "train.keep_last=5"]  # fmt: skip
    result = train(corpus, tmp_path / "run", config="vaegan-tiny", overrides=over, quiet=True)
    run = tmp_path / "run"
    gen, disc = _metrics(run, "train/gen"), _metrics(run, "train/disc")
    assert len(gen) == len(disc) == 6 and all(
        math.isfinite(v) for v in gen + disc + _metrics(run, "train/fm")
    )
    a = load_checkpoint(run / "checkpoints" / "step-00000034").weights["gen"]
    b = load_checkpoint(run / "checkpoints" / "step-00000040").weights["gen"]
    encoder = [k for k in a if k.startswith("encoder.")]
    decoder = [k for k in a if k.startswith("decoder.")]
    assert encoder and all(torch.equal(a[k], b[k]) for k in encoder)  # frozen from step 34 on
    assert any(not torch.equal(a[k], b[k]) for k in decoder)
    model = load_sound_model(result.artifact)
    assert model.config.extra["phase"] == "adversarial" and model.config.extra["step"] == 40
    before = _val_distance(corpus, tmp_path / "probe", "vaegan-tiny", over)
    after = _val_distance(corpus, tmp_path / "probe", "vaegan-tiny", over, model=model)
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("config", ["vqvae-tiny", "vaegan-tiny"])
def test_killed_run_resumes_bit_for_bit(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str
) -> None:
    """6 steps in one go = killed during step 5 (last checkpoint: step 4), resumed to 6. The VQ-VAE
    covers the k-means init and EMA codebook, the VAE-GAN both phases and the discriminator."""
    from sesli.train.checkpoint import list_checkpoints, load_checkpoint

    over = [*FAST, "train.max_steps=6", "train.save_every=2", "train.eval_every=3", "sound.segment=2048",
            "sound.adversarial_after=3"]  # fmt: skip
    train(corpus, tmp_path / "ref", config=config, overrides=over, quiet=True)
    calls = {"n": 0}
    real_step = SoundTask.train_step

    def dying_step(self, batch, ctx):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("killed")
        return real_step(self, batch, ctx)

    monkeypatch.setattr(SoundTask, "train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(corpus, tmp_path / "run", config=config, overrides=over, quiet=True)
    monkeypatch.setattr(SoundTask, "train_step", real_step)
    assert [s for s, _ in list_checkpoints(tmp_path / "run" / "checkpoints")] == [2, 4]
    assert train(corpus, tmp_path / "run", config=config, overrides=over, quiet=True).fit.step == 6
    a = load_checkpoint(tmp_path / "ref" / "checkpoints" / "step-00000006")
    b = load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000006")
    assert set(a.weights) == ({"gen", "disc"} if config == "vaegan-tiny" else {"gen"})
    for module, weights in a.weights.items():
        for k, v in weights.items():
            assert torch.equal(v, b.weights[module][k]), (module, k)
    assert _metrics(tmp_path / "ref", "train/recon") == _metrics(tmp_path / "run", "train/recon")


# the auto-encoders' configs (prior-* and vocoder-* are tested with their tasks)
AUTOENCODERS = ["vae-tiny", "vae", "vae-wave-tiny", "vae-wave", "vqvae-tiny", "vqvae", "vaegan-tiny", "vaegan"]


@pytest.mark.parametrize("name", AUTOENCODERS)
def test_every_shipped_config_builds_at_tiny_width(name: str) -> None:
    from sesli.models.sound.model import SoundModel

    cfg = load_run_config(name)
    assert cfg.train.metric == "val/recon" and cfg.sound.preset == name
    stages = len(model_config(cfg.sound, []).strides)
    cfg.sound.model = {"channels": [4] * stages}
    model = SoundModel(model_config(cfg.sound, ["rain", "wind"]))
    out = model(torch.randn(1, 1, model.config.samples_per_frame * 2) * 0.1, torch.tensor([1]))
    assert out.z.shape[-1] == 2
    assert name in shipped_configs("sound")


def test_bad_input_gets_clear_errors(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(SoundDataError, match=r"at 16000 Hz, but the model runs at 22050 Hz"):
        train(
            corpus,
            tmp_path / "a",
            config="vae-tiny",
            overrides=[*FAST, "sound.model.sample_rate=22050"],
            quiet=True,
        )
    with pytest.raises(SoundTrainError, match="representation must be 'waveform'"):
        train(corpus, tmp_path / "b", config="vaegan-tiny", quiet=True,
              overrides=["sound.model.representation=spectrogram"])  # fmt: skip
    with pytest.raises(SoundTrainError, match=r"unknown sound preset 'vae-huge'; known presets: vae-tiny"):
        train(corpus, tmp_path / "c", config="vae-tiny", overrides=["sound.preset=vae-huge"], quiet=True)
    with pytest.raises(ConfigError, match=r"no config named 'vae-huge'"):
        train(corpus, tmp_path / "d", config="vae-huge", quiet=True)
    with pytest.raises(SoundDataError, match="has no train.jsonl"):
        train(tmp_path, tmp_path / "e", config="vae-tiny", quiet=True)
    assert not (tmp_path / "c").exists()  # refused before any run folder was made
