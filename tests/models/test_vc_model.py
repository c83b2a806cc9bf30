"""The RVC-style converter on the ``tiny`` preset: shapes, gradients, padding, errors, presets."""

from __future__ import annotations

import pytest
import torch

from sesli.models.vc.config import PRESETS, VcConfig, VcConfigError, preset
from sesli.models.vc.model import VcInputError, VcModel, upsample_features

# parameters of RVC's own SynthesizerTrnMs768NSFsid / SynthesizerTrnMs256NSFsid_nono built from
# RVC-Project/Retrieval-based-Voice-Conversion-WebUI infer/module/models.py with configs/v1/40k.json,
# v2/48k.json and v2/32k.json (counted once from upstream's code; same keys and shapes as sesli's)
RVC_PARAMS = {
    ("v2-40k", True, 768): 36_458_818,
    ("v2-48k", True, 768): 37_638_466,
    ("v2-32k", False, 256): 36_715_072,
}


def _tiny(**kw) -> VcModel:
    torch.manual_seed(0)
    return VcModel(preset("tiny", **kw))


def _batch(cfg: VcConfig, lengths=(30, 22), seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    b, t = len(lengths), max(lengths)
    feats = torch.randn(b, t, cfg.feature_dim, generator=g)
    spec = torch.rand(b, cfg.spec_channels, t, generator=g)
    pitch = torch.randint(1, 256, (b, t), generator=g) if cfg.f0 else None
    pitchf = 100 + 200 * torch.rand(b, t, generator=g) if cfg.f0 else None
    for i, n in enumerate(lengths):
        feats[i, n:] = 0
        spec[i, :, n:] = 0
    return feats, torch.tensor(lengths), pitch, pitchf, spec


@pytest.mark.parametrize("f0", [True, False])
def test_forward_shapes_masks_and_segment(f0):
    model = _tiny(f0=f0).train()
    cfg = model.config
    feats, lengths, pitch, pitchf, spec = _batch(cfg)
    out = model(feats, lengths, pitch, pitchf, spec, lengths, torch.tensor([0, 3]),
                generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert out.audio.shape == (2, 1, cfg.segment_frames * cfg.hop) == (2, 1, cfg.segment_size)
    assert out.ids_slice.shape == (2,) and bool((out.ids_slice + cfg.segment_frames <= lengths).all())
    for t in (out.z, out.z_p, out.m_p, out.logs_p, out.m_q, out.logs_q):
        assert t.shape == (2, cfg.inter_channels, 30)
    assert out.x_mask.shape == out.y_mask.shape == (2, 1, 30)
    assert out.x_mask[1, 0, 22:].sum() == 0 and out.y_mask[1, 0, 22:].sum() == 0
    assert out.m_p[1, :, 22:].abs().sum() == 0 and out.z[1, :, 22:].abs().sum() == 0
    assert (model.dec.nsf, model.enc_p.emb_pitch is not None) == (f0, f0)


@pytest.mark.parametrize("f0", [True, False])
def test_infer_length_is_frames_times_hop(f0):
    model = _tiny(f0=f0).eval()
    cfg = model.config
    feats, lengths, pitch, pitchf, _ = _batch(cfg)
    out = model.infer(feats, lengths, pitch, pitchf, sid=1, generator=torch.Generator().manual_seed(0))
    assert out.audio.shape == (2, 30 * cfg.hop) and out.lengths.tolist() == [30 * cfg.hop, 22 * cfg.hop]
    assert out.audio[1, 22 * cfg.hop :].abs().sum() == 0 and torch.isfinite(out.audio).all()
    again = model.convert_voice(
        feats, lengths, pitch, pitchf, sid=1, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(out.audio, again.audio)  # same seed, same audio; convert_voice is infer


def test_batched_inference_equals_items_alone():
    model = _tiny(f0=False).eval()  # no NSF noise: deterministic given the prior noise
    feats, lengths, _, _, _ = _batch(model.config)
    noise = torch.randn(2, model.config.inter_channels, 30, generator=torch.Generator().manual_seed(3))
    both = model.infer(feats, lengths, sid=2, noise=noise)
    for i, n in enumerate((30, 22)):
        alone = model.infer(feats[i : i + 1, :n], sid=2, noise=noise[i : i + 1, :, :n])
        torch.testing.assert_close(
            both.audio[i, : n * model.config.hop], alone.audio[0], atol=1e-5, rtol=1e-4
        )


def test_backward_reaches_every_part():
    model = _tiny().train()
    feats, lengths, pitch, pitchf, spec = _batch(model.config)
    out = model(feats, lengths, pitch, pitchf, spec, lengths, torch.tensor([1, 2]))
    kl = (
        out.logs_p - out.logs_q - 0.5 + 0.5 * (out.z_p - out.m_p) ** 2 * torch.exp(-2 * out.logs_p)
    ) * out.y_mask
    (out.audio.abs().mean() + kl.sum() / out.y_mask.sum()).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not dead, dead
    for part in (
        "enc_p.emb_phone",
        "enc_p.emb_pitch",
        "enc_q",
        "flow",
        "dec.m_source",
        "dec.noise_convs",
        "emb_g",
    ):
        assert sum(p.grad.abs().sum() for n, p in model.named_parameters() if n.startswith(part + ".")) > 0, (
            part
        )


def test_clear_errors():
    model = _tiny().eval()
    feats, lengths, pitch, pitchf, spec = _batch(model.config)
    with pytest.raises(VcInputError, match="expects 768-d features \\(v2\\) but got 256-d \\(v1\\)"):
        model.infer(torch.randn(1, 10, 256), None, pitch[:1, :10], pitchf[:1, :10])
    with pytest.raises(VcInputError, match="uses pitch"):
        model.infer(feats, lengths)
    with pytest.raises(VcInputError, match=r"pitch has shape \(2, 29\) but feats have"):
        model.infer(feats, lengths, pitch[:, :29], pitchf)
    with pytest.raises(VcInputError, match="integer coarse"):
        model.infer(feats, lengths, pitchf, pitchf)
    with pytest.raises(VcInputError, match="speakers 0..3"):
        model.infer(feats, lengths, pitch, pitchf, sid=4)
    with pytest.raises(VcInputError, match="frame-aligned"):
        model(feats, lengths, pitch, pitchf, spec[:, :, :29], lengths)
    with pytest.raises(VcInputError, match="spec must be"):
        model(feats, lengths, pitch, pitchf, spec[:, :-1], lengths)
    with pytest.raises(VcInputError, match="no pitch input"):
        _tiny(f0=False).infer(feats, lengths, pitch, pitchf)


def test_upsample_features_repeats_frames():
    x = torch.arange(6.0).reshape(1, 3, 2)  # (B, T', C) at 50 fps
    y = upsample_features(x)
    assert y.shape == (1, 6, 2) and torch.equal(y[0, ::2], x[0]) and torch.equal(y[0, 1::2], x[0])


def test_config_round_trip_and_validation():
    cfg = preset("tiny", feature_dim=32, f0=False)
    assert VcConfig.from_dict(cfg.to_dict()) == cfg and cfg.version == "v2"
    assert preset("tiny", feature_dim=256).version == "v1"
    with pytest.raises(VcConfigError, match="unknown voice-conversion config keys: colour"):
        VcConfig.from_dict({"colour": 1})
    with pytest.raises(VcConfigError, match="hop_length"):
        preset("tiny", hop_length=200)
    with pytest.raises(VcConfigError, match="100 frames/s"):
        preset("tiny", sample_rate=22050)
    with pytest.raises(VcConfigError, match="unknown voice-conversion preset"):
        preset("v3-40k")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_100_fps(name):
    cfg = preset(name)
    assert cfg.frame_rate == 100 and cfg.hop == cfg.hop_length and cfg.segment_size % cfg.hop == 0


def test_rvc_facts_in_presets():
    c40, c48, c32 = preset("v2-40k"), preset("v2-48k"), preset("v2-32k")
    assert (c40.hop, c40.n_fft, c40.upsample_kernel_sizes, c40.segment_size) == (
        400,
        2048,
        (16, 16, 4, 4),
        12800,
    )
    assert (c48.upsample_rates, c48.upsample_kernel_sizes, c48.segment_size) == (
        (12, 10, 2, 2),
        (24, 20, 4, 4),
        17280,
    )
    assert (c32.upsample_rates, c32.upsample_kernel_sizes, c32.n_fft) == ((10, 8, 2, 2), (20, 16, 4, 4), 1024)
    assert (c40.window_size, c40.flow_layers, c40.n_speakers, c40.gin_channels) == (10, 3, 109, 256)


@pytest.mark.parametrize(("name", "f0", "dim"), sorted(RVC_PARAMS))
def test_full_size_presets_have_rvc_parameter_counts(name, f0, dim):
    model = VcModel(preset(name, f0=f0, feature_dim=dim))
    assert sum(p.numel() for p in model.parameters()) == RVC_PARAMS[(name, f0, dim)]
