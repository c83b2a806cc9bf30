"""LoRA on Kokoro-shaped models: target sets, frozen base, weight-norm-aware merge, adapter round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations
from transformers import AlbertConfig, AlbertModel

from sesli.models.kokoro import lora


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and a shared CPU is not oversubscribed
    yield
    torch.set_num_threads(threads)


class _Predictor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 4, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(8, 8)
        self.conv = nn.Conv1d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, 8)
        y, _ = self.lstm(x)
        return self.conv(self.proj(y).transpose(1, 2)).transpose(1, 2)


class _Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hook_conv = torch.nn.utils.weight_norm(nn.Conv1d(8, 8, 3, padding=1))
        self.param_conv = parametrizations.weight_norm(nn.Conv1d(8, 8, 5, padding=2))
        self.up = nn.ConvTranspose1d(8, 8, 4, 2, padding=1)
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 8, T)
        x = self.param_conv(torch.tanh(self.hook_conv(x)))
        return self.up(x) + self.fc(x.transpose(1, 2)).transpose(1, 2).repeat_interleave(2, dim=-1)


class TinyKokoroLike(nn.Module):
    """The module names Kokoro uses (bert, bert_encoder, predictor, text_encoder, decoder), tiny."""

    def __init__(self) -> None:
        super().__init__()
        cfg = AlbertConfig(
            vocab_size=20,
            embedding_size=8,
            hidden_size=16,
            num_attention_heads=2,
            intermediate_size=32,
            num_hidden_layers=2,
        )
        self.bert = AlbertModel(cfg, add_pooling_layer=False)
        self.bert_encoder = nn.Linear(16, 8)
        self.predictor = _Predictor()
        self.text_encoder = nn.Module()
        self.text_encoder.lstm = nn.LSTM(8, 4, batch_first=True, bidirectional=True)
        self.decoder = _Decoder()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, 8, 2L)
        h = self.bert(ids).last_hidden_state  # (B, L, 16)
        x = self.predictor(self.bert_encoder(h))  # (B, L, 8)
        x, _ = self.text_encoder.lstm(x)
        return self.decoder(x.transpose(1, 2))


def _randomise_lora(model: nn.Module, seed: int = 1) -> None:
    # PEFT starts B at zero (no change); give the adapter a real change to merge.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))


@pytest.fixture
def ids() -> torch.Tensor:
    return torch.randint(0, 20, (2, 7), generator=torch.Generator().manual_seed(0))


def test_target_sets_select_the_named_layers() -> None:
    torch.manual_seed(0)
    model = TinyKokoroLike()
    albert = lora.resolve_targets(model, "albert")
    assert len(albert.lora) == 6  # query, key, value, dense, ffn, ffn_output (shared layer)
    assert all(n.startswith("bert.encoder.albert_layer_groups.0.albert_layers.0.") for n in albert.lora)
    dec = lora.resolve_targets(model, ["decoder"])
    assert set(dec.lora) == {"decoder.hook_conv", "decoder.param_conv", "decoder.fc"}  # no ConvTranspose1d
    both = lora.resolve_targets(model, "predictor, lstm")
    assert set(both.lora) == {"predictor.proj", "predictor.conv"}
    assert set(both.modules_to_save) == {"predictor.lstm", "text_encoder.lstm"}
    with pytest.raises(lora.LoraTargetError, match="unknown LoRA target"):
        lora.resolve_targets(model, "albert,vocoder")
    with pytest.raises(lora.LoraTargetError, match="matches no layer"):
        lora.resolve_targets(nn.Sequential(nn.Linear(2, 2)), "albert")


def test_only_adapters_train_and_the_table_counts_them(ids: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = TinyKokoroLike()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    lora.apply_lora(model, r=2, alpha=4, targets="albert,decoder,lstm")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    # A few optimiser steps change the adapters and leave every base tensor bit-identical.
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(ids).pow(2).mean().backward()
        opt.step()
    state = model.state_dict()
    for key, value in base.items():
        peft_key = next(
            k for k in state if k.replace(".base_layer", "").replace(".original_module", "") == key
        )
        assert torch.equal(state[peft_key], value), key
    rows = {r.module: r for r in lora.parameter_table(model)}
    assert rows["bert_encoder"].trainable == 0
    assert rows["decoder"].trainable > 0 and rows["bert"].trainable > 0
    assert rows["bert"].total == sum(v.numel() for k, v in base.items() if k.startswith("bert."))
    text = lora.format_parameter_table(list(rows.values()))
    assert "total" in text and "%" in text


@pytest.mark.parametrize("targets", ["albert", "decoder", "predictor,lstm,decoder"])
def test_merged_model_equals_base_plus_adapter(ids: torch.Tensor, targets: str) -> None:
    torch.manual_seed(0)
    model = TinyKokoroLike().eval()
    before = model(ids)
    lora.apply_lora(model, r=2, alpha=4, targets=targets)
    _randomise_lora(model)
    with torch.no_grad():
        adapted = model(ids)
    assert not torch.allclose(adapted, before, atol=1e-4)  # the adapter does change the output
    merged = lora.merge_lora(model)
    # The same module tree and keys as the base (weight_g/weight_v and parametrizations kept).
    assert set(merged.state_dict()) == set(TinyKokoroLike().state_dict())
    assert not any("lora" in n for n, _ in merged.named_modules())
    with torch.no_grad():
        out = merged(ids)
    torch.testing.assert_close(out, adapted, atol=1e-5, rtol=1e-4)


def test_naive_peft_merge_loses_weight_norm_changes(ids: torch.Tensor) -> None:
    """Why merge_lora exists: PEFT's merge on a weight-normed conv is overwritten by g and v."""
    torch.manual_seed(0)
    model = TinyKokoroLike().eval()
    lora.apply_lora(model, r=2, alpha=4, targets="decoder")
    _randomise_lora(model)
    layer = model.decoder.hook_conv
    with torch.no_grad():
        x = torch.randn(1, 8, 5)
        adapted = layer(x)
        layer.merge()
        naive = layer.get_base_layer()(x)
    assert not torch.allclose(naive, adapted, atol=1e-4)


