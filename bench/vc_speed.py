"""Voice-conversion speed: convert RTF split by stage, and training s/step with peak memory.

RANDOM WEIGHTS: every model here is freshly initialised (no HuBERT/ContentVec or RVC weights can
be had on this machine), so the converted audio is noise and only the speed and memory figures
mean anything. Compute does not depend on the weight values.

Convert (``sesli.inference.vc.VoiceConverter.convert``, its ``ConvertResult.timings``): 10 s of
real speech (Common Voice Turkish clips of ``cv-tr-sample50`` concatenated in name order, given at
16 kHz), on ``--threads`` torch / faiss threads, with RVC's convert defaults (pitch 0, index_rate
0.75, protect 0.33, filter_radius 3, rms_mix_rate 0.25), f0 by harvest and by dio (RVC's WebUI
defaults to rmvpe, which needs weights; harvest and dio are pyworld, no weights), for

* ``tiny``: the tiny preset (16 kHz) with the tiny content encoder (2-layer random HuBERT);
* ``v2-40k``: the full RVC v2 40 kHz generator with a HuBERT-base-size random encoder
  (transformers' ``HubertConfig()`` defaults: 12 layers, 768 hidden, 3072 FFN, 512-channel
  convolutional front end, ~94 M parameters).

Both use a retrieval index of ``--index-vectors`` random 768-d vectors (``build_index``: IVF,Flat,
nprobe 1, as RVC). Each setting runs once to warm up, then ``--repeats`` times; the figures are
the medians per stage. RTF = total seconds / 10 s.

Training (the task's ``train_step``, D then G, on ``LocalAccelerator("cpu")`` in fp32): batch 8 of
3.7 s pieces (RVC's slice length) cut from the same speech, at 40 kHz (the tiny preset reads the
16 kHz copies); pitch by dio, content features random 768-d of HuBERT's frame count (their values
do not change the cost). Shipped configs ``tiny`` and ``v2-40k`` (RVC's 9-judge discriminator).
s/step is the median over the steps after the first (data loading included; ``step_only`` leaves
it out). Each case runs in its own process, so its peak RSS (``ru_maxrss``) is its own.

The machine is shared: the load average before and after each case is in the JSON.

    .venv/bin/python bench/vc_speed.py [--quick] [--threads 2] [--repeats 3]

``--quick`` runs the tiny preset only. Writes ``bench/results/vc_speed.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "vc_speed.json"
DATA_DIRS = [ROOT / "data" / "cv-tr-sample50", ROOT.parent / "shared" / "data" / "cv-tr-sample50"]
SECONDS = 10.0
PIECE_S = 3.7  # RVC's preprocess slice length
BATCH = 8
STAGES = ("features", "f0", "index", "generate", "total")
WEIGHTS_NOTE = (
    "random weights (no pretrained HuBERT/ContentVec/RVC weights here): speed and memory figures only"
)
RVC_DEFAULT_F0 = (
    "rmvpe (RVC-Project/Retrieval-based-Voice-Conversion-WebUI infer-web.py, convert tab: "
    "choices pm, harvest, crepe, rmvpe; value rmvpe). harvest and dio run without weights"
)


def speech(sr: int, seconds: float) -> tuple[np.ndarray, list[str]]:
    """Real speech: cv-tr-sample50 clips in name order, resampled to ``sr``, joined, cut to ``seconds``."""
    from sesli.audio.io import load_audio, resample

    folder = next((d / "clips" for d in DATA_DIRS if (d / "clips").is_dir()), None)
    if folder is None:
        raise SystemExit(f"no speech clips: expected cv-tr-sample50/clips in one of {DATA_DIRS}")
    parts, names, n = [], [], 0
    for path in sorted(folder.glob("*.mp3")):
        x, rate = load_audio(path, mono=True)
        x = resample(x, rate, sr)
        parts.append(x)
        names.append(path.name)
        n += len(x)
        if n >= seconds * sr:
            break
    return np.concatenate(parts)[: int(seconds * sr)].astype(np.float32), names


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:
        pass


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------- convert
def content_encoder(preset: str):
    from sesli.models.vc.content import ContentEncoder
    from sesli.models.vc.tiny import tiny_content_encoder

    if preset == "tiny":
        return tiny_content_encoder()
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    model = HubertModel(HubertConfig(mask_time_prob=0.0)).eval()  # HuBERT base geometry
    return ContentEncoder(model, version="v2").eval()


def convert_case(preset_name: str, args: argparse.Namespace) -> dict:
    import torch

    from sesli.inference.vc import load_converter
    from sesli.models.vc.config import preset
    from sesli.models.vc.index import build_index
    from sesli.models.vc.model import VcModel

    set_threads(args.threads)
    x16, _ = speech(16000, SECONDS)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = VcModel(preset(preset_name)).eval()
    encoder = content_encoder(preset_name)
    build_models_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectors = np.random.default_rng(0).standard_normal((args.index_vectors, 768)).astype(np.float32)
    index = build_index(vectors)
    build_index_s = time.perf_counter() - t0
    vc = load_converter(model, index=index, content_model=encoder)
    out = {
        "preset": preset_name,
        "sample_rate": model.config.sample_rate,
        "generator_params": n_params(model),
        "content_encoder": "tiny_content_encoder() (2 layers)"
        if preset_name == "tiny"
        else "HubertModel(HubertConfig()) random: HuBERT base size (3072 FFN; tiny_hubert(layers=12, "
        "conv_dim=512) has a 1536 FFN, 66 M parameters)",
        "content_encoder_params": n_params(encoder),
        "index": f"{index.ntotal} random 768-d vectors, {type(index).__name__}, nprobe 1",
        "build_models_s": round(build_models_s, 2),
        "build_index_s": round(build_index_s, 2),
        "f0": {},
    }
    for method in args.f0:
        vc.convert(x16, 16000, f0_method=method)  # warm-up
        runs = [vc.convert(x16, 16000, f0_method=method).timings for _ in range(args.repeats)]
        med = {k: round(statistics.median(r[k] for r in runs), 3) for k in STAGES}
        out["f0"][method] = {
            "median_s": med,
            "rtf": round(med["total"] / SECONDS, 4),
            "runs_s": {k: [round(r[k], 3) for r in runs] for k in STAGES},
        }
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return out


# ---------------------------------------------------------------------------------- training
def make_experiment(root: Path, pieces: int) -> Path:
    """A 40 kHz v2 experiment of ``pieces`` 3.7 s real-speech pieces, with its 16 kHz copies,
    dio pitch and random 768-d features of HuBERT's frame count."""
    import soundfile as sf

    from sesli.audio.io import resample
    from sesli.audio.pitch import coarse_f0, extract_f0
    from sesli.data.vc_experiment import Experiment

    sr = 40000
    audio, names = speech(sr, pieces * PIECE_S)
    exp = Experiment.create(root, sample_rate=sr, name="bench")
    for d in (exp.gt_dir, exp.wav16k_dir, exp.f0_coarse_dir, exp.f0_hz_dir, exp.feature_dir):
        d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n = int(PIECE_S * sr)
    for i in range(pieces):
        wav = audio[i * n : (i + 1) * n]
        w16 = resample(wav, sr, 16000)
        stem = f"0_{i}"
        sf.write(exp.gt_dir / f"{stem}.wav", wav, sr, subtype="FLOAT")
        sf.write(exp.wav16k_dir / f"{stem}.wav", w16, 16000, subtype="FLOAT")
        f0 = extract_f0(w16, "dio")
        np.save(exp.f0_hz_dir / f"{stem}.npy", f0.astype(np.float32))
        np.save(exp.f0_coarse_dir / f"{stem}.npy", coarse_f0(f0))
        frames = (len(w16) - 400) // 320 + 1
        np.save(exp.feature_dir / f"{stem}.npy", rng.standard_normal((frames, 768)).astype(np.float32))
    exp.record("prepare", {"bench": True}, {"pieces": pieces, "seconds": pieces * PIECE_S, "clips": names})
    exp.record("extract", {"content_model": "random"}, {"clips": pieces})
    return root


