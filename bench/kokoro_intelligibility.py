"""Kokoro intelligibility on Turkish: Whisper CER/WER of sesli's voices, espeak-ng, onnxruntime; speed.

Measures, on this machine (CPU, 2 threads for each engine and for the ASR):

* **clips**: the 51 real Common Voice Turkish clips of ``data/cv-tr-sample50`` (CC0). Each
  ``sentence`` is spoken by (a) the real recording, (b) sesli Kokoro (the packaged kokoro-onnx int8
  export of Kokoro-82M v1.0 imported into sesli's torch model, ``noise=False``) with each of the
  five voice packs, (c) espeak-ng ``tr`` (an external program, called as a subprocess only),
  (d) onnxruntime running the same int8 ``.onnx`` with the best voice of (b) and the ids, styles
  and pauses sesli's ``Synthesizer`` uses. The best voice is the one with the lowest corpus CER.
* **sentences**: 200 text-only sentences of ``data/cv_tr_sentences.txt`` with 4-15 words and no
  digits, a seeded random sample (the file is sorted alphabetically, so its first lines all start
  with a quote or "A"); none of them is a clip sentence. Spoken by sesli with the ``--top`` best
  voices of the clips and by espeak-ng.
* **speed**: real-time factor (compute s / audio s) of sesli's torch model
  (``Synthesizer.synthesize_chunks``) and of onnxruntime on the same file, ids and styles, sentence
  by sentence, interleaved (which engine goes first alternates), after one warm-up each, on 20
  sentences sampled (seed 1) from the sentence pool; G2P is left out of both. And the load time of
  each engine (median of 3 loads, alternating which goes first, file in the page cache).

Every audio goes through the same ASR (packaged Whisper base, faster-whisper int8, Turkish, greedy,
``no_repeat_ngram_size=3``; :mod:`sesli.eval.asr`) and is scored against the text it was asked to
say with :mod:`sesli.eval.metrics` (sesli's Turkish normaliser on both sides). Corpus rates add the
edits of all utterances before dividing; "mean" rates average per-utterance rates. An utterance
that cannot be synthesised counts as an empty transcript. Systems are interleaved utterance by
utterance (in a rotating order), so machine load falls on all of them alike. Writes
``bench/results/kokoro_intelligibility.json`` (summary, per-utterance rows, machine, command);
partial results are written every 10 utterances, and ``--resume`` reuses them after a crash.

    .venv/bin/python bench/kokoro_intelligibility.py [--clips 51] [--sentences 200] [--top 2]
        [--voices jf_alpha ...] [--speed-sentences 20] [--seed 0] [--load-repeats 3] [--no-espeak]
        [--resume]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "data" / "cv-tr-sample50"
SENTENCES = ROOT / "data" / "cv_tr_sentences.txt"
RESULT = ROOT / "bench" / "results" / "kokoro_intelligibility.json"
THREADS = 2
REAL = "real recordings"
ESPEAK = "espeak-ng tr"


def _clips(n: int) -> list[dict]:
    from sesli.data.sources.commonvoice import CommonVoiceSource

    items = [it for it in CommonVoiceSource(CLIPS) if it.error is None and it.text]
    return [{"id": Path(it.ref).stem, "text": it.text, "path": it.audio} for it in items[:n]]


def _sentences(n: int, seed: int | None, exclude: set[str]) -> list[dict]:
    """Lines with 4-15 words, no digits, not a clip sentence: a seeded sample (None: the first n)."""
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()
    ok = [
        {"id": f"line {k}", "text": " ".join(t.split())}
        for k, t in enumerate(lines, 1)
        if 4 <= len(t.split()) <= 15 and not re.search(r"\d", t) and " ".join(t.split()) not in exclude
    ]
    if seed is None:
        return ok[:n]
    picked = sorted(random.Random(seed).sample(range(len(ok)), min(n, len(ok))))
    return [ok[k] for k in picked]


class OrtKokoro:
    """The int8 .onnx under onnxruntime, fed the chunks, ids, styles and pauses sesli would use."""

    def __init__(self, path: Path, synth) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = THREADS, 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.synth = synth  # a Synthesizer, only for prepare() (G2P + chunking) and the vocab

    def chunks(self, chunks, pack: torch.Tensor) -> list[np.ndarray]:
        out = []
        for c in chunks:
            ids = [0, *(self.synth.vocab[ch] for ch in c.phonemes), 0]
            row = max(min(len(ids) - 2, pack.shape[0]) - 1, 0)  # as Synthesizer.synthesize_chunks
            feed = {
                "tokens": np.array([ids], np.int64),
                "style": pack[row].numpy().astype(np.float32).reshape(1, -1),  # (1, R)
                "speed": np.array([1.0], np.float32),
            }
            out.append(self.session.run(None, feed)[0].astype(np.float32))
        return out

    def synthesize(self, text: str, pack: torch.Tensor) -> np.ndarray:
        chunks, _, _ = self.synth.prepare(text)
        return _join(self.chunks(chunks, pack), chunks)


def _join(pieces: list[np.ndarray], chunks) -> np.ndarray:
    """Pieces with each chunk's pause between them (none after the last), as Synthesizer joins."""
    parts = []
    for k, (piece, chunk) in enumerate(zip(pieces, chunks, strict=True)):
        parts.append(piece)
        if k < len(pieces) - 1:
            parts.append(np.zeros(int(chunk.pause_after * 24000), np.float32))
    return np.clip(np.concatenate(parts), -1.0, 1.0)


