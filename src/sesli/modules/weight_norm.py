"""Weight norm across formats: split a folded ``X.weight`` back into ``weight_g`` / ``weight_v``.

ONNX exports (kokoro-onnx, Piper) and fused checkpoints hold ``w = g · v / ||v||`` as one tensor.
``g = ||w||`` over all axes but the first and ``v = w`` reproduce ``w`` exactly (up to rounding).
An all-zero output channel (int8 exports round some to zero) would give ``0 · 0/0 = NaN``: its
``v`` becomes a unit vector, so ``g = 0`` keeps the channel at exactly zero.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn


def unfuse_weight_norm(state: dict[str, Tensor], own_keys: Iterable[str]) -> int:
    """Split folded ``X.weight`` in ``state`` (in place) wherever the model has ``X.weight_g``;
    returns how many were split."""
    n = 0
    for key in [k for k in own_keys if k.endswith(".weight_g")]:
        base = key[: -len("_g")]
        if key not in state and base in state:
            w = state.pop(base).clone()
            g = w.norm(dim=tuple(range(1, w.dim())), keepdim=True)
            dead = (g == 0).reshape(-1)
            if dead.any():
                w.reshape(w.shape[0], -1)[dead, 0] = 1.0
            state[key], state[base + "_v"] = g, w
            n += 1
    return n


def fit_state(
    model: nn.Module, state: dict[str, Tensor], allow_missing: tuple[str, ...] = ()
) -> tuple[list[str], str]:
    """Check a state dict (weight norm unfused as ``model`` needs it) against ``model`` and load it.

    Returns:
        (the model's keys left at their initial values, "" when it was loaded, else what does not
        fit: shape mismatches, weights missing outside ``allow_missing``, unexpected weights; then
        nothing is loaded).
    """
    state = dict(state)
    own = model.state_dict()
    unfuse_weight_norm(state, set(own))
    wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
             if k in own and v.shape != own[k].shape]  # fmt: skip
    extra = [k for k in state if k not in own]
    missing = [k for k in own if k not in state]
    fatal = [k for k in missing if not k.startswith(allow_missing)]
    parts = []
    if wrong:
        parts.append(f"{len(wrong)} shape mismatches (file vs model), e.g. {wrong[:3]}")
    if fatal:
        parts.append(f"{len(fatal)} weights missing, e.g. {fatal[:3]}")
    if extra:
        parts.append(f"{len(extra)} unexpected weights, e.g. {extra[:3]}")
    if parts:
        return missing, "; ".join(parts)
    model.load_state_dict(state, strict=False)
    return missing, ""


__all__ = ["fit_state", "unfuse_weight_norm"]
