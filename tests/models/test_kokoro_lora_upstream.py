"""A merged LoRA run, written by `sesli kokoro merge`, loads into upstream ``kokoro`` (full size, random
weights) and speaks exactly like sesli's base + adapter (unmerged) with the same random draws."""

import pytest
import torch

from sesli.fileio import write_json
from sesli.models.kokoro import KokoroModel, lora, official_config
from sesli.models.kokoro import adapter as adapter_io
from sesli.models.kokoro.loading import from_pretrained, official_state_dict
from sesli.testing.upstream_kokoro import UpstreamKokoroMissing, import_upstream_kmodel

try:
    KModel = import_upstream_kmodel()
except UpstreamKokoroMissing as err:  # pragma: no cover
    pytest.skip(str(err), allow_module_level=True)

pytestmark = pytest.mark.slow
SEED = 99


def test_merged_run_loads_into_upstream_and_equals_base_plus_adapter(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _merged_run_vs_upstream(tmp_path)
    finally:
        torch.set_num_threads(threads)


def _merged_run_vs_upstream(tmp_path) -> None:
    from sesli.train.tasks.kokoro_finetune import merge_run

    torch.manual_seed(0)
    base = KokoroModel(official_config())
    with torch.no_grad():  # ~3 frames per token, so the random model speaks briefly
        base.predictor.duration_proj.linear_layer.bias.fill_(-3.0)
    (tmp_path / "base").mkdir()
    torch.save(official_state_dict(base), tmp_path / "base" / "kokoro-v1_0.pth")
    write_json(tmp_path / "base" / "config.json", base.config.to_dict())
    del base

    model = from_pretrained(tmp_path / "base").model
    card = {
        "base": {"id": str(tmp_path / "base"), "weights_sha256": adapter_io.base_weights_hash(model)},
        "lora": {"r": 4, "alpha": 8, "targets": ["albert", "decoder"]},
    }
    config = lora.apply_lora(model, r=4, alpha=8, targets="albert,decoder")
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a real change in every LoRA layer (B starts at zero)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.02 * torch.randn(p.shape, generator=g))
    style = torch.randn(256, generator=g)
    adapter_io.save_adapter_run(tmp_path / "run", model=model, config=config, style=style, card=card)

    weights = merge_run(tmp_path / "run", tmp_path / "merged")
    up = KModel(
        repo_id="hexgrad/Kokoro-82M", config=str(tmp_path / "merged" / "config.json"), model=str(weights)
    )
    up.eval()
    merged_state = torch.load(weights, map_location="cpu", weights_only=True)
    up_decoder = up.decoder.state_dict()
    assert all(torch.equal(up_decoder[k], v) for k, v in merged_state["decoder"].items())  # all loaded

    ids = torch.tensor([[0, 50, 43, 102, 16, 61, 83, 4, 157, 0]])
    ref = style.unsqueeze(0)
    model.eval()
    torch.manual_seed(SEED)
    with torch.no_grad():
        ours = model.infer(ids, ref)  # base + adapter, unmerged
    torch.manual_seed(SEED)
    up_audio, up_dur = up.forward_with_tokens(ids, ref, 1)
    assert torch.equal(ours.durations[0], up_dur)
    assert (ours.audio[0] - up_audio).abs().max() < 1e-3
    assert up_audio.abs().max() > 1e-3