def _espeak(text: str, tmp: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    wav = tmp / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "tr", "-w", str(wav), text], check=True, capture_output=True)
    audio, sr = sf.read(wav, dtype="float32")
    return audio, sr


def _speakers(synth, voices: list[str], tmp: Path, espeak: bool, real: bool = True) -> dict:
    """System name -> fn(item) -> (audio, sample rate, unknown symbols)."""
    from sesli.audio.io import load_audio

    def torch_voice(v):
        def speak(item):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = synth.synthesize(item["text"], voice=v)
            return s.audio, s.sample_rate, s.unknown

        return speak

    out = {f"sesli {v}": torch_voice(v) for v in voices}
    if espeak:
        out[ESPEAK] = lambda item: (*_espeak(item["text"], tmp), [])
    if real:
        out[REAL] = lambda item: (*load_audio(item["path"]), [])
    return out


def evaluate(items: list[dict], systems: dict, asr, desc: str, done=None, save=None) -> dict[str, list[dict]]:
    """Every system speaks every item (order rotating per item); rows of transcript and errors.

    ``done`` maps ``(system, id, text)`` to a row of an earlier run, reused as it is (``--resume``);
    ``save(rows)`` is called every 10 items, so a killed run loses little.
    """
    from sesli.eval.metrics import char_errors, word_errors

    rows: dict[str, list[dict]] = {name: [] for name in systems}
    names = list(systems)
    for k, item in enumerate(tqdm(items, desc=desc, unit="utt")):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            if done and (name, item["id"], item["text"]) in done:
                rows[name].append(done[name, item["id"], item["text"]])
                continue
            row = {"id": item["id"], "text": item["text"]}
            t = time.perf_counter()
            try:
                audio, sr, unknown = systems[name](item)
                row["synth_s"] = round(time.perf_counter() - t, 3)
                row["audio_s"] = round(len(audio) / sr, 3)
                row["hypothesis"] = asr.transcribe(audio, sr)
                if unknown:
                    row["unknown"] = unknown
            except Exception as err:  # noqa: BLE001 -- a failed utterance is a result, not a crash
                row["error"] = f"{type(err).__name__}: {err}"
                row["hypothesis"] = ""
            c, w = char_errors(item["text"], row["hypothesis"]), word_errors(item["text"], row["hypothesis"])
            row.update(cer=round(c.rate, 4), wer=round(w.rate, 4), char_edits=c.edits, chars=c.ref_len)
            row.update(word_edits=w.edits, words=w.ref_len)
            rows[name].append(row)
        if save is not None and (k + 1) % 10 == 0:
            save(rows)
    return rows


def previous_rows(path: Path) -> dict[tuple[str, str, str], dict]:
    """Rows of an earlier (possibly killed) run's JSON, keyed by (system, id, text)."""
    if not path.is_file():
        return {}
    old = json.loads(path.read_text(encoding="utf-8"))
    return {
        (name, r["id"], r["text"]): r
        for part in ("clips", "sentences")
        for name, rs in old.get(part, {}).get("rows", {}).items()
        for r in rs
    }


