"""RVC's file layouts: voice files round-trip, pretrained G/D load, bad files get clear errors."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

from sesli.models.vc.config import preset
from sesli.models.vc.model import VcModel
from sesli.models.vc.rvc_format import (
    RVC_PERIODS,
    RvcFormatError,
    config_from_rvc,
    load_generator_state,
    load_rvc_discriminator,
    load_rvc_pretrained,
    load_rvc_voice,
    rvc_config_list,
    rvc_discriminator_state,
    save_rvc_voice,
)
from sesli.modules.discriminators import MultiPeriodDiscriminator, MultiScaleDiscriminator


def _tiny(seed: int = 0, **kw) -> VcModel:
    torch.manual_seed(seed)
    model = VcModel(preset("tiny", **kw)).eval()
    with torch.no_grad():  # the file is fp16: round first so outputs can be compared exactly
        for p in model.parameters():
            p.copy_(p.half().float())
    return model


def _inputs(model: VcModel, t: int = 20):
    g = torch.Generator().manual_seed(7)
    cfg = model.config
    feats = torch.randn(1, t, cfg.feature_dim, generator=g)
    pitch = torch.randint(1, 256, (1, t), generator=g) if cfg.f0 else None
    pitchf = 100 + 200 * torch.rand(1, t, generator=g) if cfg.f0 else None
    noise = torch.randn(1, cfg.inter_channels, t, generator=g)
    return feats, pitch, pitchf, noise


def _convert(model: VcModel, inputs) -> torch.Tensor:
    feats, pitch, pitchf, noise = inputs
    return model.infer(
        feats, None, pitch, pitchf, 2, noise=noise, generator=torch.Generator().manual_seed(0)
    ).audio


@pytest.mark.parametrize("f0", [True, False])
def test_voice_file_round_trips(tmp_path, f0):
    model = _tiny(f0=f0, feature_dim=256)
    path = save_rvc_voice(model, model.config, tmp_path / "voice.pth", info="12epoch")
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"weight", "config", "info", "sr", "f0", "version", "sesli_config"}
    assert (raw["f0"], raw["version"], raw["sr"], raw["info"]) == (int(f0), "v1", "16k", "12epoch")
    assert len(raw["config"]) == 18 and raw["config"][0] == 257 and raw["config"][-1] == 16000
    assert not any(k.startswith("enc_q.") for k in raw["weight"])
    assert all(v.dtype == torch.float16 for v in raw["weight"].values())
    config, loaded = load_rvc_voice(path)
    keep = {"extra": {}}
    assert config.to_dict() | keep == model.config.to_dict() | keep and config.extra["info"] == "12epoch"
    assert not loaded.training
    inputs = _inputs(model)
    assert torch.equal(_convert(model, inputs), _convert(loaded, inputs))


def test_file_written_like_rvc_loads(tmp_path):
    """An OrderedDict with RVC's types (``sr`` as "40k"-style string in the list, p_dropout an int)."""
    model = _tiny(seed=1)
    cfg_list = rvc_config_list(model.config)
    cfg_list[8] = 0  # RVC's json has "p_dropout": 0
    weight = OrderedDict((k, v.half()) for k, v in model.state_dict().items() if "enc_q" not in k)
    torch.save(OrderedDict(weight=weight, config=cfg_list, info="5epoch", sr="16k", f0=1, version="v2"),
               tmp_path / "rvc.pth")  # fmt: skip
    config, loaded = load_rvc_voice(tmp_path / "rvc.pth")
    assert config.f0 and config.window_size == 4 and config.n_speakers == 4
    inputs = _inputs(model)
    assert torch.equal(_convert(model, inputs), _convert(loaded, inputs))


