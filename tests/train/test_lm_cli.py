"""``sesli lm prepare | train | sample`` end to end on a small text, and the CLI's error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sesli.cli.lm import main
from sesli.train.logging import read_metrics

REPO = Path(__file__).resolve().parents[2]
DEBUG_LM = str(REPO / "src" / "sesli" / "configs" / "debug" / "lm.yaml")
TEXT = "Bir varmış bir yokmuş, evvel zaman içinde kalbur saman içinde.\n" * 6


def test_prepare_train_overfit_sample(tmp_path, capsys):
    src = tmp_path / "masal.txt"
    src.write_text(TEXT * 4, encoding="utf-8")
    assert (
        main(
            ["prepare", "--input-file", str(src), "--output-dir", str(tmp_path / "d"), "--val-split", "0.25"]
        )
        == 0
    )
    run = tmp_path / "run"
    argv = ["train", "--config", DEBUG_LM, "--data-dir", str(tmp_path / "d"), "--run-dir", str(run)]
    argv += ["--max-steps", "150", "--learning-rate", "1e-2", "--warmup-steps", "10", "--save-best-model"]
    argv += ["--early-stopping-patience", "50", "--quiet", "model.dropout=0.0", "train.eval_every=25"]
    assert main(argv) == 0
    rows = read_metrics(run / "metrics.csv")
    train = [v for _, _, k, v in rows if k == "train/loss"]
    val = [v for _, _, k, v in rows if k == "val/loss"]
    assert train[0] > 4.0 and train[-1] < 0.25 * train[0]  # bytes: log(256) = 5.5 at start
    assert min(val) < 1.0
    assert (run / "checkpoints" / "best" / "manifest.json").is_file()
    capsys.readouterr()
    assert main(["sample", "--run-dir", str(run), "--prompt", "Bir varmış", "--max-new-tokens", "40",
                 "--temperature", "0"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("Bir varmış bir yokmuş")  # the memorised continuation


def test_cli_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert main(["prepare", "--input-file", str(empty), "--output-dir", str(tmp_path / "o")]) == 2
    assert "empty.txt is empty" in capsys.readouterr().err
    assert main(["train", "--config", DEBUG_LM, "--data-dir", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "data dir" in capsys.readouterr().err
    assert main(["train", "--config", "no-such-config", "--data-dir", str(tmp_path)]) == 2
    assert "no config named 'no-such-config'" in capsys.readouterr().err
    assert main(["train", "--config", DEBUG_LM, "--data-dir", str(tmp_path), "train.nope=1"]) == 2
    assert "unknown key" in capsys.readouterr().err
    assert main(["sample", "--run-dir", str(tmp_path / "norun")]) == 2
    assert "not an LM run directory" in capsys.readouterr().err


def test_sentencepiece_option_trains_and_samples(lm_data, tmp_path, capsys):
    pytest.importorskip("sentencepiece")
    run = tmp_path / "sp-run"
    argv = [
        "train",
        "--config",
        DEBUG_LM,
        "--data-dir",
        str(lm_data),
        "--run-dir",
        str(run),
        "--max-steps",
        "4",
    ]
    argv += ["--tokenizer", "sentencepiece", "--quiet", "data.vocab_size=200", "train.eval_every=2"]
    assert main(argv) == 0
    assert (run / "tokenizer.model").is_file()
    capsys.readouterr()
    assert main(["sample", "--run-dir", str(run), "--prompt", "Bugün", "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("Bugün")


def test_mask_tokens_follows_bert_recipe():
    from sesli.train.tasks.lm import mask_tokens

    ids = torch.randint(0, 100, (64, 128), generator=torch.Generator().manual_seed(0))
    inputs, targets = mask_tokens(ids, vocab_size=100, prob=0.15, generator=torch.Generator().manual_seed(1))
    chosen = targets != -100
    assert 0.13 < chosen.float().mean().item() < 0.17
    assert torch.equal(targets[chosen], ids[chosen]) and torch.equal(inputs[~chosen], ids[~chosen])
    masked = (inputs == 100)[chosen].float().mean().item()
    kept = (inputs == ids)[chosen].float().mean().item()
    assert 0.75 < masked < 0.85 and 0.05 < kept < 0.2  # 10% kept + random ids that hit the same id
    assert (inputs == 100).sum() == (inputs[chosen] == 100).sum()  # [MASK] only where chosen


def test_masked_phoneme_lm_trains_and_refuses_to_sample(lm_data, tmp_path, capsys):
    run = tmp_path / "mlm"
    argv = ["train", "--config", DEBUG_LM, "--data-dir", str(lm_data), "--run-dir", str(run), "--quiet"]
    argv += ["--objective", "masked", "--tokenizer", "phonemes", "--max-steps", "40", "train.eval_every=20"]
    assert main(argv) == 0
    rows = read_metrics(run / "metrics.csv")
    train = [v for _, _, k, v in rows if k == "train/loss"]
    assert train[-1] < train[0] - 0.5  # learns the phoneme distribution at least
    assert [v for _, _, k, v in rows if k == "val/loss"]
    capsys.readouterr()
    assert main(["sample", "--run-dir", str(run)]) == 2
    assert "cannot generate" in capsys.readouterr().err
