"""YAML configs with dotted overrides, type checks and clear errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from sesli.train.config import ConfigError, TrainConfig, dump_config, load_config
from sesli.train.tasks.lm import LMRunConfig, build_model

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Inner:
    width: int = 4
    name: str = "a"


@dataclass
class Root:
    inner: Inner = field(default_factory=Inner)
    train: TrainConfig = field(default_factory=TrainConfig)


def test_yaml_then_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("inner:\n  width: 8\ntrain:\n  lr: 1.0e-3\n  betas: [0.8, 0.9]\n")
    cfg = load_config(
        Root, p, ["train.lr=1e-4", "inner.name=şarkı", "train.max_steps=null", "train.grad_clip=2"]
    )
    assert cfg.inner.width == 8 and cfg.inner.name == "şarkı"
    assert cfg.train.lr == pytest.approx(1e-4)  # YAML reads 1e-4 as a string; the float field converts it
    assert cfg.train.betas == (0.8, 0.9)
    assert cfg.train.max_steps is None and cfg.train.grad_clip == 2.0
    assert load_config(Root, None, ["train.mixed_precision=no"]).train.mixed_precision == "no"  # not False


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", r"unknown key\(s\) \['lrr'\]"),
        ("train.epochs=ten", "config.train.epochs: 'ten' is not an int"),
        ("train.schedule=linear", r"'linear' is not one of \['cosine', 'exponential', 'constant'\]"),
        ("train.betas=[0.9]", "expected 2 items"),
        ("train.save_best=maybe", "is not a bool"),
        ("nodots", "expected dotted key=value"),
    ],
)
def test_bad_overrides_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Root, None, [override])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Root, tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Root, tmp_path / "list.yaml")


def test_dump_round_trip(tmp_path):
    cfg = load_config(Root, None, ["train.lr=0.5", "inner.width=3"])
    dump_config(cfg, tmp_path / "frozen.yaml")
    assert load_config(Root, tmp_path / "frozen.yaml") == cfg


@pytest.mark.parametrize("name", ["tiny", "small", "phoneme_mlm"])
def test_shipped_lm_configs_load(name):
    cfg = load_config(LMRunConfig, REPO / "src" / "sesli" / "configs" / "lm" / f"{name}.yaml")
    assert cfg.model.d_model % cfg.model.n_heads == 0
    assert cfg.train.warmup_steps > 0 and cfg.train.save_best
    tiny = load_config(
        LMRunConfig,
        REPO / "src" / "sesli" / "configs" / "lm" / f"{name}.yaml",
        ["model.d_model=16", "model.n_heads=2"],
    )
    model = build_model(tiny, vocab_size=40)
    ids = torch.randint(0, 40, (2, 8))
    assert model(ids, ids).loss.isfinite()
