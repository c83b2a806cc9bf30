"""The aligner recovers known durations from synthetic 'phonemes' (tones) within one frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sesli.models.aligner import Aligner, beta_binomial_log_prior
from sesli.testing.alignment import synthetic_alignment_corpus
from sesli.train.tasks.aligner import AlignerDataset, AlignerItem, AlignerTaskConfig, aligner_losses, collate


def test_prior_is_a_distribution_on_the_diagonal():
    lp = beta_binomial_log_prior(5, 20)
    assert lp.shape == (20, 5)
    assert torch.allclose(lp.exp().sum(dim=1), torch.ones(20), atol=1e-5)
    assert lp[0].argmax() == 0 and lp[-1].argmax() == 4 and lp[10].argmax() == 2


def test_shapes_and_durations_sum_to_frames():
    torch.manual_seed(0)
    model = Aligner(n_tokens=12, channels=16, attn_channels=8)
    tokens = torch.randint(1, 12, (2, 7))
    mel = torch.randn(2, 80, 41) - 4
    out = model(tokens, torch.tensor([7, 4]), mel, torch.tensor([41, 25]))  # 20 and 12 frames
    assert out.log_attn.shape == (2, 20, 7) and out.attn_hard.shape == (2, 20, 7)
    assert out.frame_lengths.tolist() == [20, 12]
    assert out.durations.sum(dim=1).tolist() == [20, 12]
    assert (
        (out.durations[0] >= 1).all()
        and (out.durations[1, :4] >= 1).all()
        and out.durations[1, 4:].sum() == 0
    )
    assert torch.allclose(out.log_attn[1, :12, :4].exp().sum(-1), torch.ones(12), atol=1e-5)
    with pytest.raises(ValueError, match="tokens but"):
        model(tokens, torch.tensor([7, 7]), mel, torch.tensor([41, 9]))  # 4 frames for 7 tokens


def test_aligner_recovers_known_durations():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    corpus = synthetic_alignment_corpus(20, seed=0)  # tones of known durations, see sesli.testing
    ds = AlignerDataset([AlignerItem(u.id, u.tokens, u.audio) for u in corpus])
    batch = collate([ds[k] for k in range(len(ds))])
    cfg = AlignerTaskConfig()
    model = Aligner(n_tokens=9, channels=64, attn_channels=32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for step in range(300):
        terms = aligner_losses(model, batch, cfg, use_bin=step >= cfg.bin_start_step)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        first = first if first is not None else terms["forward_sum"].item()
    assert terms["forward_sum"].item() < 0.6 * first  # it learned
    with torch.no_grad():
        out = model(batch["tokens"], batch["text_lengths"], batch["mel"], batch["mel_lengths"])
    dur_err, bound_err = [], []
    for k, utt in enumerate(corpus):
        truth = utt.durations
        pred = out.durations[k, : len(truth)].numpy()
        assert pred.sum() == truth.sum()  # exactly the clip's frames
        dur_err.append(np.abs(pred - truth))
        bound_err.append(np.abs(np.cumsum(pred) - np.cumsum(truth)))
    dur_err, bound_err = np.concatenate(dur_err), np.concatenate(bound_err)
    # Every phoneme boundary lands within one 600-sample frame of the truth.
    assert bound_err.max() <= 1, bound_err
    assert dur_err.mean() < 0.7 and (dur_err == 0).mean() > 0.4