def train_case(config: str, steps: int, args: argparse.Namespace) -> dict:
    import torch

    from sesli.data.vc_experiment import Experiment
    from sesli.train.local import LocalAccelerator
    from sesli.train.task import StepContext
    from sesli.train.tasks.vc import VcTask, load_run_config

    set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        exp = Experiment.open(make_experiment(Path(tmp) / "exp", BATCH))
        cfg = load_run_config(
            config, [f"train.batch_size={BATCH}", "vc.val_clips=0", "train.mixed_precision=no"]
        )
        task = VcTask(cfg.vc, exp, quiet=True)
        torch.manual_seed(0)
        acc = LocalAccelerator("cpu")
        built = task.build(acc, cfg.train)
        for m in built.modules.values():
            m.train()
        ctx = StepContext(acc, built, cfg.train)
        rss_built = peak_rss_mib()
        whole, only = [], []  # seconds per step with / without fetching the batch
        batches = iter(built.train_data)
        while len(whole) < steps:
            t0 = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:  # one epoch is one step here: start the next
                batches = iter(built.train_data)
                batch = next(batches)
            t1 = time.perf_counter()
            task.train_step(batch, ctx)
            t2 = time.perf_counter()
            ctx.global_step += 1
            whole.append(t2 - t0)
            only.append(t2 - t1)
        gen, disc = built.modules["gen"], built.modules["disc"]
        after_first = whole[1:] or whole
        return {
            "config": config,
            "batch_size": BATCH,
            "piece_s": PIECE_S,
            "segment_size": gen.config.segment_size,
            "sample_rate": gen.config.sample_rate,
            "generator_params": n_params(gen),
            "discriminator_params": n_params(disc),
            "steps": steps,
            "step_s": [round(s, 2) for s in whole],
            "s_per_step": round(statistics.median(after_first), 3),
            "step_only_s_per_step": round(statistics.median(only[1:] or only), 3),
            "peak_rss_mib_after_build": round(rss_built, 1),
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }


