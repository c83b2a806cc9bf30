"""sesli.data.sources: format detection and every input shape, Hugging Face included (offline)."""

from __future__ import annotations

import csv

import pytest

from sesli.data.manifest import read_manifest
from sesli.data.prepare import PrepareConfig, prepare
from sesli.data.sources import DataSourceError, SourceOptions, detect_format, open_source
from sesli.testing.audio import (
    SENTENCES,
    make_commonvoice,
    make_folder,
    make_hf_rows,
    make_ljspeech,
    make_melo,
    speech_like,
    write_wav,
)


def _items(src, fmt="auto", **opts):
    return list(open_source(src, fmt, SourceOptions(**opts)))


def test_ljspeech_two_and_three_columns(tmp_path):
    lj = make_ljspeech(tmp_path / "lj", n=3)
    assert detect_format(lj) == "ljspeech" and detect_format(lj / "metadata.csv") == "ljspeech"
    items = _items(lj)
    assert [i.ref for i in items] == ["wavs/LJ000.wav", "wavs/LJ001.wav", "wavs/LJ002.wav"]
    assert items[0].text == SENTENCES[0] and items[0].speaker == "lj"
    spk = make_ljspeech(tmp_path / "spk", n=2, speakers=["ali", "veli"])
    assert [(i.speaker, i.text) for i in _items(spk)] == [("ali", SENTENCES[0]), ("veli", SENTENCES[1])]
    # LJSpeech's own id|text|normalized layout: the middle column has spaces, so it is the text
    (lj / "metadata.csv").write_text("LJ000|Saat 5'te geldi.|Saat beşte geldi.\nLJ001\n", encoding="utf-8")
    first, bad = _items(lj)
    assert first.text == "Saat 5'te geldi." and first.speaker == "lj"
    assert bad.error and "malformed line 2" in bad.error


def test_melo_list(tmp_path):
    lst = make_melo(tmp_path / "melo", n=3)
    assert detect_format(lst) == "melo" and detect_format(lst.parent) == "melo"
    items = _items(lst)
    assert [i.ref for i in items] == ["audio/m0.wav", "audio/m1.wav", "audio/m2.wav"]
    assert [i.speaker for i in items] == ["spk0", "spk1", "spk0"] and items[2].text == SENTENCES[2]


def test_commonvoice_release(tmp_path):
    cv = make_commonvoice(tmp_path / "cv", n=2)
    assert detect_format(cv) == "commonvoice"
    items = _items(cv)
    assert [i.ref for i in items] == ["clips/common_voice_tr_0.mp3", "clips/common_voice_tr_1.mp3"]
    assert items[1].speaker == "client01" and items[1].text == SENTENCES[1]
    with pytest.raises(DataSourceError, match="test.tsv"):
        _items(cv, "commonvoice", split="test")


def test_folder_with_and_without_transcripts(tmp_path):
    with_txt = make_folder(tmp_path / "a", n=2)
    assert detect_format(with_txt) == "folder"
    src = open_source(with_txt)
    assert src.has_text and [i.text for i in src] == [SENTENCES[0], SENTENCES[1]]
    bare = make_folder(tmp_path / "b", n=2, transcripts=False)
    write_wav(bare / "konuşmacı 2" / "ç.wav", speech_like(0.5, 16000), 16000)
    src = open_source(bare)
    assert not src.has_text
    assert [(i.ref, i.speaker, i.text) for i in src] == [
        ("clip0.wav", "b", None), ("clip1.wav", "b", None), ("konuşmacı 2/ç.wav", "konuşmacı 2", None),
    ]  # fmt: skip
    (tmp_path / "e").mkdir()
    with pytest.raises(DataSourceError, match="no audio files"):
        open_source(tmp_path / "e", "folder")


def test_detect_errors(tmp_path):
    assert detect_format("zeynepgulhan/mediaspeech-with-cv-tr") == "hf"
    with pytest.raises(DataSourceError, match="does not exist"):
        detect_format(tmp_path / "nope")
    with pytest.raises(DataSourceError, match="unknown format"):
        open_source(tmp_path, "kaldi")


def _hf_dataset(n=3):
    import datasets

    return datasets.Dataset.from_dict(make_hf_rows(n)).cast_column(
        "audio", datasets.Audio(sampling_rate=16000)
    )


def test_hf_save_to_disk_and_parquet_through_prepare(tmp_path):
    ds = _hf_dataset(3)
    ds.save_to_disk(str(tmp_path / "disk"))
    (tmp_path / "pq").mkdir()
    ds.to_parquet(str(tmp_path / "pq" / "train-0.parquet"))
    for name in ("disk", "pq"):
        assert detect_format(tmp_path / name) == "hf"
        items = _items(tmp_path / name)
        assert len(items) == 3 and isinstance(items[0].audio, bytes) and items[0].text == SENTENCES[0]
        summary = prepare(
            tmp_path / name, tmp_path / f"out_{name}", PrepareConfig(progress=False, val_split=0.0)
        )
        assert summary.kept["train"] == 3
        assert {u.sample_rate for u in read_manifest(tmp_path / f"out_{name}" / "train.jsonl")} == {24000}
    with pytest.raises(DataSourceError, match="column 'transcript' not found"):
        _items(tmp_path / "pq", text_column="transcript")


def test_hf_audiofolder(tmp_path):
    root = tmp_path / "af"
    rows = []
    for i in range(2):
        write_wav(root / "data" / f"a {i}.wav", speech_like(0.8, 16000, seed=i), 16000)
        rows.append({"file_name": f"data/a {i}.wav", "transcription": SENTENCES[i]})
    with open(root / "metadata.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, ["file_name", "transcription"])
        writer.writeheader()
        writer.writerows(rows)
    assert detect_format(root) == "hf"
    items = _items(root)
    assert [i.ref for i in items] == ["data/a 0.wav", "data/a 1.wav"]
    assert items[0].audio == str(root / "data" / "a 0.wav") and items[1].text == SENTENCES[1]


def test_hf_hub_offline_names_local_alternatives(monkeypatch):
    import datasets
    import huggingface_hub.constants

    # the libraries read the environment at import, so set their flags directly
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataSourceError) as err:
        _items("sesli-test/no-such-dataset-xyz")
    message = str(err.value)
    for alternative in ("save_to_disk", "parquet", "audiofolder", "ljspeech", "commonvoice", "folder"):
        assert alternative in message
