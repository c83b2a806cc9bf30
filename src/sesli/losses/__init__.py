"""Losses: alignment (forward-sum, bin), spectral (multi-resolution STFT, mel), duration, prosody, GAN.

Each is a function or small module with named results; tasks weight and sum them.
"""

from sesli.losses.alignment import bin_loss, forward_sum_loss
from sesli.losses.duration import DurationLossResult, duration_loss
from sesli.losses.gan import discriminator_loss, feature_matching_loss, generator_loss
from sesli.losses.prosody import energy_loss, f0_loss, frame_mask
from sesli.losses.spectral import MelL1Loss, MultiResolutionSTFTLoss, STFTLossResult

__all__ = [
    "DurationLossResult",
    "MelL1Loss",
    "MultiResolutionSTFTLoss",
    "STFTLossResult",
    "bin_loss",
    "discriminator_loss",
    "duration_loss",
    "energy_loss",
    "f0_loss",
    "feature_matching_loss",
    "forward_sum_loss",
    "frame_mask",
    "generator_loss",
]
