"""The whole voice-conversion chain from the CLI on real Common Voice clips, with the tiny preset:
prepare -> extract -> train (index built with it) -> info -> convert -> export."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sesli.cli.vc import main

pytest.importorskip("faiss")
pytest.importorskip("transformers")
CV = Path(__file__).resolve().parents[2] / "data" / "cv-tr-sample50"


def _clips_by_speaker() -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    with open(CV / "validated.tsv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out.setdefault(row["client_id"], []).append(CV / "clips" / row["path"])
    return out


def test_the_whole_chain_on_real_clips(tmp_path, capsys):
    speakers = sorted(_clips_by_speaker().values(), key=len, reverse=True)
    voice, other = speakers[0][:4], speakers[1][0]  # four clips of one speaker; another speaker to convert
    exp = tmp_path / "exp"
    assert main(["prepare", str(exp), *map(str, voice), "--sample-rate", "40000", "--no-progress"]) == 0
    assert main(["extract", str(exp), "--f0-method", "dio", "--content-model", "tiny", "--no-progress"]) == 0
    assert main(["train", str(exp), "--config", "tiny", "--steps", "6", "--quiet"]) == 0
    assert (exp / f"{exp.name}.pth").is_file() and list(exp.glob("added_*.index"))

    capsys.readouterr()
    assert main(["info", str(exp)]) == 0
    info = capsys.readouterr().out
    for step in ("prepare", "extract", "train", "index"):
        assert any(line.split()[:2] == [step, "done"] for line in info.splitlines()), info

    out = tmp_path / "converted.wav"
    assert main(["convert", "--model", str(exp), "--input", str(other), "--output", str(out), "--pitch", "3"]) == 0
    audio, rate = sf.read(out, dtype="float32")
    source, source_rate = sf.read(other, dtype="float32")
    assert rate == 16000  # the tiny preset's rate
    assert abs(len(audio) / rate - len(source) / source_rate) < 0.02
    assert np.isfinite(audio).all() and 0 < np.abs(audio).max() <= 0.99

    onnx = tmp_path / "vc.onnx"
    assert main(["export", "--model", str(exp), "--out", str(onnx)]) == 0
    assert onnx.stat().st_size > 0
