"""Voice-conversion training on the engine (tiny preset, CPU): it learns, resume is exact, RVC
pretrained G/D load, the artifact and the RVC voice file load back, the CLI explains the run,
the shipped configs build, and bad experiments get clear errors.

The experiment is one synthetic speaker: five 1.2 s harmonic "syllable" clips (``speech_like``)
at 24 kHz with their 16 kHz copies, pitch by DIO and, as content features, a fixed random
projection of a 50-fps log-mel to 768-d (the real HuBERT's width and frame count; building even
the tiny random HuBERT costs ten seconds, and reconstruction does not need real features).
Measured for the learning test (16 steps, lr 2e-3, batch 4 on 5 clips, validated on them):
train/mel 2.71 at the first step, val/mel 0.88 after 16 steps (ratio 0.32).
"""

from __future__ import annotations

import importlib.util
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sesli.train.tasks.vc import VcRunConfig, VcTask, load_run_config, model_config, train
from sesli.train.tasks.vc_data import VcTrainError, split_clips

FAST = ["train.log_every=1", "train.mixed_precision=no"]


def _metrics(run: Path, key: str) -> list[float]:
    from sesli.train.logging import read_metrics

    return [v for _, _, k, v in read_metrics(run / "metrics.csv") if k == key]


def make_experiment(root: Path, *, clips: int = 5, seconds: float = 1.2, dim: int = 768) -> Path:
    """A 24 kHz v2 experiment with every file `sesli vc extract` writes (see the module docstring)."""
    import soundfile as sf

    from sesli.audio.features import MelConfig, mel_spectrogram
    from sesli.audio.io import resample
    from sesli.audio.pitch import coarse_f0, extract_f0
    from sesli.data.vc_experiment import Experiment
    from sesli.testing.audio import speech_like

    exp = Experiment.create(root, sample_rate=24000, name="synth")
    for d in (exp.gt_dir, exp.wav16k_dir, exp.f0_coarse_dir, exp.f0_hz_dir, exp.feature_dir):
        d.mkdir(parents=True, exist_ok=True)
    proj = np.random.default_rng(0).standard_normal((32, dim)).astype(np.float32) / 4
    mel_cfg = MelConfig(sample_rate=16000, n_fft=512, win_length=400, hop_length=320, n_mels=32)
    for i in range(clips):
        wav = speech_like(seconds, 24000, seed=i, pad=0.05)
        w16 = resample(wav, 24000, 16000)
        stem = f"0_{i}"
        sf.write(exp.gt_dir / f"{stem}.wav", wav, 24000, subtype="FLOAT")
        sf.write(exp.wav16k_dir / f"{stem}.wav", w16, 16000, subtype="FLOAT")
        f0 = extract_f0(w16, "dio")  # (1 + N // 160,) Hz
        np.save(exp.f0_hz_dir / f"{stem}.npy", f0.astype(np.float32))
        np.save(exp.f0_coarse_dir / f"{stem}.npy", coarse_f0(f0))
        frames = (len(w16) - 400) // 320 + 1  # HuBERT's count
        mel = mel_spectrogram(torch.from_numpy(w16), mel_cfg)[0].T.numpy()[:frames]  # (T', 32)
        np.save(exp.feature_dir / f"{stem}.npy", mel @ proj)  # (T', 768)
    exp.record("prepare", {"synthetic": True}, {"pieces": clips, "seconds": clips * seconds})
    exp.record("extract", {"content_model": "mel-projection"}, {"clips": clips})
    return root


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_experiment(tmp_path_factory.mktemp("vc") / "synth")


