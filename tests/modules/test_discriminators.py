"""MPD/MRD: output structure, gradients to the input, and a discriminator that learns."""

from __future__ import annotations

import math

import pytest
import torch

from sesli.losses import discriminator_loss, feature_matching_loss, generator_loss
from sesli.modules.discriminators import (
    CombinedDiscriminator,
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
)


def _tiny() -> CombinedDiscriminator:
    return CombinedDiscriminator(
        mpd=MultiPeriodDiscriminator(periods=(2, 3), channels=(4, 8)),
        mrd=MultiResolutionDiscriminator(resolutions=((256, 64, 256), (128, 32, 128)), channels=4),
    )


def test_structure_and_gradients():
    torch.manual_seed(0)
    disc = _tiny()
    wav = (0.1 * torch.randn(2, 1, 2401)).requires_grad_(True)  # odd length: MPD pads to a multiple
    out = disc(wav)
    assert len(out.scores) == 4 and len(out.features) == 4
    assert all(s.shape[0] == 2 and s.dim() == 2 for s in out.scores)
    assert len(out.features[0]) == 4 and len(out.features[2]) == 6  # MPD: 2 + 1 + out; MRD: 5 + out
    loss = generator_loss(out.scores) + feature_matching_loss(out.features, disc(wav.detach()).features)
    loss.backward()
    assert wav.grad is not None and wav.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="expected audio"):
        disc(torch.zeros(2, 2, 100))


def test_discriminator_learns_sine_from_noise():
    torch.manual_seed(0)
    disc = _tiny()
    opt = torch.optim.Adam(disc.parameters(), lr=3e-3)
    t = torch.arange(1200) / 24000
    real = 0.5 * torch.sin(2 * math.pi * 220 * t).expand(2, -1)
    losses = []
    for _ in range(10):
        fake = 0.3 * torch.randn(2, 1200)
        loss = discriminator_loss(disc(real).scores, disc(fake).scores)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
