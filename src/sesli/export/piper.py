"""Piper-compatible ONNX export of a sesli VITS voice: ``<lang>-<name>-<quality>.onnx`` + ``.onnx.json``.

The files are a contract with the Piper runtimes (``piper-tts`` 1.x, OHF-Voice/piper1-gpl
``piper.voice.PiperVoice``; rhasspy/piper's C++ binary; anything that reads Piper voices), so they
are written as ``piper.train.export_onnx`` writes them and as the real ``en_US-joe-medium`` holds:

* **Graph** (opset 15, Piper's ``OPSET_VERSION``): inputs ``input`` int64 ``(B, T)`` ids,
  ``input_lengths`` int64 ``(B,)``, ``scales`` float32 ``[3]`` = ``(noise_scale, length_scale,
  noise_w)`` and, only for a multi-speaker voice, ``sid`` int64 ``(B,)``; output ``output``
  float32 ``(B, 1, 1, N)`` (Piper's ``infer(...)[0].unsqueeze(1)``; the runtime ``squeeze()``\\ s it).
  Batch, ids and samples are dynamic axes. The noise is drawn inside the graph
  (``RandomNormalLike``), as in Piper's files; with both noise scales 0 it is deterministic and
  equals :meth:`VitsModel.infer <sesli.models.vits.VitsModel.infer>`. There is one ``Ceil`` (the
  durations), so ``python -m piper.patch_voice_with_alignment`` finds the alignment tensor.
* **JSON**: every key the joe voice's has (``audio {sample_rate, quality}``, ``espeak {voice}``,
  ``inference {noise_scale, length_scale, noise_w}``, ``phoneme_type "espeak"``, ``phoneme_map``,
  ``phoneme_id_map`` (symbol -> ``[id]``), ``num_symbols``, ``num_speakers``, ``speaker_id_map``,
  ``piper_version "1.0.0"``, ``language {code, family, region, name_native, name_english,
  country_english}``, ``dataset``), plus ``hop_length``, which piper1-gpl reads (default 256) to
  turn alignment frames into samples.

**``phoneme_map`` folded into ``phoneme_id_map``.** piper1-gpl's runtime ignores ``phoneme_map``
(its ``PiperConfig`` never reads it; only the C++ piper-phonemize applied it) and drops, with a
warning, every espeak-ng symbol missing from the id map. So each mapped symbol also gets the ids of
what it maps to (``ɛ`` -> the id of ``e``), and both kinds of runtime feed the voice the symbols it
was trained on. A symbol mapped to nothing (``ˌ``, espeak-ng's secondary stress: numbers and
abbreviations in Turkish) gets ``[]``: no id, only the pad piper1-gpl writes after every phoneme.

**Why a wrapper instead of ``VitsModel.infer``.** ``infer`` sizes tensors with Python ints
(``int(frames.max())``), which a trace would freeze; :class:`PiperGraph` builds the path and masks
from tensors, draws noise with ``randn_like``, and works on a copy whose weight norm is folded
(as Piper's export does) and whose attention layers compute the relative key term by ``gather``
instead of ``scatter_add``: opset 15 has no ``ScatterElements`` reduction, and the exporter's
fallback (scatter into zeros, then add) keeps one of the colliding writes at the sequence edges,
off by up to 0.05 in a layer's output (measured). Same numbers otherwise, checked by the tests
against onnxruntime.

fp16 (``fp16=True``): onnxruntime's own converter (``onnxruntime.transformers.float16``, shipped
with onnxruntime) with ``keep_io_types=True``, so the inputs and ``output`` stay float32/int64 and
runtimes feed the file unchanged; it halves the file, not the CPU time (bench/vits_export.py:
1.04x the original's RTF). onnxruntime logs at load that it cannot pre-compute the fp16 ``Exp`` of
the duration flow's constant (it has no fp16 CPU kernel for it); the node then runs, harmlessly.

Letters: B batch, T ids, F latent frames, Z latent channels, R relative offsets, N samples.
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sesli.fileio import atomic_path, write_json
from sesli.models.vits import VitsModel
from sesli.models.vits.duration import StochasticDurationPredictor
from sesli.modules.vits_attention import RelativeSelfAttention
from sesli.text import piper_ids

OPSET = 15  # piper1-gpl's piper/train/export_onnx.py OPSET_VERSION; en_US-joe-medium is opset 15
PIPER_VERSION = "1.0.0"  # what en_US-joe-medium.onnx.json (and piper1-gpl's test voice) declare
QUALITIES = ("x_low", "low", "medium", "high")  # Piper's voice qualities (the file name's last part)
DEFAULT_INFERENCE = {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}  # Piper's defaults
TURKISH = {
    "code": "tr_TR",
    "family": "tr",
    "region": "TR",
    "name_native": "Türkçe",
    "name_english": "Turkish",
    "country_english": "Turkey",
}


class PiperExportError(ValueError):
    """A model or metadata that cannot make a Piper voice (the message says what to change)."""


@dataclass
class PiperMeta:
    """What the ``.onnx.json`` says besides the model's own facts (sample rate, symbols, speakers).

    Attributes:
        phoneme_id_map: symbol -> id, or -> ``[ids]`` as Piper writes it.
        phoneme_map: espeak-ng symbol -> the symbols the voice was trained on (Piper's ``phoneme_map``).
        speaker_id_map: speaker name -> id (empty for one speaker).
        inference: default ``noise_scale``, ``length_scale``, ``noise_w``.
        espeak_voice: espeak-ng voice the runtime phonemizes with.
        language: Piper's language block (``code`` also names the file).
        dataset: the data the voice was trained on (Piper's ``dataset``).
    """

    phoneme_id_map: dict[str, Any]
    phoneme_map: dict[str, list[str]] = field(default_factory=dict)
    speaker_id_map: dict[str, int] = field(default_factory=dict)
    inference: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_INFERENCE))
    espeak_voice: str = "tr"
    language: dict[str, str] = field(default_factory=lambda: dict(TURKISH))
    dataset: str = ""

    @classmethod
    def turkish(
        cls,
        *,
        phoneme_id_map: dict[str, Any] | None = None,
        speaker_id_map: dict[str, int] | None = None,
        inference: dict[str, float] | None = None,
        dataset: str = "",
    ) -> PiperMeta:
        """A sesli Turkish voice: :mod:`sesli.text.piper_ids`'s ids and espeak-ng map, ``tr`` voice."""
        return cls(
            phoneme_id_map=dict(phoneme_id_map or piper_ids.phoneme_id_map()),
            phoneme_map={k: list(v) for k, v in piper_ids.ESPEAK_PHONEME_MAP.items()},
            speaker_id_map=dict(speaker_id_map or {}),
            inference={**DEFAULT_INFERENCE, **(inference or {})},
            dataset=dataset,
        )


@dataclass
class ExportResult:
    """What :func:`export_piper` wrote."""

    onnx_path: Path
    config_path: Path
    sample_rate: int
    num_symbols: int
    num_speakers: int
    fp16: bool
    opset: int
    onnx_bytes: int
    seconds: float  # wall time of the export
    inputs: list[str]  # graph input names, in order
    config: dict[str, Any]  # the .onnx.json content


# -- the graph -----------------------------------------------------------------------------------


class _GatherRelativeSelfAttention(RelativeSelfAttention):
    """:class:`RelativeSelfAttention` whose relative key term is gathered per (query, key) pair.

    ``scores[i, j] += rel[i, j - i + W]`` for ``|j - i| <= W``: the same sum as the parent's
    ``scatter_add``, written so that opset 15 exports it exactly (see the module docstring).
    """

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        b, c, t = x.shape
        h, d, w = self.n_heads, self.k_channels, self.window_size
        q = self.conv_q(x).view(b, h, d, t).transpose(2, 3) / math.sqrt(d)  # (B, H, T, D)
        k = self.conv_k(x).view(b, h, d, t).transpose(2, 3)
        v = self.conv_v(x).view(b, h, d, t).transpose(2, 3)
        steps = torch.arange(t, device=x.device)
        offset = steps[None, :] - steps[:, None]  # (T, T) j - i
        near = (offset.abs() <= w).to(x.dtype)
        slot = (offset + w).clamp(0, 2 * w)  # (T, T) relative slot of key j for query i
        # E_k @ q^T, not q @ E_k^T: a transposed parameter would be constant-folded under a new
        # name, and readers of Piper graphs find emb_rel_k by its name
        rel = (self.emb_rel_k @ q.transpose(-2, -1)).transpose(-2, -1)  # (B, H, T, R)
        scores = q @ k.transpose(-2, -1) + rel.gather(-1, slot.expand(b, h, t, t)) * near
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, -1e4)
        p = torch.softmax(scores, dim=-1)  # (B, H, T, T)
        idx, valid = self._offsets(t, x.device)  # (T, R)
        p_rel = p.gather(-1, idx.expand(b, h, t, -1)) * valid.to(p.dtype)  # (B, H, T, R)
        out = (p @ v + p_rel @ self.emb_rel_v).transpose(2, 3).reshape(b, c, t)
        return self.conv_o(out)


class _SdpInference(StochasticDurationPredictor):
    """The stochastic predictor with ``infer`` as its ``forward``: the tracer names nodes after
    the modules *called*, so this keeps Piper's ``/dp/pre/Conv``... instead of ``/pre/Conv``."""

    def forward(self, x: Tensor, mask: Tensor, g: Tensor | None = None, noise_scale: Tensor | float = 0.8):
        return self.infer(x, mask, g=g, noise_scale=noise_scale)


def _inference_copy(model: VitsModel) -> VitsModel:
    """An eval copy with weight norm folded and export-exact attention (the original is untouched)."""
    # a fresh model, not deepcopy: a weight-normed module that has run holds non-leaf weights
    fresh = VitsModel(copy.deepcopy(model.config))
    fresh.load_state_dict(model.state_dict())
    model = fresh.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for module in model.modules():
            if hasattr(module, "weight_g"):
                nn.utils.remove_weight_norm(module)
    # the copy is private and the subclasses add no state, only an export-friendly forward
    for layer in model.enc_p.encoder.attn_layers:
        layer.__class__ = _GatherRelativeSelfAttention
    if model.sdp is not None:
        model.sdp.__class__ = _SdpInference
    return model


class PiperGraph(nn.Module):
    """``(input, input_lengths, scales[, sid]) -> output (B, 1, 1, N)``: Piper's inference graph.

    Submodules keep Piper's names (``enc_p``, ``dp``, ``flow``, ``dec``, ``emb_g``; a lone
    stochastic predictor is ``dp`` as in Piper's files, so readers of Piper graphs, sesli's
    :func:`~sesli.models.vits.load_piper_voice` included, read the export back). With both
    predictors they are ``sdp`` and ``dp`` and ``sdp_ratio`` is fixed in the graph (Piper's
    ``scales`` has no slot for it).

    Args:
        model: the voice (copied; not modified).
        sdp_ratio: as :meth:`VitsModel.infer` (None: the stochastic predictor when present).
        batch_mask: mask the decoder at every rate so batched items stay apart (each gets the
            audio it gets alone). It costs 5-7% of the joe voice's time (bench/vits_export.py);
            without it one sentence at a time, as the Piper runtimes run, is still exact, and
            batched items bleed into their padding as in Piper's own graphs.
    """

    def __init__(self, model: VitsModel, *, sdp_ratio: float | None = None, batch_mask: bool = True) -> None:
        super().__init__()
        if sdp_ratio is not None and not 0.0 <= sdp_ratio <= 1.0:
            raise PiperExportError(f"sdp_ratio must be in [0, 1], got {sdp_ratio}")
        m = _inference_copy(model)
        self.hop = m.config.hop
        self.batch_mask = batch_mask
        self.enc_p, self.flow, self.dec, self.emb_g = m.enc_p, m.flow, m.dec, m.emb_g
        if m.sdp is None:
            self.ratio = 0.0
        elif m.dp is None:
            self.ratio = 1.0
        else:
            self.ratio = 1.0 if sdp_ratio is None else float(sdp_ratio)
        self.sdp_name = "dp" if m.dp is None else "sdp"
        if m.sdp is not None and self.ratio > 0:
            self.add_module(self.sdp_name, m.sdp)
        if m.dp is not None and self.ratio < 1:
            self.dp = m.dp

    def _log_durations(self, x: Tensor, x_mask: Tensor, g: Tensor | None, noise_w: Tensor) -> Tensor:
        logw = 0.0
        if self.ratio > 0:
            logw = self.ratio * getattr(self, self.sdp_name)(x, x_mask, g, noise_w)
        if self.ratio < 1:
            logw = logw + (1 - self.ratio) * self.dp(x, x_mask, g=g)
        return logw  # (B, 1, T)

    def forward(
        self, input: Tensor, input_lengths: Tensor, scales: Tensor, sid: Tensor | None = None
    ) -> Tensor:
        noise_scale, length_scale, noise_w = scales[0], scales[1], scales[2]
        g = self.emb_g(sid).unsqueeze(-1) if self.emb_g is not None else None  # (B, G, 1)
        x, m_p, logs_p, x_mask = self.enc_p(input, input_lengths)  # x_mask (B, 1, T)
        w = torch.ceil(torch.exp(self._log_durations(x, x_mask, g, noise_w)) * x_mask * length_scale)
        frames = torch.clamp_min(w.sum([1, 2]), 1).long()  # (B,)
        w = w[:, 0]  # (B, T) frames per id (not squeeze: that exports as an If on the shape)
        ends = torch.cumsum(w, -1)
        steps = torch.arange(frames.max(), device=input.device).to(m_p.dtype)  # (F,)
        attn = ((steps >= (ends - w)[..., None]) & (steps < ends[..., None])).to(m_p.dtype)  # (B, T, F)
        m_p, logs_p = m_p @ attn, logs_p @ attn  # (B, Z, F)
        y_mask = (steps < frames[:, None]).unsqueeze(1).to(m_p.dtype)  # (B, 1, F)
        z_p = m_p + torch.randn_like(m_p) * torch.exp(logs_p) * noise_scale
        z = self.flow(z_p, y_mask, g=g, reverse=True) * y_mask
        audio = self.dec(z, g=g, mask=y_mask if self.batch_mask else None)  # (B, 1, N)
        samples = torch.arange(audio.shape[-1], device=input.device)
        audio = audio * (samples < (frames * self.hop)[:, None]).unsqueeze(1).to(audio.dtype)
        return audio.unsqueeze(1)  # (B, 1, 1, N)


# -- the JSON ------------------------------------------------------------------------------------


def _ids(value: Any) -> list[int]:
    return [int(i) for i in (value if isinstance(value, (list, tuple)) else [value])]


def folded_id_map(phoneme_id_map: dict[str, Any], phoneme_map: dict[str, list[str]]) -> dict[str, list[int]]:
    """``phoneme_id_map`` as lists, plus each ``phoneme_map`` source the voice lacks, given the
    ids of its targets (``[]`` for a source mapped to nothing).

    Raises:
        PiperExportError: a ``phoneme_map`` target that has no id.
    """
    out = {s: _ids(v) for s, v in phoneme_id_map.items()}
    missing = sorted({t for targets in phoneme_map.values() for t in targets if t not in out})
    if missing:
        raise PiperExportError(f"phoneme_map maps to symbols the voice has no id for: {missing}")
    for source, targets in phoneme_map.items():
        if source not in out:
            out[source] = [i for t in targets for i in out[t]]
    return out


def piper_config(model: VitsModel, meta: PiperMeta, *, quality: str = "medium") -> dict[str, Any]:
    """The ``.onnx.json`` for ``model`` (keys in the joe voice's order, then ``hop_length``).

    Raises:
        PiperExportError: ids outside the model's symbols, Piper's ``_ ^ $`` missing, speakers
            that do not fit the model, an NSF decoder or an unknown quality.
    """
    cfg = model.config
    if quality not in QUALITIES:
        raise PiperExportError(f"quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
    if cfg.nsf:
        raise PiperExportError("this voice's decoder needs F0 (NSF), which Piper's graph has no input for")
    id_map = folded_id_map(meta.phoneme_id_map, meta.phoneme_map)
    lacking = [s for s in (piper_ids.PAD, piper_ids.BOS, piper_ids.EOS) if not id_map.get(s)]
    if lacking:
        raise PiperExportError(f"phoneme_id_map lacks Piper's framing symbols {lacking} (pad, bos, eos)")
    bad = sorted({i for ids in id_map.values() for i in ids if not 0 <= i < cfg.n_symbols})
    if bad:
        raise PiperExportError(f"phoneme_id_map has ids {bad[:8]} outside the model's 0..{cfg.n_symbols - 1}")
    speakers = {str(k): int(v) for k, v in meta.speaker_id_map.items()}
    if any(not 0 <= i < cfg.n_speakers for i in speakers.values()):
        raise PiperExportError(
            f"speaker_id_map {speakers} does not fit the model's {cfg.n_speakers} speaker(s)"
        )
    inference = {
        **DEFAULT_INFERENCE,
        **{k: float(v) for k, v in meta.inference.items() if k in DEFAULT_INFERENCE},
    }
    return {
        "audio": {"sample_rate": int(cfg.sample_rate), "quality": quality},
        "espeak": {"voice": meta.espeak_voice},
        "inference": inference,
        "phoneme_type": "espeak",
        "phoneme_map": {k: list(v) for k, v in meta.phoneme_map.items()},
        "phoneme_id_map": id_map,
        "num_symbols": int(cfg.n_symbols),
        "num_speakers": int(cfg.n_speakers),
        "speaker_id_map": speakers,
        "piper_version": PIPER_VERSION,
        "language": dict(meta.language),
        "dataset": meta.dataset,
        "hop_length": int(cfg.hop),
    }


# -- export --------------------------------------------------------------------------------------


def _dummy_inputs(model: VitsModel) -> tuple[Tensor, ...]:
    gen = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, model.config.n_symbols, (1, 50), generator=gen)
    args = (ids, torch.tensor([50]), torch.tensor([0.667, 1.0, 0.8]))
    return (*args, torch.tensor([0])) if model.config.n_speakers > 1 else args


def _to_fp16(proto):
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = OnnxModel(convert_float_to_float16(proto, keep_io_types=True))
    half.topological_sort()  # the converter appends the input casts after their consumers
    return half.model


def export_piper(
    model: VitsModel,
    meta: PiperMeta,
    out_dir: str | Path,
    *,
    name: str,
    quality: str = "medium",
    fp16: bool = False,
    sdp_ratio: float | None = None,
    batch_mask: bool = True,
) -> ExportResult:
    """Write ``<out_dir>/<language code>-<name>-<quality>.onnx`` and its ``.onnx.json`` (atomically).

    Args:
        model: the voice (not modified).
        meta: ids, speakers, language and defaults (:meth:`PiperMeta.turkish` for sesli voices).
        out_dir: created if missing.
        name: the voice's name, Piper's middle part (letters, digits, ``_``; no ``-``).
        quality: ``x_low``, ``low``, ``medium`` or ``high``.
        fp16: store the weights in float16 (inputs and output stay as Piper's contract says).
        sdp_ratio: for a voice with both duration predictors (fixed in the graph).
        batch_mask: see :class:`PiperGraph` (False: 5-7% faster, exact one sentence at a time).

    Raises:
        PiperExportError: see :func:`piper_config`, or a bad ``name``.
    """
    import onnx

    from sesli import __version__

    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise PiperExportError(
            f"name must be letters, digits or '_' (Piper splits file names on '-'), got {name!r}"
        )
    start = time.perf_counter()
    config = piper_config(model, meta, quality=quality)
    graph = PiperGraph(model, sdp_ratio=sdp_ratio, batch_mask=batch_mask)
    multi = model.config.n_speakers > 1
    inputs = ["input", "input_lengths", "scales"] + (["sid"] if multi else [])
    dynamic = {"input": {0: "batch_size", 1: "phonemes"}, "input_lengths": {0: "batch_size"}}
    dynamic |= {"sid": {0: "batch_size"}} if multi else {}
    dynamic["output"] = {0: "batch_size", 3: "time"}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        traced = Path(tmp) / "graph.onnx"
        torch.onnx.export(
            graph,
            _dummy_inputs(model),
            str(traced),
            dynamo=False,  # TorchScript tracing, as Piper: the frame count is data-dependent
            opset_version=OPSET,
            input_names=inputs,
            output_names=["output"],
            dynamic_axes=dynamic,
        )
        proto = onnx.load(str(traced))
    if fp16:
        proto = _to_fp16(proto)
    onnx.helper.set_model_props(
        proto,
        {
            "sesli_version": __version__,
            "model_type": "vits",
            "sample_rate": str(config["audio"]["sample_rate"]),
        },
    )
    onnx.checker.check_model(proto)
    out_dir = Path(out_dir)
    stem = f"{meta.language.get('code', 'tr_TR')}-{name}-{quality}"
    onnx_path, config_path = out_dir / f"{stem}.onnx", out_dir / f"{stem}.onnx.json"
    with atomic_path(onnx_path) as tmp_path:
        onnx.save(proto, str(tmp_path))
    write_json(config_path, config)
    return ExportResult(
        onnx_path=onnx_path,
        config_path=config_path,
        sample_rate=config["audio"]["sample_rate"],
        num_symbols=config["num_symbols"],
        num_speakers=config["num_speakers"],
        fp16=fp16,
        opset=OPSET,
        onnx_bytes=onnx_path.stat().st_size,
        seconds=time.perf_counter() - start,
        inputs=inputs,
        config=config,
    )


__all__ = [
    "DEFAULT_INFERENCE",
    "OPSET",
    "PIPER_VERSION",
    "QUALITIES",
    "TURKISH",
    "ExportResult",
    "PiperExportError",
    "PiperGraph",
    "PiperMeta",
    "export_piper",
    "folded_id_map",
    "piper_config",
]
