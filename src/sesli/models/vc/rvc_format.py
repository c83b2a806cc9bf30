"""RVC's ``.pth`` files in and out: voice files, pretrained G and D.

Layouts (RVC-Project/Retrieval-based-Voice-Conversion-WebUI, ``train/process_ckpt.py`` ``savee`` /
``extract_small_model``, ``train/train.py``):

* **Voice file** (``assets/weights/<name>.pth``, what users share): ``{"weight": state_dict,
  "config": [spec_channels, segment_size (frames, always 32), inter_channels, hidden_channels,
  filter_channels, n_heads, n_layers, kernel_size, p_dropout, resblock, resblock_kernel_sizes,
  resblock_dilation_sizes, upsample_rates, upsample_initial_channel, upsample_kernel_sizes,
  spk_embed_dim, gin_channels, sampling_rate], "info": "<n>epoch", "sr": "40k", "f0": 1 | 0,
  "version": "v1" | "v2"}``. The weights are fp16 and leave out ``enc_q`` (inference never uses
  it). RVC's loader takes ``spk_embed_dim`` from ``emb_g.weight`` rather than the list; so do we.
  sesli writes one more key, ``sesli_config`` (the full :class:`VcConfig` as plain values, for
  what the list cannot say: mel bins, ``enc_q``'s depth, attention window); RVC ignores it.
* **Pretrained G** (``f0G40k.pth``, ``G40k.pth`` without pitch): ``{"model": state_dict}`` of the
  full generator, ``enc_q`` included; RVC's own ``G_<step>.pth`` adds ``iteration``, ``optimizer``
  and ``learning_rate`` next to ``model``.
* **Pretrained D** (``f0D40k.pth``): ``{"model": state_dict}`` of ``MultiPeriodDiscriminatorV2``:
  ``discriminators.0`` is the scale discriminator (``DiscriminatorS``), ``discriminators.1..8`` the
  period ones for periods 2, 3, 5, 7, 11, 17, 23, 37 (v1: ``MultiPeriodDiscriminator``, periods up
  to 17). Output convolutions are ``conv_post`` (sesli: ``out``).

Names: :class:`~sesli.models.vc.VcModel` uses RVC's generator names, so the generator map is the
identity. Weight norm is read as classic ``weight_g``/``weight_v`` (RVC), as
``parametrizations.weight.original0/1`` (newer torch, e.g. Applio) or folded into ``weight``;
sesli's discriminators use the parametrization names, and their map renames both ways.

Reading uses ``torch.load(weights_only=True)``: RVC files hold only tensors, lists, ints and strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from sesli.fileio import atomic_path
from sesli.models.vc.config import VcConfig, VcConfigError
from sesli.models.vc.model import VcModel
from sesli.modules.discriminators import MultiPeriodDiscriminator, MultiScaleDiscriminator
from sesli.modules.weight_norm import fit_state

RVC_PERIODS = (2, 3, 5, 7, 11, 17, 23, 37)  # MultiPeriodDiscriminatorV2
_RATE_NAMES = {"32k": 32000, "40k": 40000, "48k": 48000}
_MELS = {32000: 80, 40000: 125, 48000: 128, 24000: 100}  # RVC's data configs (+ sesli's 24k)
SESLI_KEY = "sesli_config"  # extra key in sesli-written voice files; RVC's loaders ignore it
_PARAM_G = ".parametrizations.weight.original0"
_PARAM_V = ".parametrizations.weight.original1"


class RvcFormatError(RuntimeError):
    """An RVC file that cannot be read or does not fit the model."""


class RvcVoice(NamedTuple):
    """Result of :func:`load_rvc_voice` (unpacks as ``config, model``)."""

    config: VcConfig
    model: VcModel


def read_rvc_file(path: str | Path, *, trusted: bool = False) -> dict[str, Any]:
    """``torch.load`` an RVC ``.pth`` on CPU (``weights_only`` unless ``trusted``)."""
    path = Path(path)
    if not path.is_file():
        raise RvcFormatError(f"no RVC file at {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as err:  # UnpicklingError, truncated zip, foreign file
        hint = (
            ""
            if trusted
            else " (a file holding other Python objects needs trusted=True, only for files you trust)"
        )
        raise RvcFormatError(
            f"cannot read {path} as an RVC file: {type(err).__name__}: {err}"[:400] + hint
        ) from err
    if not isinstance(raw, dict):
        raise RvcFormatError(f"{path} holds a {type(raw).__name__}, not an RVC checkpoint dict")
    return raw


def _tensors(raw: dict[str, Any], classic: bool = True) -> dict[str, Tensor]:
    """The state dict of any layout (``weight`` / ``model`` / bare), float32, ``module.`` stripped;
    parametrization names made classic (``classic``) or left alone."""
    state = raw.get("weight", raw.get("model", raw))
    if not isinstance(state, dict):
        raise RvcFormatError("the file has no state dict under 'weight' or 'model'")
    out = {}
    for key, value in state.items():
        if not isinstance(value, Tensor):
            continue
        key = key.removeprefix("module.")
        if classic:
            key = key.replace(_PARAM_G, ".weight_g").replace(_PARAM_V, ".weight_v")
        out[key] = value.float() if value.is_floating_point() else value
    return out


def _count(keys: Iterable[str], pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m.group(1)) for k in keys if (m := rx.match(k))}
    return max(found) + 1 if found else 0


def _shape(state: dict[str, Tensor], key: str) -> tuple[int, ...]:
    for k in (key, key.replace(".weight", ".weight_v")):
        if k in state:
            return tuple(state[k].shape)
    raise RvcFormatError(f"the file lacks {key}: not an RVC generator")


def config_from_rvc(cfg: list[Any], state: dict[str, Tensor], *, f0: bool | None = None) -> VcConfig:
    """A :class:`VcConfig` from a voice file's ``config`` list and its weights' shapes.

    The list gives the decoder and the rates; the weights give what RVC fixes in code (attention
    window, flow depth, feature size, speakers, NSF overtones), so sesli's own small files load too.
    """
    if not isinstance(cfg, (list, tuple)) or len(cfg) < 18:
        raise RvcFormatError(f"an RVC 'config' is a list of 18 values, got {cfg!r}"[:300])
    sr = cfg[17]
    sr = _RATE_NAMES.get(sr, sr) if isinstance(sr, str) else int(sr)
    if not isinstance(sr, int):
        raise RvcFormatError(f"unknown sampling rate {cfg[17]!r} in the RVC config")
    has_pitch = "enc_p.emb_pitch.weight" in state
    if f0 is not None and bool(f0) != has_pitch:
        raise RvcFormatError(
            f"the file says f0={int(f0)} but its weights {'have' if has_pitch else 'lack'} a pitch embedding"
        )
    keys = list(state)
    n_fft = (int(cfg[0]) - 1) * 2
    rates = tuple(int(u) for u in cfg[12])
    kw: dict[str, Any] = {
        "feature_dim": _shape(state, "enc_p.emb_phone.weight")[1],
        "f0": has_pitch,
        "sample_rate": sr,
        "n_fft": n_fft,
        "win_length": n_fft,
        "hop_length": int(torch.tensor(rates).prod()),
        "n_mels": _MELS.get(sr, 80),
        "inter_channels": int(cfg[2]),
        "hidden_channels": int(cfg[3]),
        "filter_channels": int(cfg[4]),
        "n_heads": int(cfg[5]),
        "n_layers": int(cfg[6]),
        "kernel_size": int(cfg[7]),
        "p_dropout": float(cfg[8]),
        "window_size": (_shape(state, "enc_p.encoder.attn_layers.0.emb_rel_k")[1] - 1) // 2,
        "flow_layers": _count(keys, r"flow\.flows\.0\.enc\.in_layers\.(\d+)\."),
        "n_flows": _count(keys, r"flow\.flows\.(\d+)\.") // 2 + 1,
        "flow_kernel_size": _shape(state, "flow.flows.0.enc.in_layers.0.weight")[2],
        "resblock": str(cfg[9]),
        "resblock_kernel_sizes": tuple(cfg[10]),
        "resblock_dilation_sizes": tuple(tuple(d) for d in cfg[11]),
        "upsample_rates": rates,
        "upsample_initial_channel": int(cfg[13]),
        "upsample_kernel_sizes": tuple(cfg[14]),
        "n_speakers": _shape(state, "emb_g.weight")[0],  # RVC's loader does the same
        "gin_channels": int(cfg[16]),
        "segment_size": int(cfg[1]) * int(torch.tensor(rates).prod()),
    }
    if has_pitch:
        kw["nsf_harmonics"] = _shape(state, "dec.m_source.l_linear.weight")[1] - 1
    if "enc_q.pre.weight" in state:
        kw["posterior_layers"] = _count(keys, r"enc_q\.enc\.in_layers\.(\d+)\.")
        kw["posterior_kernel_size"] = _shape(state, "enc_q.enc.in_layers.0.weight")[2]
    try:
        return VcConfig(**kw)
    except VcConfigError as err:
        raise RvcFormatError(f"the RVC config gives no valid sesli config: {err}") from err


def rvc_config_list(config: VcConfig) -> list[Any]:
    """The 18-value ``config`` list of an RVC voice file (inverse of :func:`config_from_rvc`)."""
    c = config
    return [
        c.spec_channels,
        c.segment_frames,
        c.inter_channels,
        c.hidden_channels,
        c.filter_channels,
        c.n_heads,
        c.n_layers,
        c.kernel_size,
        c.p_dropout,
        c.resblock,
        list(c.resblock_kernel_sizes),
        [list(d) for d in c.resblock_dilation_sizes],
        list(c.upsample_rates),
        c.upsample_initial_channel,
        list(c.upsample_kernel_sizes),
        c.n_speakers,
        c.gin_channels,
        c.sample_rate,
    ]


def load_generator_state(
    model: VcModel, state: dict[str, Tensor], *, allow_missing: tuple[str, ...] = ()
) -> list[str]:
    """Load an RVC-named generator ``state`` into ``model``; returns the keys left at their init.

    Raises:
        RvcFormatError: shape mismatches, unexpected keys, or missing keys outside ``allow_missing``.
    """
    state = {k.replace(_PARAM_G, ".weight_g").replace(_PARAM_V, ".weight_v"): v for k, v in state.items()}
    missing, problems = fit_state(model, state, allow_missing)
    if problems:
        raise RvcFormatError("the RVC weights do not fit this model: " + problems)
    return missing


def load_rvc_voice(path: str | Path, *, trusted: bool = False) -> RvcVoice:
    """Read an RVC voice file (v1 or v2, with or without pitch) -> ``(config, model)`` in eval mode.

    ``config.extra`` keeps the file's ``info``, ``sr`` and ``version``. ``enc_q`` is absent from
    such files and stays at its initial values (inference does not use it).
    """
    raw = read_rvc_file(path, trusted=trusted)
    if "weight" not in raw or "config" not in raw:
        hint = " (a pretrained G: use load_rvc_pretrained)" if "model" in raw else ""
        raise RvcFormatError(f"{path} is not an RVC voice file: it lacks 'weight' and 'config'{hint}")
    vocoder = raw.get("vocoder", "HiFi-GAN")
    if vocoder not in ("HiFi-GAN", None):
        raise RvcFormatError(f"{path} uses the {vocoder!r} vocoder; only RVC's HiFi-GAN (NSF) is supported")
    state = _tensors(raw)
    f0 = raw.get("f0")
    config = config_from_rvc(raw["config"], state, f0=None if f0 is None else bool(int(f0)))
    if isinstance(raw.get(SESLI_KEY), dict):  # sesli's own file: what RVC's list cannot say
        try:
            config = VcConfig.from_dict(raw[SESLI_KEY])
        except (VcConfigError, TypeError) as err:
            raise RvcFormatError(f"{path}: its {SESLI_KEY!r} entry is not a valid config: {err}") from err
    config.extra = {k: raw[k] for k in ("info", "sr", "version") if isinstance(raw.get(k), (str, int))}
    model = VcModel(config)
    load_generator_state(model, state, allow_missing=("enc_q.",))
    return RvcVoice(config, model.eval())


def load_rvc_pretrained(g_path: str | Path, config: VcConfig, model: VcModel | None = None) -> VcModel:
    """Load a pretrained RVC generator (``f0G40k.pth``: ``{"model": state}``, or a bare state
    dict, or a voice file) into ``model`` (default: a new ``VcModel(config)``).

    Strict about shapes and unknown keys (a v1 file into a v2 config, pitch into no-pitch, a 48k
    decoder into a 40k config all fail with the first mismatches named); lenient only about
    ``enc_q``, which a voice file lacks (it then starts from scratch).
    """
    raw = read_rvc_file(g_path)
    model = model if model is not None else VcModel(config)
    try:
        load_generator_state(model, _tensors(raw), allow_missing=("enc_q.",))
    except RvcFormatError as err:
        raise RvcFormatError(f"{g_path}: {err}") from err
    return model


def rvc_voice_dict(
    model: VcModel, config: VcConfig | None = None, *, info: str | None = None
) -> dict[str, Any]:
    """The in-memory layout of an RVC voice file (fp16 weights, no ``enc_q``, + ``sesli_config``)."""
    config = config or model.config
    if config.to_dict() | {"extra": {}} != model.config.to_dict() | {"extra": {}}:
        raise RvcFormatError("config does not describe this model (build the model from it)")
    weight = {k: v.detach().half().cpu() for k, v in model.state_dict().items() if not k.startswith("enc_q.")}
    sr = config.sample_rate
    return {
        "weight": weight,
        "config": rvc_config_list(config),
        "info": info if info is not None else str(config.extra.get("info", "sesli")),
        "sr": f"{sr // 1000}k" if sr % 1000 == 0 else str(sr),
        "f0": int(config.f0),
        "version": config.version,
        SESLI_KEY: {k: v for k, v in config.to_dict().items() if k != "extra"},
    }


def save_rvc_voice(
    model: VcModel, config: VcConfig | None, path: str | Path, *, info: str | None = None
) -> Path:
    """Write ``model`` as an RVC voice file (what RVC's WebUI and its forks load), atomically."""
    payload = rvc_voice_dict(model, config, info=info)
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _discriminator_pairs(
    mpd: MultiPeriodDiscriminator, msd: MultiScaleDiscriminator
) -> list[tuple[str, nn.Module]]:
    if len(msd.discriminators) != 1:
        raise RvcFormatError(f"RVC's D has one scale discriminator; this MSD has {len(msd.discriminators)}")
    return [("discriminators.0.", msd.discriminators[0])] + [
        (f"discriminators.{i + 1}.", d) for i, d in enumerate(mpd.discriminators)
    ]


def _d_to_sesli(key: str) -> str:
    key = "out." + key.removeprefix("conv_post.") if key.startswith("conv_post.") else key
    return key.replace(".weight_g", _PARAM_G).replace(".weight_v", _PARAM_V)


def load_rvc_discriminator(
    d_path: str | Path | dict[str, Any], *, mpd: MultiPeriodDiscriminator, msd: MultiScaleDiscriminator
) -> None:
    """Fill sesli's ``mpd`` (periods :data:`RVC_PERIODS` for v2) and one-scale ``msd`` from an
    RVC ``f0D40k.pth`` (path or already-read dict). Strict: every weight must fit."""
    raw = d_path if isinstance(d_path, dict) else read_rvc_file(d_path)
    state = _tensors(raw, classic=False)
    n_file = _count(state, r"discriminators\.(\d+)\.")
    pairs = _discriminator_pairs(mpd, msd)
    if n_file != len(pairs):
        raise RvcFormatError(
            f"the RVC discriminator has {n_file} sub-discriminators (1 scale + {n_file - 1} periods); "
            f"this MPD has {len(pairs) - 1} periods (RVC v2: {RVC_PERIODS})"
        )
    for prefix, module in pairs:
        sub = {_d_to_sesli(k[len(prefix) :]): v for k, v in state.items() if k.startswith(prefix)}
        own = module.state_dict()
        wrong = [k for k in own if k not in sub or sub[k].shape != own[k].shape]
        if wrong or set(sub) - set(own):
            raise RvcFormatError(f"RVC discriminator weights under {prefix} do not fit, e.g. {wrong[:3]}")
        module.load_state_dict(sub)


def rvc_discriminator_state(mpd: MultiPeriodDiscriminator, msd: MultiScaleDiscriminator) -> dict[str, Tensor]:
    """sesli's ``mpd`` + one-scale ``msd`` named as RVC's ``MultiPeriodDiscriminatorV2`` (classic
    weight-norm names), e.g. to write ``{"model": ...}`` that RVC can resume from."""
    out = {}
    for prefix, module in _discriminator_pairs(mpd, msd):
        for key, value in module.state_dict().items():
            key = "conv_post." + key.removeprefix("out.") if key.startswith("out.") else key
            key = key.replace(_PARAM_G, ".weight_g").replace(_PARAM_V, ".weight_v")
            out[prefix + key] = value.detach().clone()
    return out


__all__ = [
    "RVC_PERIODS",
    "SESLI_KEY",
    "RvcFormatError",
    "RvcVoice",
    "config_from_rvc",
    "load_generator_state",
    "load_rvc_discriminator",
    "load_rvc_pretrained",
    "load_rvc_voice",
    "read_rvc_file",
    "rvc_config_list",
    "rvc_discriminator_state",
    "rvc_voice_dict",
    "save_rvc_voice",
]
