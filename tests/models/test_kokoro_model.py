"""KokoroModel: sizes, shapes, teacher-forced training forward, masks, dropout, gradients."""

import pytest
import torch

from sesli.models.kokoro import KokoroModel, debug_config, durations_to_alignment, official_config
from sesli.models.kokoro.loading import build_debug


@pytest.fixture(scope="module")
def model() -> KokoroModel:
    torch.manual_seed(0)
    return build_debug().model


def _clone(model: KokoroModel) -> KokoroModel:
    # deepcopy refuses classic weight-norm modules whose computed weight is a graph node
    twin = KokoroModel(model.config).eval()
    twin.load_state_dict(model.state_dict())
    return twin


def _batch(lengths, vocab_max=170, seed=0):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.zeros(len(lengths), T, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, 1 : n - 1] = torch.randint(1, vocab_max, (n - 2,), generator=g)
    return ids, torch.tensor(lengths)


def test_full_size_has_the_official_parameter_count():
    torch.set_num_threads(1)
    m = KokoroModel(official_config())
    counts = {
        name: sum(p.numel() for p in getattr(m, name).parameters())
        for name in ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
    }
    assert sum(counts.values()) == sum(p.numel() for p in m.parameters()) == 81_810_022
    assert counts["bert"] == 6_292_480 and counts["decoder"] == 53_313_586
    assert m.decoder.generator.conv_post.weight_v.shape == (22, 128, 7)
    assert m.predictor.text_encoder.lstms[0].weight_ih_l0.shape == (4 * 256, 512 + 128)


def test_alignment_from_durations():
    aln, frames = durations_to_alignment(torch.tensor([[1, 2, 0], [3, 0, 0]]))
    assert frames.tolist() == [3, 3]
    assert aln[0].argmax(0).tolist() == [0, 1, 1] and aln[1].argmax(0).tolist() == [0, 0, 0]
    assert aln.sum(1).tolist() == [[1, 1, 1], [1, 1, 1]]


def test_infer_shapes_and_speed(model):
    ids, lengths = _batch([9])
    ref = torch.randn(model.config.ref_dim)
    with torch.no_grad():
        slow = model.infer(ids, ref, 1.0, noise=False)
        fast = model.infer(ids, ref, 2.0, noise=False)
    assert slow.audio.shape == (1, int(slow.durations.sum()) * 600)
    assert slow.f0.shape == (1, 2 * int(slow.durations.sum()))
    assert int(fast.durations.sum()) < int(slow.durations.sum())
    assert torch.isfinite(slow.audio).all() and slow.audio.abs().max() > 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batched_inference_equals_each_item_alone(model, dtype):
    """Padding never leaks: exact up to rounding (float64 shows the logic, float32 the noise)."""
    m = _clone(model).to(dtype)
    atol = 1e-9 if dtype == torch.float64 else 2e-4
    ids, lengths = _batch([12, 5, 9], seed=1)
    style = torch.randn(3, m.config.ref_dim, dtype=dtype)
    with torch.no_grad():
        batch = m.infer(ids, style, 1.0, lengths, noise=False)
        for b in range(3):
            n = int(lengths[b])
            alone = m.infer(ids[b : b + 1, :n], style[b : b + 1], 1.0, noise=False)
            assert torch.equal(batch.durations[b, :n], alone.durations[0])
            assert (batch.durations[b, n:] == 0).all()
            n_audio = int(batch.audio_lengths[b])
            assert n_audio == alone.audio.shape[1]
            torch.testing.assert_close(batch.audio[b, :n_audio], alone.audio[0], atol=atol, rtol=0)
            assert (batch.audio[b, n_audio:] == 0).all()


