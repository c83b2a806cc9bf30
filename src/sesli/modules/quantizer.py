"""Vector quantisation with an EMA codebook (VQ-VAE, van den Oord et al. 2017), and residual VQ.

:class:`VectorQuantizer` maps each latent frame ``z_t`` (D values) to its nearest codeword ``e_k``
and passes gradients straight through (``z + sg(e_k - z)``). The encoder is pulled towards its
codes by the commitment loss ``beta ||z - sg(e)||^2`` (beta 0.25, the paper's); the codebook is not
trained by gradients but follows the frames assigned to it as exponential moving averages
(VQ-VAE-2 / Razavi 2019; decay 0.99):

    N_k <- decay N_k + (1 - decay) n_k          (n_k: frames assigned to code k in this batch)
    m_k <- decay m_k + (1 - decay) sum z_t      (over those frames)
    e_k  = m_k / N~_k                           (N~: Laplace-smoothed N)

Two habits keep the codebook alive (Dhariwal 2020 "Jukebox", Zeghidour 2021 "SoundStream", as in
encodec and vector-quantize-pytorch): **k-means init**, k-means++ and a few Lloyd iterations on
the first training batch, so codes start where the data is; and **dead-code re-seeding**: a code
that no frame chose in the last ``dead_after`` training batches (10) is moved onto a random frame
of the batch, with ``N_k`` set to the mean count per code (frames / K) and ``m_k = N_k e_k``, so
the next update does not pull it straight back (encodec resets only ``e``, which the EMA then
overwrites). The rule counts batches, not an EMA count against a fixed threshold: ``N_k`` scales
with the frames per batch, and an absolute threshold (encodec's 2) that suits thousands of frames
marks most of a codebook dead at every step when a batch has a few hundred frames for hundreds
of codes. Without re-seeding a badly started codebook collapses onto the few codes nearest
the data (tested).

The codebook updates only in training mode; evaluation and inference leave every buffer alone.
All random draws use torch's global generator, so a resumed run replays them exactly.

:class:`ResidualVQ` (SoundStream) quantises the residual of the previous stages with further
codebooks; the sum of the stages' codewords is the quantised latent.

Letters: B batch, D latent dimensions, T frames, K codebook size, Q quantiser stages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class QuantizedResult:
    """What a quantiser returns (``quantized`` carries the straight-through gradient)."""

    quantized: Tensor  # (B, D, T)
    codes: Tensor  # (B, Q, T) int64
    commitment: Tensor  # scalar: beta * ||z - sg(q)||^2, summed over stages
    perplexity: Tensor  # scalar: exp(entropy of the first stage's code histogram), this batch
    usage: Tensor  # scalar: fraction of the first codebook used in this batch
    reseeded: int = 0  # dead codes re-seeded by this call (all stages; training only)


@dataclass
class _Stage:
    """One stage's raw result (no straight-through): codewords (B, D, T) and codes (B, T)."""

    quantized: Tensor
    codes: Tensor
    commitment: Tensor
    perplexity: Tensor
    usage: Tensor
    reseeded: int


