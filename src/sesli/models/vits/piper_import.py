"""Read a Piper voice (``<voice>.onnx`` + ``<voice>.onnx.json``) into a :class:`VitsModel`.

Piper's ``export_onnx`` traces ``SynthesizerTrn.infer`` at opset 15 after removing the decoder's
weight norm: inputs ``input`` int64 ``(B, T)``, ``input_lengths`` int64 ``(B,)``, ``scales``
float32 ``[noise_scale, length_scale, noise_w]`` (and ``sid`` int64 ``(B,)`` for multi-speaker
voices), output ``output`` float32 ``(B, 1, 1, N)``. Only the inference path is in the file
(``enc_p``, ``dp``, ``flow``, ``dec``, ``emb_g``): the posterior encoder, the duration predictor's
posterior flows and its first ConvFlow (which inference skips) are not, and stay at their initial
values here (listed in :attr:`PiperVoice.untrained`).

Weights are found through the nodes that consume them, not their names: the exporter renames
some (``en_US-joe-medium``: the embedding is called ``sid``; the 32 flow WaveNet convolutions are
``onnx::Conv_8168`` ...), but every Conv/ConvTranspose/Gather node is named by its module path
(``/flow/flows.6/enc/in_layers.0/Conv`` -> ``flow.flows.6.enc.in_layers.0``), whose input 1
(and 2) are that module's weight (and bias). The other parameters (attention's ``emb_rel_k/v``,
layer norms' ``gamma``/``beta``, ``dp.flows.0.m``) keep their names. One was constant-folded:
``ElementwiseAffine.logs`` survives only as ``exp(-logs)`` (``/dp/flows.0/Exp_output_0``).
Piper's ``dp`` is sesli's ``sdp``. Weight norm is folded, and split back into ``weight_g``/``weight_v``.

The config comes from the tensors' shapes (:func:`~sesli.models.vits.loading.config_from_state`),
the strides of the ``ConvTranspose`` nodes, the dilations of the residual-block ``Conv`` nodes and
the JSON (sample rate, speakers). The JSON's ``phoneme_id_map`` and inference defaults come along.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sesli.models.vits.loading import TRAINING_ONLY, VitsLoadError, config_from_state, load_state
from sesli.models.vits.model import VitsModel

_WEIGHT_OPS = ("Conv", "ConvTranspose", "Gather")
_REQUIRED_INPUTS = {"input", "input_lengths", "scales"}


class PiperImportError(VitsLoadError):
    """The file is not a readable ONNX graph, not a Piper VITS export, or its JSON is unusable."""


@dataclass
class PiperVoice:
    """A Piper voice imported into sesli."""

    model: VitsModel
    phoneme_id_map: dict[str, list[int]]
    inference: dict[str, float]  # noise_scale, length_scale, noise_w defaults from the JSON
    speaker_id_map: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # the rest of the JSON (language, espeak, ...)
    untrained: list[str] = field(default_factory=list)  # parameters the file does not hold

    @property
    def sample_rate(self) -> int:
        return self.model.config.sample_rate

    def ids(self, phonemes: str) -> list[int]:
        """Piper's id sequence for a phoneme string: ``^ _ (id _)* $`` (BOS, pad after each, EOS).

        Raises:
            PiperImportError: a phoneme the voice does not know (listed).
        """
        unknown = sorted({p for p in phonemes if p not in self.phoneme_id_map})
        if unknown:
            raise PiperImportError(f"phonemes {unknown} are not in this voice's phoneme_id_map")
        pad = self.phoneme_id_map["_"]
        out = list(self.phoneme_id_map["^"]) + list(pad)
        for p in phonemes:
            out += list(self.phoneme_id_map[p]) + list(pad)
        return out + list(self.phoneme_id_map["$"])


def _load_onnx(path: Path):
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - onnx comes with the export/weights extras
        raise PiperImportError("reading .onnx voices needs the onnx package: pip install onnx") from err
    try:
        return onnx.load(str(path))
    except Exception as err:  # DecodeError on truncated or foreign files
        raise PiperImportError(
            f"cannot read {path} as ONNX ({type(err).__name__}: {str(err)[:120]}); "
            "the file is truncated or not an ONNX model"
        ) from err


def _attr(node, name: str):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return None


def _module_path(node_name: str) -> str:
    """``/flow/flows.6/enc/in_layers.0/Conv`` -> ``flow.flows.6.enc.in_layers.0`` (sesli names)."""
    path = ".".join(s for s in node_name.split("/")[:-1] if s)
    return "sdp." + path[3:] if path.startswith("dp.") else path


def read_piper_state(model_proto) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Weights under sesli names, and the graph facts the config needs (strides, dilations)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model_proto.graph.initializer}

    def arr(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name])

    state: dict[str, Tensor] = {}
    facts: dict[str, Any] = {"strides": {}, "dilations": {}}
    used: set[str] = set()
    for node in model_proto.graph.node:
        if node.op_type not in _WEIGHT_OPS:
            continue
        slot = 0 if node.op_type == "Gather" else 1
        if len(node.input) <= slot or node.input[slot] not in inits:
            continue
        w = arr(node.input[slot])
        if w.ndim < 2 or w.dtype.kind != "f":
            continue  # a constant table, not a parameter
        module = _module_path(node.name)
        state[module + ".weight"] = torch.from_numpy(np.array(w, dtype=np.float32))
        used.add(node.input[slot])
        if node.op_type != "Gather" and len(node.input) > 2 and node.input[2] in inits:
            state[module + ".bias"] = torch.from_numpy(np.array(arr(node.input[2]), dtype=np.float32))
            used.add(node.input[2])
        if node.op_type == "ConvTranspose" and (m := re.fullmatch(r"dec\.ups\.(\d+)", module)):
            facts["strides"][int(m.group(1))] = int(_attr(node, "strides")[0])
        if node.op_type == "Conv" and (m := re.fullmatch(r"dec\.resblocks\.(\d+)\.(convs1?)\.(\d+)", module)):
            key = (int(m.group(1)), m.group(2), int(m.group(3)))
            facts["dilations"][key] = int(_attr(node, "dilations")[0])
    for name in inits:
        if name in used or not re.fullmatch(r"[a-z_]+(\.[A-Za-z0-9_]+)+", name):
            continue
        key = "sdp." + name[3:] if name.startswith("dp.") else name
        state.setdefault(key, torch.from_numpy(np.array(arr(name), dtype=np.float32)))
    # ElementwiseAffine.logs was folded into exp(-logs) by the exporter (torch 2.0), or only into
    # -logs feeding an Exp node (newer torch, e.g. sesli's own export)
    exps = {n.name: n for n in model_proto.graph.node if n.op_type == "Exp"}
    for key in [k for k in state if k.endswith(".m") and ".flows." in k]:
        folded = "/" + key[:-2].replace("sdp.", "dp.", 1).replace(".flows.", "/flows.") + "/Exp_output_0"
        node = exps.get(folded[: -len("_output_0")])
        if folded in inits:
            state[key[:-2] + ".logs"] = torch.from_numpy(-np.log(np.array(arr(folded), dtype=np.float32)))
        elif node is not None and node.input[0] in inits:
            state[key[:-2] + ".logs"] = torch.from_numpy(-np.array(arr(node.input[0]), dtype=np.float32))
    return state, facts


def _graph_config(state: dict[str, Tensor], facts: dict[str, Any], meta: dict[str, Any]):
    n_ups = len(facts["strides"])
    rates = tuple(facts["strides"][i] for i in range(n_ups))
    dil = facts["dilations"]  # (block, "convs" | "convs1", index) -> dilation
    n_blocks = 1 + max((b for b, _, _ in dil), default=-1)
    per_stage = n_blocks // max(n_ups, 1)
    # block "1": convs1.* carry the dilations (convs2.* are dilation 1); block "2": convs.*
    group = "convs1" if any(".convs1." in k for k in state) else "convs"
    dilations = tuple(
        tuple(d for (b, g, _), d in sorted(dil.items()) if b == j and g == group) for j in range(per_stage)
    )
    audio = meta.get("audio", {})
    overrides: dict[str, Any] = {}
    if "sample_rate" in audio:
        overrides["sample_rate"] = int(audio["sample_rate"])
    return config_from_state(state, upsample_rates=rates, resblock_dilation_sizes=dilations, **overrides)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PiperImportError(f"a Piper voice needs its config beside it: {path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise PiperImportError(f"cannot read Piper config {path}: {err}") from err


def load_piper_voice(onnx_path: str | Path, config_path: str | Path | None = None) -> PiperVoice:
    """Import a Piper ``.onnx`` voice (``config_path``: default ``<onnx_path>.json``). Eval mode.

    Raises:
        PiperImportError: unreadable/truncated ONNX, a graph that is not a Piper export, a missing
            or broken JSON, or weights that do not fit the inferred config.
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise PiperImportError(f"no Piper voice at {onnx_path}")
    meta = _read_json(Path(config_path) if config_path else onnx_path.with_name(onnx_path.name + ".json"))
    proto = _load_onnx(onnx_path)
    inputs = {i.name for i in proto.graph.input}
    if not inputs >= _REQUIRED_INPUTS:
        raise PiperImportError(
            f"{onnx_path} is an ONNX graph but not a Piper voice: its inputs are {sorted(inputs)}, "
            "a Piper export has 'input', 'input_lengths' and 'scales'"
        )
    state, facts = read_piper_state(proto)
    if "enc_p.emb.weight" not in state or not facts["strides"]:
        raise PiperImportError(f"{onnx_path} has Piper's inputs but not a VITS text encoder and decoder")
    try:
        config = _graph_config(state, facts, meta)
        model = VitsModel(config)
        untrained = load_state(model, state, allow_missing=TRAINING_ONLY)
    except VitsLoadError as err:
        raise PiperImportError(f"{onnx_path}: {err}") from err
    n_json = int(meta.get("num_symbols", config.n_symbols))
    if n_json != config.n_symbols:
        raise PiperImportError(
            f"{onnx_path}: the JSON says {n_json} symbols, the graph has {config.n_symbols}"
        )
    config.extra["piper"] = {k: v for k, v in meta.items() if k not in ("phoneme_id_map", "phoneme_map")}
    inference = {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}
    inference.update({k: float(v) for k, v in meta.get("inference", {}).items() if k in inference})
    return PiperVoice(
        model=model.eval(),
        phoneme_id_map={k: list(v) for k, v in meta.get("phoneme_id_map", {}).items()},
        inference=inference,
        speaker_id_map=dict(meta.get("speaker_id_map", {})),
        meta=config.extra["piper"],
        untrained=untrained,
    )


__all__ = ["PiperImportError", "PiperVoice", "load_piper_voice", "read_piper_state"]
