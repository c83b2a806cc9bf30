"""Training the LM from token shards: windows come from the memory maps (across shard boundaries),
the order replays from (seed, epoch), a killed run resumes bit-exact, the text folder still works,
and the issue's end to end: a parquet "Wikipedia" goes through prepare, train, kill and resume."""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from sesli.train.checkpoint import list_checkpoints
from sesli.train.config import load_config
from sesli.train.engine import fit
from sesli.train.logging import read_metrics
from sesli.train.tasks.lm import SHARDS_INDEX, LMRunConfig, LMTask
from sesli.train.tasks.lm_data import TextDataError
from sesli.train.tasks.lm_shards import ShardTokens, ShardWindows, WindowSampler, open_shards, read_index

REPO = Path(__file__).resolve().parents[2]
TURKISH = REPO / "data" / "cv_tr_sentences.txt"
DEBUG_LM = REPO / "src" / "sesli" / "configs" / "debug" / "lm.yaml"
EOS = 256


def write_shards(
    folder: Path, splits: dict[str, list[np.ndarray]], *, dtype: str = "uint16", vocab_size: int = 257
) -> dict:
    """Shard files and an index.json in the format ``sesli lm prepare`` writes (one array a shard)."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {
        "format": "sesli-lm-shards",
        "version": 1,
        "dtype": dtype,
        "complete": True,
        "tokenizer": {"type": "bytes", "path": None, "vocab_size": vocab_size, "eos_id": EOS},
        "splits": {},
    }
    for split, shards in splits.items():
        entries = []
        for i, tokens in enumerate(shards):
            name = f"{split}-{i:05d}.bin"
            data = np.asarray(tokens, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
            (folder / name).write_bytes(data)
            docs = int((np.asarray(tokens) == EOS).sum())
            entries.append(
                {
                    "file": name,
                    "tokens": len(tokens),
                    "docs": docs,
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        index["splits"][split] = {
            "shards": entries,
            "tokens": sum(len(t) for t in shards),
            "docs": sum(e["docs"] for e in entries),
        }
    (folder / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return index


def turkish_shards(folder: Path, *, lines: int = 400, per_doc: int = 5, shard_tokens: int = 3000) -> dict:
    """Turkish sentences as byte documents (``per_doc`` lines each, eos after each), cut into
    shards of about ``shard_tokens``; every tenth document goes to validation."""
    text = TURKISH.read_text(encoding="utf-8").splitlines()[:lines]
    docs = ["\n".join(text[i : i + per_doc]) for i in range(0, len(text), per_doc)]
    streams: dict[str, list[int]] = {"train": [], "val": []}
    for i, doc in enumerate(docs):
        streams["val" if i % 10 == 9 else "train"] += [*doc.encode("utf-8"), EOS]
    return write_shards(
        folder,
        {
            k: [np.array(s[j : j + shard_tokens]) for j in range(0, len(s), shard_tokens)]
            for k, s in streams.items()
        },
    )


def _cfg(data: Path, *over: str) -> LMRunConfig:
    return load_config(LMRunConfig, DEBUG_LM, [f"data.data_dir={data}", *over])


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    _, path = list_checkpoints(run / "checkpoints")[-1]
    return load_file(path / "model.safetensors")


def _metrics(run: Path) -> dict[tuple[int, str], float]:
    """metrics.csv without the timings (perf/*), which differ between any two runs."""
    return {(s, k): v for s, _, k, v in read_metrics(run / "metrics.csv") if not k.startswith("perf/")}


def test_windows_are_read_from_the_memmap_across_shard_boundaries(tmp_path):
    stream = np.arange(1000) % 250
    write_shards(tmp_path, {"train": [stream[:300], stream[300:310], stream[310:]], "val": [stream[:100]]})
    tokens = ShardTokens(tmp_path, read_index(tmp_path), "train")
    assert len(tokens) == 1000 and all(isinstance(m, np.memmap) for m in tokens._open())
    assert np.array_equal(tokens.read(295, 320), stream[295:320])  # three shards in one read
    ds = ShardWindows(tokens, 16)
    item = ds[298]
    assert item["ids"].shape == item["targets"].shape == (16,) and item["ids"].dtype == torch.int64
    assert item["ids"].tolist() == stream[298:314].tolist()
    assert item["targets"].tolist() == stream[299:315].tolist()
    assert ds[1000 - 17]["targets"][-1] == stream[-1]  # the last window ends on the last token
    with pytest.raises(IndexError):
        ds[1000 - 16]
    big = np.array([0, 70000, 1, 65536, 99999] * 10)  # over uint16: uint32 shards
    write_shards(tmp_path / "u32", {"train": [big], "val": [big]}, dtype="uint32", vocab_size=100000)
    data = open_shards(tmp_path / "u32", 4, seed=0)
    assert data.vocab_size == 100000 and data.train[1]["ids"].tolist() == [70000, 1, 65536, 99999]


def test_window_order_depends_only_on_seed_and_epoch():
    a, b = WindowSampler(10_000, 32, seed=3), WindowSampler(10_000, 32, seed=3)
    assert len(a) == 10_000 // 32 and list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and all(0 <= s <= 10_000 - 33 for s in first + list(a))
    assert list(WindowSampler(10_000, 32, seed=4)) != first
    val = WindowSampler(1000, 10, shuffle=False)
    assert list(val) == list(range(0, 990, 10))  # 99 non-overlapping windows of 10 + 1
    assert list(WindowSampler(1000, 10, shuffle=False, num_windows=3)) == [0, 330, 660]


def test_truncated_unfinished_and_corrupt_shards_are_refused(tmp_path):
    index = turkish_shards(tmp_path, lines=60)
    first = tmp_path / index["splits"]["train"]["shards"][0]["file"]
    good = first.read_bytes()
    first.write_bytes(good[:-7])
    with pytest.raises(TextDataError, match=r"train-00000.bin is .* bytes; index.json says .*Re-run"):
        open_shards(tmp_path, 16, seed=0)
    first.write_bytes(bytes([good[0] ^ 1]) + good[1:])  # same size, other content
    open_shards(tmp_path, 16, seed=0)  # sizes alone pass; the sha256 finds it
    with pytest.raises(TextDataError, match="sha256 differs"):
        open_shards(tmp_path, 16, seed=0, verify=True)
    (tmp_path / "index.json").write_text(json.dumps({**index, "complete": False}), encoding="utf-8")
    with pytest.raises(TextDataError, match="unfinished"):
        open_shards(tmp_path, 16, seed=0)


def test_training_from_shards_lowers_the_loss_and_reports_throughput(tmp_path):
    turkish_shards(tmp_path / "d")
    cfg = _cfg(
        tmp_path / "d", "train.max_steps=40", "train.lr=1e-2", "train.eval_every=20", "model.dropout=0.0"
    )
    run = tmp_path / "run"
    task = LMTask(cfg, run)
    fit(task, cfg.train, run, config=cfg, quiet=True)
    rows = read_metrics(run / "metrics.csv")
    loss = [v for _, _, k, v in rows if k == "train/loss"]
    assert loss[0] > 4.5 and loss[-1] < loss[0] - 1.5  # bytes start at ln(257) = 5.55
    assert [v for _, _, k, v in rows if k == "val/loss"][-1] < loss[0] - 1.0
    assert {"perf/tokens_per_s", "perf/mfu"} <= {k for _, _, k, _ in rows}
    assert all(v > 0 for _, _, k, v in rows if k.startswith("perf/"))
    kept = json.loads((run / SHARDS_INDEX).read_text(encoding="utf-8"))
    assert task.vocab_size == 257 and kept["tokenizer"]["eos_id"] == EOS  # the shards' vocabulary
    C, L = cfg.model.d_model, cfg.model.n_layers
    n = L * (12 * C**2 + 13 * C) + 257 * C + 2 * C  # blocks, tied token table, final norm; no positions
    assert task.token_flops == 6 * n + 12 * L * C * cfg.data.seq_len


def test_a_killed_run_resumes_bit_exact(tmp_path):
    turkish_shards(tmp_path / "d")
    cfg = _cfg(tmp_path / "d", "train.max_steps=12", "train.save_every=5", "train.eval_every=4")
    fit(LMTask(cfg, tmp_path / "ref"), cfg.train, tmp_path / "ref", config=cfg, quiet=True)

    class Killed(Exception):
        pass

    run = tmp_path / "run"
    task = LMTask(cfg, run)
    step = task.train_step

    def dies_at_step_7(batch, ctx):
        if ctx.global_step == 7:  # like SIGKILL: no checkpoint of its own; step-5 is the newest
            raise Killed
        return step(batch, ctx)

    task.train_step = dies_at_step_7
    with pytest.raises(Killed):
        fit(task, cfg.train, run, config=cfg, quiet=True)
    assert list_checkpoints(run / "checkpoints")[-1][0] == 5
    fit(LMTask(cfg, run), cfg.train, run, config=cfg, quiet=True)
    a, b = _final_weights(tmp_path / "ref"), _final_weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _metrics(run) == _metrics(tmp_path / "ref")


def test_the_text_folder_path_is_unchanged(lm_data, tmp_path):
    cfg = _cfg(lm_data, "train.max_steps=5")
    task = LMTask(cfg, tmp_path / "run")
    fit(task, cfg.train, tmp_path / "run", config=cfg, quiet=True)
    assert task.vocab_size == 256 and not (tmp_path / "run" / SHARDS_INDEX).exists()
    assert [k for _, _, k, _ in read_metrics(tmp_path / "run" / "metrics.csv")].count("train/loss") == 1


def _wikipedia_parquet(path: Path, lines: int = 3000, per_doc: int = 6) -> None:
    """A local stand-in for ``wikimedia/wikipedia`` 20231101.tr: id, url, title, text columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = TURKISH.read_text(encoding="utf-8").splitlines()[:lines]
    docs = ["\n".join(text[i : i + per_doc]) for i in range(0, len(text), per_doc)]
    ids = [str(i) for i in range(len(docs))]
    pq.write_table(
        pa.table(
            {
                "id": ids,
                "url": [f"https://tr.wikipedia.org/wiki?curid={i}" for i in ids],
                "title": [d.split()[0] for d in docs],
                "text": docs,
            }
        ),
        path,
    )


def test_parquet_wikipedia_prepare_train_kill_resume(tmp_path, monkeypatch, capsys):
    from sesli.cli.lm import main

    _wikipedia_parquet(tmp_path / "trwiki.parquet")
    out = tmp_path / "shards"
    argv = ["prepare", "--input", str(tmp_path / "trwiki.parquet"), "--output-dir", str(out)]
    assert main([*argv, "--val-split", "0.05", "--quiet"]) == 0
    index = read_index(out)
    assert index["splits"]["train"]["docs"] + index["splits"]["val"]["docs"] == 500

    def train(run: str) -> int:
        argv = ["train", "--config", str(DEBUG_LM), "--data-dir", str(out), "--run-dir", str(tmp_path / run)]
        return main([*argv, "--max-steps", "10", "--quiet", "train.save_every=4", "train.eval_every=5"])

    assert train("ref") == 0
    step = LMTask.train_step

    def sigterm_at_step_6(self, batch, ctx):  # the run saves at the end of this step and exits 130
        if ctx.global_step == 6:
            signal.raise_signal(signal.SIGTERM)
        return step(self, batch, ctx)

    monkeypatch.setattr(LMTask, "train_step", sigterm_at_step_6)
    assert train("run") == 130
    monkeypatch.setattr(LMTask, "train_step", step)
    assert list_checkpoints(tmp_path / "run" / "checkpoints")[-1][0] == 7
    assert train("run") == 0
    a, b = _final_weights(tmp_path / "ref"), _final_weights(tmp_path / "run")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _metrics(tmp_path / "run") == _metrics(tmp_path / "ref")
    capsys.readouterr()
    assert (
        main(["sample", "--run-dir", str(tmp_path / "run"), "--max-new-tokens", "8", "--prompt", "Bir"]) == 0
    )
    assert capsys.readouterr().out.startswith("Bir")
