"""Batch synthesis with the debug model: WAVs + manifest, bad lines, resume (also after SIGKILL), CLI."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from sesli.cli.say import main as say
from sesli.inference import SynthesisError, load
from sesli.inference.batch import ERRORS, MANIFEST, BatchItem, parse_batch, run_batch

GOOD = {
    "bir": "Merhaba, size nasıl yardımcı olabilirim?",
    "iki": "Bugün hava çok güzel.",
    "üç": "Yarın sabah erkenden yola çıkacağız.",
    "dört-4.a": "Akşam eve döneriz.",
}


@pytest.fixture(scope="module")
def synth():
    torch.set_num_threads(1)
    return load("debug", noise=False)


class Counting:
    """A synthesizer that records the texts it was asked to say."""

    def __init__(self, synth):
        self.synth = synth
        self.texts: list[str] = []

    def synthesize(self, text, voice=None, speed=1.0):
        self.texts.append(text)
        return self.synth.synthesize(text, voice=voice, speed=speed)

    def __getattr__(self, name):
        return getattr(self.synth, name)


def _tsv(items: dict[str, str]) -> list[str]:
    return [f"{ident}\t{text}\n" for ident, text in items.items()]


def _manifest(out) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST).read_text(encoding="utf-8").splitlines()]


def test_batch_writes_one_wav_per_line_and_a_manifest(synth, tmp_path):
    lines = ["# a comment\n", "\n", *_tsv(GOOD)]
    result = run_batch(synth, lines, tmp_path / "out")
    out = tmp_path / "out"
    assert result.said == list(GOOD) and result.skipped == [] and result.ok
    entries = _manifest(out)
    assert [e["id"] for e in entries] == list(GOOD)
    for entry in entries:
        assert set(entry) == {"id", "text", "phonemes", "seconds"}
        assert entry["text"] == GOOD[entry["id"]]
        assert entry["phonemes"] == synth.synthesize(entry["text"]).phonemes
        info = sf.info(out / f"{entry['id']}.wav")
        assert info.samplerate == 24000 and info.subtype == "PCM_16" and info.channels == 1
        assert entry["seconds"] == pytest.approx(info.frames / 24000, abs=1e-9) and entry["seconds"] > 0.3
    assert result.seconds == pytest.approx(sum(e["seconds"] for e in entries))
    audio, _ = sf.read(out / "iki.wav", dtype="float32")
    np.testing.assert_allclose(audio, synth.synthesize(GOOD["iki"]).audio, atol=1 / 32767)
    assert not (out / ERRORS).exists()
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"{i}.wav" for i in GOOD), MANIFEST])


def test_bad_lines_are_reported_with_line_numbers_and_the_rest_is_said(synth, tmp_path):
    lines = [
        "a\tBirinci cümle.\n",  # 1
        "bir satır sekmesiz\n",  # 2: no tab
        "b\t   \n",  # 3: empty text
        "c\t... !?\n",  # 4: punctuation only
        "\tkimliksiz\n",  # 5: empty id
        "A\tİkinci cümle.\n",  # 6: duplicate of line 1 (case-folded: one file on macOS)
        "../x\tKaçak.\n",  # 7: not a safe file name
        "d\tÜçüncü cümle.\n",  # 8
    ]
    log = io.StringIO()
    out = tmp_path / "out"
    result = run_batch(synth, lines, out, source="metin.tsv", log=log)
    assert result.said == ["a", "d"] and not result.ok
    assert sorted((e.line, e.id) for e in result.failed) == [
        (2, None),
        (3, "b"),
        (4, "c"),
        (5, None),
        (6, "A"),
        (7, "../x"),
    ]
    report = log.getvalue()
    for expected in (
        "metin.tsv:2: no tab",
        "metin.tsv:3: empty text",
        "metin.tsv:4: nothing to say",
        "metin.tsv:5: empty id",
        "metin.tsv:6: duplicate id 'A' (first on line 1)",
        "metin.tsv:7: id '../x' is not a safe file name",
    ):
        assert expected in report
    errors = [json.loads(line) for line in (out / ERRORS).read_text(encoding="utf-8").splitlines()]
    assert all(set(e) == {"id", "line", "reason"} for e in errors)
    assert sorted(e["line"] for e in errors) == [2, 3, 4, 5, 6, 7]
    assert sorted(p.name for p in out.glob("*.wav")) == ["a.wav", "d.wav"]
    assert not (tmp_path / "x.wav").exists()
    assert [e["id"] for e in _manifest(out)] == ["a", "d"]

    # the next run tries the failed lines again and lists only its own failures
    fixed = [line if not line.startswith("c\t") else "c\tDördüncü cümle.\n" for line in lines]
    again = run_batch(synth, fixed, out)
    assert again.said == ["c"] and again.skipped == ["a", "d"]
    assert 4 not in {e.line for e in again.failed} and len(again.failed) == 5


def test_parse_batch_reads_bom_crlf_tabs_in_text_and_rejects_unsafe_ids():
    items, errors = parse_batch(
        [
            "\ufeffa\tBir\tiki\r\n",
            "  # comment\n",
            "   \n",
            " b \t Üç \n",
            ".gizli\tx\n",
            "-x\ty\n",
            "ç_1\tz\n",
        ]
    )
    assert items == [BatchItem(1, "a", "Bir\tiki"), BatchItem(4, "b", "Üç"), BatchItem(7, "ç_1", "z")]
    assert [(e.line, e.id) for e in errors] == [(5, ".gizli"), (6, "-x")]
    _, errors = parse_batch([f"{'a' * 201}\tuzun\n"])
    assert "longer than 200 bytes" in errors[0].reason


def test_resume_skips_what_is_done_and_redoes_a_deleted_wav_and_a_torn_line(synth, tmp_path):
    out = tmp_path / "out"
    lines = _tsv(GOOD)
    run_batch(synth, lines, out)
    (out / "iki.wav").unlink()
    raw = (out / MANIFEST).read_bytes()
    last = raw.rstrip(b"\n").rfind(b"\n") + 1
    (out / MANIFEST).write_bytes(raw[: last + (len(raw) - last) // 2])  # a kill while appending
    stale = out / ".üç.wav.abc123.wav.tmp"  # what a kill inside atomic_path leaves
    stale.write_bytes(b"half a wav")

    counting = Counting(synth)
    result = run_batch(counting, lines, out)
    assert counting.texts == [GOOD["iki"], GOOD["dört-4.a"]]
    assert result.said == ["iki", "dört-4.a"] and result.skipped == ["bir", "üç"]
    entries = _manifest(out)
    assert sorted(e["id"] for e in entries) == sorted(GOOD)
    assert (out / MANIFEST).read_bytes().endswith(b"\n") and not stale.exists()
    assert result.seconds == pytest.approx(sum(e["seconds"] for e in entries))

    counting = Counting(synth)
    assert run_batch(counting, lines, out).skipped == list(GOOD) and counting.texts == []
    # an edited line is said again, and listed once
    edited = [*lines[:1], "iki\tBugün hava yağmurlu.\n", *lines[2:]]
    result = run_batch(counting, edited, out)
    assert counting.texts == ["Bugün hava yağmurlu."] and result.said == ["iki"]
    entries = _manifest(out)
    assert [e["text"] for e in entries if e["id"] == "iki"] == ["Bugün hava yağmurlu."]
    assert len(entries) == len(GOOD)


def test_a_bad_voice_or_speed_stops_before_the_first_line(synth, tmp_path):
    with pytest.raises(SynthesisError, match="unknown voice"):
        run_batch(synth, _tsv(GOOD), tmp_path / "a", voice="yok")
    with pytest.raises(SynthesisError, match="speed"):
        run_batch(synth, _tsv(GOOD), tmp_path / "b", speed=0)
    assert not list(tmp_path.rglob("*.wav"))


def test_a_killed_run_resumes_where_it_stopped(synth, tmp_path):
    """SIGKILL the CLI once its first WAV is there; a rerun says only what is missing."""
    ids = [f"s{i:02d}" for i in range(30)]
    batch = tmp_path / "lines.tsv"
    batch.write_text("".join(f"{i}\tCümle {n}.\n" for n, i in enumerate(ids)), encoding="utf-8")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sesli.cli", "say", "--batch", str(batch), "--out-dir", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*cmd, "--model", "debug", "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not any(out.glob("*.wav")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no WAV after 60 s"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    written = {p.stem for p in out.glob("*.wav")}
    assert 1 <= len(written) < len(ids)  # killed mid-run

    counting = Counting(synth)
    result = run_batch(counting, batch.read_text(encoding="utf-8").split("\n"), out)
    assert set(result.skipped) <= written and sorted(result.said + result.skipped) == ids
    assert len(counting.texts) == len(result.said)
    assert sorted(e["id"] for e in _manifest(out)) == ids
    assert all(sf.info(out / f"{i}.wav").frames > 0 for i in ids)
    assert not list(out.glob(".*.tmp"))


def test_cli_batch_exit_codes_summary_and_progress(tmp_path, capsys):
    batch = tmp_path / "lines.tsv"
    batch.write_text("".join(_tsv({"a": GOOD["bir"], "b": GOOD["iki"]})), encoding="utf-8")
    out = tmp_path / "out"
    args = ["--batch", str(batch), "--out-dir", str(out), "--model", "debug"]
    assert say(args) == 0
    captured = capsys.readouterr()
    assert "said 2, skipped 0 (done before), failed 0" in captured.out
    assert "2/2" in captured.err  # the bar is shown on a stderr that is not a terminal
    assert say([*args, "-q"]) == 0
    captured = capsys.readouterr()
    assert "said 0, skipped 2" in captured.out and captured.err == ""

    with batch.open("a", encoding="utf-8") as fh:
        fh.write("c\t?!\n")
    assert say([*args, "-q"]) == 1
    captured = capsys.readouterr()
    assert f"{batch}:3: nothing to say" in captured.err and "failed 1" in captured.out

    assert say(["--batch", str(tmp_path / "yok.tsv"), "--out-dir", str(out), "--model", "debug"]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert say([*args, "--voice", "yok"]) == 2
    assert say([*args[:-1], str(tmp_path / "nope.pth")]) == 2
    for bad in (["--batch", str(batch)], [*args, "metin"], [*args, "-o", "x.wav"], ["a", "--out-dir", "d"]):
        with pytest.raises(SystemExit) as exc:
            say(bad)
        assert exc.value.code == 2