def test_weight_norm_spellings_all_load():
    model = _tiny(seed=2)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    param = {
        k.replace(".weight_g", ".parametrizations.weight.original0").replace(
            ".weight_v", ".parametrizations.weight.original1"
        ): v
        for k, v in state.items()
    }
    folded = dict(state)
    for k in [k for k in state if k.endswith(".weight_g")]:
        base = k[: -len("_g")]
        v = folded.pop(base + "_v")
        folded[base] = folded.pop(k) * v / v.norm(dim=tuple(range(1, v.dim())), keepdim=True)
    inputs = _inputs(model)
    ref = _convert(model, inputs)
    for variant in (param, folded):
        other = VcModel(model.config).eval()
        load_generator_state(other, variant)
        torch.testing.assert_close(_convert(other, inputs), ref, atol=1e-5, rtol=1e-4)


def test_pretrained_generator_loads_strictly(tmp_path):
    model = _tiny(seed=3)
    torch.save({"model": model.state_dict()}, tmp_path / "f0G.pth")
    fresh = load_rvc_pretrained(tmp_path / "f0G.pth", model.config)
    own = model.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in fresh.state_dict().items())
    # lenient about enc_q only (a voice file as the starting point)
    no_q = {k: v for k, v in model.state_dict().items() if not k.startswith("enc_q.")}
    torch.save({"model": no_q}, tmp_path / "noq.pth")
    load_rvc_pretrained(tmp_path / "noq.pth", model.config)
    with pytest.raises(RvcFormatError, match="shape mismatches.*emb_phone"):
        load_rvc_pretrained(tmp_path / "f0G.pth", model.config.replace(feature_dim=256))
    with pytest.raises(RvcFormatError, match="unexpected weights.*emb_pitch"):
        load_rvc_pretrained(tmp_path / "f0G.pth", model.config.replace(f0=False))
    no_dec = {k: v for k, v in model.state_dict().items() if not k.startswith("dec.conv_post")}
    torch.save({"model": no_dec}, tmp_path / "nodec.pth")
    with pytest.raises(RvcFormatError, match="missing.*dec.conv_post"):
        load_rvc_pretrained(tmp_path / "nodec.pth", model.config)


def test_bad_files_get_clear_errors(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(RvcFormatError, match="cannot read"):
        load_rvc_voice(tmp_path / "junk.pth")
    with pytest.raises(RvcFormatError, match="no RVC file"):
        load_rvc_voice(tmp_path / "missing.pth")
    model = _tiny()
    torch.save({"model": model.state_dict()}, tmp_path / "g.pth")
    with pytest.raises(RvcFormatError, match="not an RVC voice file.*load_rvc_pretrained"):
        load_rvc_voice(tmp_path / "g.pth")
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("enc_q.")}
    with pytest.raises(RvcFormatError, match="says f0=0 but its weights have"):
        config_from_rvc(rvc_config_list(model.config), state, f0=False)
    with pytest.raises(RvcFormatError, match="list of 18"):
        config_from_rvc([1025, 32], state)


def test_discriminator_round_trips_in_rvc_names():
    torch.manual_seed(0)
    small = {"channels": (4, 8, 16, 32)}
    mpd, msd = (
        MultiPeriodDiscriminator(periods=RVC_PERIODS, **small),
        MultiScaleDiscriminator(n_scales=1, channels=(4, 16, 32, 64)),
    )
    state = rvc_discriminator_state(mpd, msd)
    assert {"discriminators.0.conv_post.weight_g", "discriminators.8.convs.4.weight_v"} <= set(state)
    mpd2, msd2 = (
        MultiPeriodDiscriminator(periods=RVC_PERIODS, **small),
        MultiScaleDiscriminator(n_scales=1, channels=(4, 16, 32, 64)),
    )
    load_rvc_discriminator({"model": state}, mpd=mpd2, msd=msd2)
    wav = torch.randn(1, 1, 2000)
    for a, b in zip(mpd(wav).scores + msd(wav).scores, mpd2(wav).scores + msd2(wav).scores, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(RvcFormatError, match="8 periods"):
        load_rvc_discriminator({"model": state}, mpd=MultiPeriodDiscriminator(**small), msd=msd2)
