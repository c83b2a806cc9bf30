"""SoundVocoder: shapes, the STFT it expects, clear errors on a mismatch."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sesli.models.sound.vocoder import SoundVocoder, VocoderConfig, VocoderConfigError, VocoderMismatchError


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny(**kw) -> SoundVocoder:
    torch.manual_seed(0)
    args = dict(n_fft=256, hop_length=64, upsample_rates=[8, 8], upsample_kernel_sizes=[16, 16])
    args.update(upsample_initial_channel=32, resblock="2", resblock_kernel_sizes=[3])
    args.update(resblock_dilation_sizes=[[1, 3]])
    args.update(kw)
    return SoundVocoder(VocoderConfig(**args))


def test_log_magnitude_frames_become_audio_of_hop_samples_each() -> None:
    from sesli.audio.features import log_magnitude

    voc = _tiny()
    wav = torch.randn(2, 1, 1000) * 0.1
    log_mag = log_magnitude(wav, 256, 64)  # (2, 129, 16)
    assert log_mag.shape == (2, 129, 16)
    assert voc(log_mag).shape == (2, 1, 16 * 64)
    audio = voc(log_mag, length=1000)
    assert audio.shape == (2, 1, 1000) and audio.abs().max() <= 1.0


def test_the_stft_settings_are_checked() -> None:
    voc = _tiny(sample_rate=16000)
    voc.check_stft(sample_rate=16000, n_fft=256, hop_length=64, win_length=None)
    with pytest.raises(VocoderMismatchError, match=r"hop_length 128 \(vocoder: 64\)") as err:
        voc.check_stft(sample_rate=16000, n_fft=256, hop_length=128)
    assert "Griffin-Lim" in str(err.value)
    sound = SimpleNamespace(representation="spectrogram", sample_rate=22050, n_fft=512, hop_length=64)
    with pytest.raises(VocoderMismatchError, match=r"sample_rate 22050 \(vocoder: 16000\), n_fft 512"):
        voc.check_fits(sound)
    with pytest.raises(VocoderMismatchError, match="needs no vocoder"):
        voc.check_fits(SimpleNamespace(representation="waveform"))
    with pytest.raises(VocoderMismatchError, match="129 bins"):
        voc(torch.zeros(1, 100, 4))


def test_impossible_settings_are_refused() -> None:
    with pytest.raises(VocoderConfigError, match="multiply to 32, not hop_length=64"):
        VocoderConfig(hop_length=64, upsample_rates=[4, 8], upsample_kernel_sizes=[8, 16])
    with pytest.raises(VocoderConfigError, match="divisible"):
        VocoderConfig(upsample_initial_channel=20)
    with pytest.raises(VocoderConfigError, match="unknown vocoder setting"):
        VocoderConfig.from_dict({"hop": 3})
