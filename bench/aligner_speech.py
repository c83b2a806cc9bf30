"""The aligner on real speech with exact ground truth: Kokoro-82M's own Turkish, its own durations.

Kokoro synthesises each sentence from explicit per-token durations (frames of 600 samples), so
audio it speaks comes with exact phoneme boundaries. This benchmark synthesises N Common Voice
sentences with the real weights (the packaged int8 Kokoro-82M v1.0 imported into sesli, voice
jm_kumo, deterministic source), writes them as a prepared folder (24 kHz 16-bit WAVs + manifest,
untrimmed so the truth stays exact), runs sesli's target extraction on it exactly as ``sesli kokoro
finetune`` does (the aligner trained on these clips, then MAS durations), and compares the
extracted durations with Kokoro's: the error of every token boundary (cumulative duration) in
frames, where one frame is 25 ms. Goal: >= 90% of boundaries within one frame.

    .venv/bin/python bench/aligner_speech.py [--sentences 50] [--steps 300]

Writes bench/results/aligner_speech.json.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "aligner_speech.json"
SENTENCES = ROOT / "data" / "cv_tr_sentences.txt"


def _sentences(n: int) -> list[str]:
    """Every 50th line with 4-12 words and no digits: a deterministic spread over the sources."""
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()
    keep = [s for s in lines[::50] if 4 <= len(s.split()) <= 12 and not any(c.isdigit() for c in s)]
    return keep[:n]


def synthesise(folder: Path, texts: list[str]) -> dict[str, np.ndarray]:
    """Write the prepared folder; return id -> Kokoro's durations (pads included)."""
    import soundfile as sf
    import torch
    from tqdm import tqdm

    from sesli.data.manifest import Utterance, write_manifest
    from sesli.inference import Synthesizer
    from sesli.models.kokoro.defaults import load_packaged

    synth = Synthesizer(load_packaged(), noise=False)
    pack = synth.voice_pack("jm_kumo")
    truth, utts = {}, []
    (folder / "wavs").mkdir(parents=True, exist_ok=True)
    for k, text in enumerate(tqdm(texts, desc="synthesise", unit="sent")):
        chunks, _, _ = synth.prepare(text)
        if len(chunks) != 1:
            continue
        ids = [0, *(synth.vocab[c] for c in chunks[0].phonemes), 0]
        style = pack[min(len(ids) - 2, pack.shape[0]) - 1, 0][None]
        with torch.inference_mode():
            out = synth.model.infer(torch.tensor([ids]), style, 1.0, noise=False)
        audio = out.audio[0, : int(out.audio_lengths[0])].numpy()
        uid = f"kokoro_{k:03d}"
        sf.write(folder / "wavs" / f"{uid}.wav", audio, 24000, subtype="PCM_16")
        truth[uid] = out.durations[0].numpy().astype(np.int64)
        utts.append(Utterance(id=uid, audio_path=f"wavs/{uid}.wav", duration=len(audio) / 24000,
                              sample_rate=24000, speaker="jm_kumo", text=text, normalized_text=text,
                              phonemes=chunks[0].phonemes))  # fmt: skip
    write_manifest(folder / "train.jsonl", utts)
    write_manifest(folder / "val.jsonl", [])
    return truth


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sentences", type=int, default=50)
    p.add_argument("--steps", type=int, default=300, help="aligner training steps (the shipped default)")
    args = p.parse_args()

    import torch

    from sesli.fileio import write_json
    from sesli.train.tasks import kokoro_data
    from sesli.train.tasks.kokoro_finetune import load_run_config

    torch.set_num_threads(2)
    folder = Path(tempfile.mkdtemp(prefix="sesli-align-"))
    t0 = time.perf_counter()
    truth = synthesise(folder, _sentences(args.sentences))
    synth_s = time.perf_counter() - t0
    cfg = load_run_config(
        overrides=[f"finetune.data={folder}", f"finetune.aligner_steps={args.steps}"]
    ).finetune
    t0 = time.perf_counter()
    cache = kokoro_data.load_targets(folder, cfg, quiet=True)
    align_s = time.perf_counter() - t0
    errors, exact, n_tokens = [], 0, 0
    for uid, ref in truth.items():
        if uid not in cache.ids:
            continue
        got = np.asarray(cache[uid].durations)
        n = min(len(got), len(ref))
        # boundaries between tokens: cumulative durations, the last one (the clip's end) excluded
        errors.append(np.abs(np.cumsum(got[:n]) - np.cumsum(ref[:n]))[:-1])
        exact += int((got[:n] == ref[:n]).sum())
        n_tokens += n
    err = np.concatenate(errors)
    share = {f"within_{k}": float((err <= k).mean()) for k in (0, 1, 2, 4)}
    result = {
        "what": "aligner boundary error on Kokoro-82M's own Turkish speech (exact durations known)",
        "command": " ".join(["python", *sys.argv]),
        "utterances": len(errors),
        "boundaries": int(err.size),
        "frame_ms": 25.0,
        "boundary_error_frames": {
            "mean": float(err.mean()),
            "median": float(np.median(err)),
            "p90": float(np.percentile(err, 90)),
            "max": int(err.max()),
            **share,
        },  # fmt: skip
        "histogram_frames": {str(k): int((err == k).sum()) for k in range(0, 6)}
        | {">5": int((err > 5).sum())},
        "durations_exact": exact / max(n_tokens, 1),
        "goal_within_1_frame": 0.9,
        "synthesis_s": round(synth_s, 1),
        "aligner_and_targets_s": round(align_s, 1),
        "aligner_steps": args.steps,
        "machine": {"platform": platform.platform(), "torch_threads": 2},
    }
    write_json(RESULTS, result)
    b = result["boundary_error_frames"]
    print(f"{result['utterances']} utterances, {err.size} boundaries: mean {b['mean']:.2f} frames, "
          f"median {b['median']:.0f}, p90 {b['p90']:.1f}, within 1 frame {b['within_1']:.1%} (goal 90%)")  # fmt: skip
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
