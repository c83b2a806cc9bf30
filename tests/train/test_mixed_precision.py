"""Mixed precision: the STFT / mel / iSTFT helpers stay float32 under autocast and for half inputs,
and a bf16 fine-tune of the debug Kokoro runs on CPU, its aligner trained first in the same process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from sesli.audio.features import MelConfig, linear_spectrogram, mel_spectrogram, stft
from sesli.losses.spectral import MelL1Loss, MultiResolutionSTFTLoss
from sesli.modules.istftnet import ISTFTGenerator

HALF = (torch.bfloat16, torch.float16)


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_stft_and_mel_are_float32_for_half_inputs(dtype: torch.dtype) -> None:
    wav = (0.1 * torch.randn(2, 2400)).to(dtype)
    assert stft(wav, 512, 128, 512).dtype == torch.complex64
    assert linear_spectrogram(wav).dtype == torch.float32
    cfg = MelConfig()
    mel = mel_spectrogram(wav, cfg)
    assert mel.dtype == torch.float32 and torch.isfinite(mel).all()
    ref = mel_spectrogram(wav.float(), cfg)  # the cast happens first: same as a float32 input
    assert torch.allclose(mel, ref)


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_helpers_under_cpu_autocast_compute_in_float32(dtype: torch.dtype) -> None:
    pred, target = 0.1 * torch.randn(2, 4800), 0.1 * torch.randn(2, 4800)
    with torch.autocast("cpu", dtype=dtype):
        assert not torch.is_autocast_enabled("cpu") or torch.get_autocast_dtype("cpu") == dtype
        assert stft(pred.to(dtype), 512, 128, 512).dtype == torch.complex64
        assert mel_spectrogram(pred.to(dtype)).dtype == torch.float32
        stft_loss = MultiResolutionSTFTLoss()(pred.to(dtype), target)
        mel_loss = MelL1Loss()(pred.to(dtype), target)
    for value in (stft_loss.spectral_convergence, stft_loss.log_magnitude, mel_loss):
        assert value.dtype == torch.float32 and torch.isfinite(value)
    with torch.autocast("cpu", dtype=dtype):
        assert torch.is_autocast_enabled("cpu")  # the helpers turned autocast off only inside


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_istft_generator_gives_float32_audio_under_autocast(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    gen = ISTFTGenerator(
        in_channels=16, style_dim=8, upsample_rates=[2, 2], upsample_kernel_sizes=[4, 4],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3, 5]], n_fft=16, hop=4,
    )  # fmt: skip
    x, s, f0 = torch.randn(2, 16, 5), torch.randn(2, 8), torch.full((2, 5), 200.0)
    with torch.autocast("cpu", dtype=dtype):
        audio = gen(x, s, f0, lengths=torch.tensor([5, 3]), noise=False)
    assert audio.dtype == torch.float32 and audio.shape == (2, 5 * 4 * 4)
    assert torch.isfinite(audio).all()


def test_bf16_finetune_extracts_targets_in_process_and_trains(
    prepared: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """`auto` picks bf16 on CUDA: the aligner (float32, no second Accelerator) trains inside the
    bf16 run, then the fine-tune steps run under CPU bf16 autocast; --quiet silences extraction."""
    import yaml

    from sesli.cli.kokoro import main

    data = tmp_path / "prepared"
    shutil.copytree(prepared, data, ignore=shutil.ignore_patterns("targets", "aligner"))
    argv = ["finetune", "--data", str(data), "--out", str(tmp_path / "run"), "--base", "debug"]
    argv += ["--max-steps", "2", "--batch-size", "2", "--targets", "albert,predictor,decoder", "--quiet"]
    argv += ["train.mixed_precision=bf16", "finetune.aligner_steps=3", "train.eval_every=2"]
    capfd.readouterr()
    assert main(argv) == 0
    out, err = capfd.readouterr()
    assert "done (max_steps, step 2)" in out
    for noise in ("training targets", "targets:", "clip/s", "trainable", "parameters"):
        assert noise not in out + err, (noise, out, err)
    assert (data / "targets" / "index.json").is_file()
    (aligner_run,) = (data / "targets").glob("aligner-*")
    aligner_cfg = yaml.safe_load((aligner_run / "config.yaml").read_text())
    assert aligner_cfg["mixed_precision"] == "no"
    run_cfg = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert run_cfg["train"]["mixed_precision"] == "bf16"
    from sesli.train.logging import read_metrics

    losses = [v for _, _, k, v in read_metrics(tmp_path / "run" / "metrics.csv") if k == "val/loss"]
    assert losses and all(torch.isfinite(torch.tensor(losses)))

    # Accelerate's per-process state was released: a float32 run in the same process still starts.
    from sesli.train.tasks.kokoro_finetune import finetune

    over = [f"finetune.data={data}", "finetune.base=debug", "finetune.targets=[albert]"]
    over += ["train.max_steps=1", "train.mixed_precision=no"]
    assert finetune(tmp_path / "run32", overrides=over, quiet=True).step == 1
