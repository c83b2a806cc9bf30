"""KL helpers: the closed form, free bits, RAVE's log-linear warm-up, Burda's active units."""

from __future__ import annotations

import math

import pytest
import torch

from sesli.losses.kl import active_units, gaussian_kl, kl_beta


def test_gaussian_kl_matches_torch_distributions_and_is_zero_at_the_prior() -> None:
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p).sum(1).mean()  # nats per frame
    assert torch.allclose(gaussian_kl(mean, logvar), expected, atol=1e-6)
    assert float(gaussian_kl(torch.zeros(1, 4, 2), torch.zeros(1, 4, 2))) == 0.0


def test_free_bits_floor_each_dimension() -> None:
    mean = torch.zeros(1, 3, 4)
    mean[:, 0] = 2.0  # dimension 0 carries 2 nats, the others none
    logvar = torch.zeros(1, 3, 4)
    assert float(gaussian_kl(mean, logvar)) == pytest.approx(2.0)
    assert float(gaussian_kl(mean, logvar, free_bits=0.5)) == pytest.approx(3.0)  # 2 + 0.5 + 0.5
    assert float(gaussian_kl(mean, logvar, free_bits=3.0)) == pytest.approx(9.0)
    with pytest.raises(ValueError, match=r"\(B, D, T\)"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3))


def test_kl_beta_warms_up_log_linearly() -> None:
    kw = {"warmup_steps": 100, "start": 1e-6, "end": 0.05}
    assert kl_beta(0, **kw) == pytest.approx(1e-6)
    assert kl_beta(50, **kw) == pytest.approx(math.sqrt(1e-6 * 0.05))  # the geometric mean halfway
    assert kl_beta(100, **kw) == kl_beta(10_000, **kw) == pytest.approx(0.05)
    assert kl_beta(20, delay=30, **kw) == pytest.approx(1e-6)
    assert kl_beta(80, delay=30, **kw) == pytest.approx(kl_beta(50, **kw))
    assert kl_beta(0, warmup_steps=0, end=0.1) == 0.1
    with pytest.raises(ValueError, match="log-linear"):
        kl_beta(0, warmup_steps=10, start=0.0)


def test_active_units_count_dimensions_whose_mean_varies() -> None:
    g = torch.Generator().manual_seed(0)
    means = torch.zeros(200, 4)
    means[:, 0] = torch.randn(200, generator=g)  # variance ~1: active
    means[:, 1] = 0.05 * torch.randn(200, generator=g)  # variance ~0.0025: inactive
    means[:, 2] = 3.0  # constant: inactive
    means[:, 3] = 0.2 * torch.randn(200, generator=g)  # variance ~0.04: active
    assert active_units(means) == 2
    assert active_units(means, threshold=0.1) == 1
    with pytest.raises(ValueError, match="posterior means"):
        active_units(torch.zeros(1, 4))