def _kmeans(x: Tensor, k: int, iters: int) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means on rows of ``x`` (N, D) from a k-means++ start: (centres (K, D), counts (K,)).

    k-means++ (Arthur & Vassilvitskii 2007) draws each next start row with probability
    proportional to its squared distance from the starts so far, so two codes rarely begin in one
    cluster (a plain random start often leaves two clusters sharing a code).
    """
    n = x.shape[0]
    centres = x.new_empty(k, x.shape[1])
    centres[0] = x[torch.randint(0, n, (1,), device=x.device)]
    nearest = (x - centres[0]).pow(2).sum(1)  # (N,) squared distance to the closest start
    for i in range(1, k):
        weights = nearest if float(nearest.sum()) > 0 else torch.ones_like(nearest)
        centres[i] = x[torch.multinomial(weights, 1)]
        nearest = torch.minimum(nearest, (x - centres[i]).pow(2).sum(1))
    counts = torch.zeros(k, device=x.device, dtype=x.dtype)
    for _ in range(iters):
        assign = torch.cdist(x, centres).argmin(1)  # (N,)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        used = counts > 0
        centres[used] = sums[used] / counts[used, None]  # empty clusters keep their start row
    return centres, counts


class VectorQuantizer(nn.Module):
    """One EMA codebook (see the module docstring).

    Args:
        dim: D, the latent size.
        codebook_size: K codewords.
        decay: EMA decay of the codebook statistics.
        commitment: beta, the commitment loss weight.
        kmeans_init: initialise the codebook by k-means on the first training batch (else it
            keeps its random normal start).
        reseed: move dead codes onto frames of the batch after each update.
        dead_after: a code no frame chose in this many consecutive training batches is dead.
        kmeans_iters: Lloyd iterations of the initialisation.
        eps: Laplace smoothing of the counts.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        decay: float = 0.99,
        commitment: float = 0.25,
        kmeans_init: bool = True,
        reseed: bool = True,
        dead_after: int = 10,
        kmeans_iters: int = 10,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if codebook_size < 2 or dim < 1:
            raise ValueError(
                f"VectorQuantizer needs dim >= 1 and codebook_size >= 2, got {dim}, {codebook_size}"
            )
        self.dim, self.codebook_size = int(dim), int(codebook_size)
        self.decay, self.commitment = float(decay), float(commitment)
        self.kmeans_init, self.reseed = bool(kmeans_init), bool(reseed)
        self.dead_after, self.kmeans_iters, self.eps = (
            max(1, int(dead_after)),
            int(kmeans_iters),
            float(eps),
        )
        embed = torch.randn(codebook_size, dim)
        self.register_buffer("embed", embed)  # (K, D) the codewords
        self.register_buffer("embed_avg", embed.clone())  # (K, D) m_k
        self.register_buffer("cluster_size", torch.zeros(codebook_size))  # (K,) N_k
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("idle", torch.zeros(codebook_size))  # (K,) batches since a frame chose k

    def forward(self, z: Tensor) -> QuantizedResult:
        """z: (B, D, T) -> the nearest codewords (straight-through), codes (B, 1, T) and statistics."""
        s = self.quantize(z)
        quantized = z + (s.quantized - z).detach()
        return QuantizedResult(quantized, s.codes[:, None], s.commitment, s.perplexity, s.usage, s.reseeded)

    def decode(self, codes: Tensor) -> Tensor:
        """codes (B, T) or (B, 1, T) int64 -> codewords (B, D, T)."""
        if codes.dim() == 3:
            codes = codes[:, 0]
        return F.embedding(codes, self.embed).transpose(1, 2)  # (B, D, T)

    def quantize(self, z: Tensor) -> _Stage:
        """Assign, and in training mode update the codebook: the raw stage result (no straight-through)."""
        if z.dim() != 3 or z.shape[1] != self.dim:
            raise ValueError(f"VectorQuantizer: expected latents (B, {self.dim}, T), got {tuple(z.shape)}")
        b, d, t = z.shape
        flat = z.detach().float().transpose(1, 2).reshape(-1, d)  # (B T, D)
        if self.training and not bool(self.initialized):
            self._init_from(flat)
        codes = torch.cdist(flat, self.embed).argmin(1)  # (B T,)
        q = self.embed[codes].view(b, t, d).transpose(1, 2).to(z.dtype)  # (B, D, T)
        counts = torch.bincount(codes, minlength=self.codebook_size).float()  # (K,)
        probs = counts / counts.sum()
        perplexity = torch.exp(-(probs * torch.log(probs.clamp_min(1e-10))).sum())
        usage = (counts > 0).float().mean()
        reseeded = 0
        if self.training:
            self._ema_update(flat, codes, counts)
            if self.reseed:
                reseeded = self._reseed(flat, counts)
        commitment = self.commitment * F.mse_loss(z.float(), q.detach().float())
        return _Stage(q, codes.view(b, t), commitment, perplexity, usage, reseeded)

    @torch.no_grad()
    def _init_from(self, flat: Tensor) -> None:
        centres, counts = _kmeans(flat, self.codebook_size, self.kmeans_iters)
        self.embed.copy_(centres)
        self.embed_avg.copy_(centres * counts[:, None])
        self.cluster_size.copy_(counts)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, codes: Tensor, counts: Tensor) -> None:
        sums = torch.zeros_like(self.embed).index_add_(0, codes, flat)  # (K, D)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n  # (K,)
        self.embed.copy_(self.embed_avg / smoothed[:, None])

    @torch.no_grad()
    def _reseed(self, flat: Tensor, counts: Tensor) -> int:
        self.idle.add_(1.0).mul_((counts == 0).float())  # (K,) reset where the code was chosen
        dead = self.idle >= self.dead_after
        n_dead = int(dead.sum())
        if n_dead == 0:
            return 0
        mean_count = flat.shape[0] / self.codebook_size
        picks = flat[torch.randint(0, flat.shape[0], (n_dead,), device=flat.device)]  # (n_dead, D)
        self.embed[dead] = picks
        self.embed_avg[dead] = picks * mean_count
        self.cluster_size[dead] = mean_count
        self.idle[dead] = 0.0
        return n_dead


