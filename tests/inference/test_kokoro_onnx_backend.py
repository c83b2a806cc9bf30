"""``backend="onnx"``: a sesli Kokoro export run by onnxruntime, with the torch path's surface."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

import sesli  # noqa: E402
from sesli.inference.base import RenderItem  # noqa: E402
from sesli.inference.plan import plan_speech  # noqa: E402


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_debug(cache):
    from sesli.export.kokoro import cached_export

    graph, notes = cached_export("debug", dtype="fp32", cache=cache)
    assert any("exported to ONNX (fp32)" in n for n in notes)
    return sesli.load(graph.parent, backend="onnx")


def test_a_torch_source_is_exported_once_and_cached(cache, onnx_debug):
    from sesli.export.kokoro import cached_export

    graph, notes = cached_export("debug", dtype="fp32", cache=cache)
    assert any("cached" in n for n in notes) and graph.is_file()
    assert len(list(cache.iterdir())) == 1


def test_a_torch_source_needs_an_export_first():
    from sesli.inference import ModelLoadError

    with pytest.raises(ModelLoadError, match="sesli kokoro export"):
        sesli.load("debug", backend="onnx")


def test_say_backend_onnx_exports_on_the_way(tmp_path, monkeypatch, capsys):
    from sesli.cli.say import main

    monkeypatch.setenv("SESLI_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "x.wav"
    assert main(["Merhaba.", "--model", "debug", "--backend", "onnx", "-o", str(out)]) == 0
    assert out.stat().st_size > 1000 and "exported to ONNX (int8)" in capsys.readouterr().err  # the default


def test_same_phonemes_and_durations_as_torch(onnx_debug):
    torch_debug = sesli.load("debug", noise=False)
    text = "Merhaba dünya, bugün nasılsın?"
    phonemes, _ = torch_debug.speech_phonemes(text)
    assert onnx_debug.speech_phonemes(text)[0] == phonemes
    a = torch_debug.render([RenderItem(phonemes, None, 1.2)])[0]
    b = onnx_debug.render([RenderItem(phonemes, None, 1.2)])[0]
    np.testing.assert_allclose(a.times, b.times)  # same durations, frame for frame
    assert a.audio.shape == b.audio.shape and np.isfinite(b.audio).all()


def test_the_export_folder_loads_by_path_and_speaks(onnx_debug, tmp_path):
    folder = onnx_debug.loaded.source.rsplit("/", 1)[0]
    synth = sesli.load(folder, backend="onnx")
    out = synth.generate("Çay içer misin?")
    assert out.sample_rate == 24000 and out.duration > 0.2
    assert sesli.load(folder).family == "kokoro"  # a folder of an export is not mistaken for Piper


def test_the_server_plans_and_captions_with_it(onnx_debug):
    plan = plan_speech(onnx_debug, "Dr. Ali geldi. Evet, geldi.")
    rendered = onnx_debug.render([plan.item(c) for c in plan.chunks])
    assert all(r.times.shape == (len(c.phonemes), 2) for r, c in zip(rendered, plan.chunks, strict=True))


def test_a_graph_without_durations_is_refused(tmp_path):
    import json

    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["style"], ["waveform"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None]),
                                            helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 4]),
                                            helper.make_tensor_value_info("speed", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, [1, 4])])  # fmt: skip
    onnx.save(helper.make_model(graph), str(tmp_path / "kokoro-tr-fp32.onnx"))
    (tmp_path / "config.json").write_text(json.dumps({"vocab": {"a": 1}, "style_dim": [510, 1, 4]}))
    np.savez(tmp_path / "voices.npz", v=np.zeros((510, 1, 4), np.float32))
    from sesli.inference import ModelLoadError

    with pytest.raises(ModelLoadError, match="no .duration. output"):
        sesli.load(tmp_path, backend="onnx")
