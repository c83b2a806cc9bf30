"""Read the weights of a kokoro-onnx export (fp32, fp16 or int8) back into PyTorch names.

kokoro-onnx ships Kokoro-82M as one ONNX graph (``tokens`` int64 [1, T], ``style`` float32
[1, 256], ``speed`` float32 [1] -> ``audio``). Its initializers are of three kinds, and each is
mapped back to a key of :class:`~sesli.models.kokoro.KokoroModel`'s state dict:

* **named** (``encoder.bert.embeddings.word_embeddings.weight``,
  ``decoder.decoder.generator.ups.0.bias``, ...): the export wraps the model as ``encoder`` (bert,
  bert_encoder, predictor, text_encoder) and ``decoder.decoder``; the prefix is dropped;
* **anonymous** (``/encoder/text_encoder/cnn.0/Mul_output_0_quantized``, ``onnx::LSTM_6930``,
  ``onnx::MatMul_6547``): weight-norm folding and the LSTM/MatMul exporters rename the tensor,
  so the module is found from the node that consumes it
  (``/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant`` -> ``text_encoder.cnn.0.0``): the longest
  tail of the node's scope that names exactly one module of the model;
* **derived** constants (``Reciprocal`` of Snake's alpha, shapes, STFT windows): ignored.

Then:

* int8/uint8 tensors are dequantized, ``(q - zero_point) * scale``, per tensor or per channel
  (the axis is the output axis: 0 for ``ConvInteger`` weights ``(out, in, k)``, the last for
  ``MatMulInteger`` weights ``(in, out)``, 0 = direction for ``DynamicQuantizeLSTM``). The zero
  point is taken from the consuming node's input (the quantizer shares identical constants across
  tensors, so names do not always match); the scale from ``<name>_scale``.
* MatMul weights are stored ``(in, out)``: transposed back to ``nn.Linear``'s ``(out, in)``.
* LSTMs: ONNX packs gates ``i, o, f, c`` and a bias ``[Wb; Rb]``; PyTorch wants ``i, f, g, o``
  and separate ``bias_ih``/``bias_hh``. ``DynamicQuantizeLSTM`` stores W as ``(dirs, in, 4H)``,
  the standard ``LSTM`` op as ``(dirs, 4H, in)``.
* Weight norm is folded into one tensor; ``loading.load_state`` splits it back into
  ``weight_g = ||w||`` and ``weight_v = w`` so LoRA, merge and the official ``.pth`` layout work.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

# ONNX consumers whose weight input is a model parameter, and which input slot holds it.
_WEIGHT_SLOTS = {
    "Conv": (1,),
    "ConvInteger": (1,),
    "ConvTranspose": (1,),
    "MatMul": (1,),
    "MatMulInteger": (1,),
    "Gemm": (1,),
    "Gather": (0,),
    "LSTM": (1, 2, 3),
    "DynamicQuantizeLSTM": (1, 2, 3),
}
_PREFIXES = (("encoder.", ""), ("decoder.decoder.", "decoder."))
# Graphs that are Kokoro have these; a foreign graph is named by what it lacks.
_REQUIRED_INPUTS = {"tokens", "input_ids"}
_KOKORO_MARKERS = ("bert", "predictor", "text_encoder", "decoder")


class OnnxImportError(RuntimeError):
    """The file is not a readable ONNX graph, or not a Kokoro export."""


@dataclass
class OnnxImport:
    """What was read from the graph and how."""

    state: dict[str, Tensor]
    dtype: str  # "int8", "fp16" or "fp32": the precision the weights were stored in
    how: Counter = field(default_factory=Counter)  # e.g. {"dequantized per channel": 312, ...}
    unmapped: list[str] = field(default_factory=list)  # weight-like initializers left unused

    def summary(self) -> str:
        """One line per kind of conversion, for the user."""
        parts = [f"{n} {what}" for what, n in sorted(self.how.items())]
        return f"{len(self.state)} tensors ({self.dtype}): " + ", ".join(parts)


def _to_numpy(init) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(init)


def _scope_module(node_name: str, modules: set[str]) -> str | None:
    """The model module a node belongs to: the longest tail of its scope naming one module."""
    segs = [s for s in node_name.split("/") if s][:-1]  # drop the op's own name
    for k in range(len(segs)):
        tail = ".".join(segs[k:])
        hits = [m for m in modules if m == tail or m.endswith("." + tail)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            return None  # ambiguous: a longer tail did not match, a shorter one cannot help
    return None


def _rename(name: str) -> str:
    for old, new in _PREFIXES:
        if name.startswith(old):
            return new + name[len(old) :]
    return name


def _lstm_gates(w: np.ndarray, axis: int) -> np.ndarray:
    """ONNX gate order i, o, f, c -> PyTorch's i, f, g, o along ``axis``."""
    i, o, f, c = np.split(w, 4, axis=axis)
    return np.concatenate([i, f, c, o], axis=axis)


