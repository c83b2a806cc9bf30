"""Content features (HuBERT/ContentVec through transformers): shapes, frame rate, layers, loading, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sesli.models.vc.content import (
    DEFAULT_SOURCE,
    ContentEncoder,
    ContentInputError,
    ContentModelError,
    load_content_encoder,
    num_frames,
    resolve_layer,
)
from sesli.models.vc.tiny import tiny_content_encoder, tiny_hubert

HIDDEN = 64  # narrow models keep the suite fast; the geometry does not depend on the width


def _audio(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(16000 * seconds))).astype(np.float32)


@pytest.mark.parametrize("n", [400, 719, 720, 1600, 16000, 16319, 16320, 48000])
def test_frame_count_matches_hubert(n):
    enc = tiny_content_encoder(hidden=HIDDEN)
    feats = enc.extract(_audio(n / 16000))
    assert feats.shape == (num_frames(n), HIDDEN) == ((n - 400) // 320 + 1, HIDDEN)
    assert feats.dtype == np.float32


def test_v2_reads_the_layer_and_v1_projects():
    model = tiny_hubert(hidden=HIDDEN, layers=3)
    wav = torch.from_numpy(_audio(1.0))[None]
    with torch.no_grad():
        layers = model(wav, output_hidden_states=True).hidden_states  # (input, layer 1, 2, 3)
    enc = ContentEncoder(tiny_hubert(hidden=HIDDEN, layers=3), version="v2", layer=2)
    assert len(enc.model.encoder.layers) == 2  # later layers dropped
    torch.testing.assert_close(enc(wav), layers[2])

    proj = torch.nn.Linear(HIDDEN, 256)
    v1 = ContentEncoder(tiny_hubert(hidden=HIDDEN, layers=3), version="v1", proj=proj)
    assert v1.layer == 3 and v1.dim == 256  # default 9 clamped to the 3 layers
    with torch.no_grad():
        torch.testing.assert_close(v1(wav), proj(layers[3]))


def test_layer_rule():
    assert resolve_layer("v2", None, 12) == 12 and resolve_layer("v1", None, 12) == 9
    assert resolve_layer("v2", None, 2) == 2  # default clamped
    with pytest.raises(ContentModelError, match="out of range"):
        resolve_layer("v2", 12, 2)  # explicit: validated
    with pytest.raises(ContentModelError, match="v1' or 'v2"):
        resolve_layer("v3", None, 12)


def test_v1_without_projection_is_a_clear_error():
    with pytest.raises(ContentModelError, match="final_proj"):
        ContentEncoder(tiny_hubert(hidden=HIDDEN), version="v1")


def test_deterministic_and_seeded():
    wav = _audio(1.0)
    a = tiny_content_encoder(hidden=HIDDEN, seed=3).extract(wav)
    b = tiny_content_encoder(hidden=HIDDEN, seed=3).extract(wav)
    c = tiny_content_encoder(hidden=HIDDEN, seed=4).extract(wav)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_chunked_extraction_keeps_frames_aligned():
    enc = tiny_content_encoder(hidden=HIDDEN)
    wav = _audio(3.3)
    whole = enc.extract(wav)
    chunked = enc.extract(wav, chunk_seconds=1.0, context_seconds=0.5)
    assert chunked.shape == whole.shape
    # context spanning the whole input: every chunk sees the utterance, so nothing changes
    full_context = enc.extract(wav, chunk_seconds=1.0, context_seconds=10.0)
    np.testing.assert_allclose(full_context, whole, atol=1e-4)


@pytest.mark.parametrize(
    ("audio", "kw", "match"),
    [
        (np.zeros(300, np.float32), {}, "too short"),
        (np.zeros((2, 16000), np.float32), {}, "mono"),
        (np.zeros(16000, np.int16), {}, "float"),
        (np.full(16000, np.nan, np.float32), {}, "NaN"),
        (np.zeros(16000, np.float32), {"sample_rate": 44100}, "16 kHz"),
    ],
)
def test_bad_audio(audio, kw, match):
    with pytest.raises(ContentInputError, match=match):
        tiny_content_encoder(hidden=HIDDEN).extract(audio, **kw)


def test_load_from_folder_round_trip_with_final_proj(tmp_path):
    from safetensors.torch import load_file, save_file

    model = tiny_hubert(hidden=HIDDEN, layers=2, seed=5)
    model.save_pretrained(tmp_path)
    # ContentVec's transformers port keeps final_proj next to the HubertModel weights
    proj = torch.nn.Linear(HIDDEN, 256)
    state = load_file(str(tmp_path / "model.safetensors"))
    state |= {"final_proj.weight": proj.weight.detach(), "final_proj.bias": proj.bias.detach()}
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})

    wav = _audio(1.0)
    expected = ContentEncoder(tiny_hubert(hidden=HIDDEN, layers=2, seed=5)).extract(wav)
    np.testing.assert_allclose(load_content_encoder(tmp_path).extract(wav), expected, atol=1e-5)
    v1 = load_content_encoder(tmp_path, version="v1")
    with torch.no_grad():
        expected_v1 = proj(torch.from_numpy(expected)).numpy()
    np.testing.assert_allclose(v1.extract(wav), expected_v1, atol=1e-5)


def test_v1_from_a_checkpoint_without_final_proj(tmp_path):
    tiny_hubert(hidden=HIDDEN).save_pretrained(tmp_path)
    with pytest.raises(ContentModelError, match="no final_proj"):
        load_content_encoder(tmp_path, version="v1")
    torch.save({"weight": torch.zeros(256, HIDDEN), "bias": torch.zeros(256)}, tmp_path / "proj.pt")
    assert load_content_encoder(tmp_path, version="v1", proj=tmp_path / "proj.pt").dim == 256


def test_offline_hub_id_says_how_to_get_the_model():
    with pytest.raises(ContentModelError) as err:
        load_content_encoder("sesli-test/no-such-content-model", local_files_only=True)
    msg = str(err.value)
    assert "huggingface-cli download sesli-test/no-such-content-model" in msg
    assert "--content-model" in msg and DEFAULT_SOURCE in msg


def test_local_path_errors(tmp_path):
    with pytest.raises(ContentModelError, match="no content model at"):
        load_content_encoder(tmp_path / "missing")
    (tmp_path / "hubert_base.pt").write_bytes(b"x")
    with pytest.raises(ContentModelError, match="fairseq"):
        load_content_encoder(tmp_path / "hubert_base.pt")
    with pytest.raises(ContentModelError, match="no config.json"):
        load_content_encoder(tmp_path)


def test_incomplete_checkpoint_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    tiny_hubert(hidden=HIDDEN).save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state = {k: v for k, v in state.items() if "encoder.layers.1." not in k}
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ContentModelError, match="lacks"):
        load_content_encoder(tmp_path)
