"""Tiny random content models for voice-conversion tests and the tiny preset (offline, CPU, fast).

The HuBERT built here keeps the real convolutional front end (kernels 10,3,3,3,3,2,2 and strides
5,2,2,2,2,2,2: 400-sample receptive field, 320-sample hop at 16 kHz, 50 frames/s) and the real
hidden size by default (768, so v2 features have their real width), but few layers and narrow
convolutions. Its features mean nothing; their shapes and timing are the real ones.
"""

from __future__ import annotations

import torch
from torch import nn

from sesli.models.vc.content import ContentEncoder


def tiny_hubert(*, seed: int = 0, hidden: int = 768, layers: int = 2, conv_dim: int = 64) -> nn.Module:
    """A random ``transformers.HubertModel`` (eval mode) with the real frame geometry.

    Args:
        seed: torch seed for the initialisation (same seed, same weights).
        hidden: hidden size; a multiple of 16 (attention heads and positional-conv groups).
        layers: transformer layers.
        conv_dim: channels of the convolutional front end (512 in the real model).
    """
    from transformers import HubertConfig, HubertModel

    if hidden % 16:
        raise ValueError(f"hidden must be a multiple of 16, got {hidden}")
    config = HubertConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=2 * hidden,
        conv_dim=(conv_dim,) * 7,
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        num_conv_pos_embeddings=128,
        num_conv_pos_embedding_groups=16,
        feat_extract_norm="group",
        do_stable_layer_norm=False,
        mask_time_prob=0.0,  # no masked_spec_embed: nothing is masked at inference
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HubertModel(config)
    return model.eval()


def tiny_content_encoder(
    *,
    seed: int = 0,
    hidden: int = 768,
    layers: int = 2,
    version: str = "v2",
    proj_dim: int = 256,
) -> ContentEncoder:
    """A :class:`ContentEncoder` on :func:`tiny_hubert`; v1 gets a random Linear(hidden -> proj_dim).

    The layer is the default one clamped to ``layers`` (see ``resolve_layer``): the last layer.
    """
    model = tiny_hubert(seed=seed, hidden=hidden, layers=layers)
    proj = None
    if version == "v1":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            proj = nn.Linear(hidden, proj_dim)
    return ContentEncoder(model, version=version, proj=proj).eval()


__all__ = ["tiny_content_encoder", "tiny_hubert"]
