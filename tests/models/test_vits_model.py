"""The VITS core on the ``tiny`` preset: training pass, gradients, inference controls and errors."""

from __future__ import annotations

import pytest
import torch

from sesli.models.vits import PRESETS, VitsConfigError, VitsInputError, VitsModel, preset


def _tiny(**kw) -> VitsModel:
    torch.manual_seed(0)
    return VitsModel(preset("tiny", **kw))


def _batch(cfg, lengths=(7, 5), frames=(40, 28)):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, cfg.n_symbols, (len(lengths), max(lengths)), generator=g)
    spec = torch.rand(len(frames), cfg.spec_channels, max(frames), generator=g)
    for i, (n, f) in enumerate(zip(lengths, frames, strict=True)):
        ids[i, n:] = 0
        spec[i, :, f:] = 0
    return ids, torch.tensor(lengths), spec, torch.tensor(frames)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_config(name):
    cfg = preset(name)
    assert cfg.hop == cfg.hop_length and cfg.segment_size % cfg.hop == 0


def test_piper_facts_in_presets():
    med, high, xl = preset("medium"), preset("high"), preset("x-low")
    assert (
        med.sample_rate,
        med.hidden_channels,
        med.resblock,
        med.upsample_rates,
        med.upsample_initial_channel,
    ) == (
        22050,
        192,
        "2",
        (8, 8, 4),
        256,
    )
    assert (high.resblock, high.upsample_rates, high.upsample_initial_channel) == ("1", (8, 8, 2, 2), 512)
    assert (xl.sample_rate, xl.hidden_channels) == (16000, 96)
    with pytest.raises(VitsConfigError, match="unknown VITS preset"):
        preset("ultra")
    with pytest.raises(VitsConfigError, match="hop_length"):
        preset("tiny", hop_length=64)


def test_forward_shapes_and_masks():
    model = _tiny().train()
    cfg = model.config
    ids, il, spec, sl = _batch(cfg)
    out = model(ids, il, spec, sl, generator=torch.Generator().manual_seed(0))
    b, z, f = 2, cfg.inter_channels, spec.shape[-1]
    assert out.audio.shape == (b, 1, cfg.segment_size)
    assert out.ids_slice.shape == (b,) and bool(
        (out.ids_slice + cfg.segment_frames <= sl.clamp_min(cfg.segment_frames)).all()
    )
    for t in (out.z, out.z_p, out.m_p, out.logs_p, out.m_q, out.logs_q):
        assert t.shape == (b, z, f)
    assert out.x_mask.shape == (b, 1, ids.shape[1]) and out.y_mask.shape == (b, 1, f)
    assert out.x_mask[1, 0, 5:].sum() == 0 and out.y_mask[1, 0, 28:].sum() == 0
    assert out.z[1, :, 28:].abs().sum() == 0 and out.m_q[1, :, 28:].abs().sum() == 0
    # the MAS path gives each valid token >= 1 frame and covers every valid frame once
    assert out.alignment.shape == (b, ids.shape[1], f)
    assert out.durations[0].sum() == 40 and out.durations[1].sum() == 28
    assert bool((out.durations[1, :5] >= 1).all()) and out.durations[1, 5:].sum() == 0
    assert out.duration_loss.dim() == 0 and torch.isfinite(out.duration_loss)
    assert torch.allclose(out.duration_loss, out.sdp_loss + out.dp_loss)


def test_backward_reaches_every_trainable_part():
    model = _tiny(n_speakers=3, gin_channels=8).train()
    ids, il, spec, sl = _batch(model.config)
    out = model(ids, il, spec, sl, speaker=torch.tensor([0, 2]), generator=torch.Generator().manual_seed(0))
    kl = (
        out.logs_p - out.logs_q - 0.5 + 0.5 * (out.z_p - out.m_p) ** 2 * torch.exp(-2 * out.logs_p)
    ) * out.y_mask
    loss = out.audio.abs().mean() + out.duration_loss + kl.sum() / out.y_mask.sum()
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not dead, dead
    for part in ("enc_p", "enc_q", "flow", "sdp", "dp", "dec", "emb_g"):
        grads = [p.grad.abs().sum() for n, p in model.named_parameters() if n.startswith(part + ".")]
        assert sum(grads) > 0, part


