"""``sesli vc prepare`` and ``sesli vc info`` on two real clips, through the top-level dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sesli.cli import main

CLIPS = Path("/work/shared/data/cv-tr-sample50/clips")


@pytest.mark.skipif(not CLIPS.is_dir(), reason="cv-tr-sample50 clips not present")
def test_prepare_then_info(tmp_path, capsys):
    exp = tmp_path / "ses"
    clips = [str(p) for p in sorted(CLIPS.glob("*.mp3"))[:2]]
    assert (
        main(["vc", "prepare", str(exp), *clips, "--sample-rate", "48000", "--no-f0", "--no-progress"]) == 0
    )
    out = capsys.readouterr().out
    assert "from 2 of 2 file(s) at 48000 Hz" in out and f"next: sesli vc extract {exp}" in out
    data = json.loads((exp / "experiment.json").read_text())
    assert (data["sample_rate"], data["f0"], data["version"]) == (48000, False, "v2")
    assert data["steps"]["prepare"]["done"] and any((exp / "0_gt_wavs").glob("*.wav"))

    # Resuming without the flags keeps the experiment's settings; changing one is refused.
    assert main(["vc", "prepare", str(exp), *clips, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["vc", "prepare", str(exp), *clips, "--sample-rate", "40000", "--no-progress"]) == 2
    assert "sample_rate 48000 -> 40000" in capsys.readouterr().err

    assert main(["vc", "info", str(exp)]) == 0
    out = capsys.readouterr().out
    assert "48000 Hz, no f0, v2" in out and "prepare  done" in out and "extract  not run" in out
    assert f"next: sesli vc extract {exp}" in out
    assert main(["vc", "info", str(exp), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["clips"] == data["steps"]["prepare"]["result"]["pieces"]

    assert main(["vc", "info", str(tmp_path / "nope")]) == 2
    assert "not a voice-conversion experiment" in capsys.readouterr().err
    assert main(["vc", "prepare", str(tmp_path / "e2"), str(tmp_path / "missing.wav")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "e2").exists()