def summarise(rows: dict[str, list[dict]]) -> dict[str, dict]:
    out = {}
    for name, rs in rows.items():
        out[name] = {
            "cer": round(sum(r["char_edits"] for r in rs) / max(1, sum(r["chars"] for r in rs)), 4),
            "wer": round(sum(r["word_edits"] for r in rs) / max(1, sum(r["words"] for r in rs)), 4),
            "mean_cer": round(statistics.fmean(r["cer"] for r in rs), 4),
            "mean_wer": round(statistics.fmean(r["wer"] for r in rs), 4),
            "n": len(rs),
            "failed": sum("error" in r for r in rs),
            "audio_s": round(sum(r.get("audio_s", 0.0) for r in rs), 1),
        }
    return out


def _table(title: str, summary: dict[str, dict]) -> None:
    print(
        f"\n{title}\n{'system':28} {'CER':>7} {'WER':>7} {'meanCER':>8} {'meanWER':>8} {'n':>4} {'fail':>4}"
    )
    for name, s in summary.items():
        print(
            f"{name:28} {s['cer']:7.3f} {s['wer']:7.3f} {s['mean_cer']:8.3f} {s['mean_wer']:8.3f} {s['n']:4d} {s['failed']:4d}"
        )


def _best(summary: dict[str, dict], voices: list[str]) -> list[str]:
    return sorted(voices, key=lambda v: (summary[f"sesli {v}"]["cer"], summary[f"sesli {v}"]["wer"]))


def speed(synth, ort_engine: OrtKokoro, voice: str, texts: list[str]) -> dict:
    """Interleaved RTF of torch and onnxruntime on the same chunks and voice pack."""
    pack = synth.voice_pack(voice).cpu()
    prepared = [synth.prepare(t)[0] for t in texts]
    engines = {
        "sesli_torch": lambda chunks: synth.synthesize_chunks(chunks, pack),
        "onnxruntime": lambda chunks: ort_engine.chunks(chunks, pack),
    }
    for fn in engines.values():
        fn(prepared[0])  # warm-up (oneDNN primitives, ORT arena)
    per = {name: [] for name in engines}  # (compute s, audio s)
    for i, chunks in enumerate(tqdm(prepared, desc="speed", unit="sent")):
        order = list(engines) if i % 2 == 0 else list(engines)[::-1]
        for name in order:
            t = time.perf_counter()
            pieces = engines[name](chunks)
            per[name].append((time.perf_counter() - t, sum(len(p) for p in pieces) / 24000))
    out = {
        "sentences": len(texts),
        "voice": voice,
        "timed": "sesli: Synthesizer.synthesize_chunks (batch 1, noise off); onnxruntime: session.run "
        "per chunk; both from the same prepared chunks (G2P not timed), pauses not counted as audio",
        "per_sentence": {},  # [compute s, audio s]
    }
    for name, xs in per.items():
        out[name] = {
            "rtf_median": round(statistics.median(s / a for s, a in xs), 4),
            "rtf_total": round(sum(s for s, _ in xs) / sum(a for _, a in xs), 4),
            "compute_s": round(sum(s for s, _ in xs), 2),
            "audio_s": round(sum(a for _, a in xs), 2),
        }
        out["per_sentence"][name] = [[round(s, 3), round(a, 3)] for s, a in xs]
    out["ratio_torch_over_ort_median"] = round(
        out["sesli_torch"]["rtf_median"] / out["onnxruntime"]["rtf_median"], 3
    )
    out["ratio_torch_over_ort_total"] = round(
        out["sesli_torch"]["rtf_total"] / out["onnxruntime"]["rtf_total"], 3
    )
    return out


def _load(onnx_path: Path, repeats: int) -> tuple[object, OrtKokoro, dict]:
    """Load both engines ``repeats`` times (alternating which goes first); keep the last of each."""
    import onnx  # noqa: F401 -- imports paid before timing, on both sides
    import onnxruntime  # noqa: F401

    from sesli.inference import Synthesizer
    from sesli.models.kokoro.defaults import load_packaged

    times: dict[str, list[float]] = {"sesli_torch": [], "onnxruntime": []}
    synth = ort_engine = None
    for k in range(max(1, repeats)):
        for name in ("sesli_torch", "onnxruntime") if k % 2 == 0 else ("onnxruntime", "sesli_torch"):
            t = time.perf_counter()
            if name == "sesli_torch":
                synth = None  # free the previous copy first
                synth = Synthesizer(load_packaged(), noise=False)
            else:
                ort_engine = OrtKokoro(onnx_path, None)
            times[name].append(round(time.perf_counter() - t, 3))
    ort_engine.synth = synth
    out = {name: round(statistics.median(ts), 2) for name, ts in times.items()}
    out["runs"] = times
    out["note"] = (
        "median of the runs; sesli: load_packaged() (parse the .onnx, import its weights into torch, "
        "read the voice packs) + Synthesizer (fold weight norms); onnxruntime: InferenceSession on "
        "the same file; onnx/onnxruntime imported before timing, file in the page cache"
    )
    return synth, ort_engine, out


