"""``sesli vc extract`` and ``sesli vc index`` on real clips, through the top-level dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sesli.cli import main

CLIPS = Path("/work/shared/data/cv-tr-sample50/clips")


@pytest.mark.skipif(not CLIPS.is_dir(), reason="cv-tr-sample50 clips not present")
def test_extract_then_index(tmp_path, capsys):
    exp = tmp_path / "ses"
    clips = [str(p) for p in sorted(CLIPS.glob("*.mp3"))[2:4]]
    assert main(["vc", "prepare", str(exp), *clips, "--sample-rate", "40000", "--no-progress"]) == 0
    capsys.readouterr()

    # Before extract: index says what to run; rmvpe without weights says where to get them.
    assert main(["vc", "index", str(exp), "--no-progress"]) == 2
    assert f"run `sesli vc extract {exp}` first" in capsys.readouterr().err
    assert main(["vc", "extract", str(exp), "--f0-method", "rmvpe", "--content-model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sesli vc extract: ") and "rmvpe.pt" in err and "--f0-model PATH" in err
    assert main(["vc", "extract", str(exp), "--f0-method", "crepe", "--content-model", "tiny"]) == 2
    assert "crepe is not supported" in capsys.readouterr().err
    assert main(["vc", "extract", str(exp), "--content-model", str(tmp_path / "none")]) == 2
    assert "huggingface-cli download" in capsys.readouterr().err

    args = ["vc", "extract", str(exp), "--f0-method", "dio", "--content-model", "tiny", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "pitch by dio" in out and "content frames from tiny" in out and f"next: sesli vc train {exp}" in out
    )
    data = json.loads((exp / "experiment.json").read_text())
    assert (
        data["steps"]["extract"]["done"] and data["steps"]["extract"]["settings"]["content_model"] == "tiny"
    )
    n = data["steps"]["extract"]["result"]["clips"]
    assert len(list((exp / "3_feature768").glob("*.npy"))) == n == len(list((exp / "2a_f0").glob("*.npy")))

    assert main(["vc", "index", str(exp), "--no-progress"]) == 0
    out = capsys.readouterr().out
    index = next(exp.glob("added_*_ses_v2.index"))
    assert f"768-d vectors: {index}" in out and f"next: sesli vc train {exp}" in out
    assert main(["vc", "info", str(exp)]) == 0
    out = capsys.readouterr().out
    assert "extract  done" in out and "index    done" in out and index.name in out

    assert main(["vc", "extract", str(tmp_path / "nope"), "--content-model", "tiny"]) == 2
    assert "not a voice-conversion experiment" in capsys.readouterr().err
