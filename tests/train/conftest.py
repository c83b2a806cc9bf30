"""Shared fixtures for the engine and LM-task tests: a small prepared Turkish text folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TURKISH = REPO / "data" / "cv_tr_sentences.txt"
DEBUG_LM = REPO / "configs" / "debug" / "lm.yaml"


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
