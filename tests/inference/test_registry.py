"""One `load` / `say` for every family: the registry picks Kokoro or VITS from the artifact, and a
VITS voice (a sesli artifact or a real Piper voice) speaks Turkish with Piper's controls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sesli.inference import SynthesisError, load
from sesli.inference.registry import family_of


@pytest.fixture(scope="module")
def tiny_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny two-speaker VITS voice written as a sesli artifact (vits.json + safetensors)."""
    from safetensors.torch import save_file

    from sesli.models.vits import VitsModel
    from sesli.models.vits.config import preset
    from sesli.text.piper_ids import PIPER_SYMBOLS, phoneme_id_map

    torch.manual_seed(0)
    cfg = preset("tiny", n_symbols=len(PIPER_SYMBOLS), n_speakers=2, gin_channels=8)
    model = VitsModel(cfg).eval()
    folder = tmp_path_factory.mktemp("vits-voice")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "vits.safetensors"))
    meta = {"model_type": "vits", "config": cfg.to_dict(), "sample_rate": cfg.sample_rate,
            "phoneme_id_map": {s: [i] for s, i in phoneme_id_map().items()},
            "speaker_id_map": {"ayse": 0, "mehmet": 1}}  # fmt: skip
    (folder / "vits.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def test_the_family_comes_from_the_artifact(
    tiny_voice: Path, packaged_piper_joe_onnx: Path, tmp_path: Path
) -> None:
    assert family_of(tiny_voice) == "vits"
    assert family_of(packaged_piper_joe_onnx) == "vits"  # a Piper .onnx with its .onnx.json
    lone = tmp_path / "kokoro.onnx"
    lone.write_bytes(b"")  # an .onnx without a Piper .onnx.json: kokoro-onnx's
    assert family_of(lone) == "kokoro" and family_of("debug") == "kokoro" and family_of(None) == "kokoro"
    with pytest.raises(Exception, match="unknown model family"):
        load("debug", family="wavenet")


def test_a_vits_voice_speaks_with_piper_controls(tiny_voice: Path) -> None:
    synth = load(tiny_voice, noise=False)
    assert synth.family == "vits" and synth.sample_rate == 8000
    text = "Merhaba, çiçekçi açık mı? Evet, açık."
    a = synth.synthesize(text, speaker="ayse")
    assert a.audio.dtype == np.float32 and a.audio.size > 0 and len(a.chunks) == 2
    assert "tʃ" in a.phonemes and "ʧ" not in a.phonemes  # affricates as the voice was trained
    assert np.array_equal(a.audio, synth.synthesize(text, speaker="ayse").audio)  # noise off: deterministic
    slow = synth.synthesize(text, speaker="ayse", speed=0.5)
    assert slow.audio.size > 1.6 * a.audio.size
    other = synth.synthesize(text, speaker=1)
    assert not np.array_equal(other.audio, a.audio)
    quiet = synth.synthesize(text, speaker=0, sentence_silence=1.0)
    assert quiet.audio.size - a.audio.size == pytest.approx(0.8 * synth.sample_rate, abs=2)
    pieces = list(synth.stream(text, speaker="ayse", chunk_frames=None))
    assert len(pieces) == 2 and np.allclose(np.concatenate(pieces), a.audio, atol=1e-6)
    windows = list(synth.stream(text, speaker="ayse", chunk_frames=8))  # long sentences in windows
    assert len(windows) > 4 and np.abs(np.concatenate(windows) - a.audio).max() < 1e-4
    for bad, match in (({"speaker": "zeynep"}, "unknown speaker"), ({"speaker": 5}, "out of range"),
                       ({"noise_scale": -1}, "noise_scale"), ({"sdp_ratio": 2}, "sdp_ratio"),
                       ({"temperature": 1}, "no option")):  # fmt: skip
        with pytest.raises(SynthesisError, match=match):
            synth.synthesize(text, **bad)
    with pytest.raises(SynthesisError, match="nothing to say"):
        synth.synthesize("  ")

    from dataclasses import replace

    from sesli.inference.vits import VitsSynthesizer

    lacking = VitsSynthesizer(
        replace(synth.loaded, phoneme_id_map={k: v for k, v in synth.id_map.items() if k != "ɟ"})
    )
    with pytest.warns(UserWarning, match="cannot say: ɟ"):
        said = lacking.synthesize("gel", speaker=0)  # ɟ: reported and skipped, never silently
    assert said.unknown == ["ɟ"] and "ɟ" not in said.phonemes


def test_the_real_piper_voice_says_turkish_and_reports_what_it_lacks(packaged_piper_joe_onnx: Path) -> None:
    synth = load(packaged_piper_joe_onnx, noise=False)
    assert synth.sample_rate == 22050 and "Piper voice" in synth.notes[0]
    out = synth.synthesize("Çiçekçi dükkânı ağaç gölgesinde.")
    assert 0.5 < out.duration < 6 and np.abs(out.audio).max() > 0.01
    assert out.unknown == []  # Piper's espeak-ng symbol set holds every sesli phoneme (split affricates)
    with pytest.raises(SynthesisError, match="out of range"):
        synth.synthesize("merhaba", speaker=1)  # a single-speaker voice


def test_say_takes_vits_options_and_kokoro_refuses_them(tiny_voice: Path, tmp_path: Path, capsys) -> None:
    import soundfile as sf

    from sesli.cli.say import main

    out = tmp_path / "v.wav"
    assert main(["Merhaba dünya.", "--model", str(tiny_voice), "-o", str(out), "--noise-scale", "0.3",
                 "--noise-w", "0.2", "--speaker", "mehmet", "--sentence-silence", "0.1"]) == 0  # fmt: skip
    info = sf.info(out)
    assert info.samplerate == 8000 and info.frames > 0
    assert main(["Merhaba.", "--model", "debug", "-o", str(tmp_path / "k.wav"), "--noise-w", "0.5"]) == 1
    assert "Kokoro models have no noise_w" in capsys.readouterr().err
