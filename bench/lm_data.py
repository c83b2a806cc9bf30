"""LM data at scale: tokenization throughput into shards, memory as the corpus grows, training tokens/s.

Generates a Turkish corpus of about ``--mb`` MB (Common Voice sentences from
``data/cv_tr_sentences.txt``, shuffled repeats grouped into documents of 5-80 lines, about 2.4 KB
each, shaped like wikimedia/wikipedia) as parquet in a temporary folder (deleted at the end), then
measures:

- tokenization throughput (MB of UTF-8 text per second, wall clock of ``prepare_shards``) with the
  bytes tokenizer (whole corpus) and a 32k byte-level BPE (trained once beforehand, not timed; on
  the first ``--bpe-mb`` MB, as it is ~25x slower) at 1 and 2 processes.
  ``TOKENIZERS_PARALLELISM=false``, so "1 process" is one core for the BPE too;
- peak RSS of a fresh process preparing the first 50 MB and the whole corpus (memory stays flat);
- training tokens/s from shards vs the in-memory text path on the same text:
  :func:`training_throughput`, measured when ``sesli.train.tasks.lm_shards`` exists.

    OMP_NUM_THREADS=1 python bench/lm_data.py [--mb 200] [--bpe-mb 50] [--procs 1 2] [--skip-training]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from sesli.data.lm_shards import prepare_shards  # noqa: E402
from sesli.data.lm_sources import LMSource  # noqa: E402
from sesli.data.lm_tokenizers import BPETokenizer  # noqa: E402
from sesli.fileio import write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT / "data" / "cv_tr_sentences.txt"


def make_corpus(path: Path, mb: float, seed: int = 0) -> list[tuple[int, float]]:
    """Write about ``mb`` MB of documents to ``path`` (parquet, row groups of 2,000 documents).

    Returns (documents, MB) after each row group, so a prefix of the corpus can be chosen by
    ``max_docs``.
    """
    lines = [s for s in SENTENCES.read_text(encoding="utf-8").splitlines() if s.strip()]
    rng = random.Random(seed)
    order: list[str] = []
    marks, docs, size, n = [], [], 0, 0
    with pq.ParquetWriter(path, pa.schema([("id", pa.string()), ("text", pa.string())])) as writer:
        while size < mb * 1e6:
            if len(order) < 80:
                order.extend(rng.sample(lines, len(lines)))
            k = rng.randint(5, 80)  # ~2.4 KB: about the mean Turkish Wikipedia article
            doc = "\n".join(order[:k])
            del order[:k]
            docs.append(doc)
            size += len(doc.encode("utf-8"))
            n += 1
            if len(docs) == 2000:
                writer.write_table(pa.table({"id": [str(i) for i in range(n - len(docs), n)], "text": docs}))
                docs = []
                marks.append((n, size / 1e6))
        if docs:
            writer.write_table(pa.table({"id": [str(i) for i in range(n - len(docs), n)], "text": docs}))
            marks.append((n, size / 1e6))
    return marks


def time_prepare(corpus: Path, out: Path, tokenizer, procs: int, max_docs: int | None = None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    prepare_shards(
        out, LMSource(input_path=corpus), tokenizer=tokenizer, num_proc=procs, max_docs=max_docs,
        progress=False, log=lambda m: None,
    )  # fmt: skip
    return time.perf_counter() - start


def rss_child(corpus: str, out: str, max_docs: int) -> None:
    """Run in a fresh process: prepare, then print peak RSS (MB) of this process and its children."""
    time_prepare(Path(corpus), Path(out), "bytes", 1, max_docs or None)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": round(own, 1)}))


def peak_rss(corpus: Path, out: Path, max_docs: int | None) -> float:
    cmd = [sys.executable, __file__, "--rss-child", str(corpus), str(out), str(max_docs or 0)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def training_throughput(corpus: Path, work: Path, *, mb: float = 5.0, steps: int = 40) -> dict:
    """Training tokens/s from shards vs from the in-memory text path, on the same text.

    The hook for issue 16 item 3: once ``sesli.train.tasks.lm_shards`` exists, ``sesli lm train
    --config tiny`` runs ``steps`` steps on (a) shards of the first ``mb`` MB of documents and
    (b) ``train.txt``/``val.txt`` holding the same documents, and the tokens/s of each (from the
    run's ``metrics.csv`` column ``perf/tokens_per_s``, mean of the second half of the logged
    steps, else steps x batch x seq_len / wall) is returned. Without that module, says so.
    """
    if importlib.util.find_spec("sesli.train.tasks.lm_shards") is None:
        return {
            "status": "not measured: sesli.train.tasks.lm_shards (training from shards) does not exist yet"
        }
    table = pq.read_table(corpus, columns=["text"])
    docs, size = [], 0
    for d in table.column(0).to_pylist():
        docs.append(d)
        size += len(d.encode("utf-8"))
        if size >= mb * 1e6:
            break
    del table
    sub = work / "train-sub.parquet"
    pq.write_table(pa.table({"text": docs}), sub)
    shards, text = work / "shards", work / "text"
    prepare_shards(shards, LMSource(input_path=sub), val_split=0.05, progress=False, log=lambda m: None)
    text.mkdir(parents=True, exist_ok=True)
    n_val = max(1, len(docs) // 20)
    (text / "train.txt").write_text("\n".join(docs[:-n_val]) + "\n", encoding="utf-8")
    (text / "val.txt").write_text("\n".join(docs[-n_val:]) + "\n", encoding="utf-8")
    out = {"text_mb": round(size / 1e6, 2), "steps": steps, "config": "tiny"}
    for name, data in (("shards", shards), ("in_memory", text)):
        run = work / f"run-{name}"
        cmd = [sys.executable, "-m", "sesli", "lm", "train", "--config", "tiny", "--data-dir", str(data),
               "--run-dir", str(run), "--max-steps", str(steps), "--no-resume", "--quiet"]  # fmt: skip
        start = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        out[name] = {"rc": res.returncode, "wall_s": round(wall, 2), **_tokens_per_s(run, steps, wall)}
        if res.returncode != 0:
            out[name]["stderr_tail"] = res.stderr[-600:]
    return out


def _tokens_per_s(run: Path, steps: int, wall: float) -> dict:
    """The engine's ``perf/tokens_per_s`` (metrics.csv rows ``step,epoch,key,value``), mean of the
    second half of the logged steps; else steps x batch x seq_len / wall (startup included)."""
    metrics = run / "metrics.csv"
    if metrics.is_file():
        with open(metrics, encoding="utf-8", newline="") as fh:
            values = [float(r["value"]) for r in csv.DictReader(fh) if r.get("key") == "perf/tokens_per_s"]
        if values:
            tail = values[len(values) // 2 :]  # skip the warm-up half
            return {
                "tokens_per_s": round(sum(tail) / len(tail), 1),
                "source": "metrics.csv perf/tokens_per_s",
            }
    batch, seq = 8, 256  # configs/lm/tiny.yaml
    return {"tokens_per_s": round(steps * batch * seq / wall, 1), "source": "steps x batch x seq_len / wall"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=float, default=200.0)
    p.add_argument("--rss-mb", type=float, nargs=2, default=[50.0, 200.0])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--bpe-sample-mb", type=float, default=20.0)
    p.add_argument("--bpe-mb", type=float, default=50.0, help="BPE throughput on this prefix of the corpus")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--rss-child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "lm_data.json"))
    args = p.parse_args(argv)
    if args.rss_child:
        rss_child(*args.rss_child[:2], int(args.rss_child[2]))
        return 0
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sesli-lm-bench-", dir="/tmp") as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus.parquet"
        t0 = time.perf_counter()
        marks = make_corpus(corpus, args.mb)
        n_docs, text_mb = marks[-1]
        print(f"corpus: {n_docs} documents, {text_mb:.1f} MB ({time.perf_counter() - t0:.1f} s to generate)")
        t0 = time.perf_counter()
        sample = LMSource(input_path=corpus)
        bpe = BPETokenizer.train(_first_mb(sample, args.bpe_sample_mb), vocab_size=32000)
        bpe_train_s = time.perf_counter() - t0
        print(f"BPE: {bpe.vocab_size} ids trained on {args.bpe_sample_mb} MB in {bpe_train_s:.1f} s")
        rows = []
        bpe_docs, bpe_mb = next(((n, m) for n, m in marks if m >= args.bpe_mb), marks[-1])
        for name, tok in (("bytes", "bytes"), ("bpe32k", bpe)):
            docs, mb = (None, text_mb) if name == "bytes" else (bpe_docs, bpe_mb)
            for procs in args.procs:
                wall = time_prepare(corpus, tmp / "out", tok, procs, None if docs == n_docs else docs)
                rows.append({"tokenizer": name, "procs": procs, "text_mb": round(mb, 1), "wall_s": round(wall, 2),
                             "mb_per_s": round(mb / wall, 2), "load_1min": os.getloadavg()[0]})  # fmt: skip
                print(f"{name:>7} procs={procs}: {mb:6.1f} MB {wall:7.2f} s  {mb / wall:7.2f} MB/s")
        shutil.rmtree(tmp / "out", ignore_errors=True)
        memory = []
        for want in args.rss_mb:
            docs, mb = next(((n, m) for n, m in marks if m >= want), marks[-1])
            rss = peak_rss(corpus, tmp / "rss", None if docs == n_docs else docs)
            memory.append({"text_mb": round(mb, 1), "docs": docs, "peak_rss_mb": rss})
            print(f"peak RSS preparing {mb:.0f} MB: {rss:.0f} MB")
        training = (
            {"status": "skipped (--skip-training)"}
            if args.skip_training
            else training_throughput(corpus, tmp)
        )
        print(f"training: {json.dumps(training)}")
    result = {
        "benchmark": "lm_data",
        "corpus": {
            "documents": n_docs,
            "text_mb": round(text_mb, 1),
            "source": "data/cv_tr_sentences.txt",
            "format": "parquet (id, text), 2,000 documents (~5 MB) per row group",
        },  # fmt: skip
        "bpe": {
            "vocab_size": bpe.vocab_size,
            "sample_mb": args.bpe_sample_mb,
            "train_s": round(bpe_train_s, 1),
        },
        "throughput": rows,
        "memory": memory,
        "training_tokens_per_s": training,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "load_before": load_before,
        },
    }
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


def _first_mb(source: LMSource, mb: float):
    size = 0
    for doc in source:
        yield doc
        size += len(doc.encode("utf-8"))
        if size >= mb * 1e6:
            return


if __name__ == "__main__":
    sys.exit(main())
