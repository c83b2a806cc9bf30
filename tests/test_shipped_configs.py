"""The YAML configs ship inside the package: a built wheel holds them, names resolve from any
directory, and the top-level ``configs`` (a link kept for old paths) shows the same files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sesli.train.config import ConfigError, config_path, configs_dir, shipped_configs

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "sesli" / "configs"


def _yaml_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.yaml")}


def test_configs_dir_is_the_package_folder_and_the_old_path_does_not_drift() -> None:
    assert configs_dir().resolve() == SHIPPED.resolve()
    assert {"lm/tiny.yaml", "lm/small.yaml", "kokoro/finetune.yaml", "debug/lm.yaml"} <= _yaml_files(SHIPPED)
    old = REPO / "configs"
    if old.exists():  # kept for bench/ and old commands: one copy, so it must point at the shipped one
        assert old.resolve() == SHIPPED.resolve(), "configs/ must link to src/sesli/configs, not copy it"


def test_names_resolve_from_any_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sesli.cli.lm import _config_path
    from sesli.train.config import load_config
    from sesli.train.tasks.kokoro_finetune import load_run_config
    from sesli.train.tasks.lm import LMRunConfig

    monkeypatch.chdir(tmp_path)
    assert config_path("tiny", "lm") == configs_dir() / "lm" / "tiny.yaml"
    assert _config_path("small") == configs_dir() / "lm" / "small.yaml"
    assert config_path("debug/lm") == configs_dir() / "debug" / "lm.yaml"
    load_config(LMRunConfig, _config_path("tiny"))
    cfg = load_run_config("debug/kokoro_finetune")
    assert cfg.finetune.base == "debug" and cfg.train.lr == 5e-3
    assert load_run_config("finetune").finetune.lora_r == 8  # kokoro/finetune.yaml
    own = tmp_path / "tiny.yaml"  # a file of that name in the working directory wins over the name
    own.write_text("train:\n  epochs: 3\n", encoding="utf-8")
    assert config_path("tiny.yaml", "lm") == Path("tiny.yaml")
    with pytest.raises(
        ConfigError,
        match=r"no config named .huge.: no such file, nor a shipped one \(base, phoneme_mlm, small, tiny\)",
    ):
        config_path("huge", "lm")
    assert "debug/lm" in shipped_configs()


@pytest.mark.parametrize("name", shipped_configs("lm"))
def test_every_shipped_lm_config_builds_and_trains_a_step_at_tiny_width(name: str) -> None:
    """Each file's recipe (sizes aside) at width 16: the model builds, its loss is finite."""
    import torch

    from sesli.train.config import load_config
    from sesli.train.tasks.lm import LMRunConfig, build_model

    cfg = load_config(LMRunConfig, config_path(name, "lm"), ["model.d_model=16", "model.n_heads=2"])
    assert cfg.train.warmup_steps > 0 and cfg.train.save_best
    model = build_model(cfg, vocab_size=257)
    ids = torch.randint(0, 257, (2, 8))
    loss = model(ids, ids).loss
    loss.backward()
    assert loss.isfinite() and model.max_seq_len == cfg.data.seq_len


def test_base_is_gpt2_small_sized() -> None:
    import torch

    from sesli.train.config import load_config
    from sesli.train.tasks.lm import LMRunConfig, build_model

    cfg = load_config(LMRunConfig, config_path("base", "lm"))
    m = cfg.model
    assert (m.n_layers, m.n_heads, m.d_model, cfg.data.seq_len) == (12, 12, 768, 1024)
    with torch.device("meta"):  # shapes only: no 124 M-parameter init in a test
        model = build_model(cfg, vocab_size=50257)  # GPT-2's vocabulary: GPT-2 small's 124 M parameters
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 124.4


def test_the_wheel_ships_every_yaml(tmp_path: Path) -> None:
    """Build a wheel from a copy of the sources (no network: the venv's setuptools)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path / "wheel"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out),
        ".",
    ]
    done = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("sesli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"sesli/configs/{p}" for p in _yaml_files(SHIPPED)}
    assert expected <= names, sorted(expected - names)
