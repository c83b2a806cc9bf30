"""ONNX export of the voice converter: torch vs onnxruntime with the same noise, metadata, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sesli.cli import main
from sesli.export.vc import NOISE_SCALE, VcExportError, VcGraph, export_vc, graph_inputs
from sesli.models.vc.config import preset
from sesli.models.vc.model import VcModel
from sesli.models.vc.rvc_format import save_rvc_voice

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _tiny(**kw) -> VcModel:
    torch.manual_seed(0)
    return VcModel(preset("tiny", **kw)).eval()


def _session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _reference(model: VcModel, inputs: dict) -> np.ndarray:
    """``VcModel.infer`` with the graph's noise and its NSF source noise off (the export's default)."""
    source = model.dec.m_source if model.config.f0 else None
    if source is not None:
        real = source.forward
        source.forward = lambda f0, noise=True, generator=None: real(f0, noise=False)
    try:
        out = model.infer(inputs["feats"], None, inputs.get("pitch"), inputs.get("pitchf"), inputs["sid"],
                          noise=inputs["noise"] / NOISE_SCALE, noise_scale=NOISE_SCALE)  # fmt: skip
    finally:
        if source is not None:
            source.forward = real
    return out.audio.numpy()


def test_cli_export_matches_torch_at_any_length(tmp_path, capsys):
    model = _tiny()
    save_rvc_voice(model, None, tmp_path / "alice.pth")
    out = tmp_path / "alice.onnx"
    assert main(["vc", "export", "--model", str(tmp_path / "alice.pth"), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["sample_rate"] == "16000" and meta["f0"] == "1" and meta["version"] == "v2"
    assert meta["feature_dim"] == "768" and meta["source_noise"] == "0" and meta["model_type"] == "vc"
    sess = _session(out)
    assert [i.name for i in sess.get_inputs()] == ["feats", "pitch", "pitchf", "sid", "noise"]
    assert [o.name for o in sess.get_outputs()] == ["audio"]
    loaded = VcModel(model.config).eval()  # the file holds fp16 weights: compare with what it holds
    loaded.load_state_dict({k: v.float() for k, v in torch.load(tmp_path / "alice.pth")["weight"].items()},
                           strict=False)  # fmt: skip
    graph = VcGraph(loaded)
    for frames in (37, 150):
        inputs = graph_inputs(loaded, frames, seed=frames)
        got = sess.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
        with torch.no_grad():
            wrapped = graph(*inputs.values()).numpy()
        ref = _reference(loaded, inputs)
        assert got.shape == ref.shape == (1, frames * loaded.config.hop)
        assert np.abs(got - ref).max() < 1e-5 and np.abs(wrapped - ref).max() < 1e-6
        assert ref.std() > 1e-3  # not a silent comparison
        np.testing.assert_array_equal(got, sess.run(None, {k: v.numpy() for k, v in inputs.items()})[0])


def test_no_f0_voice_exports_without_pitch_inputs(tmp_path):
    model = _tiny(f0=False)
    result = export_vc(model, tmp_path / "nof0.onnx")
    assert result.inputs == ["feats", "sid", "noise"] and result.metadata["f0"] == "0"
    inputs = graph_inputs(model, 41)
    got = _session(result.path).run(None, {k: v.numpy() for k, v in inputs.items()})[0]
    assert np.abs(got - _reference(model, inputs)).max() < 1e-5


def test_bad_source_is_an_export_error(tmp_path):
    with pytest.raises(VcExportError, match="no voice at"):
        export_vc(tmp_path / "missing.pth", tmp_path / "x.onnx")
    assert main(["vc", "export", "--model", str(tmp_path), "--out", str(tmp_path / "x.onnx")]) == 2


@pytest.mark.slow
def test_source_noise_graph_draws_its_own_noise(tmp_path):
    model = _tiny()
    result = export_vc(model, tmp_path / "noisy.onnx", source_noise=True)
    assert result.metadata["source_noise"] == "1"
    inputs = {k: v.numpy() for k, v in graph_inputs(model, 60).items()}
    sess = _session(result.path)
    a, b = sess.run(None, inputs)[0], sess.run(None, inputs)[0]
    assert a.shape == (1, 60 * model.config.hop) and np.isfinite(a).all()
    assert not np.array_equal(a, b)  # RVC's behaviour: fresh source noise each run
