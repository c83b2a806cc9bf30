"""An autoregressive prior over a trained sound model's latent frames (sampling and continuation).

Letters: B batch, T latent frames, Q code streams (residual VQ stages), K codebook size, D latent
width, C model width, L sequence positions.

A small decoder-only transformer built from the LM's pre-norm blocks (:class:`sesli.models.lm.Block`,
causal ``scaled_dot_product_attention``). The sequence starts with one *condition token* (the
clip's label, plus its MIDI pitch when ``use_pitch``; a learned "no label" row when there is none),
followed by the latent frames, and each position predicts the next element:

* ``kind="codes"`` (VQ-VAE): the Q code streams interleaved per frame,
  ``c(0,0) c(0,1) .. c(0,Q-1) c(1,0) ..``, a categorical over K codes for each (cross-entropy in
  nats per code). A code enters as ``embed[q K + c] + stream[q] + frame[t]``; one head gives
  ``Q K`` logits of which the predicted stream's K are used.
* ``kind="gaussian"`` (VAE, VAE-GAN): one token per frame, ``linear(x_t) + frame[t]``, and a
  diagonal Gaussian over the next frame (mean and log-variance, the log-variance softly bounded
  below by ``min_logvar``), the NLL in nats per latent dimension. Frames are standardised with
  per-dimension statistics of the training latents held as buffers (``latent_mean``,
  ``latent_std``; :meth:`LatentPrior.set_normalization`), so one learning rate suits any
  latent scale and a never-used dimension is modelled as plain noise.

``label_dropout`` replaces the label with the "no label" token on that fraction of training
items, so one prior samples both per label and unconditionally (``labels=None``).

Sampling (:meth:`LatentPrior.sample`) appends ``frames`` new frames after an optional prompt,
which is kept verbatim (a continuation of a given clip). ``temperature`` divides the logits
(codes) or scales the standard deviation (Gaussian); 0 is greedy (argmax / the mean), so
deterministic. Draws are incremental: the blocks' keys and values are cached (:func:`_block_step`,
the LM block's own computation), so a step costs one position, not the whole window. When the
window is full (``max_frames`` frames), it restarts from its last ``max_frames // 2`` whole frames
behind the condition token, positions counted from the window's start (the prior learns random
crops, so a position means "frames since the crop began", nothing absolute).

:func:`load_prior` reads the ``"sound-prior"`` artifact the prior task writes and, given the sound
model's artifact, checks that the prior was trained on that model's latents (its weights' sha256).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sesli.models.lm import Block

MODEL_TYPE = "sound-prior"
KINDS = ("codes", "gaussian")
N_PITCH = 128  # MIDI pitches; row 128 is "unknown"


class PriorConfigError(ValueError):
    """Impossible prior settings (the field and the allowed values named)."""


class PriorMismatchError(ValueError):
    """A prior used with latents or a sound model it was not trained on."""


@dataclass
class PriorConfig:
    """Shape of a :class:`LatentPrior` (stored in its artifact).

    Attributes:
        kind: ``"codes"`` (VQ-VAE codes) or ``"gaussian"`` (VAE / VAE-GAN latent frames).
        n_labels: label vocabulary (the sound model's labels; 0: unconditional only).
        use_pitch: add a MIDI-pitch embedding to the condition token.
        codebook_size: K (codes).
        n_quantizers: Q code streams (codes).
        latent_dim: D (gaussian).
        min_logvar: soft lower bound of the predicted log-variance (gaussian, standardised units).
        d_model, n_layers, n_heads: the transformer.
        max_frames: the longest context in frames (the frame-position table).
        dropout: on embeddings, attention and residual branches.
        label_dropout: fraction of training items whose label is replaced by "no label".
    """

    kind: str = "codes"
    n_labels: int = 0
    use_pitch: bool = False
    codebook_size: int = 512
    n_quantizers: int = 1
    latent_dim: int = 16
    min_logvar: float = -9.0
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    max_frames: int = 256
    dropout: float = 0.1
    label_dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PriorConfigError(f"prior kind {self.kind!r} is not one of {list(KINDS)}")
        for name in ("codebook_size", "n_quantizers", "latent_dim", "d_model", "n_layers", "n_heads"):
            if getattr(self, name) < 1:
                raise PriorConfigError(f"prior {name} must be >= 1, got {getattr(self, name)}")
        if self.max_frames < 2:
            raise PriorConfigError(f"prior max_frames must be >= 2, got {self.max_frames}")
        if self.d_model % self.n_heads:
            raise PriorConfigError(f"prior d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.n_labels < 0 or not 0.0 <= self.label_dropout <= 1.0:
            raise PriorConfigError("prior n_labels must be >= 0 and label_dropout in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PriorConfigError(f"unknown prior setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass
class PriorOutput:
    """What :meth:`LatentPrior.forward` returns.

    ``loss``: mean NLL over valid elements (nats per code, or per standardised latent dimension);
    ``logits`` (B, T Q, K) for codes; ``mean``/``logvar`` (B, D, T) standardised for gaussian;
    ``mse``: mean squared error of the predicted mean (gaussian, standardised), else None.
    """

    loss: Tensor
    logits: Tensor | None = None
    mean: Tensor | None = None
    logvar: Tensor | None = None
    mse: Tensor | None = None


class LatentPrior(nn.Module):
    """Autoregressive transformer over latent frames (see the module docstring).

    Args:
        config: the prior's shape.
    """

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.config = c = config
        self.label = nn.Embedding(c.n_labels + 1, c.d_model)  # row n_labels: no label
        self.pitch = nn.Embedding(N_PITCH + 1, c.d_model) if c.use_pitch else None
        self.frame_pos = nn.Embedding(c.max_frames, c.d_model)
        if c.kind == "codes":
            self.code = nn.Embedding(c.n_quantizers * c.codebook_size, c.d_model)
            self.stream = nn.Embedding(c.n_quantizers, c.d_model)
            self.head = nn.Linear(c.d_model, c.n_quantizers * c.codebook_size)
        else:
            self.inp = nn.Linear(c.latent_dim, c.d_model)
            self.head = nn.Linear(c.d_model, 2 * c.latent_dim)
        self.register_buffer("latent_mean", torch.zeros(c.latent_dim))
        self.register_buffer("latent_std", torch.ones(c.latent_dim))
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(d_model=c.d_model, n_heads=c.n_heads, dropout=c.dropout) for _ in range(c.n_layers)
        )
        self.ln_f = nn.LayerNorm(c.d_model)
        self.apply(_init)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled by depth
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layers))
        nn.init.zeros_(self.head.weight)  # start at uniform codes / a standard normal
        nn.init.zeros_(self.head.bias)

    # ---- pieces ------------------------------------------------------------------------------
    def set_normalization(self, mean: Tensor, std: Tensor, *, floor: float = 1e-4) -> None:
        """Per-dimension statistics of the training latents (gaussian): ``mean``, ``std`` (D,)."""
        d = self.config.latent_dim
        if mean.shape != (d,) or std.shape != (d,):
            raise PriorMismatchError(f"normalisation statistics must be ({d},), got {tuple(mean.shape)}")
        self.latent_mean.copy_(mean.float())
        self.latent_std.copy_(std.float().clamp_min(floor))

    def _condition(self, labels: Tensor | None, pitch: Tensor | None, batch: int, device: Any) -> Tensor:
        """The condition token (B, 1, C)."""
        c = self.config
        if labels is None:
            labels = torch.full((batch,), -1, dtype=torch.long, device=device)
        labels = labels.to(device=device, dtype=torch.long)
        if labels.shape != (batch,) or bool((labels >= c.n_labels).any()):
            raise PriorMismatchError(
                f"labels must be ({batch},) ids in [0, {c.n_labels}) or -1 (no label), got {labels.tolist()}"
            )
        labels = labels.masked_fill(labels < 0, c.n_labels)  # -1: the "no label" row
        if self.training and c.label_dropout > 0:
            drop = torch.rand(batch, device=device) < c.label_dropout
            labels = labels.masked_fill(drop, c.n_labels)
        tok = self.label(labels)  # (B, C)
        if self.pitch is not None:
            p = torch.full((batch,), -1, device=device) if pitch is None else pitch.to(device)
            p = torch.where((p >= 0) & (p < N_PITCH), p, torch.full_like(p, N_PITCH)).long()
            tok = tok + self.pitch(p)
        return tok[:, None, :]

    def _trunk(self, cond: Tensor, tokens: Tensor) -> Tensor:
        """Condition (B, 1, C) + tokens (B, L, C) -> hidden states (B, 1 + L, C)."""
        x = self.drop(torch.cat([cond, tokens], dim=1))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def _code_tokens(self, flat: Tensor, first: int = 0) -> Tensor:
        """Codes (B, L) interleaved, the first at place ``first`` of the window -> embeddings (B, L, C)."""
        c = self.config
        j = torch.arange(first, first + flat.shape[1], device=flat.device)
        stream, frame = j % c.n_quantizers, j // c.n_quantizers
        return self.code(stream * c.codebook_size + flat) + self.stream(stream) + self.frame_pos(frame)

    def _frame_tokens(self, xs: Tensor, first: int = 0) -> Tensor:
        """Standardised frames (B, D, L), the first at frame ``first`` of the window -> (B, L, C)."""
        pos = torch.arange(first, first + xs.shape[-1], device=xs.device)
        return self.inp(xs.transpose(1, 2)) + self.frame_pos(pos)

    def _gaussian(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Hidden (B, L, C) -> mean, logvar (B, D, L), standardised."""
        mean, raw = self.head(h).float().transpose(1, 2).chunk(2, dim=1)
        lo = self.config.min_logvar
        return mean, lo + F.softplus(raw - lo)

    def check_latents(self, x: Tensor) -> None:
        """Raise :class:`PriorMismatchError` unless ``x`` is what this prior models."""
        c = self.config
        if c.kind == "codes":
            ok = x.dim() == 3 and x.shape[1] == c.n_quantizers and not x.is_floating_point()
            want = f"codes (B, {c.n_quantizers}, T) int64 in [0, {c.codebook_size})"
            ok = ok and (x.numel() == 0 or (int(x.min()) >= 0 and int(x.max()) < c.codebook_size))
        else:
            ok = x.dim() == 3 and x.shape[1] == c.latent_dim and x.is_floating_point()
            want = f"latent frames (B, {c.latent_dim}, T) float"
        if not ok:
            raise PriorMismatchError(f"this {c.kind} prior models {want}, got {x.dtype} {tuple(x.shape)}")

    # ---- training ----------------------------------------------------------------------------
    def forward(
        self,
        x: Tensor,
        labels: Tensor | None = None,
        pitch: Tensor | None = None,
        lengths: Tensor | None = None,
    ) -> PriorOutput:
        """Next-element NLL of ``x``: codes (B, Q, T) or latents (B, D, T).

        ``labels`` (B,) ids (-1 or None: no label), ``pitch`` (B,) MIDI (-1 unknown), ``lengths``
        (B,) valid frames (the loss ignores the rest).

        Raises:
            PriorMismatchError: ``x`` of the wrong kind or shape, T over ``max_frames``, bad labels.
        """
        c = self.config
        self.check_latents(x)
        B, _, T = x.shape
        if c.max_frames < T:
            raise PriorMismatchError(f"{T} frames is more than this prior's max_frames={c.max_frames}")
        cond = self._condition(labels, pitch, B, x.device)
        valid = torch.ones(B, T, dtype=torch.bool, device=x.device)
        if lengths is not None:
            valid = torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]  # (B, T)
        if c.kind == "codes":
            Q, K = c.n_quantizers, c.codebook_size
            flat = x.transpose(1, 2).reshape(B, T * Q)  # (B, T Q): frame-major, streams interleaved
            h = self._trunk(cond, self._code_tokens(flat[:, :-1]))  # (B, T Q, C)
            stream = torch.arange(T * Q, device=x.device) % Q
            logits = self.head(h).float().view(B, T * Q, Q, K)
            logits = logits[:, torch.arange(T * Q, device=x.device), stream]  # (B, T Q, K)
            nll = F.cross_entropy(logits.reshape(-1, K), flat.reshape(-1), reduction="none")
            mask = valid.repeat_interleave(Q, dim=1).reshape(-1)
            return PriorOutput(loss=nll[mask].mean(), logits=logits)
        xs = (x.float() - self.latent_mean[:, None]) / self.latent_std[:, None]  # (B, D, T)
        h = self._trunk(cond, self._frame_tokens(xs[:, :, :-1]))  # (B, T, C)
        mean, logvar = self._gaussian(h)  # (B, D, T)
        sq = (xs - mean).pow(2)
        nll = 0.5 * (math.log(2 * math.pi) + logvar + sq * torch.exp(-logvar))  # (B, D, T)
        m = valid[:, None, :].expand_as(nll)
        return PriorOutput(loss=nll[m].mean(), mean=mean, logvar=logvar, mse=sq[m].mean())

    # ---- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        labels: Tensor | None,
        frames: int,
        *,
        temperature: float = 1.0,
        prompt: Tensor | None = None,
        pitch: Tensor | None = None,
        n: int | None = None,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Sample ``frames`` new frames after ``prompt``: codes (B, Q, P + frames) or latents (B, D, P + frames).

        Args:
            labels: (B,) label ids (-1: no label), or None for unconditional samples.
            frames: new frames to append (>= 0).
            temperature: logits divided by it (codes) / standard deviation times it (gaussian);
                0 is greedy (argmax / the mean) and deterministic.
            prompt: frames to continue, (B, Q, P) codes or (B, D, P) latents; kept verbatim.
            pitch: (B,) MIDI pitches for a pitch-conditioned prior (-1 unknown).
            n: the batch size when neither ``labels`` nor ``prompt`` gives it (default 1).
            top_k: sample codes among the ``top_k`` most likely only.
            generator: the random source of the draws.
        """
        c = self.config
        was_training = self.training
        self.eval()
        try:
            device = self.frame_pos.weight.device
            B = labels.shape[0] if labels is not None else prompt.shape[0] if prompt is not None else n or 1
            if prompt is None:
                width = c.n_quantizers if c.kind == "codes" else c.latent_dim
                dtype = torch.long if c.kind == "codes" else torch.float32
                prompt = torch.zeros(B, width, 0, dtype=dtype, device=device)
            self.check_latents(prompt)
            if prompt.shape[0] != B:
                raise PriorMismatchError(f"prompt has {prompt.shape[0]} items but labels {B}")
            if frames < 0:
                raise ValueError(f"frames must be >= 0, got {frames}")
            cond = self._condition(labels, pitch, B, device)
            if c.kind == "codes":
                return self._sample_codes(cond, prompt.to(device), frames, temperature, top_k, generator)
            return self._sample_frames(cond, prompt.to(device).float(), frames, temperature, generator)
        finally:
            self.train(was_training)

    def _window(self, cond: Tensor, tokens: Tensor | None, caches: list | None) -> tuple[Tensor, list]:
        """Run the blocks incrementally: a prefill (``caches`` None: the condition token, then
        ``tokens`` (B, L, C)) or one more token (B, 1, C) -> the last hidden state (B, C), caches."""
        if caches is None:
            x = cond if tokens is None else torch.cat([cond, tokens], dim=1)
        else:
            x = tokens
        new = []
        for block, cache in zip(self.blocks, caches or [None] * len(self.blocks), strict=True):
            x, kv = _block_step(block, x, cache)
            new.append(kv)
        return self.ln_f(x[:, -1]), new

    def _slide(self, t: int, start: int, caches: list | None) -> tuple[int, bool]:
        """Window start for frame ``t`` and whether to prefill: a full window keeps its last half."""
        m = self.config.max_frames
        if caches is None:
            return max(0, t + 1 - m), True
        if t + 1 - start > m:
            return t + 1 - max(1, m // 2), True
        return start, False

    def _sample_codes(self, cond, prompt, frames, temperature, top_k, generator) -> Tensor:
        c = self.config
        Q, K = c.n_quantizers, c.codebook_size
        B, _, P = prompt.shape
        flat = prompt.transpose(1, 2).reshape(B, P * Q)  # (B, P Q)
        start, caches = 0, None
        for i in range(P * Q, (P + frames) * Q):
            t, q = divmod(i, Q)
            start, prefill = self._slide(t, start, caches) if q == 0 else (start, False)  # whole frames
            if prefill:  # the window from frame `start` up to this code
                tokens = self._code_tokens(flat[:, start * Q : i]) if i > start * Q else None
                h, caches = self._window(cond, tokens, None)
            else:  # the code drawn last, at its place in the window
                h, caches = self._window(
                    cond, self._code_tokens(flat[:, i - 1 : i], i - 1 - start * Q), caches
                )
            logits = self.head(h).float().view(B, Q, K)[:, q]  # (B, K)
            flat = torch.cat([flat, _draw(logits, temperature, top_k, generator)], dim=1)
        return flat.view(B, P + frames, Q).transpose(1, 2).contiguous()  # (B, Q, P + frames)

    def _sample_frames(self, cond, prompt, frames, temperature, generator) -> Tensor:
        mu, sd = self.latent_mean[:, None], self.latent_std[:, None]
        xs = (prompt - mu) / sd  # (B, D, P)
        start, caches = 0, None
        for t in range(prompt.shape[-1], prompt.shape[-1] + frames):
            start, prefill = self._slide(t, start, caches)
            if prefill:
                tokens = self._frame_tokens(xs[:, :, start:t]) if t > start else None
                h, caches = self._window(cond, tokens, None)
            else:
                h, caches = self._window(cond, self._frame_tokens(xs[:, :, t - 1 : t], t - 1 - start), caches)
            mean, logvar = self._gaussian(h[:, None])  # (B, D, 1)
            if temperature > 0:
                eps = torch.randn(mean.shape, generator=generator, device=mean.device)
                mean = mean + temperature * torch.exp(0.5 * logvar) * eps
            xs = torch.cat([xs, mean], dim=-1)
        out = xs * sd + mu
        out[:, :, : prompt.shape[-1]] = prompt  # verbatim, not through the round trip
        return out

    def check_fits(self, sound_config: Any) -> None:
        """Raise :class:`PriorMismatchError` unless this prior models ``sound_config``'s latents.

        ``sound_config`` is a :class:`~sesli.models.sound.config.SoundConfig` (read by attribute:
        ``family``, ``latent_dim``, ``codebook_size``, ``n_quantizers``, ``labels``).
        """
        c = self.config
        family = getattr(sound_config, "family", "")
        want = "codes" if family == "vqvae" else "gaussian"
        problems = [] if c.kind == want else [f"kind {c.kind} (a {family} model needs {want})"]
        if c.kind == "codes":
            for name in ("codebook_size", "n_quantizers"):
                if getattr(sound_config, name, None) != getattr(c, name):
                    problems.append(f"{name} {getattr(c, name)} vs {getattr(sound_config, name, None)}")
        elif getattr(sound_config, "latent_dim", None) != c.latent_dim:
            problems.append(f"latent_dim {c.latent_dim} vs {getattr(sound_config, 'latent_dim', None)}")
        n_labels = len(getattr(sound_config, "labels", []) or [])
        if n_labels != c.n_labels:
            problems.append(f"{c.n_labels} labels vs the model's {n_labels}")
        if problems:
            raise PriorMismatchError("the prior does not fit this sound model: " + "; ".join(problems))


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, mean=0.0, std=0.02)
    if isinstance(m, nn.Linear) and m.bias is not None:
        nn.init.zeros_(m.bias)


def _block_step(block: Block, x: Tensor, cache: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple]:
    """:class:`~sesli.models.lm.Block`'s forward (eval mode) with a key/value cache: ``x`` (B, L, C) is
    a causal prefill when ``cache`` is None, else one new position attending to the cached ones."""
    attn = block.attn
    B, L, C = x.shape
    q, k, v = attn.qkv(block.ln1(x)).split(C, dim=2)  # 3 x (B, L, C)
    q, k, v = (
        t.view(B, L, attn.n_heads, C // attn.n_heads).transpose(1, 2) for t in (q, k, v)
    )  # (B, H, L, D)
    if cache is not None:
        k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, H, past + 1, D)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None and L > 1)
    x = x + attn.proj(y.transpose(1, 2).reshape(B, L, C))
    return x + block.mlp(block.ln2(x)), (k, v)


def _draw(logits: Tensor, temperature: float, top_k: int | None, generator: Any) -> Tensor:
    """One code per row of ``logits`` (B, K) -> (B, 1)."""
    if temperature <= 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)


@dataclass
class PriorBinding:
    """Which sound model a prior was trained on (from its artifact)."""

    weights_sha256: str  # of the sound model's weights.safetensors
    path: str = ""  # where the sound model was when the prior was trained
    family: str = ""
    latent: str = "mean"  # what was modelled for VAEs: the posterior "mean" or a "sample"
    labels: list[str] | None = None


PRIOR_DIR = "prior"  # RUN/prior/


def load_prior(path: str | Path, *, sound_model: str | Path | None = None) -> LatentPrior:
    """Read a ``"sound-prior"`` artifact into an eval-mode :class:`LatentPrior`.

    The prior's ``binding`` attribute is a :class:`PriorBinding` (which sound model it models).

    Args:
        path: the prior's artifact folder, or the sound model's run holding it in ``prior/``.
        sound_model: the sound model's artifact folder (or its run); when given, its weights'
            sha256 must be the one the prior was trained on.

    Raises:
        ArtifactError: no artifact there, or damaged weights.
        PriorMismatchError: another model type, or a prior of another sound model.
    """
    from sesli.artifacts import is_artifact, load_weights, read_meta
    from sesli.models.sound.artifact import artifact_dir

    path = Path(path)
    if not is_artifact(path) and is_artifact(path / PRIOR_DIR):
        path = path / PRIOR_DIR
    meta = read_meta(path)
    if meta.model_type != MODEL_TYPE:
        raise PriorMismatchError(f"{path} holds a {meta.model_type!r} model, not a {MODEL_TYPE!r}")
    prior = LatentPrior(PriorConfig.from_dict(meta.config["prior"]))
    prior.load_state_dict(load_weights(path))
    prior.binding = PriorBinding(**meta.config["sound_model"])
    if sound_model is not None:
        sha = read_meta(artifact_dir(sound_model)).weights_sha256
        if sha != prior.binding.weights_sha256:
            raise PriorMismatchError(
                f"the prior {path} was trained on the sound model with weights "
                f"{prior.binding.weights_sha256[:12]}... ({prior.binding.path}), not on {sound_model} "
                f"({sha[:12]}...); train a prior on this model's latents"
            )
    return prior.eval()


__all__ = [
    "MODEL_TYPE",
    "PRIOR_DIR",
    "LatentPrior",
    "PriorBinding",
    "PriorConfig",
    "PriorConfigError",
    "PriorMismatchError",
    "PriorOutput",
    "load_prior",
]
