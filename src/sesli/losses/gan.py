"""Adversarial losses: least-squares (LSGAN, HiFi-GAN) or hinge, and feature matching.

Every function takes lists with one entry per sub-discriminator (MPD periods, MRD resolutions),
as HiFi-GAN style discriminators return, and sums over them. Real target 1 / fake 0 for LSGAN;
hinge uses ``relu(1 - real) + relu(1 + fake)`` for D and ``-fake`` for G.

Feature matching: L1 between the discriminator's intermediate feature maps on real and generated
audio (real detached), summed over layers and sub-discriminators, as HiFi-GAN does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _check(kind: str) -> None:
    if kind not in ("lsgan", "hinge"):
        raise ValueError(f"gan loss: unknown kind {kind!r} (lsgan or hinge)")


def discriminator_loss(
    real: Sequence[torch.Tensor], fake: Sequence[torch.Tensor], *, kind: str = "lsgan"
) -> torch.Tensor:
    """D loss: pushes scores on real audio up and on generated audio (detach it first) down."""
    _check(kind)
    total = real[0].new_zeros(())
    for r, f in zip(real, fake, strict=True):
        if kind == "lsgan":
            total = total + ((1 - r) ** 2).mean() + (f**2).mean()
        else:
            total = total + torch.relu(1 - r).mean() + torch.relu(1 + f).mean()
    return total


def generator_loss(fake: Sequence[torch.Tensor], *, kind: str = "lsgan") -> torch.Tensor:
    """G adversarial loss on the discriminator's scores for generated audio."""
    _check(kind)
    total = fake[0].new_zeros(())
    for f in fake:
        total = total + (((1 - f) ** 2).mean() if kind == "lsgan" else (-f).mean())
    return total


def feature_matching_loss(
    real_features: Sequence[Sequence[torch.Tensor]], fake_features: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """Sum over sub-discriminators and layers of mean |real - fake| (real detached)."""
    total = None
    for rs, fs in zip(real_features, fake_features, strict=True):
        for r, f in zip(rs, fs, strict=True):
            term = (r.detach() - f).abs().mean()
            total = term if total is None else total + term
    if total is None:
        raise ValueError("feature_matching_loss: no feature maps given")
    return total


__all__ = ["discriminator_loss", "feature_matching_loss", "generator_loss"]
