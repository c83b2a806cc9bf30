"""sesli.data.lm_shards / lm_sources / lm_tokenizers: a local parquet "Wikipedia" into token shards."""

from __future__ import annotations

import bz2
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sesli.data import lm_shards
from sesli.data.lm_shards import ShardError, doc_split, prepare_shards, read_shard
from sesli.data.lm_sources import LMSource, LMSourceError, wiki_to_text
from sesli.data.lm_tokenizers import BytesTokenizer, TokenizerError, dtype_for, from_index
from sesli.text.lexicon import lower_tr

SENTENCES = Path(__file__).resolve().parents[2] / "data" / "cv_tr_sentences.txt"
SHARD = 20_000  # tokens per shard in these tests: ~200 KB of text makes several


def _documents(n_lines: int = 3000) -> list[str]:
    lines = [s for s in SENTENCES.read_text(encoding="utf-8").splitlines() if s.strip()][:n_lines]
    rng, docs, i = random.Random(0), [], 0
    while i < len(lines):
        k = rng.randint(1, 12)
        docs.append("\n".join(lines[i : i + k]))
        i += k
    return docs


@pytest.fixture(scope="module")
def wiki(tmp_path_factory) -> tuple[Path, list[str]]:
    """A parquet file shaped like wikimedia/wikipedia (id, url, title, text) of Turkish documents."""
    docs = _documents()
    path = tmp_path_factory.mktemp("wiki") / "train-00000-of-00001.parquet"
    table = pa.table({
        "id": [str(i) for i in range(len(docs))],
        "url": [f"https://tr.wikipedia.org/wiki?curid={i}" for i in range(len(docs))],
        "title": [d.split(" ")[0] for d in docs],
        "text": docs,
    })  # fmt: skip
    pq.write_table(table, path, row_group_size=100)
    return path, docs


def _prepare(src: Path, out: Path, **kw):
    kw.setdefault("shard_tokens", SHARD)
    return prepare_shards(out, LMSource(input_path=src), progress=False, log=lambda m: None, **kw)


def _split_docs(folder: Path, index: dict, split: str) -> list[list[int]]:
    """The documents of a split's shards, each a list of ids without its trailing eos."""
    eos, out = index["tokenizer"]["eos_id"], []
    for entry in index["splits"][split]["shards"]:
        ids = np.asarray(read_shard(folder, entry, index["dtype"]))
        assert ids[-1] == eos
        cuts = np.flatnonzero(ids == eos)
        starts = np.concatenate([[0], cuts[:-1] + 1])
        out.extend(ids[s:e].tolist() for s, e in zip(starts, cuts, strict=True))
        assert len(cuts) == entry["docs"]
    return out


def _shard_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.bin"))}


def test_parquet_wikipedia_to_shards_round_trip(wiki, tmp_path):
    src, docs = wiki
    res = _prepare(src, tmp_path / "out", val_split=0.1)
    index = json.loads((tmp_path / "out" / "index.json").read_text(encoding="utf-8"))
    assert index == res.index and index["complete"] is True
    assert (index["format"], index["version"], index["dtype"]) == ("sesli-lm-shards", 1, "uint16")
    assert index["tokenizer"] == {
        "type": "bytes", "path": None, "vocab_size": 257, "eos_id": 256, "turkish_lower": False
    }  # fmt: skip
    assert index["source"]["kind"] == "parquet" and index["source"]["docs_read"] == len(docs)
    assert index["skipped"] == {}
    train = index["splits"]["train"]
    assert len(train["shards"]) >= 3 and train["tokens"] == sum(s["tokens"] for s in train["shards"])
    assert all(s["tokens"] >= SHARD for s in train["shards"][:-1])
    assert train["docs"] + index["splits"]["val"]["docs"] == len(docs)
    for entry in train["shards"]:
        path = tmp_path / "out" / entry["file"]
        assert path.stat().st_size == 2 * entry["tokens"]
        assert lm_shards.file_sha256(path) == entry["sha256"]
    tok = from_index(index, tmp_path / "out")
    for split in ("train", "val"):
        want = [d for i, d in enumerate(docs) if doc_split(i, 0, 0.1) == split]
        assert [tok.decode(ids) for ids in _split_docs(tmp_path / "out", index, split)] == want
    assert 0.05 < index["splits"]["val"]["docs"] / len(docs) < 0.15


def test_deterministic_and_num_proc_independent(wiki, tmp_path):
    src, _ = wiki
    a = _prepare(src, tmp_path / "a")
    b = _prepare(src, tmp_path / "b")
    c = _prepare(src, tmp_path / "c", num_proc=2, batch_bytes=8192)
    assert _shard_bytes(tmp_path / "a") == _shard_bytes(tmp_path / "b") == _shard_bytes(tmp_path / "c")
    assert a.index["splits"] == b.index["splits"] == c.index["splits"]


