"""TinyLM: shapes, causality, tied weights, loss, generation."""

from __future__ import annotations

import math

import pytest
import torch

from sesli.models.lm import TinyLM


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(**kw) -> TinyLM:
    torch.manual_seed(0)
    args = dict(vocab_size=50, d_model=16, n_layers=2, n_heads=2, max_seq_len=12, dropout=0.0)
    args.update(kw)
    return TinyLM(**args).eval()


def test_shapes_and_initial_loss_near_uniform():
    m = _model()
    ids = torch.randint(0, 50, (3, 12))
    out = m(ids, ids)
    assert out.logits.shape == (3, 12, 50)
    assert abs(out.loss.item() - math.log(50)) < 0.3  # small init: close to a uniform guess
    assert m(ids).loss is None


def test_causal_future_tokens_do_not_change_the_past():
    m = _model()
    a = torch.randint(0, 50, (1, 10))
    b = a.clone()
    b[0, 6:] = (b[0, 6:] + 7) % 50
    la, lb = m(a).logits, m(b).logits
    assert torch.allclose(la[0, :6], lb[0, :6], atol=1e-6)
    assert not torch.allclose(la[0, 6:], lb[0, 6:])


def test_tied_embedding_and_ignore_index():
    m = _model()
    assert m.head.weight is m.tok.weight
    ids = torch.randint(0, 50, (2, 8))
    targets = ids.clone()
    targets[:, 4:] = -100
    full = torch.nn.functional.cross_entropy(m(ids).logits[:, :4].reshape(-1, 50), ids[:, :4].reshape(-1))
    assert torch.allclose(m(ids, targets).loss, full, atol=1e-6)


def test_generate_greedy_is_deterministic_and_crops_context():
    m = _model()
    prompt = torch.tensor([[1, 2, 3]])
    a = m.generate(prompt, max_new_tokens=15, temperature=0)
    b = m.generate(prompt, max_new_tokens=15, temperature=0)
    assert a.shape == (1, 18) and torch.equal(a, b) and torch.equal(a[:, :3], prompt)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    s1 = m.generate(prompt, max_new_tokens=5, top_k=3, generator=g1)
    assert torch.equal(s1, m.generate(prompt, max_new_tokens=5, top_k=3, generator=g2))


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="not divisible"):
        TinyLM(vocab_size=10, d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="longer than max_seq_len=12"):
        _model()(torch.zeros(1, 13, dtype=torch.long))


def test_overfits_one_batch():
    torch.manual_seed(0)
    m = _model().train()
    ids = torch.randint(0, 50, (2, 12))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = m(ids[:, :-1], ids[:, 1:]).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def test_encoder_mode_sees_both_directions_and_cannot_generate():
    m = _model(causal=False)
    a = torch.randint(0, 50, (1, 10))
    b = a.clone()
    b[0, 8] = (b[0, 8] + 1) % 50
    assert not torch.allclose(m(a).logits[0, :8], m(b).logits[0, :8])  # the future changes the past
    with pytest.raises(ValueError, match="cannot generate"):
        m.generate(a, max_new_tokens=1)
