"""The aligner on real speech with exact ground truth: Kokoro-82M's own Turkish, its own durations.

Kokoro synthesises each sentence from explicit per-token durations (frames of 600 samples), so
audio it speaks comes with exact phoneme boundaries. This benchmark synthesises N Common Voice
sentences with the real weights (the packaged int8 Kokoro-82M v1.0 imported into sesli, voice
jm_kumo, deterministic source), writes them as a prepared folder (24 kHz 16-bit WAVs + manifest,
untrimmed so the truth stays exact), runs sesli's target extraction on it exactly as ``sesli kokoro
finetune`` does (the aligner trained on these clips, then MAS durations), and compares the
extracted durations with Kokoro's: the error of every token boundary (cumulative duration) in
frames, where one frame is 25 ms. Goal: >= 90% of boundaries within one frame.

It also reports the aligner's raw boundaries shifted by 0-3 frames (the targets shift them by
``finetune.boundary_shift``) and, for each, a teacher-forced decode of the clips with Kokoro's
own voice: the mel L1 the fine-tune's loss would start from (with Kokoro's own durations it is
near zero), which is how the shift was chosen.

    .venv/bin/python bench/aligner_accuracy.py [--sentences 50] [--steps N] [--folder DIR]

Writes bench/results/aligner_accuracy.json.
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
RESULTS = ROOT / "bench" / "results" / "aligner_accuracy.json"
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
    np.savez(folder / "truth.npz", **truth)
    return truth


def boundary_errors(got: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> np.ndarray:
    """Signed error of every token boundary (cumulative duration, the clip's end excluded), frames."""
    out = []
    for uid, ref in truth.items():
        if uid in got:
            n = min(len(got[uid]), len(ref))
            out.append((np.cumsum(got[uid][:n]) - np.cumsum(ref[:n]))[:-1])
    return np.concatenate(out)


def summary(signed: np.ndarray) -> dict:
    err = np.abs(signed)
    return {"mean": float(err.mean()), "median": float(np.median(err)), "p90": float(np.percentile(err, 90)),
            "max": int(err.max()), "signed_mean": float(signed.mean()),
            **{f"within_{k}": float((err <= k).mean()) for k in (0, 1, 2, 4)}}  # fmt: skip


def raw_durations(folder: Path, aligner) -> dict[str, np.ndarray]:
    """The aligner's own MAS durations (no boundary shift) for every clip of the folder."""
    import torch

    from sesli.audio.features import mel_spectrogram
    from sesli.audio.io import load_audio
    from sesli.train.tasks.aligner import items_from_manifest

    out = {}
    for it in items_from_manifest(folder / "train.jsonl")[0]:
        wav, _ = load_audio(it.audio, sr=24000)
        wav = np.ascontiguousarray(wav[: len(wav) // 600 * 600], dtype=np.float32)
        mel = mel_spectrogram(torch.from_numpy(wav))
        with torch.no_grad():
            res = aligner(
                torch.tensor([it.tokens]), torch.tensor([len(it.tokens)]), mel, torch.tensor([mel.shape[-1]])
            )
        out[it.id] = res.durations[0].numpy()
    return out


def resynthesis(folder: Path, durations: dict[str, dict[str, np.ndarray]], n: int) -> dict[str, float]:
    """Teacher-forced decode (predicted F0/energy, no noise, Kokoro's own voice) of the first ``n``
    clips with each set of durations: log-mel L1 against the clip, as the fine-tune's mel loss."""
    import torch

    from sesli.audio.io import load_audio
    from sesli.inference import Synthesizer
    from sesli.losses.spectral import MelL1Loss
    from sesli.models.kokoro.defaults import load_packaged
    from sesli.train.tasks.aligner import items_from_manifest

    synth = Synthesizer(load_packaged(), noise=False)
    pack, mel, rows = synth.voice_pack("jm_kumo"), MelL1Loss(), {k: [] for k in durations}
    for it in items_from_manifest(folder / "train.jsonl")[0][:n]:
        wav, _ = load_audio(it.audio, sr=24000)
        target = torch.from_numpy(np.ascontiguousarray(wav[: len(wav) // 600 * 600], dtype=np.float32))[None]
        ids = torch.tensor([it.tokens])
        style = pack[min(len(it.tokens) - 2, pack.shape[0]) - 1, 0][None]
        for name, d in durations.items():
            with torch.no_grad():
                out = synth.model.forward_train(ids, torch.tensor([len(it.tokens)]),
                                                torch.from_numpy(np.asarray(d[it.id]))[None], style, noise=False)  # fmt: skip
            rows[name].append(float(mel(out.audio.reshape(1, -1), target, out.audio_lengths)))
    return {k: round(float(np.mean(v)), 4) for k, v in rows.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sentences", type=int, default=50)
    p.add_argument(
        "--steps", type=int, default=None, help="aligner training steps (default: the shipped one)"
    )
    p.add_argument("--folder", type=Path, default=None, help="reuse a folder an earlier run synthesised")
    p.add_argument("--resynthesis", type=int, default=12, help="clips for the teacher-forced decode check")
    args = p.parse_args()

    import torch

    from sesli.fileio import write_json
    from sesli.train.targets import shift_boundaries
    from sesli.train.tasks import kokoro_data
    from sesli.train.tasks.aligner import load_aligner
    from sesli.train.tasks.kokoro_finetune import load_run_config

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    if args.folder is not None and (args.folder / "truth.npz").is_file():
        folder = args.folder
        truth = dict(np.load(folder / "truth.npz"))
    else:
        folder = Path(tempfile.mkdtemp(prefix="sesli-align-"))
        truth = synthesise(folder, _sentences(args.sentences))
    synth_s = time.perf_counter() - t0
    print(f"folder: {folder}")
    over = [f"finetune.data={folder}"] + ([f"finetune.aligner_steps={args.steps}"] if args.steps else [])
    cfg = load_run_config(overrides=over).finetune
    t0 = time.perf_counter()
    cache = kokoro_data.load_targets(folder, cfg, quiet=True)  # exactly what fine-tuning does
    align_s = time.perf_counter() - t0
    shipped = {uid: np.asarray(cache[uid].durations) for uid in truth if uid in cache.ids}
    raw = raw_durations(folder, load_aligner(kokoro_data.aligner_run_dir(cfg, folder)))
    shifted = {k: {uid: shift_boundaries(d, k) for uid, d in raw.items()} for k in range(4)}
    sweep = {str(k): summary(boundary_errors(shifted[k], truth)) for k in range(4)}
    err = boundary_errors(shipped, truth)
    resyn = resynthesis(folder, {"kokoro_durations": truth, **{f"aligner_shift_{k}": shifted[k] for k in range(4)}},
                        args.resynthesis)  # fmt: skip
    result = {
        "what": "aligner boundary error on Kokoro-82M's own Turkish speech (exact durations known)",
        "command": " ".join(["python", *sys.argv]),
        "utterances": len(shipped),
        "boundaries": int(err.size),
        "frame_ms": 25.0,
        "aligner_steps": cfg.aligner_steps,
        "boundary_shift": cfg.boundary_shift,
        "shipped_targets": summary(err),
        "histogram_frames": {str(k): int((np.abs(err) == k).sum()) for k in range(0, 6)}
        | {">5": int((np.abs(err) > 5).sum())},
        "by_boundary_shift": sweep,
        "resynthesis_mel_l1": resyn,
        "resynthesis_clips": args.resynthesis,
        "goal_within_1_frame": 0.9,
        "synthesis_s": round(synth_s, 1),
        "aligner_and_targets_s": round(align_s, 1),
        "machine": {"platform": platform.platform(), "torch_threads": 2},
    }
    write_json(RESULTS, result)
    b = result["shipped_targets"]
    print(f"{len(shipped)} utterances, {err.size} boundaries: mean {b['mean']:.2f} frames, median {b['median']:.0f}, "
          f"p90 {b['p90']:.1f}, within 1 frame {b['within_1']:.1%} (goal 90%)")  # fmt: skip
    for k, row in sweep.items():
        print(f"  shift {k}: within 1 frame {row['within_1']:.1%}, signed mean {row['signed_mean']:+.2f}, "
              f"resynthesis mel L1 {resyn[f'aligner_shift_{k}']:.3f}")  # fmt: skip
    print(f"  Kokoro's own durations: resynthesis mel L1 {resyn['kokoro_durations']:.3f}")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
