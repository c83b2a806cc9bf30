"""Sound sources: NSynth and MAESTRO on tiny fake layouts, crops, labels, detection, bad rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from sesli.data.manifest import Utterance, read_manifest
from sesli.data.process import ProcessConfig, process_item
from sesli.data.sources import DataSourceError, SourceItem, SourceOptions, detect_format, open_source
from sesli.data.sources.maestro import crop_starts
from sesli.testing.sound_corpus import write_fake_maestro, write_fake_nsynth

SOUND = ProcessConfig(sample_rate=16000, trim=False, min_words=0, min_duration=0.1, use_text=False)


def test_nsynth_items_carry_labels_and_a_missing_wav_is_an_error(tmp_path):
    root = write_fake_nsynth(tmp_path / "nsynth-test", n=6, missing=1)
    assert detect_format(root) == "nsynth" and detect_format(root / "examples.json") == "nsynth"
    src = open_source(root)
    items = list(src)
    assert src.name == "nsynth" and not src.has_text and len(items) == 6
    first = items[0]
    assert first.ref == "audio/keyboard_acoustic_000-048-025.wav" and first.error is None
    assert first.labels == {
        "label": "keyboard",
        "pitch": 48,
        "velocity": 25,
        "instrument_source_str": "acoustic",
        "qualities_str": [],
        "instrument_str": "keyboard_acoustic_000",
    }
    assert first.speaker == "keyboard_acoustic_000"
    assert [it.error is None for it in items] == [True] * 5 + [False]
    assert items[-1].error.startswith("missing audio file audio/")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (SourceOptions(families=("guitar",)), [1, 4]),
        (SourceOptions(instrument_sources=("synthetic",)), [2, 5]),
        (SourceOptions(pitch_range=(50, 57)), [1, 2, 3]),  # pitches 48 + 3 i, inclusive
        (SourceOptions(qualities=("dark", "percussive")), [2, 5]),
        (SourceOptions(families=("mallet",), qualities=("dark",)), [2, 5]),
    ],
)
def test_nsynth_filters(tmp_path, options, expected):
    root = write_fake_nsynth(tmp_path / "ns", n=6)
    src = open_source(root, "nsynth", options)
    assert [48 + 3 * i for i in expected] == [it.labels["pitch"] for it in src]
    assert src.filtered == 6 - len(expected)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (SourceOptions(families=("gitar",)), "no instrument family gitar"),
        (SourceOptions(instrument_sources=("analog",)), "no instrument source analog"),
        (SourceOptions(qualities=("calm",)), "no quality calm"),
        (SourceOptions(pitch_range=(60, 20)), "pitch range"),
    ],
)
def test_nsynth_filter_typos_are_errors(tmp_path, options, match):
    root = write_fake_nsynth(tmp_path / "ns", n=2)
    with pytest.raises(DataSourceError, match=match):
        open_source(root, "nsynth", options)


def test_nsynth_bad_json_and_bad_entries(tmp_path):
    root = tmp_path / "ns"
    root.mkdir()
    (root / "examples.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataSourceError, match="not valid JSON"):
        open_source(root, "nsynth")
    (root / "examples.json").write_text(json.dumps({"x-060-100": {"pitch": 60}}), encoding="utf-8")
    (item,) = list(open_source(root, "nsynth"))
    assert item.error.startswith("bad NSynth entry")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataSourceError, match="no examples.json"):
        open_source(empty, "nsynth")


def test_maestro_rows_become_seeded_crops(tmp_path):
    root = write_fake_maestro(tmp_path / "maestro-v3.0.0", n=3, seconds=3.0, missing=1)
    assert detect_format(root) == "maestro" and detect_format(root / "maestro-v3.0.0.csv") == "maestro"
    opts = SourceOptions(crop_seconds=1.0, crops_per_file=2, seed=5)
    items = list(open_source(root, options=opts))
    assert len(items) == 2 * 2 + 1  # two recordings x two crops, one missing row
    crops = [it for it in items if it.error is None]
    for it in crops:
        start, seconds = it.crop
        assert seconds == 1.0 and 0.0 <= start <= 2.0
        assert it.ref == f"{it.ref.split('#')[0]}#{start:.3f}+1"
        assert it.labels["label"] == "piano" and it.labels["crop_start"] == start
    assert [it.ref for it in open_source(root, options=opts)] == [it.ref for it in items]  # same seed
    other = [
        it.ref for it in open_source(root, options=SourceOptions(crop_seconds=1.0, crops_per_file=2, seed=6))
    ]
    assert other != [it.ref for it in items]
    missing = items[-1]
    assert missing.audio is None and "missing audio file 2006/" in missing.error and "line 4" in missing.error


def test_maestro_split_filter_short_files_and_bad_csv(tmp_path):
    root = write_fake_maestro(tmp_path / "m", n=3, seconds=1.0)
    val = list(open_source(root, "maestro", SourceOptions(split="validation", crop_seconds=4.0)))
    assert [it.labels["split"] for it in val] == ["validation"]
    assert val[0].crop is None  # shorter than one crop: taken whole
    with pytest.raises(DataSourceError, match="split must be one of"):
        open_source(root, "maestro", SourceOptions(split="dev"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "maestro-v3.0.0.csv").write_text("audio_filename,split\nx.wav,train\n")
    with pytest.raises(DataSourceError, match="lacks column"):
        open_source(tmp_path / "bad", "maestro")
    assert crop_starts("x.wav", 10.0, 2.0, 3, 0) == crop_starts("x.wav", 10.0, 2.0, 3, 0)
    assert crop_starts("x.wav", 2.0, 2.0, 3, 0) == []


def test_process_decodes_only_the_crop_downmixes_and_resamples(tmp_path):
    sr = 48000
    t = np.arange(2 * sr) / sr
    left = np.where(t < 1.0, 0.2, 0.6) * np.sin(2 * np.pi * 300 * t)
    sf.write(tmp_path / "in.wav", np.stack([left, 0.5 * left], axis=1), sr, subtype="FLOAT")
    cfg = ProcessConfig(
        sample_rate=16000, trim=False, normalize="none", min_words=0, min_duration=0.1, use_text=False
    )
    labels = {"label": "piano", "pitch": 60}
    item = SourceItem(
        "in.wav#1.250+0.5", str(tmp_path / "in.wav"), None, "x", labels=labels, crop=(1.25, 0.5)
    )
    res = process_item(item, cfg, tmp_path / "wavs", use_text=False)
    assert res.reason is None
    (utt,) = res.utterances
    assert utt["duration"] == 0.5 and utt["sample_rate"] == 16000 and utt["labels"] == labels
    audio, rate = sf.read(tmp_path / utt["audio_path"])
    assert rate == 16000 and len(audio) == 8000
    assert abs(np.max(np.abs(audio[100:-100])) - 0.45) < 0.01  # (0.6 + 0.3) / 2: second half, down-mixed
    decoded = (np.asarray(audio), 16000)  # an already decoded item is sliced the same way
    res2 = process_item(
        SourceItem("arr", decoded, None, crop=(0.1, 0.2)), cfg, tmp_path / "w2", use_text=False
    )
    assert res2.utterances[0]["duration"] == 0.2
    outside = SourceItem("in.wav#5+1", str(tmp_path / "in.wav"), None, crop=(5.0, 1.0))
    assert process_item(outside, cfg, tmp_path / "wavs", use_text=False).reason == "bad crop"


def test_utterance_labels_default_and_old_manifests_read(tmp_path):
    old = {"id": "a", "audio_path": "wavs/a.wav", "duration": 1.0, "sample_rate": 16000, "speaker": "rain"}
    (tmp_path / "train.jsonl").write_text(json.dumps(old) + "\n", encoding="utf-8")
    (utt,) = read_manifest(tmp_path / "train.jsonl")
    assert utt.labels == {} and utt.speaker == "rain"
    assert Utterance("b", "wavs/b.wav", 1.0, 16000).labels is not Utterance("c", "c", 1.0, 1).labels
