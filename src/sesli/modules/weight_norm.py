"""Weight norm across formats: split a folded ``X.weight`` back into ``weight_g`` / ``weight_v``.

ONNX exports (kokoro-onnx, Piper) and fused checkpoints hold ``w = g · v / ||v||`` as one tensor.
``g = ||w||`` over all axes but the first and ``v = w`` reproduce ``w`` exactly (up to rounding).
An all-zero output channel (int8 exports round some to zero) would give ``0 · 0/0 = NaN``: its
``v`` becomes a unit vector, so ``g = 0`` keeps the channel at exactly zero.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor


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


__all__ = ["unfuse_weight_norm"]
