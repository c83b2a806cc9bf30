"""``sesli sound``: the user's path from a folder of sounds to a UE-ready loop, and its errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from sesli.cli import main


def test_sound_verb_is_listed(capsys):
    assert main(["--help"]) == 0
    assert "sound" in capsys.readouterr().out


def test_prepare_train_sample_loop_from_a_folder(tmp_path, capsys):
    """Each family's tiny preset trains from the CLI on a folder of labelled sounds."""
    from sesli.testing.sound_corpus import write_calming_corpus

    raw = write_calming_corpus(tmp_path / "raw", seconds=1.0, per_label=2, seed=1)
    (raw / "rain" / "silent.wav").parent.mkdir(exist_ok=True)
    sf.write(raw / "rain" / "silent.wav", np.zeros(16000, np.float32), 16000)  # a reject, not a crash
    data = tmp_path / "data"
    assert main(["sound", "prepare", str(raw), "--out", str(data), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "labels: bells, drone, rain, waves, wind" in out and "near-silent" in out
    rejects = [json.loads(x) for x in (data / "rejects.jsonl").read_text().splitlines()]
    assert [r["source"].endswith("silent.wav") for r in rejects] == [True]

    for family in ("vae-tiny", "vqvae-tiny", "vaegan-tiny"):
        run = tmp_path / family
        args = ["sound", "train", str(data), "--out", str(run), "--config", family, "--steps", "4", "--quiet"]
        extra = ["--set", "sound.adversarial_after=2"] if family == "vaegan-tiny" else []
        assert main([*args, *extra, "--set", "train.eval_every=4"]) == 0, family
        assert (run / "model" / "model.json").is_file()
    capsys.readouterr()

    # a VQ-VAE samples through its prior only: a clear error first, then the prior
    vq = tmp_path / "vqvae-tiny"
    assert main(["sound", "sample", str(vq), "--out", str(tmp_path / "s")]) == 2
    assert "prior" in capsys.readouterr().err
    assert main(["sound", "train", "--prior", str(vq), "--steps", "3", "--quiet", "--set", "train.eval_every=3"]) == 0
    assert main(["sound", "sample", str(vq), "--label", "wind", "--n", "2", "--seconds", "1", "--out", str(tmp_path / "s")]) == 0
    rows = json.loads((tmp_path / "s" / "sounds.json").read_text())
    assert [r["label"] for r in rows] == ["wind", "wind"] and rows[0]["family"] == "vqvae"
    assert sf.info(tmp_path / "s" / "wind-0.wav").frames == 16000

    # the VAE-GAN's sample made into a 10 s loop for Unreal Engine
    ue = tmp_path / "ue"
    gan = tmp_path / "vaegan-tiny"
    assert main(["sound", "loop", str(gan), "--label", "waves", "--seconds", "10", "--source-seconds", "2",
                 "--out", str(ue), "--binaural", "6"]) == 0  # fmt: skip
    info = sf.info(ue / "waves.wav")
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (48000, 2, "PCM_16", 480000)
    manifest = json.loads((ue / "waves.json").read_text())
    assert manifest["loop"]["end"] == 479999 and manifest["label"] == "waves"
    assert abs(manifest["loudness"]["integrated_lufs"] + 23.0) < 0.5
    from sesli.audio.wavchunks import read_loop_points

    (loop,) = read_loop_points(ue / "waves.wav")
    assert (loop.start, loop.end) == (0, 479999)


def test_generation_verbs_and_eval(sound_run, sound_data, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(sound_run, run)
    wavs = sorted((sound_data / "wavs").glob("*.wav"))
    assert main(["sound", "sample", str(run), "--label", "list"]) == 0
    assert capsys.readouterr().out.split() == ["bells", "drone", "rain", "waves", "wind"]
    assert main(["sound", "continue", str(run), str(wavs[0]), "--seconds", "1", "--out", str(tmp_path / "c.wav")]) == 0
    assert sf.info(tmp_path / "c.wav").frames == sf.info(wavs[0]).frames + 16000
    assert main(["sound", "vary", str(run), str(wavs[1]), "--n", "2", "--out", str(tmp_path / "v")]) == 0
    assert main(["sound", "interpolate", str(run), str(wavs[0]), str(wavs[1]), "--steps", "3", "--out", str(tmp_path / "i")]) == 0
    assert len(list((tmp_path / "i").glob("interp-*.wav"))) == 3
    assert main(["sound", "eval", str(run), "--data", str(sound_data), "--clips", "3", "--samples", "3", "--seconds", "1"]) == 0
    report = json.loads((run / "eval" / "report.json").read_text())
    assert len(report["clips"]) == 3 and report["latents"]["active_units"] is not None
    assert report["samples"]["n"] == 3 and report["samples"]["frechet_mfcc_distance"] >= 0
    assert {"spectrograms.png", "latents.png"} <= {p.name for p in (run / "eval").iterdir()}
    assert main(["sound", "export", str(run), "--out", str(tmp_path / "onnx")]) == 0
    contract = json.loads((tmp_path / "onnx" / "sound.json").read_text())
    assert contract["sample_rate"] == 16000 and (tmp_path / "onnx" / "decoder.onnx").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "{run}", "--label", "thunder", "--out", "{tmp}/x"], "unknown label 'thunder'"),
        (["continue", "{run}", "{tmp}/missing.wav", "--out", "{tmp}/x.wav"], "file not found"),
        (["sample", "{tmp}", "--out", "{tmp}/x"], "holds no sound model"),
        (["train", "{tmp}/nothing", "--out", "{tmp}/r"], "not a folder"),
        (["train", "{data}", "--out", "{tmp}/r", "--config", "nope"], "nope"),
        (["loop", "{tmp}/missing.wav", "--out", "{tmp}/ue"], "does not exist"),
        (["prepare", "{tmp}/missing", "--out", "{tmp}/d"], "does not exist"),
        (["loop", "{tone}", "--out", "{tmp}/ue", "--mono", "--binaural", "6"], "stereo"),
        (["loop", "{tone}", "--out", "{tmp}/ue", "--binaural", "300", "--carrier-hz", "100"], "beat"),
        (["eval", "{run}", "--data", "{data}", "--out", "{tmp}/e", "--seconds", "0.05", "--samples", "2"], "at least 0.5 s"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, sound_run, sound_data, tmp_path, capsys):
    tone = tmp_path / "tone.wav"
    sf.write(tone, 0.3 * np.sin(2 * np.pi * 220 * np.arange(32000) / 16000).astype(np.float32), 16000)
    argv = [a.format(run=sound_run, tmp=tmp_path, data=sound_data, tone=tone) for a in argv]
    assert main(["sound", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_long_recording_becomes_pieces_not_a_reject(tmp_path, capsys):
    rain = tmp_path / "raw" / "rain"
    rain.mkdir(parents=True)
    noise = np.random.default_rng(0).normal(0, 0.1, 16000 * 75).astype(np.float32)  # 75 s
    sf.write(rain / "long.wav", noise, 16000)
    assert main(["sound", "prepare", str(tmp_path / "raw"), "--out", str(tmp_path / "d"), "--no-progress",
                 "--val-split", "0"]) == 0  # fmt: skip
    from sesli.data.manifest import read_split

    pieces = read_split(tmp_path / "d", "train")
    assert sorted(round(u.duration, 2) for u in pieces) == [5.0] + [10.0] * 7
    assert not (tmp_path / "d" / "rejects.jsonl").read_text().strip()
    assert main(["sound", "prepare", str(tmp_path / "raw"), "--out", str(tmp_path / "d0"), "--no-progress",
                 "--piece-seconds", "0"]) == 0  # fmt: skip
    assert "too long" in capsys.readouterr().out


def test_loop_of_silence_is_a_clear_error(tmp_path, capsys):
    sf.write(tmp_path / "quiet.wav", np.zeros(16000, np.float32), 16000)
    assert main(["sound", "loop", str(tmp_path / "quiet.wav"), "--out", str(tmp_path / "ue"), "--seconds", "2"]) == 2
    assert "silent" in capsys.readouterr().err.lower()
