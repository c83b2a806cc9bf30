"""Voice packs from kokoro-onnx .npz, sherpa-onnx raw .bin and upstream .pt files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sesli.models.kokoro.voices import VoiceFileError, read_voices


def _pack(seed):
    return np.random.default_rng(seed).standard_normal((510, 1, 256)).astype(np.float32)


def test_npz_bin_and_pt(tmp_path):
    np.savez(tmp_path / "voices.npz", a=_pack(0), b=_pack(1))
    got = read_voices(tmp_path / "voices.npz")
    assert sorted(got) == ["a", "b"] and np.array_equal(got["b"].numpy(), _pack(1))
    raw = np.concatenate([_pack(0), _pack(1)]).astype("<f4")
    raw.tofile(tmp_path / "voices.bin")
    got = read_voices(tmp_path / "voices.bin")
    assert sorted(got) == ["voices_0", "voices_1"] and np.array_equal(got["voices_1"].numpy(), _pack(1))
    with open(tmp_path / "kokoro.bin", "wb") as fh:  # kokoro-onnx's voices-v1.0.bin is an npz
        np.savez(fh, x=_pack(2))
    assert list(read_voices(tmp_path / "kokoro.bin")) == ["x"]
    torch.save(torch.from_numpy(_pack(3)), tmp_path / "tr_me.pt")
    assert list(read_voices(tmp_path / "tr_me.pt")) == ["tr_me"]


def test_bad_voice_files_are_named(tmp_path):
    np.savez(tmp_path / "wrong.npz", a=np.zeros((510, 1, 128), np.float32))
    with pytest.raises(VoiceFileError, match="wrong.npz: voice 'a' has shape"):
        read_voices(tmp_path / "wrong.npz")
    (tmp_path / "short.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(VoiceFileError, match="short.bin: 1,000 bytes is not a whole number"):
        read_voices(tmp_path / "short.bin")
    bad = _pack(0)
    bad[3, 0, 7] = np.nan
    np.savez(tmp_path / "nan.npz", a=bad)
    with pytest.raises(VoiceFileError, match="NaN"):
        read_voices(tmp_path / "nan.npz")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(VoiceFileError, match="unknown voice file type"):
        read_voices(tmp_path / "x.txt")
    with pytest.raises(VoiceFileError, match="not found"):
        read_voices(tmp_path / "none.npz")


def test_say_takes_a_voices_file(tmp_path):
    from sesli.cli.say import main
    from sesli.models.kokoro import debug_config

    dim = debug_config().ref_dim
    np.savez(tmp_path / "v.npz", mine=(_pack(5).reshape(-1)[: 510 * dim].reshape(510, 1, dim) * 0.5))
    out = tmp_path / "x.wav"
    assert (
        main(
            [
                "--model",
                "debug",
                "--voices",
                str(tmp_path / "v.npz"),
                "--voice",
                "mine",
                "Merhaba.",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert out.stat().st_size > 1000
    (tmp_path / "bad.bin").write_bytes(b"\0" * 10)
    assert main(["--model", "debug", "--voices", str(tmp_path / "bad.bin"), "Merhaba.", "-o", str(out)]) == 1