def test_train_forward_batched_with_given_durations_and_gradients(model):
    model.train()
    try:
        ids, lengths = _batch([10, 6], seed=2)
        durations = torch.randint(1, 4, ids.shape)
        style = torch.randn(2, model.config.ref_dim)
        out = model.forward_train(ids, lengths, durations, style, noise=False)
        frames = [int(durations[b, : lengths[b]].sum()) for b in range(2)]
        assert out.frame_lengths.tolist() == frames
        assert out.audio.shape == (2, max(frames) * 600)
        assert out.audio_lengths.tolist() == [f * 600 for f in frames]
        assert out.dur_logits.shape == (2, 10, model.config.max_dur)
        assert out.f0_pred.shape == out.n_pred.shape == (2, 2 * max(frames))
        assert out.alignment.shape == (2, 10, max(frames))
        loss = (
            out.audio.abs().mean()
            + out.dur_logits.mean()
            + out.f0_pred.abs().mean()
            + out.n_pred.abs().mean()
        )
        model.zero_grad()
        loss.backward()
        for name in ("bert", "bert_encoder", "predictor", "text_encoder", "decoder"):
            grads = [p.grad for p in getattr(model, name).parameters() if p.grad is not None]
            assert grads and any(g.abs().sum() > 0 for g in grads), name
        assert model.decoder.generator.conv_post.weight_v.grad.abs().sum() > 0
    finally:
        model.eval()
        model.zero_grad()


def test_dropout_follows_train_and_eval_mode(model):
    ids, lengths = _batch([10], seed=3)
    durations = torch.full(ids.shape, 2)
    style = torch.randn(1, model.config.ref_dim)
    with torch.no_grad():
        model.train()
        a = model.forward_train(ids, lengths, durations, style, noise=False)
        b = model.forward_train(ids, lengths, durations, style, noise=False)
        model.eval()
        c = model.forward_train(ids, lengths, durations, style, noise=False)
        d = model.forward_train(ids, lengths, durations, style, noise=False)
    assert not torch.equal(a.dur_logits, b.dur_logits)
    assert torch.equal(c.dur_logits, d.dur_logits) and torch.equal(c.audio, d.audio)


def test_ground_truth_f0_drives_the_decoder(model):
    ids, lengths = _batch([8], seed=4)
    durations = torch.full(ids.shape, 3)
    style = torch.randn(1, model.config.ref_dim)
    with torch.no_grad():
        base = model.forward_train(ids, lengths, durations, style, noise=False)
        f0 = torch.full_like(base.f0_pred, 180.0)
        voiced = model.forward_train(ids, lengths, durations, style, f0=f0, noise=False)
    assert voiced.audio.shape == base.audio.shape and not torch.allclose(voiced.audio, base.audio)


def test_bad_style_shape_is_a_clear_error(model):
    ids, _ = _batch([6])
    with pytest.raises(ValueError, match="style must be"):
        model.infer(ids, torch.randn(7))


def test_debug_config_is_tiny_and_round_trips():
    cfg = debug_config()
    assert sum(p.numel() for p in KokoroModel(cfg).parameters()) < 1_000_000
    again = type(cfg).from_dict(cfg.to_dict())
    assert again == cfg
    assert "decoder_dim" not in official_config().to_dict()  # upstream-readable


def test_fused_weight_norm_gives_the_same_audio_and_reloads(model):
    from sesli.models.kokoro.loading import load_state

    fused = _clone(model).fuse_weight_norm()
    assert not any(k.endswith("weight_g") for k in fused.state_dict())
    ids, _ = _batch([9], seed=5)
    ref = torch.randn(model.config.ref_dim)
    with torch.no_grad():
        a = model.infer(ids, ref, noise=False).audio
        b = fused.infer(ids, ref, noise=False).audio
    torch.testing.assert_close(b, a, atol=1e-4, rtol=0)
    again = KokoroModel(model.config).eval()
    load_state(again, fused.state_dict())  # folded weights load back into a weight-norm model
    with torch.no_grad():
        c = again.infer(ids, ref, noise=False).audio
    torch.testing.assert_close(c, a, atol=1e-4, rtol=0)
