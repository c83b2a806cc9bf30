"""ONNX export of a voice-conversion generator (RVC's converter without the content model and f0).

The graph is a contract with onnxruntime (any runtime that runs opset 17): the caller extracts
content features and f0 (as :mod:`sesli.inference.vc` does) and the graph turns them into audio.

* **Inputs** (T frames at 100 /s, dynamic): ``feats`` float32 ``(1, T, C)`` content features
  already repeated x2 from 50 /s; ``pitch`` int64 ``(1, T)`` coarse ids 1..255 and ``pitchf``
  float32 ``(1, T)`` f0 in Hz (0 = unvoiced), both already shifted (pitch models only: a
  ``--no-f0`` voice has neither); ``sid`` int64 ``(1,)`` speaker; ``noise`` float32 ``(1, Z, T)``
  the prior noise **already scaled**: ``z_p = m_p + exp(logs_p) * noise``, as RVC's own ONNX export
  takes ``rnd``. ``randn * 0.66666`` (metadata ``noise_scale``) gives RVC's torch inference.
* **Output**: ``audio`` float32 ``(1, T * hop)`` at ``sample_rate``, in [-1, 1].
* **Metadata** (``metadata_props``): ``model_type`` "vc", ``sample_rate``, ``hop``, ``frame_rate``
  100, ``f0`` "1"/"0", ``version`` v1/v2, ``feature_dim``, ``inter_channels`` (Z),
  ``n_speakers``, ``noise_scale``, ``source_noise``, ``sesli_version``.

**Determinism.** The hn-NSF source adds Gaussian noise to its sine (std 0.003 voiced, 0.033
unvoiced: the excitation of breaths and fricatives); RVC's export draws it in the graph
(``randn_like``), so its files never give the same audio twice. By default this export leaves the
source noise out (``source_noise=False``): given ``noise`` the graph is deterministic and equals
:meth:`VcModel.infer <sesli.models.vc.VcModel.infer>` with the source noise off (tested against
onnxruntime). ``source_noise=True`` keeps RVC's in-graph draw (``RandomNormalLike``) for the
sound of the trained model's unvoiced frames, at the price of run-to-run differences there.

Why a wrapper (:class:`VcGraph`): ``infer`` sizes masks with Python ints and validates with
``bool(tensor)`` checks, which a trace would freeze. The wrapper works on a private copy whose
weight norm is folded and whose attention is sesli's gather form (the one the Piper export uses,
exact in ONNX), derives lengths from the tensors, and takes the noise as an input. The sine
phase is a cumulative sum over samples in float32, as in torch: for long inputs (minutes) its
rounding differs between runtimes by up to ~1e-3 of a cycle.
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sesli.audio.pitch import coarse_f0
from sesli.export.piper import _GatherRelativeSelfAttention  # the exact-in-ONNX attention
from sesli.fileio import atomic_path
from sesli.models.vc.model import VcModel
from sesli.modules.hifigan import SineSource

OPSET = 17
NOISE_SCALE = 0.66666  # RVC's prior noise scale at inference


class VcExportError(ValueError):
    """A model or path that cannot be exported."""


class _ExportSineSource(SineSource):
    """:class:`SineSource` with its noise drawn by ``randn_like`` (``in_graph_noise``) or left out,
    and its phase summed in float64 (torch's CPU ``cumsum`` accumulates float32 in double;
    onnxruntime's float CumSum does not, which drifts by 1e-4 of a cycle per second)."""

    in_graph_noise = False

    def forward(self, f0: Tensor, *, noise: bool = True, generator: torch.Generator | None = None) -> Tensor:
        f = f0.repeat_interleave(self.upsample_scale, dim=1).unsqueeze(-1)  # (B, N, 1)
        step = f * self.harmonics / self.sample_rate  # (B, N, H) cycles per sample
        phase = torch.cumsum(step.double(), dim=1).to(f.dtype) % 1.0
        voiced = (f > self.voiced_threshold).to(f.dtype)
        sines = self.sine_amp * torch.sin(2 * math.pi * phase) * voiced
        if self.in_graph_noise:
            amp = voiced * self.noise_std + (1 - voiced) * self.sine_amp / 3
            sines = sines + amp * torch.randn_like(sines)
        return torch.tanh(self.l_linear(sines)).transpose(1, 2)  # (B, 1, N)


def _inference_copy(model: VcModel, source_noise: bool) -> VcModel:
    """An eval copy with weight norm folded, gather attention and an export-friendly source."""
    fresh = VcModel(copy.deepcopy(model.config))  # not deepcopy: weight-normed modules hold non-leaves
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for module in fresh.modules():
            if hasattr(module, "weight_g"):
                nn.utils.remove_weight_norm(module)
    for layer in fresh.enc_p.encoder.attn_layers:
        layer.__class__ = _GatherRelativeSelfAttention
    if fresh.config.f0:
        fresh.dec.m_source.__class__ = _ExportSineSource
        fresh.dec.m_source.in_graph_noise = source_noise
    return fresh


class VcGraph(nn.Module):
    """``(feats, pitch, pitchf, sid, noise) -> audio (1, T * hop)``; see the module docstring.

    Submodules keep RVC's names (``enc_p``, ``flow``, ``dec``, ``emb_g``), so the ONNX
    initialisers read like RVC's exports.

    Args:
        model: the voice (copied; not modified).
        source_noise: draw the NSF source's noise in the graph (not deterministic).
    """

    def __init__(self, model: VcModel, *, source_noise: bool = False) -> None:
        super().__init__()
        m = _inference_copy(model, source_noise)
        self.f0 = m.config.f0
        self.enc_p, self.flow, self.dec, self.emb_g = m.enc_p, m.flow, m.dec, m.emb_g

    def run(
        self, feats: Tensor, pitch: Tensor | None, pitchf: Tensor | None, sid: Tensor, noise: Tensor
    ) -> Tensor:
        lengths = torch.ones_like(feats[:, :, 0], dtype=torch.long).sum(1)  # (1,) = T, from the tensor
        g = self.emb_g(sid).unsqueeze(-1)  # (1, G, 1)
        m_p, logs_p, x_mask = self.enc_p(feats, pitch, lengths)  # (1, Z, T) x2, (1, 1, T)
        z_p = (m_p + torch.exp(logs_p) * noise) * x_mask
        z = self.flow(z_p, x_mask, g=g, reverse=True) * x_mask
        return self.dec(z, g=g, f0=pitchf).squeeze(1)  # (1, N)

    def forward(self, feats: Tensor, pitch: Tensor, pitchf: Tensor, sid: Tensor, noise: Tensor) -> Tensor:
        return self.run(feats, pitch, pitchf, sid, noise)


class VcGraphNoF0(VcGraph):
    """:class:`VcGraph` of a ``--no-f0`` voice: ``(feats, sid, noise) -> audio``."""

    def forward(self, feats: Tensor, sid: Tensor, noise: Tensor) -> Tensor:  # type: ignore[override]
        return self.run(feats, None, None, sid, noise)


@dataclass
class VcExportResult:
    """What :func:`export_vc` wrote."""

    path: Path
    inputs: list[str]
    outputs: list[str]
    metadata: dict[str, str]
    opset: int
    onnx_bytes: int
    seconds: float


def graph_inputs(model: VcModel, frames: int = 64, *, seed: int = 0) -> dict[str, Tensor]:
    """Random inputs of the graph's contract for ``frames`` frames (tracing, parity tests)."""
    cfg = model.config
    gen = torch.Generator().manual_seed(seed)
    inputs = {"feats": torch.randn(1, frames, cfg.feature_dim, generator=gen)}
    if cfg.f0:
        pitchf = 100 + 200 * torch.rand(1, frames, generator=gen)
        pitchf[:, frames // 3 : frames // 2] = 0  # an unvoiced stretch
        inputs["pitch"] = torch.from_numpy(coarse_f0(pitchf.numpy()))
        inputs["pitchf"] = pitchf
    inputs["sid"] = torch.zeros(1, dtype=torch.long)
    inputs["noise"] = torch.randn(1, cfg.inter_channels, frames, generator=gen) * NOISE_SCALE
    return inputs


def metadata(model: VcModel, *, source_noise: bool = False) -> dict[str, str]:
    """The ``metadata_props`` of an export (all strings, as ONNX stores them)."""
    from sesli import __version__

    cfg = model.config
    return {
        "model_type": "vc",
        "sample_rate": str(cfg.sample_rate),
        "hop": str(cfg.hop),
        "frame_rate": "100",
        "f0": str(int(cfg.f0)),
        "version": cfg.version,
        "feature_dim": str(cfg.feature_dim),
        "inter_channels": str(cfg.inter_channels),
        "n_speakers": str(cfg.n_speakers),
        "noise_scale": str(NOISE_SCALE),
        "source_noise": str(int(source_noise)),
        "sesli_version": __version__,
    }


def _load(model_or_path: Any) -> VcModel:
    if isinstance(model_or_path, VcModel):
        return model_or_path
    from sesli.inference.vc import ConvertError, resolve_voice

    try:
        return resolve_voice(model_or_path).model
    except ConvertError as err:
        raise VcExportError(str(err)) from err


def export_vc(
    model_or_path: Any, out_path: str | Path, opset: int = OPSET, *, source_noise: bool = False
) -> VcExportResult:
    """Write the converter as ONNX at ``out_path`` (atomically).

    Args:
        model_or_path: a :class:`VcModel`, an RVC ``.pth`` voice file or an experiment folder.
        out_path: the ``.onnx`` file.
        opset: ONNX opset (17: LayerNormalization, ScatterND; onnxruntime >= 1.11).
        source_noise: keep the NSF source's random noise in the graph (module docstring).

    Raises:
        VcExportError: the model cannot be found or read.
    """
    import onnx

    start = time.perf_counter()
    model = _load(model_or_path).eval()
    graph = (VcGraph if model.config.f0 else VcGraphNoF0)(model, source_noise=source_noise)
    example = graph_inputs(model)
    names = list(example)
    dynamic = {k: {1: "frames"} for k in ("feats", "pitch", "pitchf") if k in example}
    dynamic |= {"noise": {2: "frames"}, "audio": {1: "samples"}}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        traced = Path(tmp) / "graph.onnx"
        torch.onnx.export(
            graph,
            tuple(example.values()),
            str(traced),
            dynamo=False,  # TorchScript tracing: the frame count is dynamic, the code has no branches on it
            opset_version=opset,
            input_names=names,
            output_names=["audio"],
            dynamic_axes=dynamic,
        )
        proto = onnx.load(str(traced))
    meta = metadata(model, source_noise=source_noise)
    onnx.helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp_path:
        onnx.save(proto, str(tmp_path))
    return VcExportResult(
        path=out_path,
        inputs=names,
        outputs=["audio"],
        metadata=meta,
        opset=opset,
        onnx_bytes=out_path.stat().st_size,
        seconds=time.perf_counter() - start,
    )


__all__ = [
    "NOISE_SCALE",
    "OPSET",
    "VcExportError",
    "VcExportResult",
    "VcGraph",
    "VcGraphNoF0",
    "export_vc",
    "graph_inputs",
    "metadata",
]