def test_infer_controls():
    model = _tiny().eval()
    ids = torch.randint(1, model.config.n_symbols, (1, 9), generator=torch.Generator().manual_seed(2))
    base = model.infer(ids, noise_scale=0.0, noise_w=0.0)
    assert (
        base.audio.shape == (1, int(base.lengths[0]))
        and base.lengths[0] == base.durations.sum() * model.config.hop
    )
    slow = model.infer(ids, noise_scale=0.0, noise_w=0.0, length_scale=3.0)
    assert slow.lengths[0] > base.lengths[0]
    again = model.infer(ids, noise_scale=0.0, noise_w=0.0)
    assert torch.equal(base.audio, again.audio)
    dp_only = model.infer(ids, noise_scale=0.0, sdp_ratio=0.0)
    mixed = model.infer(ids, noise_scale=0.0, noise_w=0.0, sdp_ratio=0.5)
    assert dp_only.durations.shape == mixed.durations.shape == base.durations.shape
    with pytest.raises(VitsInputError, match="sdp_ratio"):
        model.infer(ids, sdp_ratio=1.5)
    with pytest.raises(VitsInputError, match="length_scale"):
        model.infer(ids, length_scale=0.0)


def test_single_predictor_model_uses_it_whatever_the_ratio():
    model = _tiny(use_dp=False).eval()
    ids = torch.randint(1, 40, (1, 6), generator=torch.Generator().manual_seed(4))
    a = model.infer(ids, noise_scale=0.0, noise_w=0.0, sdp_ratio=0.0)
    b = model.infer(ids, noise_scale=0.0, noise_w=0.0)
    assert torch.equal(a.audio, b.audio)


def test_batched_inference_equals_items_alone():
    model = _tiny().eval()
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(1, 40, (2, 10), generator=g)
    ids[1, 6:] = 0
    both = model.infer(ids, torch.tensor([10, 6]), noise_scale=0.0, noise_w=0.0)
    for i, n in enumerate((10, 6)):
        alone = model.infer(ids[i : i + 1, :n], noise_scale=0.0, noise_w=0.0)
        m = int(alone.lengths[0])
        assert int(both.lengths[i]) == m
        torch.testing.assert_close(both.audio[i, :m], alone.audio[0], atol=1e-5, rtol=1e-4)
        assert both.audio[i, m:].abs().sum() == 0


def test_clear_errors_for_bad_ids_and_speakers():
    single = _tiny().eval()
    with pytest.raises(VitsInputError, match=r"symbol ids \[40, 99\] are out of range.*40 symbols"):
        single.infer(torch.tensor([[1, 40, 99]]))
    with pytest.raises(VitsInputError, match="integer tensor"):
        single.infer(torch.zeros(1, 3))
    with pytest.raises(VitsInputError, match="lengths"):
        single.infer(torch.tensor([[1, 2]]), torch.tensor([3]))
    with pytest.raises(VitsInputError, match="one-speaker model"):
        single.infer(torch.tensor([[1, 2]]), speaker=1)
    multi = _tiny(n_speakers=3, gin_channels=8).eval()
    with pytest.raises(VitsInputError, match=r"out of range: this model has speakers 0\.\.2"):
        multi.infer(torch.tensor([[1, 2]]), speaker=3)
    with pytest.raises(VitsInputError, match="pass speaker="):
        multi.infer(torch.tensor([[1, 2]]))
    a = multi.infer(torch.tensor([[1, 2, 3]]), noise_scale=0.0, noise_w=0.0, speaker=0).audio
    b = multi.infer(torch.tensor([[1, 2, 3]]), noise_scale=0.0, noise_w=0.0, speaker=2).audio
    assert a.shape != b.shape or not torch.equal(a, b)


def test_nsf_decoder_takes_f0():
    model = _tiny(nsf=True).eval()
    z = torch.randn(2, model.config.inter_channels, 12)
    audio = model.dec(z, f0=torch.full((2, 12), 120.0), generator=torch.Generator().manual_seed(0))
    assert audio.shape == (2, 1, 12 * model.config.hop) and torch.isfinite(audio).all()
    with pytest.raises(ValueError, match="f0 has 11 frames but the latent has 12"):
        model.dec(z, f0=torch.full((2, 11), 120.0))
    with pytest.raises(ValueError, match="pass f0"):
        model.infer(torch.tensor([[1, 2, 3]]))
