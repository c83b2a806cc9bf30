"""The adversarial half of a GAN vocoder step, shared by the VITS and voice-conversion tasks.

One step, as VITS and RVC train: the discriminator ``disc`` learns on real audio against the
detached fake (LSGAN), then, with ``disc`` frozen, the generator ``gen`` learns from its
reconstruction terms plus the LSGAN generator loss and feature matching. Scores and features are
taken in float32, so mixed precision does not change the losses' arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from sesli.losses.gan import discriminator_loss, feature_matching_loss, generator_loss
from sesli.modules.discriminators import DiscriminatorOutput
from sesli.train.task import StepContext


def f32(out: DiscriminatorOutput) -> DiscriminatorOutput:
    """The discriminator's scores and features in float32."""
    return DiscriminatorOutput(
        [s.float() for s in out.scores], [[f.float() for f in fs] for fs in out.features]
    )


def adversarial_step(
    ctx: StepContext,
    fake: Tensor,
    real: Tensor,
    reconstruction: Callable[[], dict[str, Tensor]],
    *,
    adv_weight: float,
    fm_weight: float,
) -> dict[str, Tensor]:
    """Step ``disc`` then ``gen``; returns the detached terms (``reconstruction()``'s, whose
    ``loss`` gains ``adv_weight * gen + fm_weight * fm``, and ``gen``, ``fm``, ``disc``).

    Args:
        ctx: the engine's step context (modules ``gen`` and ``disc``, their optimizers).
        fake: generated audio ``(B, 1, N)``, attached to the generator's graph.
        real: the matching real audio ``(B, 1, N)``.
        reconstruction: the generator's own terms (with a ``loss``), computed under the frozen
            discriminator (called once).
        adv_weight: weight of the LSGAN generator loss.
        fm_weight: weight of feature matching.
    """
    disc = ctx.modules["disc"]
    d_real, d_fake = f32(disc(real)), f32(disc(fake.detach()))
    loss_d = discriminator_loss(d_real.scores, d_fake.scores)
    ctx.backward(loss_d)
    ctx.step("disc")
    with ctx.frozen("disc"):
        d_fake, d_real = f32(disc(fake)), f32(disc(real))
        terms = reconstruction()
        terms["gen"] = generator_loss(d_fake.scores)
        terms["fm"] = feature_matching_loss(d_real.features, d_fake.features)
        terms["loss"] = terms["loss"] + adv_weight * terms["gen"] + fm_weight * terms["fm"]
        ctx.backward(terms["loss"])
    ctx.step("gen")
    terms["disc"] = loss_d
    return {k: v.detach() for k, v in terms.items()}


__all__ = ["adversarial_step", "f32"]
