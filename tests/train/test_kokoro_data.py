"""Kokoro data module: no import back from its task, the base loader in models/, one home for the
24 kHz / 600-sample constants, and target extraction on the main process only."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sesli"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_the_data_module_never_imports_its_task() -> None:
    data = _imports(SRC / "train" / "tasks" / "kokoro_data.py")
    assert "sesli.train.tasks.kokoro_finetune" not in data
    assert "sesli.train.tasks.kokoro_common" in data
    assert "sesli.models.kokoro.loading" not in data  # model loading lives in models/


def test_load_base_lives_in_models_and_the_task_wraps_its_errors() -> None:
    from sesli.models.kokoro.base import load_base
    from sesli.models.kokoro.loading import ModelLoadError
    from sesli.train.tasks.kokoro_finetune import FinetuneError, _load_base

    model, voices, info = load_base("debug")
    assert info["id"] == "debug" and voices is not None and voices.shape[-1] == model.config.ref_dim
    with pytest.raises(ModelLoadError, match="unknown voice"):
        load_base("debug", voice="no-such-voice")
    with pytest.raises(FinetuneError, match="unknown voice"):
        _load_base("debug", voice="no-such-voice")


def test_kokoro_constants_have_one_home() -> None:
    from sesli.models.kokoro import config as kcfg
    from sesli.models.kokoro import debug_config
    from sesli.models.kokoro.model import KokoroModel
    from sesli.train import targets
    from sesli.train.tasks import aligner, kokoro_data

    assert (kcfg.SAMPLE_RATE, kcfg.SAMPLES_PER_FRAME) == (24000, 600)
    for module in (targets, kokoro_data, aligner):
        assert module.SAMPLE_RATE is kcfg.SAMPLE_RATE
    for module in (targets, kokoro_data):
        assert module.SAMPLES_PER_FRAME is kcfg.SAMPLES_PER_FRAME
    assert KokoroModel(debug_config()).samples_per_frame == kcfg.SAMPLES_PER_FRAME


class _Rank:
    """The part of an accelerator ``load_targets`` uses, as seen on one rank."""

    def __init__(self, main: bool) -> None:
        self.is_main_process, self.device, self.barriers = main, "cpu", 0

    def wait_for_everyone(self) -> None:
        self.barriers += 1


def test_only_the_main_process_extracts_targets(prepared: Path, tmp_path: Path, monkeypatch) -> None:
    from sesli.train.tasks import kokoro_data
    from sesli.train.tasks.kokoro_finetune import FinetuneError, load_run_config

    cfg = load_run_config(overrides=[f"finetune.data={prepared}", "finetune.aligner_steps=20"]).finetune
    calls = []
    monkeypatch.setattr(kokoro_data, "_extract", lambda *a, **kw: calls.append(kw) or None)

    # a finished cache: read on every rank, no barrier, no extraction
    other = _Rank(main=False)
    assert len(kokoro_data.load_targets(prepared, cfg, quiet=True, accelerator=other)) == 4
    assert other.barriers == 0 and not calls

    # no cache on a rank other than 0: it waits, extracts nothing, then reads rank 0's cache
    bare = tmp_path / "bare"
    shutil.copytree(prepared, bare, ignore=shutil.ignore_patterns("targets", "aligner"))
    with pytest.raises(FinetuneError, match="main process did not extract"):
        kokoro_data.load_targets(bare, cfg, quiet=True, accelerator=other)
    assert other.barriers == 1 and not calls

    # rank 0 extracts on its device and still reaches the barrier when extraction fails
    def failing(*a, **kw):
        calls.append(kw)
        raise FinetuneError("could not extract")

    monkeypatch.setattr(kokoro_data, "_extract", failing)
    main = _Rank(main=True)
    with pytest.raises(FinetuneError, match="could not extract"):
        kokoro_data.load_targets(bare, cfg, quiet=True, accelerator=main)
    assert main.barriers == 1 and calls == [{"quiet": True, "device": "cpu", "force": False}]


def test_targets_follow_the_aligner_settings_and_the_chosen_folder(
    prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`sesli kokoro align` writes where --targets-dir says and reuses an up-to-date cache; other
    aligner settings make the cache stale (rebuilt, with a new aligner run), and fine-tuning reads
    the chosen folder."""
    from sesli.cli.kokoro import main
    from sesli.train.targets import TargetsError, open_targets
    from sesli.train.tasks import kokoro_data
    from sesli.train.tasks.kokoro_finetune import load_run_config

    data = tmp_path / "prepared"
    shutil.copytree(prepared, data, ignore=shutil.ignore_patterns("targets", "aligner*"))
    out = tmp_path / "elsewhere"
    argv = ["align", "--data", str(data), "--targets-dir", str(out), "--aligner-steps", "3", "--quiet"]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert f"in {out}" in said and "--targets-dir" in said
    assert not (data / "targets").exists() and (out / "index.json").is_file()
    (run_a,) = out.glob("aligner-*")
    index = json.loads((out / "index.json").read_text())
    assert index["settings"]["aligner_steps"] == 3 and index["settings"]["boundary_shift"] == 2

    cfg = load_run_config(overrides=[f"finetune.data={data}", f"finetune.targets_dir={out}",
                                     "finetune.aligner_steps=3"]).finetune  # fmt: skip
    mtime = (out / "index.json").stat().st_mtime_ns
    kokoro_data.load_targets(data, cfg, quiet=True)  # up to date: reused, not rewritten
    assert (out / "index.json").stat().st_mtime_ns == mtime

    with pytest.raises(TargetsError, match="other settings.*aligner_steps: 3 -> 4"):
        open_targets(data, out, settings=kokoro_data.targets_settings(
            load_run_config(overrides=[f"finetune.data={data}", "finetune.aligner_steps=4"]).finetune))  # fmt: skip
    assert main([*argv[:-3], "--aligner-steps", "4", "--quiet"]) == 0
    assert json.loads((out / "index.json").read_text())["settings"]["aligner_steps"] == 4
    assert len(list(out.glob("aligner-*"))) == 2 and run_a.is_dir()  # a new aligner run, the old one kept


def test_shift_boundaries_moves_every_boundary_and_keeps_the_total() -> None:
    from sesli.train.targets import shift_boundaries

    d = np.array([3, 4, 2, 5, 1])
    got = shift_boundaries(d, 2)
    assert got.sum() == d.sum() and list(got) == [5, 4, 2, 3, 1]  # the last token keeps its frame
    assert list(np.cumsum(got)[:3]) == list(np.cumsum(d)[:3] + 2)
    assert list(shift_boundaries(np.array([1, 1, 1]), 5)) == [1, 1, 1]  # nothing to give
    assert list(shift_boundaries(d, 0)) == list(d)
