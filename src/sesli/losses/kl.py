"""The VAE's KL term, its warm-up schedule and the active-units count.

* :func:`gaussian_kl`: ``KL(N(mu, sigma^2) || N(0, 1)) = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2)``
  per latent value, summed over latent dimensions and averaged over items and frames (RAVE's
  normalisation: nats per latent frame). With ``free_bits`` lambda > 0 each dimension's average KL
  is floored at lambda before summing (Kingma et al. 2016, "Improved variational inference with
  inverse autoregressive flow", eq. 15): a dimension below lambda nats costs nothing more, so the
  optimiser gains nothing by closing it completely, which keeps latent dimensions from collapsing.
* :func:`kl_beta`: the KL weight beta per step, ``start`` for ``delay`` steps, then log-linear to
  ``end`` over ``warmup_steps`` (RAVE's warm-up, 1e-6 -> 0.05 by default), then ``end``.
* :func:`active_units`: Burda et al. 2016 ("Importance weighted autoencoders", sec. 5.2): a latent
  dimension ``u`` is active when ``Cov_x(E_q[u | x]) > 0.01``, i.e. its posterior mean varies
  across the data; an inactive one is ignored by the decoder (posterior collapse).

Letters: B batch, D latent dimensions, T frames, N posterior means.
"""

from __future__ import annotations

import math

from torch import Tensor


def gaussian_kl(mean: Tensor, logvar: Tensor, *, free_bits: float = 0.0) -> Tensor:
    """KL of a diagonal Gaussian posterior from N(0, I), in nats per frame (see the module docstring).

    Args:
        mean, logvar: (B, D, T) posterior means and log-variances.
        free_bits: lambda, the floor in nats on each dimension's average KL (0: plain KL).

    Returns:
        A scalar (float32): ``sum_d max(lambda, mean_{B,T} KL_d)``.
    """
    if mean.shape != logvar.shape or mean.dim() != 3:
        raise ValueError(
            f"gaussian_kl: expected two (B, D, T) tensors, got {tuple(mean.shape)}, {tuple(logvar.shape)}"
        )
    mean, logvar = mean.float(), logvar.float()
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)  # (B, D, T)
    per_dim = kl.mean(dim=(0, 2))  # (D,)
    if free_bits > 0:
        per_dim = per_dim.clamp_min(free_bits)
    return per_dim.sum()


def kl_beta(step: int, *, warmup_steps: int, start: float = 1e-6, end: float = 0.05, delay: int = 0) -> float:
    """The KL weight at optimizer step ``step``: log-linear from ``start`` to ``end`` (RAVE).

    Args:
        step: steps done so far.
        warmup_steps: length of the ramp (0: ``end`` from ``delay`` on).
        start, end: the first and last weights (both > 0).
        delay: steps at ``start`` before the ramp begins.
    """
    if start <= 0 or end <= 0:
        raise ValueError(f"kl_beta: start and end must be > 0 (a log-linear ramp), got {start}, {end}")
    if step < delay:
        return float(start)
    if warmup_steps <= 0 or step - delay >= warmup_steps:
        return float(end)
    frac = (step - delay) / warmup_steps
    return float(math.exp(math.log(start) + frac * (math.log(end) - math.log(start))))


def active_units(means: Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies across the data by more than ``threshold``.

    Args:
        means: (N, D) posterior means, one row per item or frame.
        threshold: Burda et al.'s 0.01 on the variance.
    """
    if means.dim() != 2 or means.shape[0] < 2:
        raise ValueError(f"active_units: expected (N >= 2, D) posterior means, got {tuple(means.shape)}")
    return int((means.float().var(dim=0) > threshold).sum())


__all__ = ["active_units", "gaussian_kl", "kl_beta"]
