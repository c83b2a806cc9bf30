"""``sesli kokoro export``: files for kokoro-onnx and sherpa-onnx, clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from sesli.cli.kokoro import main

pytest.importorskip("onnxruntime")


def test_export_the_debug_model(tmp_path, capsys):
    assert main(["export", "debug", "--out", str(tmp_path), "--dtype", "int8"]) == 0
    out = capsys.readouterr().out
    assert "kokoro-tr-int8.onnx" in out and "vocab_config" in out
    names = {p.name for p in tmp_path.iterdir()}
    assert {"kokoro-tr-int8.onnx", "voices.npz", "voices.bin", "tokens.txt", "config.json"} <= names
    packs = np.load(tmp_path / "voices.npz")
    assert (tmp_path / "voices.bin").stat().st_size == sum(packs[k].size * 4 for k in packs.files)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dtype", "int4"], "dtype must be one of"),
        (["--voice", "yok"], "is not one of the model's voices"),
        (["--opset", "9"], "opset must be one of"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, capsys, argv, message):
    assert main(["export", "debug", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_run_without_its_base_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "adapter_config.json").write_text('{"base_model_name_or_path": "/no/such/base"}')
    assert main(["export", str(run), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("sesli kokoro export:")


def test_export_with_the_browser_page(tmp_path, capsys):
    from sesli.serve.webruntime import WebRuntimeError, ort_web_dir

    try:
        ort_web_dir()
    except WebRuntimeError as err:
        pytest.skip(str(err))
    words = tmp_path / "words.txt"
    words.write_text("Zzgrokluk ve Kıvılcımlandıramadıklarımız.\n", encoding="utf-8")
    out = tmp_path / "site"
    assert main(["export", "debug", "--out", str(out), "--dtype", "int8", "--web", "--words", str(words)]) == 0
    assert "sesli serve --browser" in capsys.readouterr().out
    import json

    site = json.loads((out / "site.json").read_text())
    assert site["graphs"] == {"int8": "kokoro-tr-int8.onnx"}
    lexicon = json.loads((out / "lexicon.json").read_text())["words"]
    assert "zzgrokluk" in lexicon and "kıvılcımlandıramadıklarımız" in lexicon and "merhaba" in lexicon
    assert (out / "index.html").is_file() and (out / "ort" / "ort-wasm-simd-threaded.wasm").is_file()
