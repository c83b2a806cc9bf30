"""PyTorch VITS checkpoints: ``G_*.pth`` (VITS/MeloTTS) and Piper Lightning ``.ckpt`` round trips."""

from __future__ import annotations

import pytest
import torch

from sesli.models.vits import VitsLoadError, VitsModel, load_checkpoint, preset, upstream_state_dict
from sesli.models.vits.loading import config_from_state, normalize_state


def _model(**kw) -> VitsModel:
    torch.manual_seed(0)
    model = VitsModel(preset("tiny", **kw))
    with torch.no_grad():  # make the zero-initialised projections matter
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model.eval()


def _same_audio(a: VitsModel, b: VitsModel) -> None:
    ids = torch.tensor([[3, 5, 7, 9, 11]])
    kw = {"noise_scale": 0.0, "noise_w": 0.0}
    if a.config.n_speakers > 1:
        kw["speaker"] = 1
    torch.testing.assert_close(a.infer(ids, **kw).audio, b.infer(ids, **kw).audio)


def test_vits_g_pth_round_trip(tmp_path):
    model = _model(use_dp=False)  # VITS/Piper: one stochastic predictor, stored as "dp"
    state = upstream_state_dict(model, "vits")
    assert any(k.startswith("dp.flows.") for k in state) and not any(k.startswith("sdp.") for k in state)
    path = tmp_path / "G_1000.pth"
    torch.save({"model": state, "iteration": 1000, "learning_rate": 2e-4}, path)
    back = load_checkpoint(path, model.config)
    torch.testing.assert_close(back.state_dict(), model.state_dict())
    _same_audio(model, back)


def test_piper_ckpt_round_trip_with_parametrizations_and_hparams(tmp_path):
    model = _model(use_dp=False, n_speakers=2, gin_channels=8)
    state = {"model_g." + k: v for k, v in upstream_state_dict(model, "parametrizations").items()}
    assert any(".parametrizations.weight.original0" in k for k in state)
    state["model_d.discriminators.0.convs.0.bias"] = torch.zeros(16)  # the discriminator is dropped
    cfg = model.config
    hparams = {
        "num_symbols": cfg.n_symbols,
        "num_speakers": cfg.n_speakers,
        "sample_rate": cfg.sample_rate,
        "filter_length": cfg.n_fft,
        "hop_length": cfg.hop_length,
        "win_length": cfg.win_length,
        "resblock": cfg.resblock,
        "resblock_kernel_sizes": list(cfg.resblock_kernel_sizes),
        "resblock_dilation_sizes": [list(d) for d in cfg.resblock_dilation_sizes],
        "upsample_rates": list(cfg.upsample_rates),
        "upsample_initial_channel": cfg.upsample_initial_channel,
        "upsample_kernel_sizes": list(cfg.upsample_kernel_sizes),
        "gin_channels": cfg.gin_channels,
        "segment_size": cfg.segment_size,
        "learning_rate": 2e-4,
    }
    path = tmp_path / "epoch=9-step=100.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": hparams, "epoch": 9}, path)
    back = load_checkpoint(path)  # config from hyper-parameters + shapes
    assert back.config.n_speakers == 2 and back.config.resblock_dilation_sizes == cfg.resblock_dilation_sizes
    torch.testing.assert_close(back.state_dict(), model.state_dict())
    _same_audio(model, back)


def test_meloTTS_layout_and_folded_weights_and_shape_inference():
    model = _model()  # both predictors: "sdp" and "dp", as MeloTTS
    state = upstream_state_dict(model, "vits")
    assert any(k.startswith("sdp.") for k in state) and any(k.startswith("dp.conv_1") for k in state)
    # an export-style state: weight norm folded into plain weights
    folded = {}
    for k, v in state.items():
        if k.endswith(".weight_g"):
            continue
        if k.endswith(".weight_v"):
            base = k[: -len("_v")]
            g = state[base + "_g"]
            folded[base] = g * v / v.norm(dim=tuple(range(1, v.dim())), keepdim=True)
        else:
            folded[k] = v
    cfg = config_from_state(normalize_state(folded), model.config)
    assert cfg == model.config
    back = VitsModel(cfg).eval()
    from sesli.models.vits.loading import load_state

    load_state(back, folded)
    _same_audio(model, back)


def test_damaged_or_mismatched_checkpoints_are_clear_errors(tmp_path):
    model = _model(use_dp=False)
    path = tmp_path / "G_1.pth"
    torch.save({"model": upstream_state_dict(model)}, path)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[:500])
    with pytest.raises(VitsLoadError, match="cannot read .* as a PyTorch checkpoint"):
        load_checkpoint(cut)
    with pytest.raises(VitsLoadError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pth")
    with pytest.raises(VitsLoadError, match="shape mismatches"):
        load_checkpoint(path, preset("tiny", use_dp=False, hidden_channels=32))
    torch.save({"model": {"foo.weight": torch.zeros(2)}}, tmp_path / "foreign.pth")
    with pytest.raises(VitsLoadError, match="not a VITS generator"):
        load_checkpoint(tmp_path / "foreign.pth")
