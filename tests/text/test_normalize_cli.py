"""``sesli normalize``: argument mode and line-by-line stdin mode."""

from __future__ import annotations

import io

import pytest

from sesli.cli.normalize import main


def test_argument_mode_prints_normalised_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["3'te", "buluşalım"]) == 0
    assert capsys.readouterr().out == "üçte buluşalım\n"


def test_argument_mode_single_quoted_string(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["TBMM'de %50"]) == 0
    assert capsys.readouterr().out == "te be me mede yüzde elli\n"


def test_stdin_mode_one_line_per_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["14:30'da", "", "  ", "Dr. Ali 5 km yürüdü.", "😀", "1.250.000 TL"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.split("\n")[:-1] == [
        "on dört otuzda",
        "",
        "",
        "doktor ali beş kilometre yürüdü.",
        "",
        "bir milyon iki yüz elli bin lira",
    ]
    assert out.count("\n") == len(lines)


def test_stdin_without_final_newline_and_crlf(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("1\r\n2\r\n\r\n3"))
    assert main([]) == 0
    assert capsys.readouterr().out == "bir\niki\n\nüç\n"


def test_dispatcher_routes_the_verb(capsys: pytest.CaptureFixture[str]) -> None:
    from sesli.cli import main as sesli_main

    assert sesli_main(["normalize", "%3,5"]) == 0
    assert capsys.readouterr().out == "yüzde üç virgül beş\n"
