"""``sesli g2p``: arguments, stdin, ids, JSON, lexicon and character mode."""

from __future__ import annotations

import io
import json

from sesli.cli.g2p import main
from sesli.text.symbols import get_table


def test_prints_phonemes(capsys):
    assert main(["Ankara'dan", "geliyorum."]) == 0
    assert capsys.readouterr().out == "ˈaŋkaɾadan ɟelˈijoɾum.\n"


def test_reads_stdin_line_by_line(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("kedi\n\nev\n"))
    assert main([]) == 0
    assert capsys.readouterr().out.split("\n") == ["cedˈi", "", "ˈev", ""]


def test_ids(capsys):
    assert main(["--ids", "kokoro", "kedi"]) == 0
    assert capsys.readouterr().out.strip() == "45 47 46 156 51"
    assert main(["--ids", "sesli", "kedi"]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert get_table("sesli").decode(ids) == "cedˈi"
    assert main(["--ids", "chars", "Kedi!"]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert get_table("chars").decode(ids) == "kedi!"


def test_json_reports_unknown_on_stdout_and_stderr(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("Merhaba 😀\nev\n"))
    assert main(["--json", "--ids", "kokoro"]) == 0
    out, err = capsys.readouterr()
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["text"] == "Merhaba 😀" and first["normalized"] == "merhaba"
    assert first["phonemes"] == "mˈeɾhaba" and first["unknown"] == ["😀"]
    assert get_table("kokoro").decode(first["ids"]) == "mˈeɾhaba"
    assert second["unknown"] == [] and "😀" in err and "line 1" in err


def test_lexicon_and_its_errors(tmp_path, capsys):
    lex = tmp_path / "lex.tsv"
    lex.write_text("whatsapp\tvˈatsap\n", encoding="utf-8")
    assert main(["--lexicon", str(lex), "WhatsApp"]) == 0
    assert capsys.readouterr().out.strip() == "vˈatsap"
    lex.write_text("whatsapp\n", encoding="utf-8")
    assert main(["--lexicon", str(lex), "WhatsApp"]) == 2
    assert f"{lex}:1:" in capsys.readouterr().err


def test_chars_mode(capsys):
    assert main(["--chars", "Saat 5'te."]) == 0
    assert capsys.readouterr().out.strip() == "saat beşte."
    assert main(["--chars", "--ids", "kokoro", "ev"]) == 2
    assert "--ids kokoro" in capsys.readouterr().err
