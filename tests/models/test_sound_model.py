"""SoundModel: every preset builds and keeps its frame arithmetic, spectrogram outputs fit
Griffin-Lim, VQ codes decode back, conditioning matters, configs refuse impossible settings, and
the artifact loads back bit for bit."""

from __future__ import annotations

import json

import pytest
import torch

from sesli.models.sound import PRESETS, SoundConfig, SoundConfigError, SoundModel, preset
from sesli.models.sound.artifact import SoundLoadError, load_sound_model, save_sound_model


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_keeps_its_frame_arithmetic(name: str) -> None:
    torch.manual_seed(0)
    overrides = {} if name.endswith("tiny") else {"channels": [8] * len(PRESETS[name]["strides"])}
    model = SoundModel(preset(name, labels=["rain", "wind"], **overrides))
    c = model.config
    n = c.samples_per_frame * 3 - 5  # not a whole number of frames: padded to 3
    out = model(torch.randn(2, 1, n) * 0.1, torch.tensor([0, 1]))
    assert out.z.shape == (2, c.latent_dim, 3) and out.target_audio.shape == (2, 1, 3 * c.samples_per_frame)
    if c.representation == "waveform":
        assert out.audio.shape == out.target_audio.shape and out.log_mag is None
    else:
        frames = 3 * c.samples_per_frame // c.hop_length + 1  # log_magnitude's count
        assert out.log_mag.shape == out.target_log_mag.shape == (2, c.n_bins, frames)
    assert (out.vq is not None) == (c.family == "vqvae") and (out.logvar is None) == (c.family == "vqvae")


def test_spectrogram_output_inverts_with_griffin_lim() -> None:
    from sesli.audio.features import griffin_lim

    model = SoundModel(preset("vae-tiny")).eval()
    c = model.config
    z = torch.zeros(1, c.latent_dim, 4)
    dec = model.decode(z)
    assert dec.audio is None
    audio = griffin_lim(dec.log_mag, c.n_fft, c.hop_length, n_iter=2, length=4 * c.samples_per_frame)
    assert audio.shape == (1, 4 * c.samples_per_frame)


def test_vq_codes_decode_to_the_same_output() -> None:
    torch.manual_seed(0)
    model = SoundModel(preset("vqvae-tiny", n_quantizers=2))
    model(torch.randn(2, 1, 4096) * 0.1)  # k-means init on a first training batch
    model.eval()
    x = torch.randn(1, 1, 4096) * 0.1
    enc = model.encode(x)
    assert enc.vq.codes.shape == (1, 2, model.frames(4096))
    a, b = model.decode(enc.z).log_mag, model.decode_codes(enc.vq.codes).log_mag
    assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="needs a vqvae"):
        SoundModel(preset("vae-tiny")).decode_codes(enc.vq.codes)


def test_labels_and_pitch_condition_the_decoder() -> None:
    torch.manual_seed(0)
    model = SoundModel(preset("vae-wave-tiny", labels=["a", "b", "c"], use_pitch=True)).eval()
    z = torch.randn(1, model.config.latent_dim, 2)
    outs = [model.decode(z, torch.tensor([i]), torch.tensor([60])).audio for i in range(3)]
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[1], outs[2])
    assert not torch.allclose(model.decode(z, torch.tensor([0]), torch.tensor([72])).audio, outs[0])
    assert model.decode(z).audio.shape == outs[0].shape  # no label, unknown pitch: still decodes
    with pytest.raises(ValueError, match=r"label ids must be in -1..2"):
        model.decode(z, torch.tensor([3]))
    with pytest.raises(ValueError, match="expected mono audio"):
        model.encode(torch.zeros(1, 2, 256))


def test_the_encoder_learns_through_the_bottleneck() -> None:
    for name in ("vae-tiny", "vqvae-tiny", "vaegan-tiny"):
        model = SoundModel(preset(name))
        out = model(torch.randn(2, 1, 4096) * 0.1)
        loss = (out.log_mag.mean() if out.log_mag is not None else out.audio.pow(2).mean()) + out.mean.mean()
        loss.backward()
        grad = model.encoder.inp.weight.grad
        assert grad is not None and float(grad.abs().sum()) > 0, name
        frozen = SoundModel(preset(name))
        out = frozen(torch.randn(2, 1, 4096) * 0.1, freeze_encoder=True)
        (out.log_mag.mean() if out.log_mag is not None else out.audio.pow(2).mean()).backward()
        assert frozen.encoder.inp.weight.grad is None and frozen.decoder.inp.weight.grad is not None


def test_configs_refuse_impossible_settings() -> None:
    with pytest.raises(SoundConfigError, match="representation must be 'waveform'"):
        preset("vaegan-tiny", representation="spectrogram")
    with pytest.raises(SoundConfigError, match=r"unknown sound preset 'huge'; known presets: vae-tiny, vae,"):
        preset("huge")
    with pytest.raises(SoundConfigError, match="unknown sound config keys: latent"):
        preset("vae-tiny", latent=3)
    with pytest.raises(SoundConfigError, match="one entry per stage"):
        SoundConfig(channels=[8, 8], strides=[2])
    with pytest.raises(SoundConfigError, match="labels must be unique"):
        SoundConfig(labels=["a", "a"])
    assert preset("vaegan").samples_per_frame == 1024 and preset("vae-tiny").samples_per_frame == 256


def test_artifact_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = SoundModel(preset("vqvae-tiny", labels=["rain", "wind"]))
    model(torch.randn(2, 1, 4096) * 0.1)
    model.eval()
    save_sound_model(tmp_path / "run" / "model", model, extra={"step": 7})
    loaded = load_sound_model(tmp_path / "run")  # the run folder finds model/
    assert loaded.config.labels == ["rain", "wind"] and loaded.config.extra["step"] == 7
    assert not loaded.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    meta = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert (
        meta["model_type"] == "sound" and meta["voices"] == ["rain", "wind"] and meta["sample_rate"] == 16000
    )
    with pytest.raises(SoundLoadError, match="holds no sound model"):
        load_sound_model(tmp_path / "nothing")
    meta["model_type"] = "vits"
    (tmp_path / "run" / "model" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(SoundLoadError, match="holds a 'vits' model"):
        load_sound_model(tmp_path / "run" / "model")
