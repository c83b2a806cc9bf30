import numpy as np
import pytest
import torch

from sesli.audio.features import MelConfig, energy, f0, linear_spectrogram, mel_filterbank, mel_spectrogram


def _sine(freq: float, seconds: float = 0.5, sr: int = 24000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_mel_shapes_and_frame_count():
    cfg = MelConfig()
    wav = torch.from_numpy(_sine(440.0))
    mel = mel_spectrogram(wav, cfg)
    assert mel.shape == (1, 80, cfg.num_frames(wav.numel()))
    batch = mel_spectrogram(torch.stack([wav, wav * 0.5]), cfg)
    assert batch.shape == (2, 80, cfg.num_frames(wav.numel()))
    assert torch.isfinite(batch).all()


def test_mel_peak_band_follows_frequency():
    cfg = MelConfig()
    fb = mel_filterbank(cfg)
    assert fb.shape == (80, cfg.n_fft // 2 + 1)
    low = mel_spectrogram(torch.from_numpy(_sine(300.0)), cfg)[0].mean(-1).argmax()
    high = mel_spectrogram(torch.from_numpy(_sine(3000.0)), cfg)[0].mean(-1).argmax()
    assert high > low + 10


def test_linear_spectrogram_energy_matches_parseval():
    cfg = MelConfig(power=2.0)
    wav = torch.randn(4800) * 0.1
    spec = linear_spectrogram(wav, cfg)
    assert spec.shape[1] == cfg.n_fft // 2 + 1
    assert (spec >= 0).all()


def test_energy_is_louder_for_louder_audio():
    wav = torch.from_numpy(_sine(220.0))
    quiet, loud = energy(mel_spectrogram(wav * 0.1)), energy(mel_spectrogram(wav))
    assert quiet.shape == (1, MelConfig().num_frames(wav.numel()))
    # power scales by 100, so the log-norm of the power rises by log(100)
    assert torch.allclose(
        (loud - quiet)[:, 5:-5].mean(), torch.tensor(np.log(100.0), dtype=torch.float32), atol=0.05
    )


def _voice_like(freq: float, seconds: float, sr: int = 24000) -> np.ndarray:
    # a harmonic tone with a little noise: Harvest (rightly) refuses to call a pure sine voiced
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.5 / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 6))
    return (x + 0.005 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)


def test_f0_of_a_voice_like_tone_and_of_silence():
    sr, hop = 24000, 300
    track = f0(_voice_like(200.0, 1.0), sr, hop)
    assert len(track) == 1 + sr // hop
    voiced = track[track > 0]
    assert len(voiced) > 0.8 * len(track)
    assert np.median(voiced) == pytest.approx(200.0, rel=0.01)
    assert (f0(np.zeros(sr // 2), sr, hop) == 0).all()


def test_f0_rejects_bad_audio():
    with pytest.raises(ValueError, match="NaN"):
        f0(np.array([0.0, np.nan, 0.0] * 1000), 24000)
    with pytest.raises(ValueError, match="method"):
        f0(_sine(100.0), 24000, method="yin")
