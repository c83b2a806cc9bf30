"""sesli.data.manifest: JSONL round trips and clear errors."""

from __future__ import annotations

import pytest

from sesli.data.manifest import (
    ManifestError,
    Reject,
    Utterance,
    iter_manifest,
    read_manifest,
    read_rejects,
    write_manifest,
)


def test_round_trip_keeps_turkish_text(tmp_path):
    utts = [
        Utterance("a_1", "wavs/a_1.wav", 1.25, 24000, "ayşe", "Şu ağaç!", "şu ağaç!", "ʃu aːʧ!", "a.wav"),
        Utterance("b_2", "/abs/b.wav", 0.5, 24000),
    ]
    assert write_manifest(tmp_path / "m.jsonl", utts) == 2
    assert "ayşe" in (tmp_path / "m.jsonl").read_text(encoding="utf-8")  # readable, not \\u escapes
    assert read_manifest(tmp_path / "m.jsonl") == utts == list(iter_manifest(tmp_path / "m.jsonl"))
    assert utts[0].resolve_audio(tmp_path) == tmp_path / "wavs" / "a_1.wav"
    assert str(utts[1].resolve_audio(tmp_path)) == "/abs/b.wav"
    write_manifest(tmp_path / "r.jsonl", [Reject("x.wav", "decode error", "x_1", "empty file")])
    assert read_rejects(tmp_path / "r.jsonl")[0].reason == "decode error"


def test_unknown_keys_ignored_bad_lines_located(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"id": "a", "audio_path": "a.wav", "duration": 1.0, "sample_rate": 24000, "future": 1}\n\n',
        encoding="utf-8",
    )
    assert read_manifest(path)[0].id == "a"
    path.write_text('{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(
        ManifestError, match=r"m.jsonl:1: missing field\(s\) \['audio_path', 'duration', 'sample_rate'\]"
    ):
        read_manifest(path)
    path.write_text(
        '{"id": "a", "audio_path": "a.wav", "duration": 1, "sample_rate": 1}\n{oops\n', encoding="utf-8"
    )
    with pytest.raises(ManifestError, match="m.jsonl:2: not valid JSON"):
        read_manifest(path)