def test_adapter_state_round_trip(ids: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = TinyKokoroLike().eval()
    lora.apply_lora(model, r=2, alpha=4, targets="albert,lstm")
    _randomise_lora(model)
    state = lora.adapter_state_dict(model)
    # LoRA A/B for ALBERT, whole trained copies for the LSTMs (PEFT strips the wrapper's prefix).
    assert state and all("lora_" in k or ".lstm." in k for k in state)
    assert any(k.startswith("text_encoder.lstm.") for k in state)
    torch.manual_seed(0)
    fresh = TinyKokoroLike().eval()
    lora.apply_lora(fresh, r=2, alpha=4, targets="albert,lstm")
    lora.load_adapter_state_dict(fresh, state)
    with torch.no_grad():
        torch.testing.assert_close(fresh(ids), model(ids))
    other = TinyKokoroLike()
    lora.apply_lora(other, r=4, alpha=8, targets="albert")
    with pytest.raises(lora.LoraTargetError, match="does not fit"):
        lora.load_adapter_state_dict(other, state)


def test_merge_on_the_debug_kokoro_with_every_target_set() -> None:
    """All sets at once on sesli's Kokoro (dilated weight-normed convs, LSTMs): merged == adapted."""
    from sesli.models.kokoro import KokoroModel, debug_config

    torch.manual_seed(0)
    model = KokoroModel(debug_config()).eval()
    ids = torch.randint(1, 170, (2, 12), generator=torch.Generator().manual_seed(0))
    ids[:, 0] = 0
    ids[1, 10:] = 0
    lengths, durations = torch.tensor([12, 11]), torch.randint(1, 4, (2, 12))
    style = torch.randn(2, model.config.ref_dim)

    def audio() -> torch.Tensor:
        with torch.no_grad():
            return model.forward_train(ids, lengths, durations, style, noise=False).audio

    base = audio()
    lora.apply_lora(model, r=4, alpha=8, targets="albert,predictor,text_encoder,decoder,lstm")
    _randomise_lora(model, seed=3)
    adapted = audio()
    assert (adapted - base).abs().max() > 0.1
    lora.merge_lora(model)
    merged = audio()
    torch.testing.assert_close(merged, adapted, atol=5e-4, rtol=1e-3)
    assert set(model.state_dict()) == set(KokoroModel(debug_config()).state_dict())


def test_adapter_run_directory_round_trip_and_base_check(tmp_path) -> None:
    from sesli.models.kokoro import KokoroModel, debug_config
    from sesli.models.kokoro import adapter as adapter_io

    torch.manual_seed(0)
    model = KokoroModel(debug_config()).eval()
    base_hash = adapter_io.base_weights_hash(model)
    config = lora.apply_lora(model, r=4, alpha=8, targets="albert,decoder,lstm", base_id="debug")
    assert adapter_io.base_weights_hash(model) == base_hash  # the adapter does not change the base hash
    _randomise_lora(model, seed=5)
    style = torch.randn(model.config.ref_dim)
    card = {
        "base": {"id": "debug", "weights_sha256": base_hash},
        "lora": {"r": 4, "alpha": 8, "targets": ["albert", "decoder", "lstm"]},
    }
    adapter_io.save_adapter_run(tmp_path, model=model, config=config, style=style, card=card)
    assert adapter_io.is_adapter_run(tmp_path)
    assert (tmp_path / "adapter_config.json").is_file()

    run = adapter_io.read_adapter_run(tmp_path)
    assert run.voice.shape == (510, 1, model.config.ref_dim)
    assert torch.equal(run.voice[0, 0], style) and torch.equal(run.voice[509, 0], style)
    torch.manual_seed(0)
    fresh = adapter_io.attach_adapter(KokoroModel(debug_config()).eval(), run)
    ids = torch.tensor([[0, 5, 20, 33, 41, 16, 50, 0]])
    with torch.no_grad():
        a = model.infer(ids, style, noise=False)
        b = fresh.infer(ids, run.voice[ids.shape[1] - 3, 0], noise=False)
    torch.testing.assert_close(b.audio, a.audio)

    torch.manual_seed(1)  # another base (different weights): refused with the reason
    with pytest.raises(adapter_io.AdapterError, match="trained on base 'debug'"):
        adapter_io.attach_adapter(KokoroModel(debug_config()), run)
    (tmp_path / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(adapter_io.AdapterError, match="corrupt or truncated"):
        adapter_io.read_adapter_run(tmp_path)
    (tmp_path / "voice.pt").unlink()
    with pytest.raises(adapter_io.AdapterError, match="voice.pt is missing"):
        adapter_io.read_adapter_run(tmp_path)


def test_target_presets_expand():
    from sesli.models.kokoro.lora import LoraTargetError, parse_targets

    assert parse_targets("albert+text") == ("albert", "text_encoder")
    assert parse_targets(["all"]) == ("albert", "text_encoder", "predictor", "decoder")
    assert parse_targets("all,lstm")[-1] == "lstm"
    with pytest.raises(LoraTargetError, match="albert\\+text"):
        parse_targets("everything")
