"""Text preparation for the LM: deterministic split, Turkish UTF-8, directories, download, errors."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch

from sesli.train.tasks.lm_data import (
    ByteTokenizer,
    SentencePieceTokenizer,
    TextDataError,
    TokenWindows,
    prepare_text,
)

REPO = Path(__file__).resolve().parents[2]
TURKISH = REPO / "data" / "cv_tr_sentences.txt"


def test_turkish_file_split_is_deterministic_and_complete(tmp_path):
    a = prepare_text(tmp_path / "a", input_file=TURKISH, val_split=0.1)
    b = prepare_text(tmp_path / "b", input_file=TURKISH, val_split=0.1)
    assert a.train_path.read_bytes() == b.train_path.read_bytes()
    assert a.val_path.read_bytes() == b.val_path.read_bytes()
    lines = TURKISH.read_text(encoding="utf-8").splitlines()
    while not lines[-1].strip():
        lines.pop()
    assert a.val_lines == round(len(lines) * 0.1) and a.train_lines + a.val_lines == len(lines)
    assert (
        a.train_path.read_text(encoding="utf-8").splitlines()
        + a.val_path.read_text(encoding="utf-8").splitlines()
        == lines
    )
    assert "ş" in a.train_path.read_text(encoding="utf-8")


def test_directory_of_txt_files_skips_empty_ones(tmp_path):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "b.txt").write_text("ikinci\nüçüncü\n", encoding="utf-8")
    (d / "a.txt").write_text("birinci\n", encoding="utf-8")
    (d / "sub" / "c.txt").write_text("dördüncü\nbeşinci\n", encoding="utf-8")
    (d / "empty.txt").write_text("", encoding="utf-8")
    (d / "notes.md").write_text("ignored", encoding="utf-8")
    res = prepare_text(tmp_path / "out", input_dir=d, val_split=0.2)
    assert res.train_path.read_text(encoding="utf-8") == "birinci\nikinci\nüçüncü\ndördüncü\n"
    assert res.val_path.read_text(encoding="utf-8") == "beşinci\n"


def test_download_code_path_with_a_local_fetch(tmp_path):
    src = tmp_path / "shakespeare.txt"
    src.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 10)
    seen = {}

    def fetch(url, timeout):
        seen["url"], seen["timeout"] = url, timeout
        return src.read_bytes()

    res = prepare_text(
        tmp_path / "out", download_tiny_shakespeare_to=tmp_path / "out" / "ts.txt", fetch=fetch
    )
    assert "tinyshakespeare" in seen["url"] and seen["timeout"] <= 30
    assert (tmp_path / "out" / "ts.txt").read_bytes() == src.read_bytes()
    assert res.train_lines == 18 and res.val_lines == 2


def test_download_failure_is_clear(tmp_path):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(TextDataError, match="could not download tiny Shakespeare.*--input-file"):
        prepare_text(tmp_path / "o", download_tiny_shakespeare_to=tmp_path / "o" / "ts.txt", fetch=offline)
    assert not (tmp_path / "o" / "ts.txt").exists()


def test_bad_inputs_have_clear_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(TextDataError, match="empty.txt is empty"):
        prepare_text(tmp_path / "o", input_file=empty)
    with pytest.raises(TextDataError, match="does not exist"):
        prepare_text(tmp_path / "o", input_file=tmp_path / "missing.txt")
    with pytest.raises(TextDataError, match="input directory .* does not exist"):
        prepare_text(tmp_path / "o", input_dir=tmp_path / "nodir")
    (tmp_path / "d").mkdir()
    with pytest.raises(TextDataError, match="holds no .txt files"):
        prepare_text(tmp_path / "o", input_dir=tmp_path / "d")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("şeker".encode("cp1254"))
    with pytest.raises(TextDataError, match="latin1.txt is not UTF-8"):
        prepare_text(tmp_path / "o", input_file=latin)
    with pytest.raises(TextDataError, match="exactly one"):
        prepare_text(tmp_path / "o", input_file=latin, input_dir=tmp_path / "d")


@pytest.mark.parametrize(
    ("text", "split", "message"),
    [
        ("tek satır\n", 0.1, "leave the validation set empty"),
        ("bir\niki\n", 0.9, "leave the training set empty"),
        ("bir\niki\n", 0.0, "between 0 and 1"),
        ("bir\niki\n", 1.5, "between 0 and 1"),
    ],
)
def test_split_that_empties_a_side(tmp_path, text, split, message):
    f = tmp_path / "t.txt"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(TextDataError, match=message):
        prepare_text(tmp_path / "o", input_file=f, val_split=split)


def test_byte_tokenizer_and_windows():
    tok = ByteTokenizer()
    ids = tok.encode("çığ")
    assert len(ids) == 6 and tok.decode(ids) == "çığ"  # ç, ı, ğ are two UTF-8 bytes each
    assert tok.decode(ids[:-1]) == "çı\ufffd"  # a cut multi-byte tail decodes to U+FFFD, no error
    ds = TokenWindows(torch.arange(10), 3)
    assert len(ds) == 3
    assert ds[1]["ids"].tolist() == [3, 4, 5] and ds[1]["targets"].tolist() == [4, 5, 6]
    with pytest.raises(TextDataError, match="fewer than seq_len"):
        TokenWindows(torch.arange(4), 8, name="val.txt")


def test_sentencepiece_tokenizer(tmp_path):
    pytest.importorskip("sentencepiece")
    f = tmp_path / "train.txt"
    f.write_text(TURKISH.read_text(encoding="utf-8")[:60000], encoding="utf-8")
    tok = SentencePieceTokenizer.train(f, tmp_path / "sp.model", vocab_size=300)
    assert (tmp_path / "sp.model").is_file() and not list(tmp_path.glob("*.vocab"))
    ids = tok.encode("Bugün hava çok güzel.")
    assert tok.vocab_size <= 300 and max(ids) < tok.vocab_size
    assert tok.decode(ids) == "Bugün hava çok güzel."
    assert len(ids) < len("Bugün hava çok güzel.".encode())
