"""The neural vocoder task on the calming corpus: it learns, writes a loadable ``"sound-vocoder"``
artifact with its STFT, takes the STFT of a sound model and refuses mismatched ones.

Measured (one thread, ``vocoder-tiny``, 4096-sample crops, batch 4, ~0.3 CPU-s a step): the log-mel
L1 starts at 4.68 (the initial weights, first training batch) and is 2.08 on the fixed validation
crops after 30 steps (1.46 after 150); the log-magnitude distance to the input spectrogram is 2.49
after 30 steps (1.84 after 150). On the same crops Griffin-Lim's random-phase start (0 iterations)
is at 0.91 and 32 fast Griffin-Lim iterations at 0.20 (log-mel L1 0.75 and 0.11): the tiny vocoder
does not beat even the phase-less start within a test's budget, so nothing here claims it does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sesli.models.sound.vocoder import VocoderMismatchError, load_vocoder
from sesli.train.tasks.sound_vocoder import VocoderTrainError, train_vocoder

FAST = ["train.log_every=1", "train.mixed_precision=no"]


def _metrics(run: Path, key: str) -> list[tuple[int, float]]:
    from sesli.train.logging import read_metrics

    return [(s, v) for s, _, k, v in read_metrics(run / "metrics.csv") if k == key]


@pytest.fixture(scope="module")
def voc_run(calm_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("voc") / "run"
    over = [*FAST, "train.max_steps=30", "train.eval_every=30"]
    result = train_vocoder(calm_data, out, config="vocoder-tiny", overrides=over, quiet=True)
    assert result.fit.step == 30 and result.artifact == out / "model"
    return out


def _sound_artifact(directory: Path, name: str, **overrides) -> Path:
    """An untrained sound model of preset ``name`` saved as an artifact (its STFT is what counts)."""
    from sesli.models.sound.artifact import save_sound_model
    from sesli.models.sound.config import preset
    from sesli.models.sound.model import SoundModel

    torch.manual_seed(0)
    return save_sound_model(directory, SoundModel(preset(name, **overrides)))


@pytest.mark.slow  # the 30-step run: ~10 CPU-seconds
def test_the_vocoder_learns_on_the_calming_corpus(voc_run: Path) -> None:
    first = _metrics(voc_run, "train/mel")[0][1]  # the initial weights
    last = _metrics(voc_run, "val/mel")[-1][1]  # after 30 steps, fixed validation crops
    assert last < 0.6 * first, (first, last)
    for key in ("train/gen", "train/fm", "train/disc", "val/log_mag"):
        values = [v for _, v in _metrics(voc_run, key)]
        assert values and all(torch.isfinite(torch.tensor(values))), key


@pytest.mark.slow
def test_the_artifact_records_its_stft_and_vocodes(voc_run: Path, calm_data: Path) -> None:
    from sesli.artifacts import read_meta
    from sesli.audio.features import log_magnitude

    meta = read_meta(voc_run / "model")
    assert meta.model_type == "sound-vocoder" and meta.sample_rate == 16000
    assert meta.inference == {"sample_rate": 16000, "n_fft": 256, "hop_length": 64, "win_length": 256}
    assert meta.config["extra"]["step"] == 30 and "val/mel" in meta.config["extra"]["best_validation"]
    vocoder = load_vocoder(voc_run / "model")
    wav = torch.randn(1, 1, 1000) * 0.1
    assert vocoder(log_magnitude(wav, 256, 64), length=1000).shape == (1, 1, 1000)


def test_the_stft_comes_from_the_sound_model_and_a_mismatch_is_an_error(
    calm_data: Path, tmp_path: Path
) -> None:
    sound = _sound_artifact(tmp_path / "vae", "vae-tiny")
    over = [*FAST, "train.max_steps=1", "vocoder.val_clips=0", f"vocoder.sound_model={sound}"]
    over += ["vocoder.model.n_fft=512", "vocoder.model.sample_rate=8000"]  # replaced by the model's
    result = train_vocoder(calm_data, tmp_path / "voc", config="vocoder-tiny", overrides=over, quiet=True)
    from sesli.models.sound.artifact import load_sound_model

    config = load_sound_model(sound).config
    vocoder = load_vocoder(result.artifact, sound_config=config)
    assert (vocoder.config.n_fft, vocoder.config.sample_rate, vocoder.config.floor) == (256, 16000, 1e-5)
    with pytest.raises(VocoderMismatchError, match=r"n_fft 512 \(vocoder: 256\)"):
        load_vocoder(result.artifact, sound_config=config.replace(n_fft=512))
    with pytest.raises(VocoderMismatchError, match=r"sample_rate 22050 \(vocoder: 16000\)"):
        vocoder.check_fits(config.replace(sample_rate=22050))
    hop = _sound_artifact(tmp_path / "hop", "vae-tiny", hop_length=128)
    with pytest.raises(VocoderTrainError, match="multiply to 64, not hop_length=128"):
        train_vocoder(calm_data, tmp_path / "v2", config="vocoder-tiny",
                      overrides=[f"vocoder.sound_model={hop}"], quiet=True)  # fmt: skip
    wave = _sound_artifact(tmp_path / "wave", "vae-wave-tiny")
    with pytest.raises(VocoderTrainError, match="outputs audio itself"):
        train_vocoder(calm_data, tmp_path / "v3", config="vocoder-tiny",
                      overrides=[f"vocoder.sound_model={wave}"], quiet=True)  # fmt: skip


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VocoderTrainError, match="has no train.jsonl"):
        train_vocoder(tmp_path / "nothing", tmp_path / "voc", config="vocoder-tiny", quiet=True)


@pytest.mark.parametrize("name", ["vocoder-tiny", "vocoder"])
def test_every_shipped_vocoder_config_builds_and_vocodes(name: str) -> None:
    from sesli.models.sound.config import preset
    from sesli.models.sound.vocoder import SoundVocoder
    from sesli.train.tasks.sound_vocoder import build_discriminator, load_run_config, vocoder_config

    cfg = load_run_config(name)
    config = vocoder_config(cfg.vocoder)
    vocoder = SoundVocoder(config)
    vocoder.check_fits(preset("vae-tiny" if name == "vocoder-tiny" else "vae"))  # the presets' STFT
    with torch.no_grad():
        audio = vocoder(torch.full((1, config.n_bins, 3), -5.0))
        scores = build_discriminator(cfg.vocoder)(audio).scores
    assert audio.shape == (1, 1, 3 * config.hop_length) and all(s.isfinite().all() for s in scores)
