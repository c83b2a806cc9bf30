"""PyTorch VITS checkpoints in and out: ``G_*.pth`` (VITS, MeloTTS) and Piper Lightning ``.ckpt``.

Layouts read:

* VITS / MeloTTS ``G_<step>.pth``: ``{"model": state_dict, "iteration", "optimizer", ...}``;
  generator keys without prefix (``enc_p.emb.weight``); in VITS and Piper ``dp`` is the
  *stochastic* predictor (``dp.flows.*``), in MeloTTS it is ``sdp`` next to a deterministic ``dp``.
* Piper ``*.ckpt`` (PyTorch Lightning): ``{"state_dict": {"model_g.<key>": ..., "model_d.<key>": ...},
  "hyper_parameters": {...}}``; the discriminator is dropped, the hyper-parameters give the config.
* weight norm as classic ``weight_g``/``weight_v`` (torch < 2.1 exports), as
  ``parametrizations.weight.original0/1`` (newer torch), or folded into ``weight`` (exports):
  all become sesli's classic names, a folded weight split as ``g = ||w||`` and ``v = w``.

Only what the names and shapes cannot say is taken from a base config: the upsampling strides and
the residual blocks' dilations (:func:`config_from_state`). Reading uses ``torch.load`` with
``weights_only=True``; a Lightning file whose hyper-parameters hold other objects (paths) needs
``trusted=True``, which unpickles arbitrary objects (only for files you made).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sesli.models.vits.config import VitsConfig, VitsConfigError, preset
from sesli.models.vits.model import VitsModel
from sesli.modules.weight_norm import fit_state, unfuse_weight_norm


class VitsLoadError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model."""


# parts of the model a file may legitimately lack: training-only pieces absent from exports
TRAINING_ONLY = ("enc_q.", "sdp.post_", "sdp.flows.1.")
_HPARAM_NAMES = {
    "num_symbols": "n_symbols",
    "num_speakers": "n_speakers",
    "filter_length": "n_fft",
    "mel_channels": "n_mels",
}


def read_checkpoint(path: str | Path, *, trusted: bool = False) -> dict[str, Any]:
    """``torch.load`` a ``.pth``/``.ckpt`` file on CPU with a clear error for a damaged one."""
    path = Path(path)
    if not path.is_file():
        raise VitsLoadError(f"no checkpoint at {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as err:  # UnpicklingError, truncated zip, foreign file
        hint = "" if trusted else " (a Lightning file with paths in its hyper-parameters needs trusted=True)"
        raise VitsLoadError(
            f"cannot read {path} as a PyTorch checkpoint: {type(err).__name__}: {err}"[:400] + hint
        ) from err
    if not isinstance(raw, dict):
        raise VitsLoadError(f"{path} holds a {type(raw).__name__}, not a checkpoint dict")
    return raw


def normalize_state(raw: dict[str, Any]) -> dict[str, Tensor]:
    """Any supported layout -> flat generator state with sesli names (see the module docstring)."""
    state = raw.get("state_dict", raw.get("model", raw))
    if not isinstance(state, dict):
        raise VitsLoadError("checkpoint has no state dict under 'state_dict' or 'model'")
    if any(k.startswith("model_g.") for k in state):
        state = {k[len("model_g.") :]: v for k, v in state.items() if k.startswith("model_g.")}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, Tensor):
            continue
        key = key[len("module.") :] if key.startswith("module.") else key
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        out[key] = value
    if not any(k.startswith("sdp.") for k in out) and any(k.startswith("dp.flows.") for k in out):
        out = {("sdp." + k[3:] if k.startswith("dp.") else k): v for k, v in out.items()}
    if not any(k.startswith("enc_p.") for k in out):
        raise VitsLoadError("this is not a VITS generator checkpoint: it has no enc_p.* weights")
    return out


def _shape(state: dict[str, Tensor], key: str) -> torch.Size | None:
    for k in (key, key.replace(".weight", ".weight_v")):
        if k in state:
            return state[k].shape
    return None


def _count(state: dict[str, Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m.group(1)) for k in state if (m := rx.match(k))}
    return max(found) + 1 if found else 0


