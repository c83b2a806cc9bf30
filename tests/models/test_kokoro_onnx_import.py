"""kokoro-onnx import on small graphs built here: the fp32/fp16 paths, LSTM gates checked by
onnxruntime, folded conv weights, and the errors for foreign or damaged files.

The int8 path on the real Kokoro-82M file is in ``test_kokoro_onnx_parity.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sesli.models.kokoro import KokoroModel, debug_config  # noqa: E402
from sesli.models.kokoro.loading import ModelLoadError, from_pretrained, load_state  # noqa: E402
from sesli.models.kokoro.onnx_import import OnnxImportError, read_kokoro_onnx  # noqa: E402

E, H, T = 32, 16, 7  # debug text encoder: embedding 32, bidirectional LSTM 32 -> 2 x 16


def _kokoro_inputs():
    return [
        helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, "T"]),
        helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 256]),
        helper.make_tensor_value_info("speed", TensorProto.FLOAT, [1]),
    ]


def _graph(dtype=np.float32, seed=0):
    """Embedding -> text_encoder.lstm -> output, plus a folded cnn.0.0 conv, as kokoro-onnx names them.

    With ``dtype=float16`` the weights are stored in fp16 and cast to float in the graph (as a
    converted fp16 export does).
    """
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((178, E)).astype(np.float32)
    w = (rng.standard_normal((2, 4 * H, E)) * 0.3).astype(np.float32)  # ONNX (dirs, 4H, in), gates i,o,f,c
    r = (rng.standard_normal((2, 4 * H, H)) * 0.3).astype(np.float32)
    b = (rng.standard_normal((2, 8 * H)) * 0.1).astype(np.float32)
    conv = rng.standard_normal((E, E, 5)).astype(np.float32)
    conv[3] = 0.0  # a dead channel, as int8 rounding leaves some
    inits, nodes = [], []

    def add(name, arr):
        stored = arr.astype(dtype)
        inits.append(numpy_helper.from_array(stored, name))
        if dtype == np.float32:
            return name
        nodes.append(
            helper.make_node("Cast", [name], [name + "_f"], to=TensorProto.FLOAT, name=f"/cast/{name}")
        )
        return name + "_f"

    e = add("encoder.text_encoder.embedding.weight", emb)
    wn, rn, bn = add("onnx::LSTM_101", w), add("onnx::LSTM_102", r), add("onnx::LSTM_100", b)
    cn = add("/encoder/text_encoder/cnn.0/Mul_output_0", conv)
    nodes += [
        helper.make_node("Gather", [e, "tokens"], ["x"], name="/encoder/text_encoder/embedding/Gather"),
        helper.make_node(
            "Transpose", ["x"], ["xt"], perm=[1, 0, 2], name="/encoder/text_encoder/lstm/Transpose"
        ),
        helper.make_node(
            "LSTM",
            ["xt", wn, rn, bn],
            ["y"],
            direction="bidirectional",
            hidden_size=H,
            name="/encoder/text_encoder/lstm/LSTM",
        ),  # fmt: skip
        helper.make_node("Transpose", ["x"], ["xc"], perm=[0, 2, 1], name="/encoder/text_encoder/Transpose"),
        helper.make_node(
            "Conv", ["xc", cn], ["c"], pads=[2, 2], name="/encoder/text_encoder/cnn.0/cnn.0.0/Conv"
        ),
    ]
    outputs = [
        helper.make_tensor_value_info("audio", TensorProto.FLOAT, None),
        helper.make_tensor_value_info("c", TensorProto.FLOAT, None),
    ]
    nodes.append(helper.make_node("Identity", ["y"], ["audio"], name="/out"))
    graph = helper.make_graph(nodes, "kokoro_like", _kokoro_inputs(), outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, conv


def _import(path):
    model = KokoroModel(debug_config())
    modules = {n for n, _ in model.named_modules() if n}
    return model, read_kokoro_onnx(path, modules, set(model.state_dict()))


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float16, 1e-5)])
def test_float_export_lstm_and_conv_match_onnxruntime(tmp_path, dtype, tol):
    graph, conv = _graph(dtype)
    path = tmp_path / "k.onnx"
    onnx.save(graph, str(path))
    model, imported = _import(path)
    assert imported.dtype == ("fp16" if dtype == np.float16 else "fp32")
    assert imported.how["LSTM gates reordered (i,o,f,c -> i,f,g,o)"] == 1
    state = imported.state
    assert "text_encoder.lstm.weight_ih_l0_reverse" in state and "text_encoder.cnn.0.0.weight" in state

    tokens = np.array([[0, 5, 9, 17, 40, 3, 0]], np.int64)
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    y_ort, c_ort = sess.run(None, {"tokens": tokens, "style": np.zeros((1, 256), np.float32), "speed": [1.0]})

    lstm = torch.nn.LSTM(E, H, batch_first=True, bidirectional=True)
    lstm.load_state_dict(
        {k.split("lstm.")[1]: v for k, v in state.items() if k.startswith("text_encoder.lstm.")}
    )
    x = state["text_encoder.embedding.weight"][torch.from_numpy(tokens)]  # (1, T, E)
    with torch.no_grad():
        y, _ = lstm(x)  # (1, T, 2H)
    y_ref = torch.from_numpy(y_ort).permute(2, 0, 1, 3).reshape(1, T, 2 * H)  # (T, dirs, 1, H) -> (1, T, 2H)
    assert torch.allclose(y, y_ref, atol=tol), (y - y_ref).abs().max()

    # the folded conv splits into weight_g / weight_v; its dead channel stays exactly zero, not NaN
    base = {k: v for k, v in model.state_dict().items() if not k.startswith("text_encoder.cnn.0.0.weight")}
    load_state(model, {**base, **state}, source="test")
    conv_mod = model.text_encoder.cnn[0][0]
    w = torch._weight_norm(conv_mod.weight_v, conv_mod.weight_g, 0)
    assert torch.isfinite(w).all()
    assert torch.allclose(w, torch.from_numpy(conv.astype(dtype).astype(np.float32)), atol=1e-5)
    assert (w[3] == 0).all()
    with torch.no_grad():
        c = torch.nn.functional.conv1d(x.transpose(1, 2), w, padding=2)
    assert torch.allclose(c, torch.from_numpy(c_ort), atol=1e-3)


def test_full_model_state_keys_of_the_debug_graph_are_refused_when_incomplete(tmp_path):
    graph, _ = _graph()
    path = tmp_path / "partial.onnx"
    onnx.save(graph, str(path))
    with pytest.raises(ModelLoadError, match="does not fit this Kokoro config"):
        from_pretrained(path)  # a Kokoro-shaped graph missing most weights: named, not a traceback


def test_foreign_graph_is_named(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "other", [x], [y])
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(g), str(path))
    with pytest.raises(OnnxImportError, match="not a Kokoro export.*'x'"):
        _import(path)
    with pytest.raises(ModelLoadError, match="not a Kokoro export"):
        from_pretrained(path)


def test_truncated_onnx_is_a_clear_error(tmp_path):
    graph, _ = _graph()
    data = graph.SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError, match="truncated or not an ONNX model"):
        from_pretrained(path)
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError):
        from_pretrained(path)
