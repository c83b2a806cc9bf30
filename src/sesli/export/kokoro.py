"""ONNX export of a sesli Kokoro model for the kokoro-onnx and sherpa-onnx runtimes: one graph.

Letters: T tokens (with the two boundary zeros), F frames (durations summed), N samples
(``N = 600 F`` at 24 kHz), R reference width (256 for Kokoro-82M).

**The graph** (a contract with both runtimes; tests/export/test_kokoro_export.py runs it in them):

* inputs ``input_ids`` int64 ``[1, T]`` (``[0, ids..., 0]``), ``style`` float32 ``[1, R]`` (one row
  of a voice pack), ``speed`` float32 ``[1]``; outputs ``waveform`` float32 ``[N]`` and ``duration``
  int64 ``[T]`` (frames per token). These are the names of upstream hexgrad/kokoro's
  ``examples/export.py``; kokoro-onnx feeds ``input_ids`` when a graph has it and uses
  ``duration`` for phoneme timings; sherpa-onnx feeds its inputs by position and reads output 0.
  T and N are dynamic, batch is 1 (both runtimes run one sentence at a time).
* it follows :meth:`KokoroModel.infer <sesli.models.kokoro.model.KokoroModel.infer>` for one
  item: ``duration = round(sum(sigmoid(logits)) / speed).clamp(min=1)``, the alignment from its
  cumulative sum compared with a frame index (no loop), and the generator's export path
  (:meth:`~sesli.modules.istftnet.ISTFTGenerator.forward_export`: STFT and iSTFT as convolutions).
* **no randomness**: the harmonic source runs with ``noise=False`` (sines in voiced frames, zero in
  unvoiced ones, no random initial phases). The kokoro-onnx v1.0 graph does the same (it holds no
  ``Random*`` op), a runtime's random ops could never match torch's draws, and a deterministic
  graph can be tested against torch. The source's empty bins then carry only rounding, whose phase
  the export path puts at a canonical angle (``ISTFTGenerator.source_spectrum``) so that rounding
  does not pick the audio. Runtimes still differ by more than rounding (Kokoro-82M: log-mel L1
  0.03, durations identical): the source integrates F0, so float differences drift its phase.
* weight norm is folded into plain weights on a private copy, so the model passed in is untouched.

**The files** (``out_dir``): ``kokoro-tr-<dtype>.onnx`` (several precisions can share one folder
and one set of voices/tokens; both runtimes take the model path as given), ``voices.npz``,
``voices.bin``, ``<voice>.bin``, ``tokens.txt``, ``config.json`` and the graph's metadata, as
:mod:`sesli.export.kokoro_files` describes. Use them as::

    Kokoro("kokoro-tr-fp32.onnx", "voices.npz", vocab_config="config.json")   # kokoro-onnx
    OfflineTtsKokoroModelConfig(model="kokoro-tr-fp32.onnx", voices="voices.bin", tokens="tokens.txt")

sherpa-onnx >= 2.0 has no espeak-ng: give it sesli's phonemes (``GenerationConfig.phoneme_codepoints
= [[ord(c) for c in phonemes]]``) or a lexicon; before 2.0 it phonemized with espeak-ng
(``data_dir=<espeak-ng-data>, lang="tr"``).

**Precisions**: ``fp32``; ``int8`` = onnxruntime's ``quantize_dynamic`` with kokoro-onnx's int8
recipe (uint8 conv weights, int8 MatMul/LSTM/embedding weights, activations quantized at run time;
on two Turkish sentences its log-mel distance to float torch is 0.52-0.55, as kokoro-onnx's own
int8 file's); ``fp16`` = onnxruntime's own float16 converter
(``onnxruntime.transformers.float16``; ``onnxconverter_common`` is not a dependency) with float32
inputs/outputs kept, and the harmonic source kept in float32: its running phase grows to ~1e5 rad
over a sentence, past what fp16 can even hold.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sesli.export.kokoro_files import (
    ESPEAK_VOICE,
    PACK_ROWS,
    KokoroExportError,
    sherpa_metadata,
    voice_packs,
    write_runtime_files,
)
from sesli.fileio import atomic_path
from sesli.models.kokoro.config import SAMPLE_RATE
from sesli.models.kokoro.model import KokoroModel

DTYPES = ("fp32", "fp16", "int8")
EXPORT_VERSION = 2  # bump when the graphs change (it keys the export cache); 2: int8 keeps conv_post float
OPSETS = (17, 20)  # 17: upstream kokoro's export and older runtimes; 20: kokoro-onnx v1.0's graph
MODEL_STEM = "kokoro-tr"
INPUTS = ["input_ids", "style", "speed"]
OUTPUTS = ["waveform", "duration"]


class KokoroGraph(nn.Module):
    """``(input_ids [1, T], style [1, R], speed [1]) -> (waveform [N], duration [T])``.

    Args:
        model: the Kokoro model (copied, weight norm folded; the original is not modified).
    """

    def __init__(self, model: KokoroModel) -> None:
        super().__init__()
        state = model.state_dict()
        if any("lora_" in k or ".base_layer." in k for k in state):
            raise KokoroExportError("the model still holds LoRA layers: merge them first (lora.merge_lora)")
        from sesli.models.kokoro.loading import load_state

        # a fresh model, not deepcopy: a weight-normed module that has run holds non-leaf weights;
        # load_state also takes a model whose weight norm is already fused
        m = KokoroModel(copy.deepcopy(model.config))
        load_state(m, state, source="the model to export")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            m.fuse_weight_norm()
        m.eval().requires_grad_(False)
        m.decoder.generator.export_mode = True
        self.style_dim = m.config.style_dim
        self.bert, self.bert_encoder, self.predictor = m.bert, m.bert_encoder, m.predictor
        self.text_encoder, self.decoder = m.text_encoder, m.decoder

    def forward(self, input_ids: Tensor, style: Tensor, speed: Tensor) -> tuple[Tensor, Tensor]:
        s = self.style_dim
        s_dec, s_pro = style[:, :s], style[:, s:]  # (1, S) each
        mask = torch.ones_like(input_ids, dtype=torch.bool)  # (1, T): one item, no padding
        # no attention mask (all ones for one item): the mask path adds finfo.min * 0, which is
        # NaN once fp16 turns finfo(float32).min into -inf
        h = self.bert(input_ids)  # (1, T, H)
        d_en = self.bert_encoder(h).transpose(1, 2)  # (1, C, T)
        d = self.predictor.text_encoder(d_en, s_pro, None, mask)  # (1, T, C + S)
        logits = self.predictor.duration_logits(d, None)  # (1, T, D)
        dur = torch.sigmoid(logits).sum(dim=-1) / speed.reshape(-1, 1)
        dur = torch.round(dur).clamp(min=1).long()  # (1, T)
        end = torch.cumsum(dur, dim=-1)  # (1, T)
        frames = torch.arange(end[0, -1], device=input_ids.device)  # (F,)
        aln = (frames >= (end - dur)[..., None]) & (frames < end[..., None])  # (1, T, F)
        aln = aln.to(d.dtype)
        f0, n = self.predictor.f0_energy(d.transpose(1, 2) @ aln, s_pro, None)  # (1, 2F) each
        asr = self.text_encoder(input_ids, None, None) @ aln  # (1, C, F)
        audio = self.decoder(asr, f0, n, s_dec, None, noise=False)  # (1, N)
        return audio[0], dur[0]


def _dummy_inputs(model: KokoroModel) -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(1234)
    ids = torch.randint(1, model.config.n_token, (1, 24), generator=gen)
    ids[:, 0] = ids[:, -1] = 0
    style = torch.randn(1, model.config.ref_dim, generator=gen) * 0.2
    return ids, style, torch.ones(1)


def _trace(graph: KokoroGraph, model: KokoroModel, path: Path, opset: int) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            graph,
            _dummy_inputs(model),
            str(path),
            dynamo=False,  # TorchScript tracing: the frame count is data-dependent
            opset_version=opset,
            input_names=INPUTS,
            output_names=OUTPUTS,
            dynamic_axes={
                "input_ids": {1: "input_ids_len"},
                "waveform": {0: "num_samples"},
                "duration": {0: "input_ids_len"},
            },
        )


def _source_nodes(proto) -> list[str]:
    """Nodes of the harmonic source and its STFT (the one Conv in the generator's own scope)."""
    return [
        n.name
        for n in proto.graph.node
        if "/m_source/" in n.name
        or (n.op_type == "Conv" and n.name.rpartition("/")[0] == "/decoder/generator")
    ]


def _kept_float(proto) -> list[str]:
    """Nodes int8 leaves in float: the source nodes and ``conv_post``, which writes the spectrum
    itself (kokoro-onnx's int8 file keeps it float too)."""
    post = [n.name for n in proto.graph.node if n.name.startswith("/decoder/generator/conv_post/")]
    return _source_nodes(proto) + post


def _to_int8(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = _kept_float(onnx.load(str(src), load_external_data=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # as kokoro-onnx's int8 file: uint8 conv weights (onnxruntime's fast ConvInteger; int8 ones
        # run ~3x slower on CPU), int8 MatMul/LSTM/embedding weights; the source stays float
        mid = dst.with_name(dst.stem + "-conv.onnx")
        quantize_dynamic(
            src, mid, weight_type=QuantType.QUInt8, op_types_to_quantize=["Conv"], nodes_to_exclude=keep
        )
        quantize_dynamic(
            mid, dst, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "LSTM", "Gather"],
            nodes_to_exclude=keep,
        )  # fmt: skip


def _skip_round_trips(proto) -> None:
    """Feed float32 consumers straight from float32 producers, skipping ``Cast`` fp16 -> fp32 pairs.

    The converter wraps every blocked node in casts of its own, so two blocked neighbours still
    pass their tensor through fp16 (the source's phase overflows to inf there). Unused casts are
    left for the caller to prune.
    """
    from onnx import TensorProto

    def cast_to(node) -> int | None:
        return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None

    producer = {out: n for n in proto.graph.node for out in n.output}
    bypass = {}
    for n in proto.graph.node:
        first = producer.get(n.input[0]) if cast_to(n) == TensorProto.FLOAT else None
        if first is None or cast_to(first) != TensorProto.FLOAT16:
            continue
        # the converter names a blocked node's own (float32) output "<name>_cast_to_fp16"
        if first.input[0] in producer and first.input[0].endswith("_cast_to_fp16"):
            bypass[n.output[0]] = first.input[0]
    for n in proto.graph.node:
        for i, name in enumerate(n.input):
            if name in bypass:
                n.input[i] = bypass[name]


def _to_fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    proto = onnx.load(str(src))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = convert_float_to_float16(proto, keep_io_types=True, node_block_list=_source_nodes(proto))
    _skip_round_trips(half)
    half = OnnxModel(half)
    half.prune_graph()
    half.topological_sort()  # the converter appends its casts after their consumers
    onnx.save(half.model, str(dst))


def _resolve(model_or_source: Any) -> tuple[KokoroModel, dict[str, Any], Any]:
    """A model, its known voices and a fetcher for more, from a model, a LoadedKokoro or a source."""
    from sesli.models.kokoro.adapter import is_adapter_run, load_run_model
    from sesli.models.kokoro.loading import LoadedKokoro, from_pretrained

    if isinstance(model_or_source, KokoroModel):
        return model_or_source, {}, None
    if not isinstance(model_or_source, LoadedKokoro):
        source = model_or_source
        is_run = source is not None and is_adapter_run(source)
        model_or_source = load_run_model(source) if is_run else from_pretrained(source)
    loaded = model_or_source
    return loaded.model, dict(loaded.voices), loaded.fetch_voice


def _select_voices(known: dict[str, Any], fetch: Any, voices: Any) -> dict[str, Any]:
    if voices is None:
        return known
    if isinstance(voices, Mapping):
        return dict(voices)
    if isinstance(voices, (str, bytes)) or not isinstance(voices, Sequence):
        raise KokoroExportError(f"voices must be a dict name -> pack or a list of names, got {voices!r}")
    chosen = {}
    for name in voices:
        if name in known:
            chosen[name] = known[name]
        elif fetch is not None:
            chosen[name] = fetch(name)
        else:
            raise KokoroExportError(f"voice {name!r} is not one of the model's voices {sorted(known)}")
    return chosen


def export_kokoro(
    model_or_source: Any,
    out_dir: str | Path,
    *,
    dtype: str = "fp32",
    voices: Mapping[str, Tensor | np.ndarray | str | Path] | Sequence[str] | None = None,
    opset: int = 17,
) -> dict[str, Path]:
    """Export a Kokoro model and its voices for kokoro-onnx and sherpa-onnx (see the module docstring).

    Args:
        model_or_source: a :class:`KokoroModel`, a ``LoadedKokoro``, a LoRA run directory (its
            adapter is merged), or anything ``from_pretrained`` takes (``"debug"``, ``None`` for the
            default Kokoro-82M, a path or hub id).
        out_dir: created if missing; files in it are replaced atomically.
        dtype: ``"fp32"``, ``"fp16"`` or ``"int8"`` (weights; inputs and outputs stay as specified).
        voices: packs ``name -> (510, 1, R)`` (tensor, array or voice file), or names of the
            model's voices; None: all voices the source brought (a bare model needs this). Their
            order is sherpa-onnx's speaker ids.
        opset: 17 or 20.

    Returns:
        ``{"onnx", "voices_npz", "voices_bin", "tokens", "config", "voice:<name>"...} -> path``.

    Raises:
        KokoroExportError: unknown dtype or opset, no or malformed voices, a vocabulary that
            ``tokens.txt`` cannot hold, or a model that still carries LoRA layers.
    """
    import onnx

    if dtype not in DTYPES:
        raise KokoroExportError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if opset not in OPSETS:
        raise KokoroExportError(f"opset must be one of {OPSETS}, got {opset!r}")
    model, known, fetch = _resolve(model_or_source)
    packs = voice_packs(_select_voices(known, fetch, voices), model.config.ref_dim)
    vocab, names = dict(model.config.vocab), list(packs)
    out_dir = Path(out_dir)
    onnx_path = out_dir / f"{MODEL_STEM}-{dtype}.onnx"
    config = {
        "model_type": "kokoro",
        "sample_rate": SAMPLE_RATE,
        "vocab": vocab,
        "n_token": model.config.n_token,
        "style_dim": [PACK_ROWS, 1, model.config.ref_dim],
        "voices": names,
        "espeak_voice": ESPEAK_VOICE,
        "inputs": INPUTS,
        "outputs": OUTPUTS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        traced = Path(tmp) / "graph.onnx"
        _trace(KokoroGraph(model), model, traced, opset)
        if dtype != "fp32":
            converted = Path(tmp) / f"graph-{dtype}.onnx"
            (_to_int8 if dtype == "int8" else _to_fp16)(traced, converted)
            traced = converted
        proto = onnx.load(str(traced))
    meta = sherpa_metadata(names=names, ref_dim=model.config.ref_dim, vocab=vocab, extra={"dtype": dtype})
    onnx.helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto)
    paths = write_runtime_files(out_dir, packs, vocab=vocab, n_token=model.config.n_token, config=config)
    with atomic_path(onnx_path) as tmp_path:
        onnx.save(proto, str(tmp_path))
    return {"onnx": onnx_path, **paths}


def cached_export(source: Any = None, *, dtype: str = "fp32", cache: str | Path | None = None,
                  **load_options: Any) -> tuple[Path, list[str]]:  # fmt: skip
    """The export of a Kokoro source (None, ``debug``, a LoRA run, a path...), made once into a cache.

    The cache folder is keyed by the weights' source, that file's modification time and ``dtype``
    (``$SESLI_CACHE/onnx``, default ``~/.cache/sesli/onnx``).

    Returns:
        The graph's path and notes on how the weights were found and whether it was exported now.
    """
    import hashlib

    from sesli.inference.registry import load_torch_kokoro
    from sesli.packaged import cache_root

    loaded = load_torch_kokoro(source, **load_options)
    try:
        stamp = str(Path(str(loaded.source)).stat().st_mtime_ns)
    except OSError:
        stamp = ""
    # EXPORT_VERSION: a change to how graphs are made must not reuse graphs made before it
    key = hashlib.sha1(f"{loaded.source}|{stamp}|{dtype}|{EXPORT_VERSION}".encode()).hexdigest()[:16]
    root = Path(cache) if cache else cache_root() / "onnx"
    folder = root / key
    graph = folder / f"{MODEL_STEM}-{dtype}.onnx"
    notes = list(loaded.notes)
    if graph.is_file() and (folder / "config.json").is_file():
        notes.append(f"the ONNX export ({dtype}) cached in {folder}")
    else:
        graph = export_kokoro(loaded, folder, dtype=dtype)["onnx"]
        notes.append(f"exported to ONNX ({dtype}) in {folder}")
    return graph, notes


def onnx_source(model: Any, *, dtype: str = "fp32", **load_options: Any) -> tuple[Any, list[str]]:
    """What to load for ``--backend onnx``: an export as it is, any other Kokoro source exported
    into the cache (:func:`cached_export`), a VITS voice unchanged (its loader then says why not)."""
    from sesli.inference.kokoro_onnx import find_graph
    from sesli.inference.registry import family_of

    if (model is not None and find_graph(model) is not None) or family_of(model) != "kokoro":
        return model, []
    graph, notes = cached_export(model, dtype=dtype, **load_options)
    return str(graph), notes


__all__ = [
    "onnx_source",
    "cached_export",
    "DTYPES",
    "INPUTS",
    "MODEL_STEM",
    "OPSETS",
    "OUTPUTS",
    "KokoroExportError",
    "KokoroGraph",
    "export_kokoro",
]
