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
