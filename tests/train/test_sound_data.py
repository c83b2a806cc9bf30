"""sesli.train.tasks.sound_data: crops per (seed, epoch, index), labels, pitch, padding, errors."""

from __future__ import annotations

import pytest
import torch

from sesli.data.sound_prepare import prepare_sound
from sesli.testing.sound_corpus import CALMING_LABELS, write_calming_corpus, write_fake_nsynth
from sesli.train.tasks.sound_data import (
    SoundBatch,
    SoundDataError,
    clip_label,
    label_list,
    load_sound_data,
)

SR = 16000


@pytest.fixture(scope="module")
def calm(tmp_path_factory):
    """A prepared calming corpus: 5 labels x 3 clips of 1 s at 16 kHz."""
    root = tmp_path_factory.mktemp("sound")
    write_calming_corpus(root / "src", per_label=3, seconds=1.0)
    prepare_sound(root / "src", root / "prep", val_split=0.2)
    return root / "prep"


def _epoch(loader, epoch):
    loader.sampler.set_epoch(epoch)
    return list(loader)


def _key(batches):
    return [(b.ids, b.audio) for b in batches]


def _same(a, b):
    return all(x[0] == y[0] and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))


def test_batches_are_labelled_fixed_length_crops(calm):
    data = load_sound_data(calm, sample_rate=SR, segment=4000, batch_size=4, seed=0)
    assert data.labels == sorted(CALMING_LABELS)
    batch = next(iter(data.train))
    assert isinstance(batch, SoundBatch)
    assert batch.audio.shape == (4, 1, 4000) and batch.audio.dtype == torch.float32
    assert batch.lengths.tolist() == [4000] * 4 and batch.pitch.tolist() == [-1] * 4
    for name, label in zip(batch.ids, batch.labels.tolist(), strict=True):
        assert name.startswith(data.labels[label])  # rain-001_<hash> is label "rain"
    n = data.summary["train_clips"] + data.summary["val_clips"]
    assert (
        n == 15
        and data.summary["segment"] == 4000
        and sum(data.summary["labels"].values()) == data.summary["train_clips"]
    )
    moved = batch.to("cpu")
    assert moved.ids == batch.ids and torch.equal(moved.audio, batch.audio)


def test_same_epoch_same_crops_other_epoch_other_crops(calm):
    kw = {"sample_rate": SR, "segment": 2000, "batch_size": 3, "seed": 7}
    a, b = load_sound_data(calm, **kw), load_sound_data(calm, **kw)
    e0, e0_again, e1 = _epoch(a.train, 0), _epoch(b.train, 0), _epoch(a.train, 1)
    assert _same(_key(e0), _key(e0_again))
    by_id = {i: x for bt in e0 for i, x in zip(bt.ids, bt.audio, strict=True)}
    by_id1 = {i: x for bt in e1 for i, x in zip(bt.ids, bt.audio, strict=True)}
    assert by_id.keys() == by_id1.keys()
    assert sum(not torch.equal(by_id[i], by_id1[i]) for i in by_id) >= len(by_id) - 1  # new offsets
    other_seed = load_sound_data(calm, **{**kw, "seed": 8})
    assert not _same(_key(e0), _key(_epoch(other_seed.train, 0)))
    # validation crops never move
    assert _same(_key(list(a.val)), _key(list(b.val))) and _same(_key(list(a.val)), _key(list(a.val)))


def test_skipping_consumed_batches_replays_the_rest_exactly(calm):
    from accelerate import skip_first_batches

    data = load_sound_data(calm, sample_rate=SR, segment=2000, batch_size=2, seed=3)
    full = _epoch(data.train, 2)
    data.train.sampler.set_epoch(2)
    rest = list(skip_first_batches(data.train, 2))  # what a run resumed mid-epoch 2 sees
    assert _same(_key(rest), _key(full[2:]))


def test_worker_processes_give_the_same_crops(calm):
    kw = {"sample_rate": SR, "segment": 2000, "batch_size": 4, "seed": 1}
    alone = _epoch(load_sound_data(calm, **kw).train, 1)
    workers = _epoch(load_sound_data(calm, **kw, num_workers=2).train, 1)
    assert _same(_key(alone), _key(workers))


def test_short_clips_are_zero_padded_with_lengths(calm):
    data = load_sound_data(calm, sample_rate=SR, segment=20000, batch_size=5, seed=0)
    batch = next(iter(data.train))
    assert batch.audio.shape == (5, 1, 20000)
    assert batch.lengths.tolist() == [16000] * 5
    assert batch.audio[:, :, 16000:].abs().max() == 0 and batch.audio[:, :, :16000].abs().max() > 0.5


def test_nsynth_pitch_and_family_labels(tmp_path):
    write_fake_nsynth(tmp_path / "ns", n=6, seconds=0.5)
    prepare_sound(tmp_path / "ns", tmp_path / "prep", val_split=0.0)
    data = load_sound_data(tmp_path / "prep", sample_rate=SR, segment=4000, batch_size=6, seed=0)
    assert data.labels == ["guitar", "keyboard", "mallet"] and data.val is None
    batch = next(iter(data.train))
    got = sorted(zip(batch.pitch.tolist(), [data.labels[i] for i in batch.labels.tolist()], strict=True))
    assert got == [(48 + 3 * i, ("keyboard", "guitar", "mallet")[i % 3]) for i in range(6)]
    assert data.summary["with_pitch"] == 6


