"""Shared fixtures for the train tests: a small prepared Turkish text folder, and a tiny prepared
speech folder with its Kokoro training targets extracted once per session, and the calming sound corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TURKISH = REPO / "data" / "cv_tr_sentences.txt"
DEBUG_LM = REPO / "src" / "sesli" / "configs" / "debug" / "lm.yaml"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def lm_data(tmp_path: Path) -> Path:
    """train.txt/val.txt from the first 200 lines of the Turkish sentence file."""
    from sesli.train.tasks.lm_data import prepare_text

    lines = TURKISH.read_text(encoding="utf-8").splitlines()[:200]
    src = tmp_path / "corpus.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    prepare_text(tmp_path / "data", input_file=src, val_split=0.1)
    return tmp_path / "data"


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four short clips (tone stand-ins, no espeak needed), prepared, with their targets extracted."""
    from sesli.testing.demo_corpus import tiny_prepared
    from sesli.train.tasks import kokoro_data
    from sesli.train.tasks.kokoro_finetune import load_run_config

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tiny_prepared(tmp_path_factory.mktemp("kokoro_ft"))
        over = [f"finetune.data={root}", "finetune.base=debug", "finetune.aligner_steps=20"]
        over.append("finetune.targets=[albert,predictor,decoder]")
        cfg = load_run_config(overrides=over).finetune
        # The cache is missing: this aligns and extracts it (what `finetune` does on a first run).
        assert len(kokoro_data.load_targets(root, cfg, quiet=True)) == 4
    finally:
        torch.set_num_threads(threads)
    return root


@pytest.fixture(scope="module")
def calm_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The calming corpus, 2 clips of 1 s per label, prepared (the sound prior/vocoder tests)."""
    from sesli.data.sound_prepare import prepare_sound
    from sesli.testing.sound_corpus import write_calming_corpus

    root = tmp_path_factory.mktemp("calm")
    write_calming_corpus(root / "src", per_label=2, seconds=1.0)
    prepare_sound(root / "src", root / "prep", fmt="folder", val_split=0.2)
    return root / "prep"
