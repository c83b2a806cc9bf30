"""Unreal Engine loops: 48 kHz 16-bit PCM WAV with a smpl loop, at the loudness target, plus a manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from sesli import __version__
from sesli.audio.loops import integrated_loudness, true_peak
from sesli.audio.wavchunks import SampleLoop, read_loop_points
from sesli.eval.sound_metrics import loop_seam
from sesli.export.ue import MANIFEST_FORMAT, BeatSpec, UeExportError, export_ue_loop
from sesli.testing.sound_corpus import render_calming

SR_IN = 16000


@pytest.fixture(scope="module")
def rain() -> np.ndarray:
    return render_calming("rain", 1.5, SR_IN, 0)


def test_mono_loop_for_unreal(tmp_path, rain):
    provenance = {"label": "rain", "seed": 3, "model": "vae-tiny"}
    out = export_ue_loop(rain, SR_IN, tmp_path / "ue", "Rain_01", **provenance, seconds=1.0, channels=1)
    assert out.wav == tmp_path / "ue" / "Rain_01.wav" and out.manifest == tmp_path / "ue" / "Rain_01.json"
    info = sf.info(str(out.wav))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (48000, 1, "PCM_16", 48000)
    assert read_loop_points(out.wav) == [SampleLoop(0, 47999)]

    audio, _ = sf.read(out.wav, dtype="float32")
    assert abs(integrated_loudness(audio, 48000, periodic=True) - (-23.0)) <= 0.5
    assert true_peak(audio, periodic=True) <= -1.0
    assert loop_seam(audio, 48000).click_free

    manifest = json.loads(out.manifest.read_text())
    assert manifest == out.info
    assert manifest["format"] == MANIFEST_FORMAT and manifest["wav"] == "Rain_01.wav"
    assert (manifest["label"], manifest["seed"], manifest["model"]) == ("rain", 3, "vae-tiny")
    assert (manifest["sample_rate"], manifest["channels"], manifest["bit_depth"]) == (48000, 1, 16)
    loop = manifest["loop"]
    assert (loop["start"], loop["end"], loop["end_inclusive"], loop["tiled"]) == (0, 47999, True, False)
    assert manifest["loudness"]["target_lufs"] == -23.0
    assert abs(manifest["loudness"]["integrated_lufs"] + 23.0) <= 0.5
    assert manifest["loudness"]["true_peak_dbtp"] <= -1.0
    assert manifest["unreal"] == {"looping": True, "spatialize": True, "note": "mono: may be spatialised"}
    assert manifest["sesli_version"] == __version__ and manifest["source_sample_rate"] == SR_IN
    assert sorted(p.name for p in (tmp_path / "ue").iterdir()) == ["Rain_01.json", "Rain_01.wav"]


def test_stereo_loop_longer_than_the_sound_with_a_binaural_layer(tmp_path, rain):
    out = export_ue_loop(
        rain, SR_IN, tmp_path, "rain_beat", label="rain", seed=0, model="folder", seconds=3.25, channels=2,
        lufs=-20.0, beats=[BeatSpec("binaural", beat_hz=6.0, carrier_hz=220.0, level_db=-10.0)],
    )  # fmt: skip
    audio, sr = sf.read(out.wav, dtype="float32")
    assert sr == 48000 and audio.shape == (round(3.25 * 48000), 2)
    assert not np.allclose(audio[:, 0], audio[:, 1])  # each ear has its own tone
    assert abs(integrated_loudness(audio, sr, periodic=True) - (-20.0)) <= 0.5
    assert true_peak(audio, periodic=True) <= -1.0
    assert loop_seam(audio, sr).click_free
    info = out.info
    assert info["loop"]["tiled"] and info["channels"] == 2
    (layer,) = info["layers"]
    assert layer["kind"] == "binaural" and layer["beat_hz"] == pytest.approx(6.0, abs=0.5)
    assert layer["right_hz"] - layer["left_hz"] == pytest.approx(layer["beat_hz"])
    assert info["unreal"]["spatialize"] is False


def test_a_drone_loop_cut_to_whole_cycles(tmp_path):
    t = np.arange(SR_IN) / SR_IN
    drone = 0.3 * sum(np.sin(2 * np.pi * 110.0 * k * t) / k for k in range(1, 5))
    out = export_ue_loop(
        drone, SR_IN, tmp_path, "drone", label="drone", seed=None, model=None, seconds=0.8, channels=1,
        tone_hz=110.0, beats=[BeatSpec("isochronic", beat_hz=4.0)],
    )  # fmt: skip
    assert out.info["loop"]["cycles"] == 88 and out.info["frames"] == round(88 * 48000 / 110.0)
    audio, _ = sf.read(out.wav, dtype="float32")
    assert loop_seam(audio, 48000).click_free


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "my loop"}, "letters, digits"),
        ({"name": "../escape"}, "letters, digits"),
        ({"channels": 3}, "1 or 2"),
        ({"channels": 1, "beats": [BeatSpec("binaural", beat_hz=6.0)]}, "stereo"),
        ({"beats": [BeatSpec("noise", beat_hz=6.0)]}, "unknown layer"),
    ],
)
def test_bad_exports_are_clear_errors(tmp_path, rain, kwargs, match):
    args = {"name": "ok", "label": "rain", "seed": 0, "model": "m", "seconds": 0.5} | kwargs
    with pytest.raises(UeExportError, match=match):
        export_ue_loop(rain, SR_IN, tmp_path, **args)
    assert not any(tmp_path.iterdir())
