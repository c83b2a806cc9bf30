"""Kokoro speed: sesli vs upstream ``kokoro`` 0.9.4, same random full-size weights, same ids.

Measures, on this machine (CPU, 2 threads):

* real-time factor (compute seconds / audio seconds) for 20 Turkish sentences one at a time;
* throughput (audio seconds per second) for 16 sentences: sesli in one padded batch vs
  upstream's one-by-one loop (upstream handles batch size 1 only);
* time to first audio for a long paragraph (sesli ``Synthesizer.stream``: G2P + chunking + the
  first sentence; upstream: its forward on that first sentence, no Turkish front-end);
* peak resident memory (``VmHWM``) of a fresh process per engine that loads the model and runs
  the batch workload -- whole-process RSS, Python and torch included.

Weights are random (the official checkpoint cannot be downloaded here); the duration head's bias
is set to -2.6 (about 3.4 frames = 85 ms per phoneme, a natural speaking rate) on both sides so
the audio lengths are realistic. Timings from the two engines are interleaved sentence by
sentence, so both see the same machine load. Writes ``bench/results/kokoro_speed.json``.

    .venv/bin/python bench/kokoro_speed.py [--sentences 20] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT / "data" / "cv_tr_sentences.txt"
RESULT = ROOT / "bench" / "results" / "kokoro_speed.json"
SUBMODULES = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
SR = 24000


def _setup(tmp: Path):
    """Random upstream model saved in the official format, loaded into sesli; ids for 20 sentences."""
    from sesli.models.kokoro import official_config
    from sesli.models.kokoro.loading import from_pretrained
    from sesli.testing.upstream_kokoro import import_upstream_kmodel

    KModel = import_upstream_kmodel()
    torch.save({}, tmp / "empty.pth")
    torch.manual_seed(0)
    up = KModel(
        repo_id="hexgrad/Kokoro-82M", config=official_config().to_dict(), model=str(tmp / "empty.pth")
    )
    with torch.no_grad():
        up.predictor.duration_proj.linear_layer.bias.fill_(-2.6)
    torch.save({k: getattr(up, k).state_dict() for k in SUBMODULES}, tmp / "kokoro-v1_0.pth")
    ours = from_pretrained(tmp / "kokoro-v1_0.pth")
    ours.voices["bench"] = torch.randn(510, 1, 256, generator=torch.Generator().manual_seed(1)) * 0.3
    ours.default_voice = "bench"
    return up.eval(), ours


def _sentences(n: int) -> list[str]:
    lines = [s.strip() for s in SENTENCES.read_text(encoding="utf-8").splitlines()]
    return [s for s in lines if 40 <= len(s) <= 120][:n]


def _ids(synth, text: str) -> torch.Tensor:
    chunks, _, _ = synth.prepare(text)
    phonemes = " ".join(c.phonemes for c in chunks)
    return torch.tensor([[0, *(synth.vocab[ch] for ch in phonemes), 0]])


def _time(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run_timings(n_sentences: int, batch: int) -> dict:
    from sesli.inference import Synthesizer

    with tempfile.TemporaryDirectory() as tmp:
        up, loaded = _setup(Path(tmp))
    synth = Synthesizer(loaded, batch_size=batch)
    pack = synth.voice_pack()
    texts = _sentences(n_sentences)
    ids = [_ids(synth, t) for t in texts]
    refs = [pack[min(x.shape[1] - 2, 510) - 1] for x in ids]  # (1, 256) rows by phoneme count

    def up_one(i):
        return up.forward_with_tokens(ids[i], refs[i], 1.0)[0]

    def ours_one(i):
        with torch.inference_mode():
            return synth.model.infer(ids[i], refs[i], 1.0).audio

    up_one(0), ours_one(0)  # warm-up (oneDNN primitive creation)
    single = {"upstream": [0.0, 0.0], "sesli": [0.0, 0.0]}
    for i in range(len(ids)):
        for name, fn in (
            (("upstream", up_one), ("sesli", ours_one))
            if i % 2
            else (("sesli", ours_one), ("upstream", up_one))
        ):
            secs, audio = _time(lambda fn=fn, i=i: fn(i))
            single[name][0] += secs
            single[name][1] += audio.shape[-1] / SR
    rtf = {k: v[0] / v[1] for k, v in single.items()}

    group = list(range(min(batch, len(ids))))
    up_secs, up_audio = _time(lambda: sum(up_one(i).shape[-1] for i in group))
    lengths = torch.tensor([ids[i].shape[1] for i in group])
    padded = torch.zeros(len(group), int(lengths.max()), dtype=torch.long)
    for row, i in enumerate(group):
        padded[row, : lengths[row]] = ids[i][0]
    style = torch.cat([refs[i] for i in group])

    def ours_batch():
        with torch.inference_mode():
            return int(synth.model.infer(padded, style, 1.0, lengths).audio_lengths.sum())

    ours_secs, ours_audio = _time(ours_batch)
    throughput = {"upstream_loop": up_audio / SR / up_secs, "sesli_batched": ours_audio / SR / ours_secs}

    paragraph = " ".join(texts)
    ttfa, first = _time(lambda: next(synth.stream(paragraph)))
    up_ttfa, _ = _time(lambda: up_one(0))
    return {
        "sentences": len(texts),
        "single_audio_seconds": single["sesli"][1],
        "rtf_single": rtf,
        "single_speedup_vs_upstream": rtf["upstream"] / rtf["sesli"],
        "batch": len(group),
        "batch_audio_seconds": ours_audio / SR,
        "throughput_audio_s_per_s": throughput,
        "batch_speedup_vs_upstream_loop": throughput["sesli_batched"] / throughput["upstream_loop"],
        "time_to_first_audio_s": {"sesli_stream": ttfa, "upstream_first_sentence": up_ttfa},
        "paragraph_chars": len(paragraph),
        "first_chunk_audio_s": len(first) / SR,
    }


def worker(engine: str, n_sentences: int, batch: int) -> None:
    """Fresh process that builds only one engine, runs the batch workload, prints peak RSS (MiB)."""
    from sesli.models.kokoro import KokoroModel, official_config
    from sesli.models.kokoro.loading import LoadedKokoro
    from sesli.text.g2p import phonemize

    torch.set_num_threads(2)
    cfg = official_config()
    texts = _sentences(n_sentences)[:batch]
    pack = torch.randn(510, 1, 256, generator=torch.Generator().manual_seed(1)) * 0.3
    torch.manual_seed(0)
    if engine == "upstream":
        from sesli.testing.upstream_kokoro import import_upstream_kmodel

        with tempfile.TemporaryDirectory() as tmp:
            torch.save({}, Path(tmp) / "empty.pth")
            up = import_upstream_kmodel()(
                repo_id="hexgrad/Kokoro-82M", config=cfg.to_dict(), model=str(Path(tmp) / "empty.pth")
            )
        with torch.no_grad():
            up.predictor.duration_proj.linear_layer.bias.fill_(-2.6)
        for t in texts:
            ph = "".join(ch for ch in phonemize(t).phonemes if ch in cfg.vocab)
            x = torch.tensor([[0, *(cfg.vocab[ch] for ch in ph), 0]])
            up.forward_with_tokens(x, pack[len(ph) - 1], 1.0)
    else:
        from sesli.inference import Synthesizer

        model = KokoroModel(cfg).eval()
        with torch.no_grad():
            model.predictor.duration_proj.linear_layer.bias.fill_(-2.6)
        synth = Synthesizer(
            LoadedKokoro(model=model, source="bench", voices={"bench": pack}, default_voice="bench")
        )
        synth.synthesize(" ".join(texts))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) parent across fork+exec
    hwm = next(
        line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM")
    )
    print(json.dumps({"engine": engine, "peak_rss_mib": int(hwm.split()[1]) / 1024}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sentences", type=int, default=20)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--worker", choices=["upstream", "sesli"])
    p.add_argument("--no-memory", action="store_true", help="skip the per-engine memory subprocesses")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    if args.worker:
        worker(args.worker, args.sentences, args.batch)
        return 0
    result = {"device": "cpu", "threads": 2, "torch": torch.__version__}
    result.update(run_timings(args.sentences, args.batch))
    if not args.no_memory:
        mem = {}
        for engine in ("upstream", "sesli"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    engine,
                    "--sentences",
                    str(args.sentences),
                    "--batch",
                    str(args.batch),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            mem[engine] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mib"]
        result["peak_rss_mib"] = mem
        result["peak_rss_note"] = (
            "VmHWM of a fresh process per engine: imports + one model + the 16-sentence workload (sesli: one batched synthesize call; upstream: its one-by-one loop)"
        )
    rows = [
        (
            "RTF single sentence (lower is better)",
            f"{result['rtf_single']['upstream']:.3f}",
            f"{result['rtf_single']['sesli']:.3f}",
        ),
        (
            f"throughput, {result['batch']} sentences (audio s/s)",
            f"{result['throughput_audio_s_per_s']['upstream_loop']:.2f} (loop)",
            f"{result['throughput_audio_s_per_s']['sesli_batched']:.2f} (batched)",
        ),
        (
            "time to first audio (s)",
            f"{result['time_to_first_audio_s']['upstream_first_sentence']:.2f}",
            f"{result['time_to_first_audio_s']['sesli_stream']:.2f}",
        ),
    ]
    if "peak_rss_mib" in result:
        rows.append(
            (
                "peak RSS (MiB)",
                f"{result['peak_rss_mib']['upstream']:.0f}",
                f"{result['peak_rss_mib']['sesli']:.0f}",
            )
        )
    print(f"{'':44} {'upstream':>18} {'sesli':>18}")
    for name, a, b in rows:
        print(f"{name:44} {a:>18} {b:>18}")
    print(
        f"single speed-up x{result['single_speedup_vs_upstream']:.2f}, batch speed-up x{result['batch_speedup_vs_upstream_loop']:.2f}"
    )
    from sesli.fileio import write_json

    write_json(RESULT, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