class _Graph:
    def __init__(self, model) -> None:
        g = model.graph
        self.inits = {i.name: i for i in g.initializer}
        self.nodes = list(g.node)
        # fp16 exports cast weights to float in the graph: see through Cast/Identity to the tensor
        self.alias: dict[str, str] = {}
        for node in self.nodes:
            if (
                node.op_type in ("Cast", "Identity")
                and node.input
                and self.resolve(node.input[0]) in self.inits
            ):
                self.alias[node.output[0]] = self.resolve(node.input[0])
        self._cache: dict[str, np.ndarray] = {}

    def resolve(self, name: str) -> str:
        """The initializer behind ``name`` (itself, or what a Cast/Identity chain reads)."""
        return self.alias.get(name, name)

    def array(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = _to_numpy(self.inits[name])
        return self._cache[name]

    def dequant(self, name: str, zp_name: str | None, axis: int, how: Counter) -> np.ndarray:
        """Dequantize ``name`` (int8/uint8) with its scale and the consumer's zero point."""
        q = self.array(name).astype(np.float32)
        base = name[: -len("_quantized")] if name.endswith("_quantized") else name
        scale_name = base + "_scale"
        if scale_name not in self.inits:
            raise OnnxImportError(f"quantized tensor {name} has no {scale_name}")
        scale = self.array(scale_name).astype(np.float32)
        if not zp_name:
            zp_name = base + "_zero_point"
        zp = self.array(zp_name).astype(np.float32) if zp_name in self.inits else np.zeros_like(scale)
        if scale.size > 1 or zp.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zp = scale.reshape(shape), zp.reshape(shape)
            how["dequantized per channel"] += 1
        else:
            how["dequantized per tensor"] += 1
        return (q - zp) * scale


def read_kokoro_onnx(path: str | Path, module_names: set[str], state_keys: set[str]) -> OnnxImport:
    """Read ``path`` and return its weights under ``KokoroModel`` state-dict names.

    Args:
        path: a kokoro-onnx ``.onnx`` file (fp32, fp16 or int8).
        module_names: ``{name for name, _ in model.named_modules()}`` of the target model.
        state_keys: the target model's state-dict keys (classic ``weight_g``/``weight_v`` names).

    Raises:
        OnnxImportError: unreadable, truncated or foreign graph (the message names what is missing).
    """
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - onnx is a dependency of the export extra
        raise OnnxImportError("reading .onnx models needs the onnx package: pip install onnx") from err
    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=True)
    except Exception as err:  # protobuf DecodeError, truncated files, missing external data
        raise OnnxImportError(
            f"cannot read {path} as ONNX ({type(err).__name__}: {str(err)[:120]}); "
            "the file is truncated or not an ONNX model"
        ) from err
    inputs = {i.name for i in model.graph.input}
    if not inputs & _REQUIRED_INPUTS or "style" not in inputs:
        raise OnnxImportError(
            f"{path} is an ONNX graph but not a Kokoro export: its inputs are {sorted(inputs)}, "
            "a kokoro-onnx model has 'tokens' (or 'input_ids'), 'style' and 'speed'"
        )
    graph = _Graph(model)
    how: Counter = Counter()
    state: dict[str, Tensor] = {}
    used: set[str] = set()
    dtypes: Counter = Counter()

    def put(key: str, value: np.ndarray, source: str) -> None:
        state[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        used.add(source)

    # 1. nodes that consume weights: mapped through the consumer's scope
    for node in graph.nodes:
        slots = _WEIGHT_SLOTS.get(node.op_type)
        if not slots:
            continue
        if node.op_type in ("LSTM", "DynamicQuantizeLSTM"):
            _read_lstm(graph, node, module_names, state_keys, put, how, dtypes)
            continue
        for slot in slots:
            name = graph.resolve(node.input[slot]) if slot < len(node.input) else ""
            if not name or name not in graph.inits or name in used:
                continue
            key = _weight_key(name, node, module_names, state_keys)
            if key is None:
                continue
            arr = _weight_array(graph, name, node, how, dtypes)
            if node.op_type in ("MatMul", "MatMulInteger", "Gemm") and arr.ndim == 2:
                transposed = node.op_type == "Gemm" and _attr(node, "transB", 0) == 1
                arr = arr if transposed else arr.T  # ONNX (in, out) -> nn.Linear (out, in)
            put(key, arr, name)
    # 2. every other named float initializer whose name is a state key (biases, norms, alphas)
    for name in graph.inits:
        key = _rename(name)
        if name in used or key not in state_keys or key in state:
            continue
        arr = graph.array(name)
        if arr.dtype.kind == "f":
            dtypes["fp16" if arr.dtype == np.float16 else "fp32"] += arr.size
            put(key, arr.astype(np.float32), name)
            how["named"] += 1
    if not any(k.startswith(m) for k in state for m in _KOKORO_MARKERS):
        raise OnnxImportError(f"{path} has Kokoro's inputs but none of its weights")
    dtype = "int8" if dtypes["int8"] > dtypes["fp16"] + dtypes["fp32"] else max(dtypes, key=dtypes.get)
    unmapped = [
        n
        for n in graph.inits
        if n not in used and _is_weight_like(graph, n) and not n.endswith(("_scale", "_zero_point"))
    ]
    return OnnxImport(state=state, dtype=dtype, how=how, unmapped=unmapped)


def _attr(node, name: str, default):
    for a in node.attribute:
        if a.name == name:
            from onnx import helper

            return helper.get_attribute_value(a)
    return default


def _is_weight_like(graph: _Graph, name: str) -> bool:
    init = graph.inits[name]
    return len(init.dims) >= 2 and int(np.prod(init.dims)) >= 64


def _weight_key(name: str, node, modules: set[str], keys: set[str]) -> str | None:
    """State key of the weight ``name`` consumed by ``node``."""
    base = name[: -len("_quantized")] if name.endswith("_quantized") else name
    direct = _rename(base)
    if direct in keys:
        return direct
    if direct.endswith(".weight") and direct[: -len(".weight")] + ".weight_g" in keys:
        return direct  # a folded weight-normed weight under its module's name
    module = _scope_module(node.name, modules)
    if module is None:
        return None
    key = module + ".weight"
    return key if key in keys or module + ".weight_g" in keys else None


def _weight_array(graph: _Graph, name: str, node, how: Counter, dtypes: Counter) -> np.ndarray:
    arr = graph.array(name)
    if arr.dtype in (np.int8, np.uint8):
        dtypes["int8"] += arr.size
        axis = arr.ndim - 1 if node.op_type == "MatMulInteger" else 0
        zp = (
            node.input[3]
            if node.op_type in ("ConvInteger", "MatMulInteger") and len(node.input) > 3
            else None
        )
        if node.op_type == "Gather":  # embeddings: Gather -> DequantizeLinear(x, scale, zp)
            zp = _dequant_zp_after(graph, node)
        return graph.dequant(name, zp, axis, how)
    dtypes["fp16" if arr.dtype == np.float16 else "fp32"] += arr.size
    how["float weights"] += 1
    return arr.astype(np.float32)


def _dequant_zp_after(graph: _Graph, gather) -> str | None:
    out = gather.output[0]
    for node in graph.nodes:
        if node.op_type == "DequantizeLinear" and node.input and node.input[0] == out:
            return node.input[2] if len(node.input) > 2 else None
    return None


def _read_lstm(graph: _Graph, node, modules, keys, put, how: Counter, dtypes: Counter) -> None:
    module = _scope_module(node.name, modules)
    if module is None or module + ".weight_ih_l0" not in keys:
        return
    quant = node.op_type == "DynamicQuantizeLSTM"
    w_name, r_name = graph.resolve(node.input[1]), graph.resolve(node.input[2])
    b_name = graph.resolve(node.input[3]) if len(node.input) > 3 else ""
    if quant:
        # inputs: X W R B seq_lens h0 c0 P W_scale W_zp R_scale R_zp; W (dirs, in, 4H)
        w = _lstm_dequant(graph, w_name, node.input[8], node.input[9], how)
        r = _lstm_dequant(graph, r_name, node.input[10], node.input[11], how)
        w, r = w.transpose(0, 2, 1), r.transpose(0, 2, 1)
        dtypes["int8"] += w.size + r.size
    else:
        w, r = graph.array(w_name).astype(np.float32), graph.array(r_name).astype(np.float32)
        dtypes["fp16" if graph.array(w_name).dtype == np.float16 else "fp32"] += w.size + r.size
    hidden4 = w.shape[1]
    b = (
        graph.array(b_name).astype(np.float32)
        if b_name in graph.inits
        else np.zeros((w.shape[0], 2 * hidden4), np.float32)
    )
    for d in range(w.shape[0]):
        sfx = "_l0" + ("_reverse" if d == 1 else "")
        put(f"{module}.weight_ih{sfx}", _lstm_gates(w[d], 0), w_name)
        put(f"{module}.weight_hh{sfx}", _lstm_gates(r[d], 0), r_name)
        put(f"{module}.bias_ih{sfx}", _lstm_gates(b[d, :hidden4], 0), b_name or w_name)
        put(f"{module}.bias_hh{sfx}", _lstm_gates(b[d, hidden4:], 0), b_name or w_name)
    how["LSTM gates reordered (i,o,f,c -> i,f,g,o)"] += 1


def _lstm_dequant(graph: _Graph, name: str, scale: str, zp: str, how: Counter) -> np.ndarray:
    q = graph.array(name).astype(np.float32)  # (dirs, in, 4H)
    s = graph.array(scale).astype(np.float32).reshape(-1, 1, 1)
    z = graph.array(zp).astype(np.float32).reshape(-1, 1, 1) if zp in graph.inits else 0.0
    how["dequantized per direction (LSTM)"] += 1
    return (q - z) * s


__all__ = ["OnnxImport", "OnnxImportError", "read_kokoro_onnx"]