@pytest.fixture
def exp_dir(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the synthetic experiment (each run writes its own EXP/train)."""
    return Path(shutil.copytree(template, tmp_path / "synth"))


def test_tiny_model_learns_the_synthetic_speaker(exp_dir: Path) -> None:
    over = [*FAST, "vc.val_clips=0", "train.max_steps=16", "train.save_every=16"]
    result = train(exp_dir, config="tiny", overrides=over, build_index=False, quiet=True)
    assert result.fit.step == 16
    run = exp_dir / "train"
    first, last = _metrics(run, "train/mel")[0], _metrics(run, "val/mel")[-1]
    assert last <= 0.5 * first, (first, last)
    for key in ("train/kl", "train/gen", "train/fm", "train/disc", "val/convert_mel"):
        values = _metrics(run, key)
        assert values and all(math.isfinite(v) for v in values), key


def test_resume_is_exact(exp_dir: Path, tmp_path: Path) -> None:
    """4 steps in one go = 3 steps, stop (mid-epoch: 2 steps per epoch), resume to 4."""
    from sesli.train.checkpoint import load_checkpoint

    ref_dir = Path(shutil.copytree(exp_dir, tmp_path / "ref"))
    over = [*FAST, "train.batch_size=2"]
    kw = {"config": "tiny", "build_index": False, "quiet": True}
    train(ref_dir, overrides=[*over, "train.max_steps=4"], **kw)
    assert train(exp_dir, overrides=[*over, "train.max_steps=3"], **kw).fit.step == 3
    assert train(exp_dir, overrides=[*over, "train.max_steps=4"], **kw).fit.step == 4
    a = load_checkpoint(ref_dir / "train" / "checkpoints" / "step-00000004")
    b = load_checkpoint(exp_dir / "train" / "checkpoints" / "step-00000004")
    for module in ("gen", "disc"):
        for k, v in a.weights[module].items():
            assert torch.equal(v, b.weights[module][k]), (module, k)
    assert _metrics(ref_dir / "train", "train/mel") == _metrics(exp_dir / "train", "train/mel")


def _tiny_task(exp_dir: Path, *over: str, config: str = "tiny") -> tuple[VcTask, VcRunConfig]:
    from sesli.data.vc_experiment import Experiment

    cfg = load_run_config(config, list(over))
    return VcTask(cfg.vc, Experiment.open(exp_dir), quiet=True), cfg


def test_rvc_pretrained_g_and_d_load_at_start(exp_dir: Path, tmp_path: Path) -> None:
    from sesli.models.vc.model import VcModel
    from sesli.models.vc.rvc_format import rvc_discriminator_state
    from sesli.train.local import LocalAccelerator
    from sesli.train.tasks.vc import build_discriminator

    task, cfg = _tiny_task(exp_dir)
    torch.manual_seed(7)  # other weights than the run's own initialisation
    gen = VcModel(model_config(cfg.vc, task.exp))
    disc = build_discriminator(cfg.vc)
    torch.save({"model": gen.state_dict()}, tmp_path / "f0G16k.pth")  # RVC's pretrained layouts
    torch.save({"model": rvc_discriminator_state(disc.mpd, disc.msd)}, tmp_path / "f0D16k.pth")

    task, cfg = _tiny_task(
        exp_dir, f"vc.pretrained_g={tmp_path / 'f0G16k.pth'}", f"vc.pretrained_d={tmp_path / 'f0D16k.pth'}"
    )
    built = task.build(LocalAccelerator("cpu"), cfg.train)
    for name, want in (("gen", gen.state_dict()), ("disc", disc.state_dict())):
        got = built.modules[name].state_dict()
        assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want), name
    assert len(task.meta["pretrained"]) == 2

    torch.save({"model": VcModel(model_config(cfg.vc, task.exp).replace(f0=False)).state_dict()},
               tmp_path / "G16k.pth")  # fmt: skip
    task, cfg = _tiny_task(exp_dir, f"vc.pretrained_g={tmp_path / 'G16k.pth'}")
    with pytest.raises(VcTrainError, match=r"do not fit.*\n.*with pitch"):
        task.build(LocalAccelerator("cpu"), cfg.train)


def test_cli_trains_and_the_voice_loads_back(exp_dir: Path, capsys: pytest.CaptureFixture) -> None:
    from sesli.artifacts import load_weights, read_meta
    from sesli.cli.vc import main
    from sesli.data.vc_experiment import Experiment
    from sesli.models.vc.config import VcConfig
    from sesli.models.vc.model import VcModel, upsample_features
    from sesli.models.vc.rvc_format import load_rvc_voice
    from sesli.train.checkpoint import load_checkpoint

    assert main(["train", str(exp_dir), "--config", "tiny", "--steps", "2", "--save-every", "1"]) == 0
    out = capsys.readouterr().out
    assert "a step is one batch of 4 clips, an epoch is 1 step" in out
    assert "stopping at step 2" in out and "every 1 step (1 epoch)" in out and "synth.pth" in out

    run = exp_dir / "train"
    meta = read_meta(run)
    assert (meta.model_type, meta.sample_rate, meta.inference["index_rate"]) == ("vc", 16000, 0.75)
    assert meta.config["extra"]["step"] == 2 and "val/convert_mel" in meta.config["extra"]["validation"]
    model = VcModel(VcConfig.from_dict(meta.config))
    model.load_state_dict(load_weights(run))  # the inference artifact: the final weights
    final = load_checkpoint(run / "checkpoints" / "step-00000002").weights["gen"]
    assert all(torch.equal(v, final[k]) for k, v in model.state_dict().items())

    config, voice = load_rvc_voice(exp_dir / "synth.pth")  # RVC's format, fp16 weights
    assert config.f0 and config.sample_rate == 16000 and config.extra["info"] == "2epoch"
    for k, v in voice.state_dict().items():
        if not k.startswith("enc_q."):
            torch.testing.assert_close(v, final[k], atol=2e-3, rtol=2e-3)
    feats = upsample_features(torch.from_numpy(np.load(exp_dir / "3_feature768" / "0_2.npy"))[None])
    n = feats.shape[1]
    pitch = torch.from_numpy(np.load(exp_dir / "2a_f0" / "0_2.npy"))[None, :n]
    pitchf = torch.from_numpy(np.load(exp_dir / "2b-f0nsf" / "0_2.npy"))[None, :n]
    audio = voice.infer(feats[:, : pitch.shape[1]], None, pitch, pitchf).audio
    assert audio.shape == (1, pitch.shape[1] * 160) and torch.isfinite(audio).all()

    held_out = meta.config["extra"]["data"]["val_clips"]
    for step in (1, 2):
        assert (run / "samples" / f"step-{step:08d}" / f"{held_out[0]}.wav").is_file()
    assert (run / "samples" / "reference" / f"{held_out[0]}.wav").is_file()
    exp = Experiment.open(exp_dir)
    assert exp.result("train")["steps"] == 2 and exp.result("train")["voice"] == "synth.pth"
    if importlib.util.find_spec("faiss") is not None:  # the optional `vc` extra
        assert exp.index_path is not None and exp.result("index") is not None


def test_shipped_configs_build_at_tiny_width(exp_dir: Path) -> None:
    from sesli.models.vc.config import preset
    from sesli.models.vc.rvc_format import RVC_PERIODS
    from sesli.train.config import shipped_configs
    from sesli.train.local import LocalAccelerator

    names = shipped_configs("vc")
    assert {"tiny", "v2-40k"} <= set(names)
    narrow = ["vc.preset=tiny", "vc.disc_mpd_channels=[4,8,8,8]", "vc.disc_msd_channels=[4,8,8]"]
    for name in names:
        task, cfg = _tiny_task(exp_dir, *narrow, "train.batch_size=2", config=name)
        built = task.build(LocalAccelerator("cpu"), cfg.train)
        batch = next(iter(built.train_data))
        out = task._forward(batch, built.modules["gen"], built.modules["gen"].config)[0]
        assert out.audio.shape == (2, 1, 1920), name

    rvc = load_run_config("v2-40k")
    assert rvc.vc.preset == "v2-40k" and VcRunConfig().vc.preset == "auto"
    rvc.vc.preset = "auto"
    assert rvc == VcRunConfig()  # the shipped file says what the task's defaults are
    t = rvc.train
    assert (t.lr, tuple(t.betas), t.batch_size, t.epochs, t.grad_clip) == (1e-4, (0.8, 0.99), 4, 20, None)
    assert (rvc.vc.eps, rvc.vc.lr_decay, rvc.vc.mel_weight, rvc.vc.fm_weight) == (1e-9, 0.999875, 45.0, 2.0)
    assert tuple(rvc.vc.disc_periods) == RVC_PERIODS
    exp40 = SimpleNamespace(sample_rate=40000, f0=True, feature_dim=768, version="v2")
    assert model_config(rvc.vc, exp40) == preset("v2-40k")  # RVC v2 40k: 12800-sample slices, 125 mels


def test_bad_experiments_get_clear_errors(exp_dir: Path, tmp_path: Path) -> None:
    from sesli.data.vc_experiment import Experiment

    empty = Experiment.create(tmp_path / "empty", sample_rate=40000)
    with pytest.raises(VcTrainError, match=r"run `sesli vc prepare"):
        train(empty.path, config="tiny", quiet=True)
    for f in (exp_dir / "3_feature768").glob("*.npy"):  # v1-sized features in a v2 experiment
        np.save(f, np.zeros((10, 256), np.float32))
    with pytest.raises(VcTrainError, match=r"256-d features but the model takes 768-d"):
        train(exp_dir, config="tiny", overrides=["train.max_steps=1"], build_index=False, quiet=True)
    with pytest.raises(VcTrainError, match=r"vc.model sets f0 False.*fixed when the experiment is made"):
        model_config(load_run_config("tiny", ["vc.model={f0: false}"]).vc, Experiment.open(exp_dir))
    for f in (exp_dir / "3_feature768").glob("*.npy"):
        f.unlink()
    with pytest.raises(VcTrainError, match=r"run `sesli vc extract"):
        train(exp_dir, config="tiny", quiet=True)


def test_held_out_clips_are_spread_and_fixed() -> None:
    clips = [SimpleNamespace(stem=str(i)) for i in range(10)]
    train_set, val = split_clips(clips, 2)
    assert [c.stem for c in val] == ["2", "7"] and len(train_set) == 8
    assert split_clips(clips, 2) == (train_set, val)
    one = clips[:1]
    assert split_clips(one, 2) == (one, one)  # nothing to hold out: validate on the training clip