def test_label_table_given_unconditional_and_unknown(calm):
    names = ["bells", "drone", "rain", "thunder", "waves", "wind"]  # a model's table, one label unused
    data = load_sound_data(calm, sample_rate=SR, segment=1000, batch_size=15, seed=0, labels=names)
    assert data.labels == names and 3 not in next(iter(data.train)).labels.tolist()
    uncond = load_sound_data(calm, sample_rate=SR, segment=1000, batch_size=15, seed=0, labels=[])
    assert uncond.labels == [] and set(next(iter(uncond.train)).labels.tolist()) == {-1}
    with pytest.raises(SoundDataError, match="waves, wind are not among the model's labels"):
        load_sound_data(
            calm, sample_rate=SR, segment=1000, batch_size=2, seed=0, labels=["bells", "drone", "rain"]
        )


def test_val_clips_choice(calm):
    kw = {"sample_rate": SR, "segment": 1000, "batch_size": 2, "seed": 0}
    default = load_sound_data(calm, **kw)
    assert default.summary["val_clips"] >= 1
    assert load_sound_data(calm, **kw, val_clips=0).val is None
    one = load_sound_data(calm, **kw, val_clips=1)
    assert one.summary["val_clips"] == 1 and one.summary["train_clips"] == default.summary["train_clips"]


def test_val_clips_held_out_of_train_when_val_is_empty(tmp_path):
    write_calming_corpus(tmp_path / "src", per_label=2, seconds=0.5)
    prepare_sound(tmp_path / "src", tmp_path / "prep", val_split=0.0)
    kw = {"sample_rate": SR, "segment": 1000, "batch_size": 2, "seed": 0}
    assert load_sound_data(tmp_path / "prep", **kw).val is None
    held = load_sound_data(tmp_path / "prep", **kw, val_clips=3)
    assert (held.summary["train_clips"], held.summary["val_clips"]) == (7, 3)


def test_errors_name_what_to_do(tmp_path, calm):
    with pytest.raises(SoundDataError, match="no train.jsonl.*sesli sound prepare"):
        load_sound_data(tmp_path, sample_rate=SR, segment=100, batch_size=1, seed=0)
    with pytest.raises(SoundDataError, match="15 clip\\(s\\) at 16000 Hz, but the model runs at 24000 Hz"):
        load_sound_data(calm, sample_rate=24000, segment=100, batch_size=1, seed=0)
    with pytest.raises(SoundDataError, match="positive"):
        load_sound_data(calm, sample_rate=SR, segment=0, batch_size=1, seed=0)


def test_clip_label_prefers_labels_then_speaker():
    from sesli.data.manifest import Utterance

    a = Utterance("a", "a.wav", 1.0, SR, speaker="rain")
    b = Utterance("b", "b.wav", 1.0, SR, speaker="guitar_acoustic_001", labels={"label": "guitar"})
    assert clip_label(a) == "rain" and clip_label(b) == "guitar"
    assert label_list([b, a, a]) == ["guitar", "rain"]


class _CropTask:
    """A one-layer conv 'autoencoder' on the crops: enough to make weights depend on every batch."""

    def __init__(self, data_dir, crash_at=None):
        self.data_dir, self.crash_at = data_dir, crash_at

    def build(self, accelerator, cfg):
        from sesli.train.engine import Built
        from sesli.train.schedule import make_optimizer

        data = load_sound_data(
            self.data_dir, sample_rate=SR, segment=800, batch_size=cfg.batch_size, seed=cfg.seed
        )
        model = torch.nn.Conv1d(1, 1, 9, padding=4)
        return Built(
            modules={"model": model},
            optimizers={"main": make_optimizer(model, cfg)},
            train_data=data.train,
            val_data=data.val,
        )

    def train_step(self, batch, ctx):
        if self.crash_at is not None and ctx.global_step + 1 == self.crash_at:
            raise RuntimeError("simulated crash")
        loss = (ctx.modules["model"](batch.audio) - batch.audio.roll(1, -1)).pow(2).mean()
        ctx.backward(loss)
        ctx.step("main")
        return {"loss": loss}

    def eval_step(self, batch, ctx):
        return {"loss": (ctx.modules["model"](batch.audio) - batch.audio.roll(1, -1)).pow(2).mean()}


@pytest.mark.slow  # three short fits: ~8-12 s on a shared 2-core CPU
def test_engine_resume_mid_epoch_is_exact_with_random_crops(calm, tmp_path):
    from safetensors.torch import load_file

    from sesli.train.config import TrainConfig
    from sesli.train.engine import Task, fit

    task = type("CropTask", (_CropTask, Task), {})
    cfg = TrainConfig(epochs=10, max_steps=7, batch_size=4, lr=1e-2, warmup_steps=1, save_every=2, eval_every=7,
                      mixed_precision="no", cpu=True, log_every=1)  # fmt: skip
    ref = fit(task(calm), cfg, tmp_path / "ref", quiet=True)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(task(calm, crash_at=6), cfg, tmp_path / "run", quiet=True)  # resumes at step 4, mid-epoch 1
    resumed = fit(task(calm), cfg, tmp_path / "run", quiet=True)
    a = load_file(ref.last_checkpoint / "model.safetensors")
    b = load_file(resumed.last_checkpoint / "model.safetensors")
    assert resumed.step == ref.step == 7 and all(torch.equal(a[k], b[k]) for k in a)