# ---------------------------------------------------------------------------------- driver
MARK = "VC_SPEED_RESULT "


def run_worker(spec: str, args: argparse.Namespace) -> dict:
    """Run one case in a fresh process (its own peak RSS); returns its result dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", spec, "--f0", *args.f0]
    for flag in ("threads", "repeats", "index_vectors"):
        cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"case {spec} failed (exit {proc.returncode})")
    out = json.loads(lines[-1][len(MARK) :])
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    out["load_avg_1_5_15_before"] = [round(v, 2) for v in load_before]
    out["load_avg_1_5_15_after"] = [round(v, 2) for v in os.getloadavg()]
    print(f"  {spec}: {out['wall_s']} s", flush=True)
    return out


def table(result: dict) -> str:
    head = f"convert {SECONDS:g} s of speech, {result['threads']} threads, median of {result['repeats']}"
    rows = [
        f"{head} ({WEIGHTS_NOTE})",
        f"{'preset':8} {'f0':8}" + "".join(f"{s:>10}" for s in (*STAGES, "RTF")),
    ]
    for case in result["convert"]:
        for method, r in case["f0"].items():
            cells = [r["median_s"][s] for s in STAGES] + [r["rtf"]]
            rows.append(f"{case['preset']:8} {method:8}" + "".join(f"{v:10.3f}" for v in cells))
    rows.append("")
    rows.append(f"train, batch {BATCH} of {PIECE_S} s pieces")
    rows.append(f"{'config':8} {'steps':>5} {'s/step':>8} {'peak RSS MiB':>13}")
    for case in result["train"]:
        rows.append(
            f"{case['config']:8} {case['steps']:5d} {case['s_per_step']:8.2f} {case['peak_rss_mib']:13.0f}"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the tiny preset only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--index-vectors", type=int, default=20000)
    parser.add_argument("--f0", nargs="+", default=["harvest", "dio"])
    parser.add_argument("--tiny-steps", type=int, default=8)
    parser.add_argument("--full-steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # convert:PRESET or train:CONFIG:STEPS
    args = parser.parse_args()

    if args.worker:
        kind, name, *rest = args.worker.split(":")
        out = convert_case(name, args) if kind == "convert" else train_case(name, int(rest[0]), args)
        print(MARK + json.dumps(out), flush=True)
        return

    import torch

    presets = ["tiny"] if args.quick else ["tiny", "v2-40k"]
    _, clips = speech(16000, SECONDS)
    start = time.perf_counter()
    load_start = os.getloadavg()
    print(f"vc_speed: {', '.join(presets)}; {WEIGHTS_NOTE}", flush=True)
    convert = [run_worker(f"convert:{p}", args) for p in presets]
    steps = {"tiny": args.tiny_steps, "v2-40k": args.full_steps}
    train = [run_worker(f"train:{p}:{steps[p]}", args) for p in presets]
    import faiss

    result = {
        "weights": WEIGHTS_NOTE,
        "audio": {
            "seconds": SECONDS,
            "source": "cv-tr-sample50 (Common Voice Turkish), clips joined in name order",
            "clips": clips,
            "input_rate": 16000,
        },
        "threads": args.threads,
        "repeats": args.repeats,
        "warmup_runs": 1,
        "convert_options": "RVC defaults: pitch 0, index_rate 0.75, protect 0.33, filter_radius 3, rms_mix_rate 0.25",
        "rvc_default_f0_method": RVC_DEFAULT_F0,
        "convert": convert,
        "train": train,
        "quick": args.quick,
        "total_wall_s": round(time.perf_counter() - start, 1),
        "load_avg_1_5_15_start": [round(v, 2) for v in load_start],
        "load_avg_1_5_15_end": [round(v, 2) for v in os.getloadavg()],
        "torch_version": torch.__version__,
        "faiss_version": faiss.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(result))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