def config_from_state(
    state: dict[str, Tensor],
    base: VitsConfig | None = None,
    *,
    upsample_rates: tuple[int, ...] | None = None,
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] | None = None,
    **overrides: Any,
) -> VitsConfig:
    """The config whose model has ``state``'s shapes: widths, depths and kernels from the tensors;
    strides and dilations from the arguments, else from ``base`` (default: Piper medium/high by
    resblock type). ``overrides`` (e.g. ``sample_rate``) are applied last."""
    s = state
    emb = _shape(s, "enc_p.emb.weight")
    ffn = _shape(s, "enc_p.encoder.ffn_layers.0.conv_1.weight")
    rel = _shape(s, "enc_p.encoder.attn_layers.0.emb_rel_k")
    if emb is None or ffn is None or rel is None:
        raise VitsLoadError("state lacks the text encoder (enc_p.emb / ffn / attention weights)")
    n_ups = _count(s, r"dec\.ups\.(\d+)\.")
    resblock = "1" if any(".convs1." in k for k in s if k.startswith("dec.resblocks.")) else "2"
    base = base or preset("high" if resblock == "1" else "medium")
    kernels_per_stage = _count(s, r"dec\.resblocks\.(\d+)\.") // max(n_ups, 1)
    first = "convs1.0" if resblock == "1" else "convs.0"
    rb_kernels = tuple(_shape(s, f"dec.resblocks.{j}.{first}.weight")[2] for j in range(kernels_per_stage))
    rates = tuple(upsample_rates or base.upsample_rates)
    dilations = tuple(resblock_dilation_sizes or base.resblock_dilation_sizes)
    if len(rates) != n_ups or len(dilations) != kernels_per_stage:
        raise VitsLoadError(
            f"the decoder has {n_ups} upsampling stages and {kernels_per_stage} residual blocks per stage; "
            "pass upsample_rates / resblock_dilation_sizes (or a base config) that fit"
        )
    kw: dict[str, Any] = {
        "n_symbols": emb[0],
        "hidden_channels": emb[1],
        "inter_channels": _shape(s, "enc_p.proj.weight")[0] // 2,
        "filter_channels": ffn[0],
        "kernel_size": ffn[2],
        "n_layers": _count(s, r"enc_p\.encoder\.attn_layers\.(\d+)\."),
        "n_heads": emb[1] // rel[2],
        "window_size": (rel[1] - 1) // 2,
        "n_flows": _count(s, r"flow\.flows\.(\d+)\.") // 2 + 1
        if "flow.flows.0.pre.weight" in s
        else base.n_flows,
        "flow_layers": _count(s, r"flow\.flows\.0\.enc\.in_layers\.(\d+)\."),
        "flow_kernel_size": _shape(s, "flow.flows.0.enc.in_layers.0.weight")[2],
        "use_sdp": any(k.startswith("sdp.") for k in s),
        "use_dp": any(k.startswith("dp.") for k in s),
        "resblock": resblock,
        "resblock_kernel_sizes": rb_kernels,
        "resblock_dilation_sizes": dilations,
        "upsample_rates": rates,
        "upsample_initial_channel": _shape(s, "dec.conv_pre.weight")[0],
        "upsample_kernel_sizes": tuple(_shape(s, f"dec.ups.{i}.weight")[2] for i in range(n_ups)),
        "hop_length": int(torch.tensor(rates).prod()),
        "nsf": any(k.startswith("dec.m_source.") for k in s),
    }
    if kw["use_sdp"]:
        kw["sdp_filter_channels"] = _shape(s, "sdp.pre.weight")[0]
        kw["sdp_flows"] = _count(s, r"sdp\.flows\.(\d+)\.") // 2  # EA, then (ConvFlow, Flip) x n
    if kw["use_dp"]:
        kw["dp_filter_channels"] = _shape(s, "dp.conv_1.weight")[0]
        kw["dp_kernel_size"] = _shape(s, "dp.conv_1.weight")[2]
    if "enc_q.pre.weight" in s:
        kw["n_fft"] = (_shape(s, "enc_q.pre.weight")[1] - 1) * 2
        kw["posterior_layers"] = _count(s, r"enc_q\.enc\.in_layers\.(\d+)\.")
        kw["posterior_kernel_size"] = _shape(s, "enc_q.enc.in_layers.0.weight")[2]
    if "emb_g.weight" in s:
        kw["n_speakers"], kw["gin_channels"] = s["emb_g.weight"].shape
    else:
        kw["n_speakers"], kw["gin_channels"] = 1, 0
    if kw["nsf"]:
        kw["nsf_harmonics"] = _shape(s, "dec.m_source.l_linear.weight")[1] - 1
    kw.update(overrides)
    if "n_fft" in kw and "win_length" not in overrides:
        kw["win_length"] = kw["n_fft"]
    if base.segment_size % kw["hop_length"]:
        kw["segment_size"] = kw["hop_length"] * 32
    try:
        return base.replace(**kw)
    except VitsConfigError as err:
        raise VitsLoadError(f"the checkpoint's shapes give no valid config: {err}") from err


