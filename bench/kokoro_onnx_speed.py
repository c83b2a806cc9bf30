"""sesli's CPU paths for Kokoro-82M side by side: torch fp32, sesli's ONNX export (fp32, fp16, int8)
and kokoro-onnx's own runtime on its int8 file, in one interleaved run on the same phonemes.

For each Common Voice sentence (data/cv-tr-sample50) every engine says the same sesli phonemes with
the same voice pack; the order of engines rotates per sentence. Reported: RTF (synthesis seconds /
audio seconds, after one warm-up call each); time to first audio (TTFA: rendering the first chunk
the server plans, :func:`sesli.inference.plan.plan_speech`, p50 over sentences); Whisper-base CER of
what each said (noise off for torch, deterministic graphs for ONNX), so a faster path that says less
shows up here; and each graph's size on disk.

    python bench/kokoro_onnx_speed.py [--sentences 30] [--threads 2] [--no-timing]

Writes bench/results/kokoro_onnx_speed.json. kokoro-onnx (MIT; pulls the GPL phonemizer, which
sesli never imports) is a test/bench extra: `make install` puts it in .venv.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def engines(threads: int) -> dict:
    """name -> callable(phonemes, pack, speed) -> audio; all on the packaged Kokoro-82M v1.0."""
    import sesli
    from sesli.export.kokoro import cached_export
    from sesli.inference.base import RenderItem
    from sesli.inference.registry import load_speaker

    torch_synth = sesli.load(None, noise=False)
    out = {"sesli torch fp32": lambda ph, pack: torch_synth.render([RenderItem(ph, pack, 1.0)])[0].audio}
    sizes = {}
    for dtype in ("fp32", "fp16", "int8"):
        graph, _ = cached_export(None, dtype=dtype)
        sizes[f"sesli onnx {dtype}"] = round(graph.stat().st_size / 1e6, 1)
        synth = load_speaker(graph, backend="onnx", threads=threads)
        out[f"sesli onnx {dtype}"] = lambda ph, pack, s=synth: s.render([RenderItem(ph, pack, 1.0)])[0].audio
    try:
        import kokoro_onnx
        import onnxruntime as ort

        from sesli.packaged import KOKORO_INT8, assemble

        graph = assemble(KOKORO_INT8)
        sizes["kokoro-onnx int8 (its file)"] = round(graph.stat().st_size / 1e6, 1)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        voices = Path(tempfile.mkdtemp()) / "voices.npz"  # kokoro-onnx reads voices from a file
        np.savez(voices, v=torch_synth.voice_pack(None).cpu().numpy())
        tts = kokoro_onnx.Kokoro.from_session(session, str(voices), vocab_config={"vocab": torch_synth.vocab})

        def upstream(ph, pack):
            audio, _ = tts.create(ph, pack.cpu().numpy(), is_phonemes=True, trim=False)
            return np.asarray(audio, np.float32)

        out["kokoro-onnx int8 (its file)"] = upstream
    except ImportError as err:
        print(f"kokoro-onnx not installed ({err}): its row is left out")
    return out, torch_synth, sizes


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sentences", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "kokoro_onnx_speed.json"))
    args = p.parse_args()
    import torch

    from sesli.data.sources.commonvoice import CommonVoiceSource
    from sesli.eval.asr import load_asr
    from sesli.eval.metrics import char_errors

    torch.set_num_threads(args.threads)
    from sesli.inference.plan import plan_speech

    runs, synth, sizes = engines(args.threads)
    pack = synth.voice_pack(None)
    texts = [it.text for it in CommonVoiceSource(ROOT / "data" / "cv-tr-sample50")][: args.sentences]
    phonemes = [synth.speech_phonemes(t)[0] for t in texts]
    firsts = [plan_speech(synth, t).chunks[0].phonemes for t in texts]
    for run in runs.values():  # warm-up
        run(phonemes[0], pack)
    spent = dict.fromkeys(runs, 0.0)
    audio_s = dict.fromkeys(runs, 0.0)
    said: dict[str, list[np.ndarray]] = {name: [] for name in runs}
    ttfa: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for k, ph in enumerate(phonemes):
        for name in names[k % len(names) :] + names[: k % len(names)]:  # rotate the order
            t0 = time.perf_counter()
            runs[name](firsts[k], pack)
            t1 = time.perf_counter()
            audio = runs[name](ph, pack)
            spent[name] += time.perf_counter() - t1
            ttfa[name].append(t1 - t0)
            audio_s[name] += len(audio) / 24000
            said[name].append(audio)
    load = round(os.getloadavg()[0], 2)  # other work on the machine skews the timings
    asr = load_asr()
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": f"{platform.machine()}, threads {args.threads}",
              "load_average_1m_after_timing": load, "sentences": len(texts),
              "engines": {}}  # fmt: skip
    for name in runs:
        counts = [char_errors(t, asr.transcribe(a, 24000)) for t, a in zip(texts, said[name], strict=True)]
        cer = sum(c.edits for c in counts) / sum(c.ref_len for c in counts)
        result["engines"][name] = {"rtf": round(spent[name] / audio_s[name], 3), "audio_s": round(audio_s[name], 1),
                                   "ttfa_p50_s": round(float(np.median(ttfa[name])), 3), "cer": round(cer, 4),
                                   "size_mb": sizes.get(name)}  # fmt: skip
    base = result["engines"]["sesli torch fp32"]["rtf"]
    for name, row in result["engines"].items():
        row["speedup_vs_torch"] = round(base / row["rtf"], 2)
        print(f"{name:28} RTF {row['rtf']:.3f}  x{row['speedup_vs_torch']:.2f} vs torch  "
              f"TTFA {row['ttfa_p50_s']:.3f} s  CER {row['cer']:.3f}  {row['size_mb']} MB")  # fmt: skip
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