def run_clips(clips, synth, ort_engine, voices, asr, tmp: Path, espeak: bool, done, checkpoint) -> dict:
    """Part 1: recordings, every voice and espeak-ng; then onnxruntime with the best voice."""
    rows = evaluate(clips, _speakers(synth, voices, tmp, espeak), asr, "clips", done, checkpoint)
    ranking = _best(summarise(rows), voices)
    best = ranking[0]
    pack = synth.voice_pack(best).cpu()
    ort_name = f"onnxruntime {best}"
    ort_system = {ort_name: lambda item: (ort_engine.synthesize(item["text"], pack), 24000, [])}
    rows.update(
        evaluate(
            clips, ort_system, asr, f"clips, {ort_name}", done, lambda more: checkpoint({**rows, **more})
        )
    )
    summary = summarise(rows)
    pairs = list(zip(rows[f"sesli {best}"], rows[ort_name], strict=True))
    _table(f"clips ({len(clips)} Common Voice clips)", summary)
    return {
        "source": str(CLIPS.relative_to(ROOT)),
        "n": len(clips),
        "summary": summary,
        "voice_ranking": ranking,
        "torch_vs_onnxruntime": {
            "voice": best,
            "n": len(clips),
            "same_transcript": sum(a["hypothesis"] == b["hypothesis"] for a, b in pairs),
            "audio_s_torch": round(sum(a["audio_s"] for a, _ in pairs), 2),
            "audio_s_onnxruntime": round(sum(b["audio_s"] for _, b in pairs), 2),
        },
        "rows": rows,
    }


def run_sentences(sents, synth, voices, asr, tmp: Path, espeak: bool, done, checkpoint) -> dict:
    """Part 2: text-only sentences, the given voices and espeak-ng."""
    systems = _speakers(synth, voices, tmp, espeak, real=False)
    rows = evaluate(sents, systems, asr, "sentences", done, checkpoint)
    summary = summarise(rows)
    _table(f"sentences ({len(sents)} text-only Common Voice sentences)", summary)
    return {
        "source": str(SENTENCES.relative_to(ROOT)),
        "selection": "lines with 4-15 words and no digits, not a clip sentence; ",
        "n": len(sents),
        "voices": voices,
        "summary": summary,
        "rows": rows,
    }


def _print_speed(sp: dict, load: dict) -> None:
    print(f"\nspeed ({sp['sentences']} sentences, voice {sp['voice']}, {THREADS} threads)")
    print(f"{'engine':14} {'RTF median':>11} {'RTF total':>10} {'load s':>7}")
    for name in ("sesli_torch", "onnxruntime"):
        print(f"{name:14} {sp[name]['rtf_median']:11.3f} {sp[name]['rtf_total']:10.3f} {load[name]:7.2f}")
    print(
        f"torch / onnxruntime RTF: median x{sp['ratio_torch_over_ort_median']:.2f}, "
        f"total x{sp['ratio_torch_over_ort_total']:.2f}"
    )