def load_state(
    model: VitsModel, state: dict[str, Tensor], *, allow_missing: tuple[str, ...] = ()
) -> list[str]:
    """Load ``state`` (sesli names) into ``model``; returns the keys left at their initial values.

    Raises:
        VitsLoadError: shape mismatches, unexpected keys, or missing keys outside ``allow_missing``.
    """
    missing, problems = fit_state(model, state, allow_missing)
    if problems:
        raise VitsLoadError("the weights do not fit this VITS config: " + problems)
    return missing


def config_from_hparams(hparams: dict[str, Any]) -> VitsConfig:
    """Piper Lightning ``hyper_parameters`` -> a base config (fields it does not name: medium)."""
    kw: dict[str, Any] = {}
    fields = set(VitsConfig.__dataclass_fields__)
    for key, value in hparams.items():
        name = _HPARAM_NAMES.get(key, key)
        if name in fields and name != "extra" and isinstance(value, (int, float, str, bool, list, tuple)):
            kw[name] = value
    if "gin_channels" in kw and kw.get("n_speakers", 1) > 1 and kw["gin_channels"] <= 0:
        kw["gin_channels"] = 512  # what Piper's VitsModel substitutes
    try:
        return VitsConfig(**kw)
    except (VitsConfigError, TypeError) as err:
        raise VitsLoadError(f"the checkpoint's hyper-parameters give no valid config: {err}") from err


def load_checkpoint(
    path: str | Path, config: VitsConfig | None = None, *, trusted: bool = False
) -> VitsModel:
    """Build a :class:`VitsModel` from a ``G_*.pth`` or Piper ``.ckpt`` (config from the file's
    hyper-parameters and shapes when not given). Returned in eval mode."""
    raw = read_checkpoint(path, trusted=trusted)
    state = normalize_state(raw)
    if config is None:
        hp = raw.get("hyper_parameters")
        base = config_from_hparams(dict(hp)) if isinstance(hp, dict) else None
        config = config_from_state(state, base)
    model = VitsModel(config)
    load_state(model, state, allow_missing=TRAINING_ONLY)
    return model.eval()


def upstream_state_dict(model: VitsModel, layout: str = "vits") -> dict[str, Tensor]:
    """The model's weights named as upstream stores them.

    ``layout``: ``"vits"`` (VITS/Piper generator: the stochastic predictor is ``dp``; MeloTTS-style
    when both predictors exist), ``"piper"`` (the same under Lightning's ``model_g.`` prefix), or
    ``"parametrizations"`` (``vits`` with torch >= 2.1 weight-norm names).
    """
    if layout not in ("vits", "piper", "parametrizations"):
        raise ValueError(f"unknown layout {layout!r}")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if model.dp is None:
        state = {("dp." + k[4:] if k.startswith("sdp.") else k): v for k, v in state.items()}
    if layout == "parametrizations":
        state = {
            k.replace(".weight_g", ".parametrizations.weight.original0").replace(
                ".weight_v", ".parametrizations.weight.original1"
            ): v
            for k, v in state.items()
        }
    if layout == "piper":
        state = {"model_g." + k: v for k, v in state.items()}
    return state


__all__ = [
    "TRAINING_ONLY",
    "VitsLoadError",
    "config_from_hparams",
    "config_from_state",
    "load_checkpoint",
    "load_state",
    "normalize_state",
    "read_checkpoint",
    "unfuse_weight_norm",
    "upstream_state_dict",
]