def test_resume_after_kill_keeps_finished_shards(wiki, tmp_path, monkeypatch):
    src, _ = wiki
    clean = _prepare(src, tmp_path / "clean")
    calls = {"n": 0}
    real = lm_shards.write_json

    def killed(path, obj, **kw):  # the 3rd index write: after shard 2 was renamed into place
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real(path, obj, **kw)

    monkeypatch.setattr(lm_shards, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        _prepare(src, tmp_path / "out", num_proc=2)
    monkeypatch.setattr(lm_shards, "write_json", real)
    partial = json.loads((tmp_path / "out" / "index.json").read_text(encoding="utf-8"))
    assert partial["complete"] is False and len(partial["splits"]["train"]["shards"]) == 1
    assert not list((tmp_path / "out").glob(".*.tmp"))
    res = _prepare(src, tmp_path / "out")
    assert res.kept_shards == 1 and any("resuming" in n for n in res.notes)
    assert res.index == clean.index
    assert _shard_bytes(tmp_path / "out") == _shard_bytes(tmp_path / "clean")


def test_resume_counts_skipped_documents_once(tmp_path, monkeypatch):
    docs = [d.encode() for d in _documents(1500)]
    rows = [b"" if i % 7 == 3 else b"\xff" + d if i % 11 == 5 else d for i, d in enumerate(docs)]
    pq.write_table(pa.table({"text": pa.array(rows, type=pa.binary())}), tmp_path / "s.parquet")
    kw = {"shard_tokens": 5000, "val_split": 0.3, "batch_bytes": 3000}
    clean = _prepare(tmp_path / "s.parquet", tmp_path / "clean", **kw)
    real, calls = lm_shards.write_json, {"n": 0}

    def killed(path, obj, **kw):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        real(path, obj, **kw)

    monkeypatch.setattr(lm_shards, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        _prepare(tmp_path / "s.parquet", tmp_path / "out", **kw)
    monkeypatch.setattr(lm_shards, "write_json", real)
    res = _prepare(tmp_path / "s.parquet", tmp_path / "out", **kw)
    assert res.kept_shards == 4 and res.index == clean.index
    n_empty = sum(1 for i in range(len(rows)) if i % 7 == 3)
    assert clean.index["skipped"] == {"empty": n_empty, "non_utf8": sum(1 for r in rows if r[:1] == b"\xff")}
    assert _shard_bytes(tmp_path / "out") == _shard_bytes(tmp_path / "clean")


def test_truncated_or_missing_shard_is_rebuilt(wiki, tmp_path):
    src, _ = wiki
    out = tmp_path / "out"
    clean = _prepare(src, out)
    want = _shard_bytes(out)
    n_shards = sum(len(s["shards"]) for s in clean.index["splits"].values())
    again = _prepare(src, out)
    assert again.kept_shards == n_shards and "already complete" in again.notes[-1]
    with open(out / "train-00001.bin", "r+b") as fh:
        fh.truncate(1000)
    res = _prepare(src, out)
    assert any("train-00001.bin has 1000 bytes" in n and "rebuilding train" in n for n in res.notes)
    assert _shard_bytes(out) == want and res.index == clean.index
    last = clean.index["splits"]["train"]["shards"][-1]["file"]
    (out / last).unlink()
    res = _prepare(src, out)
    assert any(f"{last} is missing" in n for n in res.notes) and _shard_bytes(out) == want
    (out / "val-00000.bin").write_bytes(b"\0" * (out / "val-00000.bin").stat().st_size)
    res = _prepare(src, out)
    assert any("val-00000.bin does not match its sha256" in n for n in res.notes)
    assert _shard_bytes(out) == want


def test_other_settings_are_refused_without_overwrite(wiki, tmp_path):
    src, _ = wiki
    _prepare(src, tmp_path / "out")
    with pytest.raises(ShardError, match="shard_tokens.*--overwrite"):
        _prepare(src, tmp_path / "out", shard_tokens=SHARD * 2)
    res = _prepare(src, tmp_path / "out", shard_tokens=SHARD * 2, overwrite=True)
    assert res.index["settings"]["shard_tokens"] == SHARD * 2


def test_empty_and_non_utf8_documents_are_counted(tmp_path):
    rows = [b"Merhaba d\xc3\xbcnya.", b"", b"\xff\xfe bozuk", None, b"   \n ", "İyi günler.".encode()]
    pq.write_table(pa.table({"text": pa.array(rows, type=pa.binary())}), tmp_path / "bin.parquet")
    res = _prepare(tmp_path / "bin.parquet", tmp_path / "out", val_split=0.0)
    assert res.index["skipped"] == {"empty": 3, "non_utf8": 1}
    assert res.index["splits"]["train"]["docs"] == 2 and res.index["splits"]["val"]["docs"] == 0
    jl = tmp_path / "rows.jsonl"
    jl.write_bytes(
        b'{"text": "bir"}\n{"text": "\\ud800"}\nnot json\n\xff{"text": "x"}\n{"body": "y"}\n{"text": 3}\n'
    )
    res = _prepare(jl, tmp_path / "jl", val_split=0.0)
    assert res.index["skipped"] == {"bad_json": 1, "missing_column": 1, "non_utf8": 2, "not_text": 1}
    txt = tmp_path / "txt"
    txt.mkdir()
    (txt / "a.txt").write_bytes(b"\xef\xbb\xbfbir iki\r\n\xc3\xbc\xc3\xa7\r\n\r\n\xffkotu\n\n\n  \nson\n")
    res = _prepare(txt, tmp_path / "t", val_split=0.0)
    assert res.index["skipped"] == {"non_utf8": 1} and res.index["splits"]["train"]["docs"] == 2
    ids = _split_docs(tmp_path / "t", res.index, "train")
    assert [BytesTokenizer().decode(d) for d in ids] == ["bir iki\nüç", "son"]


def test_all_documents_skipped_is_an_error(tmp_path):
    pq.write_table(pa.table({"text": ["", " "]}), tmp_path / "e.parquet")
    with pytest.raises(ShardError, match="no training documents.*empty"):
        _prepare(tmp_path / "e.parquet", tmp_path / "out")


def test_missing_text_column_lists_columns(wiki, tmp_path):
    src, _ = wiki
    with pytest.raises(
        LMSourceError, match=r"no text column 'body'; columns are \['id', 'url', 'title', 'text'\]"
    ):
        LMSource(input_path=src, text_column="body")
    (tmp_path / "a.jsonl").write_text('{"title": "x", "content": "y"}\n', encoding="utf-8")
    with pytest.raises(LMSourceError, match=r"columns are \['title', 'content'\] \(use --text-column\)"):
        LMSource(input_path=tmp_path)


class _WideBytes(BytesTokenizer):
    """Bytes shifted past 65,535: a vocabulary that needs uint32."""

    kind = "wide"
    vocab_size = 70_000
    eos_id = 69_999

    def encode_batch(self, texts):
        return [a.astype(np.int64) + 65_000 for a in super().encode_batch(texts)]


def test_big_vocabulary_selects_uint32(tmp_path):
    assert dtype_for(257) == "uint16" and dtype_for(65_535) == "uint16" and dtype_for(65_536) == "uint32"
    with pytest.raises(TokenizerError, match="70000 ids does not fit uint16"):
        dtype_for(70_000, "uint16")
    pq.write_table(pa.table({"text": ["çok büyük", "sözlük"]}), tmp_path / "w.parquet")
    res = _prepare(tmp_path / "w.parquet", tmp_path / "out", tokenizer=_WideBytes(), val_split=0.0)
    assert res.index["dtype"] == "uint32"
    entry = res.index["splits"]["train"]["shards"][0]
    ids = np.asarray(read_shard(tmp_path / "out", entry, "uint32"))
    assert (tmp_path / "out" / entry["file"]).stat().st_size == 4 * len(ids)
    assert ids.max() == 69_999 and ids.min() >= 65_000
    with pytest.raises(TokenizerError, match="does not fit uint16"):
        _prepare(tmp_path / "w.parquet", tmp_path / "o2", tokenizer=_WideBytes(), dtype="uint16")


DUMP = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="tr">
  <siteinfo><sitename>Vikipedi</sitename></siteinfo>
  <page><title>Ankara</title><ns>0</ns><id>1</id>
    <revision><id>10</id><text xml:space="preserve">{{Bilgi kutusu şehir|ad=Ankara|nüfus={{formatnum:5000000}}}}
'''Ankara''', [[Türkiye]]'nin [[başkent|başkentidir]].&lt;ref&gt;Kaynak&lt;/ref&gt; Nüfusu &amp;nbsp;5 milyondur.
[[Dosya:Ankara.jpg|thumb|Bir [[kale]] görüntüsü]]

== Tarih ==
* Eski adı [[Ankyra]].&lt;!-- yorum --&gt;
{| class="wikitable"
|-
| hücre
|}
Bak: [https://ornek.org Örnek site].
[[Kategori:Türkiye'deki şehirler]]
[[en:Ankara]]</text></revision></page>
  <page><title>Angora</title><ns>0</ns><id>2</id><redirect title="Ankara" />
    <revision><text>#YÖNLENDİRME [[Ankara]]</text></revision></page>
  <page><title>Tartışma:Ankara</title><ns>1</ns><id>3</id>
    <revision><text>Konuşma sayfası</text></revision></page>
  <page><title>Boş</title><ns>0</ns><id>4</id><revision><text>{{Taslak}}</text></revision></page>
</mediawiki>
"""

ANKARA = "Ankara, Türkiye'nin başkentidir. Nüfusu 5 milyondur.\n\nTarih\nEski adı Ankyra.\n\nBak: Örnek site."


def test_wikipedia_xml_dump(tmp_path):
    (tmp_path / "trwiki.xml").write_text(DUMP, encoding="utf-8")
    (tmp_path / "bz").mkdir()
    (tmp_path / "bz" / "trwiki-pages-articles.xml.bz2").write_bytes(bz2.compress(DUMP.encode()))
    for src in (tmp_path / "trwiki.xml", tmp_path / "bz"):
        out = tmp_path / ("o" + src.name)
        res = _prepare(src, out, val_split=0.0)
        assert res.index["source"]["kind"] == "xml"
        assert res.index["skipped"] == {"empty": 1, "non_article": 1, "redirect": 1}
        assert [BytesTokenizer().decode(d) for d in _split_docs(out, res.index, "train")] == [ANKARA]


def test_wiki_to_text_keeps_text_and_labels():
    assert wiki_to_text("''a'' [[b|c]] [[d]] {{e|{{f}}}}<br/>g &amp; h __TOC__") == "a c d g & h"


def test_bpe_trained_on_a_sample_with_turkish_casing(wiki, tmp_path):
    src, docs = wiki
    res = _prepare(
        src, tmp_path / "out", tokenizer="bpe", vocab_size=600, bpe_sample_docs=100, turkish_lower=True,
        val_split=0.0, shard_tokens=10**9,
    )  # fmt: skip
    tok_entry = res.index["tokenizer"]
    assert tok_entry["type"] == "bpe" and tok_entry["path"] == "tokenizer.json"
    assert tok_entry["eos_id"] == 0 and 300 < tok_entry["vocab_size"] <= 600 and tok_entry["turkish_lower"]
    tok = from_index(res.index, tmp_path / "out")
    got = [tok.decode(d) for d in _split_docs(tmp_path / "out", res.index, "train")]
    assert got == [lower_tr(d) for d in docs]
    assert "I" not in "".join(got[:50]) and res.index["splits"]["train"]["tokens"] < 0.8 * sum(
        len(d.encode()) for d in docs
    )


def test_hub_offline_error_names_local_options(monkeypatch):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(LMSourceError) as err:
        LMSource(hf_dataset="sesli-test/no-such-corpus-xyz", config="tr")
    for option in ("save_to_disk", "parquet", "JSONL", "XML dump", "--input"):
        assert option in str(err.value)


def test_save_to_disk_folder(tmp_path):
    import datasets

    docs = _documents(200)
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": docs})}).save_to_disk(tmp_path / "ds")
    src = LMSource(input_path=tmp_path / "ds")
    assert src.kind == "disk" and src.count() == len(docs) and list(src) == docs
    with pytest.raises(LMSourceError, match=r"splits \['train'\], not 'test'"):
        LMSource(input_path=tmp_path / "ds", split="test")


def test_cli_prepare_writes_shards_and_keeps_the_text_path(wiki, tmp_path, capsys):
    from sesli.cli.lm import main

    src, _ = wiki
    out = tmp_path / "shards"
    assert (
        main(["prepare", "--input", str(src), "--output-dir", str(out), "--shard-tokens", "50000", "--quiet"])
        == 0
    )
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert index["settings"]["val_split"] == 0.05 and index["settings"]["shard_tokens"] == 50_000
    assert "train:" in capsys.readouterr().out
    text = tmp_path / "c.txt"
    text.write_text("\n".join(_documents(40)), encoding="utf-8")
    assert main(["prepare", "--input-file", str(text), "--output-dir", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "train.txt").is_file() and (tmp_path / "t" / "val.txt").is_file()
    code = main(
        ["prepare", "--input-file", str(text), "--output-dir", str(tmp_path / "u"), "--tokenizer", "bpe"]
    )
    assert code == 2 and "--tokenizer apply to --hf-dataset / --input" in capsys.readouterr().err