def _machine(espeak: bool) -> dict:
    import faster_whisper
    import onnxruntime

    version = ""
    if espeak:
        version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "faster_whisper": faster_whisper.__version__,
        "espeak_ng": version or None,
        "load_average_start": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=51, help="Common Voice clips (at most 51)")
    p.add_argument("--sentences", type=int, default=200, help="text-only sentences (0: skip)")
    p.add_argument("--voices", nargs="+", default=None, help="voice packs to try on the clips (default: all)")
    p.add_argument("--top", type=int, default=2, help="best voices of the clips to run on the sentences")
    p.add_argument("--speed-sentences", type=int, default=20, help="sentences timed (0: skip)")
    p.add_argument("--seed", type=int, default=0, help="sentence sample seed (-1: the first N lines)")
    p.add_argument("--load-repeats", type=int, default=3, help="model loads timed per engine")
    p.add_argument("--no-espeak", action="store_true")
    p.add_argument("--resume", action="store_true", help="reuse the rows already in --out (same text)")
    p.add_argument("--out", default=str(RESULT))
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    from sesli.eval.asr import load_asr
    from sesli.fileio import write_json
    from sesli.packaged import KOKORO_INT8, assemble

    espeak = not args.no_espeak and shutil.which("espeak-ng") is not None
    result: dict = {
        "benchmark": "kokoro_intelligibility",
        "command": shlex.join(sys.orig_argv),
        "machine": _machine(espeak),
        "note": (
            f"CPU only, {THREADS} threads for torch, onnxruntime and the ASR; the 2 cores were shared "
            "with other jobs during the run, so timings are under shared load (compared systems are "
            "interleaved utterance by utterance so the load falls on all of them alike)."
        ),
        "args": vars(args),
        "row_fields": "synth_s: seconds to make the audio (decoding, for the recordings); audio_s: its "
        "length; hypothesis: the ASR transcript; cer/wer: per utterance; char_edits/chars, "
        "word_edits/words: what the corpus rates add up; unknown: symbols the model could not say",
        "complete": False,
    }
    if not espeak:
        result["espeak_note"] = "espeak-ng skipped: " + (
            "--no-espeak" if args.no_espeak else "binary not found (apt-get install espeak-ng)"
        )
    onnx_path = assemble(KOKORO_INT8)
    synth, ort_engine, result["load_s"] = _load(onnx_path, args.load_repeats)
    voices = args.voices or sorted(synth.loaded.voices)
    # warm-up (oneDNN primitives, ORT arena), so the first row's synth_s is not set-up time
    synth.synthesize("Merhaba, nasılsınız?", voice=voices[0])
    ort_engine.synthesize("Merhaba, nasılsınız?", synth.voice_pack(voices[0]).cpu())
    asr = load_asr(None, cpu_threads=THREADS)
    result["asr"] = {
        "name": asr.name,
        "decoding": "faster-whisper int8, tr, beam 1, temperature 0, no_repeat_ngram_size 3",
    }
    done = previous_rows(Path(args.out)) if args.resume else {}

    def checkpoint(part: str):
        def save(rows: dict) -> None:
            write_json(args.out, {**result, part: {"partial": True, "rows": rows}})

        return save

    tmp = Path(tempfile.mkdtemp(prefix="sesli-intel-"))
    try:
        clips = _clips(args.clips)
        result["clips"] = run_clips(
            clips, synth, ort_engine, voices, asr, tmp, espeak, done, checkpoint("clips")
        )
        best = result["clips"]["voice_ranking"][0]
        result["best_voice"] = {"clips": best}
        write_json(args.out, result)

        seed = None if args.seed < 0 else args.seed
        pool = _sentences(max(args.sentences, args.speed_sentences), seed, {c["text"] for c in clips})
        if args.sentences > 0:
            top = result["clips"]["voice_ranking"][: max(1, args.top)]
            part = run_sentences(
                pool[: args.sentences], synth, top, asr, tmp, espeak, done, checkpoint("sentences")
            )
            part["selection"] += (
                "the first N" if seed is None else f"random.Random({seed}).sample, in file order"
            )
            result["sentences"] = part
            result["best_voice"]["sentences"] = _best(part["summary"], top)[0]
            write_json(args.out, result)

        if args.speed_sentences > 0:
            # a sample spread over the (alphabetically sorted) pool, not its first lines
            texts = [s["text"] for s in random.Random(1).sample(pool, min(args.speed_sentences, len(pool)))]
            result["speed"] = speed(synth, ort_engine, best, texts)
            _print_speed(result["speed"], result["load_s"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if done:
        reused = sum(
            (name, r["id"], r["text"]) in done
            for part in ("clips", "sentences")
            for name, rs in result.get(part, {}).get("rows", {}).items()
            for r in rs
        )
        result["resumed"] = {
            "rows_reused": reused,
            "note": "--resume: rows already in the output file (an earlier run of this script, with "
            "the same text, model, voice and ASR) were reused as they were; synthesis (noise off) and "
            "greedy ASR are deterministic, so only their synth_s timings come from another run",
        }
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["wall_s"] = round(time.perf_counter() - start, 1)
    result["complete"] = True
    print(f"\nbest voice: {result['best_voice']}; wall {result['wall_s'] / 60:.1f} min")
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