class ResidualVQ(nn.Module):
    """``n_quantizers`` VectorQuantizers, each on what the previous ones left (SoundStream's RVQ).

    Args:
        dim: D, the latent size.
        codebook_size: K codewords per stage.
        n_quantizers: Q stages (1: a plain VQ).
        **kwargs: the :class:`VectorQuantizer` settings (decay, commitment, kmeans_init, reseed,
            dead_after, ...).
    """

    def __init__(self, dim: int, codebook_size: int, n_quantizers: int = 1, **kwargs: object) -> None:
        super().__init__()
        if n_quantizers < 1:
            raise ValueError(f"ResidualVQ needs n_quantizers >= 1, got {n_quantizers}")
        self.dim, self.codebook_size, self.n_quantizers = int(dim), int(codebook_size), int(n_quantizers)
        self.stages = nn.ModuleList(
            VectorQuantizer(dim, codebook_size, **kwargs)  # type: ignore[arg-type]
            for _ in range(n_quantizers)
        )

    def forward(self, z: Tensor) -> QuantizedResult:
        """z: (B, D, T) -> the summed codewords (straight-through), codes (B, Q, T), statistics."""
        residual, total = z, torch.zeros_like(z)
        codes, commitment, reseeded = [], z.new_zeros((), dtype=torch.float32), 0
        first = None
        for vq in self.stages:
            s = vq.quantize(residual)
            first = s if first is None else first
            total = total + s.quantized
            residual = residual - s.quantized.detach()
            codes.append(s.codes)
            commitment = commitment + s.commitment
            reseeded += s.reseeded
        quantized = z + (total - z).detach()
        return QuantizedResult(
            quantized, torch.stack(codes, 1), commitment, first.perplexity, first.usage, reseeded
        )

    def decode(self, codes: Tensor) -> Tensor:
        """codes (B, Q', T) int64 with Q' <= Q (the first Q' stages) -> latents (B, D, T)."""
        if codes.dim() != 3 or codes.shape[1] > self.n_quantizers:
            raise ValueError(
                f"ResidualVQ.decode: expected codes (B, <= {self.n_quantizers}, T), got {tuple(codes.shape)}"
            )
        out = None
        for i in range(codes.shape[1]):
            q = self.stages[i].decode(codes[:, i])
            out = q if out is None else out + q
        return out


__all__ = ["QuantizedResult", "ResidualVQ", "VectorQuantizer"]
