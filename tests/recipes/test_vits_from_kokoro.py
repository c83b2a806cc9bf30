"""The Kokoro -> VITS recipe: its sentence pick, and the whole chain on the tiny models (debug
Kokoro speaks, `sesli prepare`, a 2-step tiny VITS, the artifact) in seconds."""

from __future__ import annotations

import json
from pathlib import Path

from sesli.recipes.vits_from_kokoro import SENTENCES, main, pick_sentences


def test_sentences_are_deterministic_and_clean() -> None:
    a, b = pick_sentences(30), pick_sentences(30)
    assert a == b and len(a) == 30 and len(set(a)) == 30
    assert all(4 <= len(s.split()) <= 14 and not any(c.isdigit() for c in s) for s in a)
    assert SENTENCES.is_file()


def test_the_chain_runs_on_tiny_models(tmp_path: Path) -> None:
    out = tmp_path / "recipe"
    argv = ["--out", str(out), "--sentences", "6", "--kokoro", "debug", "--voice", "debug", "--max-steps", "2",
            "--no-eval", "vits.preset=tiny", "train.batch_size=2", "train.mixed_precision=no"]  # fmt: skip
    assert main(argv) == 0
    assert len(list((out / "kokoro" / "wavs").glob("*.wav"))) == 6
    meta = json.loads((out / "run" / "vits.json").read_text(encoding="utf-8"))
    assert meta["model_type"] == "vits" and meta["config"]["sample_rate"] == 8000
