"""PQMF: critically sampled bands, near-perfect reconstruction, band selectivity, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from sesli.modules.pqmf import PQMF


def _error_db(x: torch.Tensor, y: torch.Tensor, margin: int) -> float:
    diff = (x - y)[..., margin:-margin]
    return 10 * math.log10(float(diff.pow(2).mean() / x[..., margin:-margin].pow(2).mean()))


@pytest.mark.parametrize("n_bands", [4, 16])
def test_round_trip_is_near_perfect(n_bands: int) -> None:
    """White noise through analysis + synthesis: measured -60.7 dB error (both sizes); assert < -50 dB."""
    pqmf = PQMF(n_bands)
    x = torch.randn(2, 1, 16384, generator=torch.Generator().manual_seed(0))
    bands = pqmf.analysis(x)
    assert bands.shape == (2, n_bands, 16384 // n_bands)
    y = pqmf.synthesis(bands)
    assert y.shape == x.shape
    assert _error_db(x, y, pqmf.taps) < -50.0


def test_a_tone_lands_in_its_band_and_lengths_are_padded() -> None:
    pqmf = PQMF(16)
    sr, k = 16000, 5
    centre = (k + 0.5) * sr / 2 / 16  # the middle of band 5
    t = torch.arange(8000) / sr
    x = torch.sin(2 * math.pi * centre * t).view(1, 1, -1)
    energy = pqmf.analysis(x)[..., 50:-50].pow(2).mean(-1)[0]  # (M,)
    assert int(energy.argmax()) == k
    assert float(energy[k] / energy.sum()) > 0.99
    odd = pqmf.analysis(torch.zeros(1, 1, 1000))  # 1000 is not a multiple of 16: padded to 1008
    assert odd.shape == (1, 16, 63)


def test_one_band_is_the_identity_and_bad_shapes_are_refused() -> None:
    x = torch.randn(1, 1, 64)
    one = PQMF(1)
    assert torch.equal(one.synthesis(one.analysis(x)), x)
    pqmf = PQMF(4)
    with pytest.raises(ValueError, match=r"expected audio \(B, 1, N\)"):
        pqmf.analysis(torch.randn(1, 2, 64))
    with pytest.raises(ValueError, match=r"expected bands \(B, 4, T\)"):
        pqmf.synthesis(torch.randn(1, 3, 16))
    with pytest.raises(ValueError, match="n_bands >= 1"):
        PQMF(0)
