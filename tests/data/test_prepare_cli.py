"""``sesli prepare`` on the command line: the exact flags later checks use, errors as exit codes."""

from __future__ import annotations

import json

from sesli.cli import main as sesli
from sesli.cli.prepare import main
from sesli.testing.audio import make_commonvoice, make_ljspeech


def test_cli_prepares_and_prints_summary(tmp_path, capsys):
    src = make_ljspeech(tmp_path / "lj", n=4, duration=0.8)
    (src / "metadata.csv").write_text(
        (src / "metadata.csv").read_text(encoding="utf-8") + "LJ003b|Kısa cümle.\n", encoding="utf-8"
    )
    args = [str(src), "--out", str(tmp_path / "out"), "--format", "ljspeech", "--sample-rate", "22050"]
    args += ["--val-split", "0.25", "--min-words", "3", "--workers", "1", "--no-progress"]
    assert sesli(["prepare", *args]) == 0
    out = capsys.readouterr().out
    assert "kept 4 utterance(s)" in out and "rejected 1" in out and "too few words" in out
    stats = json.loads((tmp_path / "out" / "stats.json").read_text(encoding="utf-8"))
    assert stats["sample_rate"] == 22050 and stats["inputs"] == 5
    assert stats["kept"]["train"] + stats["kept"]["val"] == 4 and stats["kept"]["val"] >= 1


def test_cli_two_workers_commonvoice(tmp_path, capsys):
    cv = make_commonvoice(tmp_path / "cv", n=4, duration=0.8)
    assert main([str(cv), "--out", str(tmp_path / "o"), "--workers", "2", "--no-progress"]) == 0
    assert "kept 4 utterance(s)" in capsys.readouterr().out


def test_cli_bad_input_exit_codes(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([str(tmp_path), "--out", str(tmp_path / "o"), "--val-split", "1.5"]) == 2
    assert "--val-split" in capsys.readouterr().err
