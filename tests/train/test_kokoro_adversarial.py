"""The optional adversarial stage of Kokoro fine-tuning (debug model, small discriminators):
D joins at ``adversarial_after``, D and G both step, the GAN terms are logged, and a run killed
after the switch resumes to the same weights, discriminator included."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sesli.train.tasks.kokoro_finetune import (
    KokoroFinetuneTask,
    finetune,
    load_run_config,
    random_segments,
)

ADV = [
    "finetune.base=debug",
    "finetune.aligner_steps=20",
    "finetune.adversarial=true",
    "finetune.adversarial_after=2",
    "finetune.adversarial_segment=0.25",
    "finetune.disc_mpd_channels=[4,8]",
    "finetune.disc_mrd_channels=4",
    "train.lr=1e-3",
    "train.batch_size=2",
    "train.epochs=100",
    "train.log_every=1",
    "train.mixed_precision=no",
    "train.early_stopping_patience=null",
]


def _over(prepared: Path, *extra: str) -> list[str]:
    return [f"finetune.data={prepared}", *ADV, *extra]


def _metrics(run: Path) -> dict[str, dict[int, float]]:
    from sesli.train.logging import read_metrics

    out: dict[str, dict[int, float]] = {}
    for step, _, key, value in read_metrics(run / "metrics.csv"):
        out.setdefault(key, {})[step] = value
    return out


def test_discriminator_joins_after_n_steps(prepared: Path, tmp_path: Path) -> None:
    from sesli.train.engine import Engine

    cfg = load_run_config(overrides=_over(prepared, "train.max_steps=5", "train.eval_every=5"))
    task = KokoroFinetuneTask(cfg.finetune, tmp_path / "run", quiet=True)
    engine = Engine(task, cfg.train, tmp_path / "run", config=cfg, quiet=True)
    result = engine.run()
    assert result.step == 5
    m = _metrics(tmp_path / "run")
    # steps 1-2 reconstruction only; from step 3 (global_step 2 before it) D and the GAN terms
    assert sorted(m["train/disc"]) == sorted(m["train/gen"]) == sorted(m["train/fm"]) == [3, 4, 5]
    assert all(v > 0 for v in m["train/fm"].values())
    for s in (3, 4, 5):  # the generator's loss includes the weighted GAN terms
        rec = sum(w * m[f"train/{k}"][s] for k, w in
                  (("mel", 1), ("stft", 1), ("dur", 1), ("f0", 0.1), ("energy", 1)))  # fmt: skip
        assert m["train/loss"][s] == pytest.approx(rec + m["train/gen"][s] + 2 * m["train/fm"][s], rel=1e-4)
    assert "val/disc" not in m and "val/loss" in m  # validation stays the reconstruction loss
    disc = engine.ctx.unwrap("disc")
    assert all(p.requires_grad for p in disc.parameters())  # frozen only inside the G step
    opt = engine.ctx.optimizers["disc"]
    assert all(opt.state[p]["step"] == 3 for g in opt.param_groups for p in g["params"])  # 3 D steps


def test_adversarial_run_killed_after_the_switch_resumes_bit_for_bit(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    over = _over(prepared, "train.max_steps=6", "train.save_every=4", "train.eval_every=3")
    finetune(tmp_path / "ref", overrides=over, quiet=True)
    calls = {"n": 0}
    real_step = KokoroFinetuneTask.train_step

    def dying_step(self, batch, ctx):
        calls["n"] += 1
        if calls["n"] == 6:  # during step 6: the last checkpoint is step 4, D has stepped twice
            raise KeyboardInterrupt("killed")
        return real_step(self, batch, ctx)

    monkeypatch.setattr(KokoroFinetuneTask, "train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        finetune(tmp_path / "run", overrides=over, quiet=True)
    monkeypatch.setattr(KokoroFinetuneTask, "train_step", real_step)
    finetune(tmp_path / "run", overrides=over, quiet=True)

    from sesli.train.checkpoint import latest_checkpoint, load_checkpoint

    ref = load_checkpoint(latest_checkpoint(tmp_path / "ref" / "checkpoints"))
    got = load_checkpoint(latest_checkpoint(tmp_path / "run" / "checkpoints"))
    assert set(ref.weights) == {"model", "disc"}
    for name in ("model", "disc"):
        for key, value in ref.weights[name].items():
            assert torch.equal(got.weights[name][key], value), (name, key)


def test_resuming_with_the_discriminator_switched_on_refuses(prepared: Path, tmp_path: Path) -> None:
    from sesli.train.config import ConfigError

    plain = [o for o in _over(prepared, "train.max_steps=2", "train.save_every=2") if "adversarial=" not in o]
    finetune(tmp_path / "run", overrides=[*plain, "finetune.adversarial=false"], quiet=True)
    with pytest.raises(ConfigError, match="adversarial"):
        finetune(tmp_path / "run", overrides=_over(prepared, "train.max_steps=4"), quiet=True)


def test_random_segments_take_the_same_window_of_both() -> None:
    audio = torch.arange(20.0).repeat(2, 1)  # (2, 20)
    target = audio + 100
    lengths = torch.tensor([20, 6])
    a, t = random_segments(audio, target, lengths, 5, torch.Generator().manual_seed(0))
    assert a.shape == t.shape == (2, 5)
    assert torch.equal(t - a, torch.full_like(a, 100.0))  # the same samples of both
    assert torch.equal(a[:, 1:] - a[:, :-1], torch.ones(2, 4))  # contiguous
    assert int(a[1, -1]) <= 5  # inside the short item's 6 valid samples
    short, _ = random_segments(audio[:, :3], target[:, :3], torch.tensor([3, 3]), 5)
    assert short.shape == (2, 3)
