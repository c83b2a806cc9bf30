"""Losses: zero on identical inputs, larger for more different ones, masks respected, gradients flow."""

from __future__ import annotations

import math

import pytest
import torch

from sesli.losses import (
    MelL1Loss,
    MultiResolutionSTFTLoss,
    bin_loss,
    discriminator_loss,
    duration_loss,
    energy_loss,
    f0_loss,
    feature_matching_loss,
    forward_sum_loss,
    frame_mask,
    generator_loss,
)

SR = 24000


def _sine(freq: float, n: int = 4800, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(n) / SR
    return amp * torch.sin(2 * math.pi * freq * t)


def test_stft_and_mel_losses_zero_then_growing():
    torch.manual_seed(0)
    target = (_sine(220) + 0.01 * torch.randn(4800))[None]
    stft_loss, mel_loss = MultiResolutionSTFTLoss(), MelL1Loss()
    assert stft_loss(target, target).total.item() == pytest.approx(0.0, abs=1e-6)
    assert mel_loss(target, target).item() == pytest.approx(0.0, abs=1e-6)
    noise = torch.randn(1, 4800)
    values_stft, values_mel = [], []
    for w in (1.0, 0.3, 0.05):  # closer and closer to the target
        pred = target + w * 0.1 * noise
        values_stft.append(stft_loss(pred, target).total.item())
        values_mel.append(mel_loss(pred, target).item())
    assert values_stft[0] > values_stft[1] > values_stft[2] > 0
    assert values_mel[0] > values_mel[1] > values_mel[2] > 0


def test_mel_loss_mask_ignores_tail_and_gradients_flow():
    target = _sine(300, 9600)[None]
    pred = target.clone()
    pred[:, 6000:] = 0.0  # wrong only after sample 6000
    masked = MelL1Loss()(pred, target, lengths=torch.tensor([4800]))
    assert masked.item() == pytest.approx(0.0, abs=1e-4)
    assert MelL1Loss()(pred, target).item() > 0.1
    pred = (0.5 * target).requires_grad_(True)
    loss = MultiResolutionSTFTLoss()(pred, target).total + MelL1Loss()(pred, target)
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_duration_loss_matches_hand_computation():
    target = torch.tensor([[2, 3, 1]])
    logits = torch.full((1, 3, 5), -20.0)
    for i, d in enumerate(target[0].tolist()):
        logits[0, i, :d] = 20.0  # (nearly) perfect bins
    res = duration_loss(logits, target, torch.tensor([3]))
    assert res.bins.item() < 1e-6 and res.sum.item() < 1e-6
    zeros = torch.zeros(1, 3, 5, requires_grad=True)  # sigmoid 0.5 everywhere: predicted sum 2.5
    res = duration_loss(zeros, target, torch.tensor([3]))
    assert res.bins.item() == pytest.approx(math.log(2), rel=1e-5)
    assert res.sum.item() == pytest.approx(0.5)  # only the middle token (3 vs 2.5)
    res_all = duration_loss(zeros, target, torch.tensor([3]), skip_boundary=False)
    assert res_all.sum.item() == pytest.approx((0.5 + 0.5 + 1.5) / 3)
    (res.bins + res.sum).backward()
    assert zeros.grad.abs().sum() > 0


def test_duration_loss_ignores_padding():
    target = torch.tensor([[2, 3, 1, 0], [4, 1, 2, 9]])
    logits = torch.randn(2, 4, 10)
    a = duration_loss(logits, target, torch.tensor([3, 4]))
    logits2 = logits.clone()
    logits2[0, 3] = 100.0  # padding token of item 0
    b = duration_loss(logits2, target, torch.tensor([3, 4]))
    assert torch.allclose(a.bins, b.bins) and torch.allclose(a.sum, b.sum)


def test_prosody_losses_masked():
    target = torch.tensor([[200.0, 210.0, 0.0, 0.0]])
    pred = torch.tensor([[202.0, 210.0, 500.0, 500.0]], requires_grad=True)
    mask = frame_mask(torch.tensor([2]), 4)
    assert f0_loss(pred, target, mask, kind="l1").item() == pytest.approx(1.0)
    assert f0_loss(target, target, mask).item() == 0.0
    assert f0_loss(pred, target, kind="l1").item() == pytest.approx((2 + 0 + 500 + 500) / 4)
    loss = energy_loss(pred, target, mask)
    loss.backward()
    assert pred.grad[0, 0] != 0 and pred.grad[0, 2] == 0
    with pytest.raises(ValueError, match="prediction"):
        f0_loss(pred[:, :3], target)


def test_gan_losses():
    real, fake = [torch.ones(2, 5), torch.ones(2, 3)], [torch.zeros(2, 5), torch.zeros(2, 3)]
    assert discriminator_loss(real, fake).item() == 0.0
    assert generator_loss(fake).item() == pytest.approx(2.0)
    assert generator_loss(real).item() == 0.0
    assert discriminator_loss(real, fake, kind="hinge").item() == pytest.approx(0.0 + 2.0)
    assert (
        discriminator_loss([torch.full((2, 5), 2.0)], [torch.full((2, 5), -2.0)], kind="hinge").item() == 0.0
    )
    feats = [[torch.ones(2, 4), torch.zeros(2, 3)]]
    fake_feats = [[torch.ones(2, 4), torch.ones(2, 3, requires_grad=True)]]
    fm = feature_matching_loss(feats, fake_feats)
    assert fm.item() == pytest.approx(1.0)
    fm.backward()
    assert fake_feats[0][1].grad is not None
    with pytest.raises(ValueError, match="kind"):
        generator_loss(fake, kind="wgan")


def test_forward_sum_prefers_the_true_alignment_and_bin_loss():
    # 2 tokens, 4 frames: true alignment token0 on frames 0-1, token1 on frames 2-3.
    good = torch.tensor([[[0.0, -8.0], [0.0, -8.0], [-8.0, 0.0], [-8.0, 0.0]]])  # (B, F, N)
    bad = torch.tensor([[[-8.0, 0.0], [-8.0, 0.0], [0.0, -8.0], [0.0, -8.0]]])
    tl, fl = torch.tensor([2]), torch.tensor([4])
    assert forward_sum_loss(good, tl, fl) < forward_sum_loss(bad, tl, fl)
    # Padding tokens and frames do not change the loss.
    padded = torch.full((1, 6, 3), 5.0)
    padded[:, :4, :2] = good
    assert forward_sum_loss(padded, tl, fl).item() == pytest.approx(
        forward_sum_loss(good, tl, fl).item(), rel=1e-5
    )
    scores = good.clone().requires_grad_(True)
    forward_sum_loss(scores, tl, fl).backward()
    assert torch.isfinite(scores.grad).all()
    hard = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    log_soft = torch.log_softmax(good, dim=-1)
    assert bin_loss(hard, log_soft).item() == pytest.approx(-log_soft.max(dim=-1).values.mean().item())
    assert bin_loss(hard, log_soft) < bin_loss(1 - hard, log_soft)
