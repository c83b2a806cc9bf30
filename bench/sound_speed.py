"""Sound-model speed and early learning: 10 s of 48 kHz audio per family, training s/step and memory,
reconstruction after a fixed CPU budget.

Everything runs on ``--threads`` (2) torch threads and onnxruntime ``intra_op_num_threads`` (inter-op 1),
each case in its own process, so its peak RSS (``ru_maxrss``) is its own. The machine is shared:
the load average before and after each case is in the JSON.

1. **Generate** (RANDOM WEIGHTS: speed only; compute does not depend on the weight values): 10 s of
   48 kHz audio labelled ``rain`` (the models are conditioned on the calming corpus's 5 labels), from
   the full presets freshly initialised (seed 0), at the models' 16 kHz, then resampled to 48 kHz by
   soxr (``sesli.audio.io.resample``, HQ). Stages, timed separately:

   * ``prior``: the latent frames. VQ-VAE: a full-size :class:`LatentPrior` (``configs/sound/prior.yaml``:
     6 layers, width 384, 8 heads, context = the vqvae crop, 32 frames) sampling both code streams
     autoregressively with its key/value cache (temperature 1); VAE / VAE-GAN: N(0, I) draws, and
     in ``vaegan+prior`` the same prior (context 64 frames) over Gaussian latent frames.
   * ``decode``: ``SoundModel.decode`` / ``decode_codes`` (torch eager), or ``decoder.onnx`` of
     :func:`sesli.export.sound.export_sound` in onnxruntime.
   * ``vocode`` (spectrogram models): fast Griffin-Lim, 32 iterations (torch, ``griffin_lim``), or the
     full neural vocoder (``configs/sound/vocoder.yaml``: HiFi-GAN V1 from the n_fft 1024 / hop 256
     log-magnitude), in torch or as ``vocoder.onnx``.
   * ``resample``: 16 kHz -> 48 kHz.

   Cases: ``vae`` + Griffin-Lim, ``vae`` + HiFi-GAN, ``vqvae`` + prior + Griffin-Lim, ``vae-wave``,
   ``vaegan``, ``vaegan`` + prior. Each runs once to warm up, then ``--repeats`` times; figures are
   medians per stage. The goal is <= 2 s for 10 s; RAVE decodes 10 s in 0.15 s on this CPU. The
   prior runs in torch in both runtimes (it is not part of the export), and so does Griffin-Lim. A
   prior is also timed on one thread (``prior_1_thread_median_s``): its loop of small ops can lose
   more to thread hand-offs than it gains from a second thread.

2. **Train**: the task's ``train_step`` (``SoundTask``; a VAE-GAN's adversarial phase steps its D then
   G) on ``LocalAccelerator("cpu")`` in fp32, with each shipped config's batch size and segment, on
   the generated calming corpus, full batches only (an epoch's smaller last batch is passed over),
   the optimizers zeroed after each step as the engine does. Every tiny and full preset (``vae``,
   ``vae-wave`` = ``vae.yaml`` with ``sound.preset=vae-wave``, ``vqvae``, ``vaegan``); the VAE-GANs
   also in their adversarial phase (``sound.adversarial_after=0``). s/step is the median over the
   steps after the first quarter (at least one: a fresh process's first steps run slow), data
   loading included (``step_only`` leaves it out); ``--tiny-steps`` (20) and ``--full-steps`` (3).

3. **Reconstruction after a fixed CPU budget**: each tiny preset (``vae-tiny``, ``vae-wave-tiny`` =
   ``vae-tiny.yaml`` with ``sound.preset=vae-wave-tiny``, ``vqvae-tiny``, ``vaegan-tiny``) trains with
   its shipped config for ``--budget`` wall-clock seconds of training steps (the engine's loop minus
   validation, checkpoints and logging; the tiny configs' learning rates are constant), from seed 0;
   the budget includes the process's first, slower steps. At step 0 and at the end, every
   validation clip of the prepared corpus (whole clips, not crops) is encoded (posterior mean /
   quantised), decoded and, for spectrogram models, inverted by Griffin-Lim (32 iterations, seed 0);
   the figures are the means over the clips of ``multi_resolution_stft_distance`` and
   ``log_spectral_distance`` (``sesli.eval.sound_metrics``) against the clip.
   ``griffin_lim_floor`` is Griffin-Lim of the clips' own log-magnitude: the best a spectrogram
   model can reach through it. The VQ-VAE's codebook usage and perplexity are counted over the
   validation clips' codes.

The corpus (``write_calming_corpus``: rain, waves, wind, drone, bells; ``--corpus-per-label`` clips of
``--corpus-seconds`` each, seed 0) is prepared by ``prepare_sound`` (16 kHz, val_split 0.2, seed 0)
into a fresh temporary folder on every run, so nothing is ever resumed from an earlier one.

    .venv/bin/python bench/sound_speed.py [--quick] [--threads 2] [--repeats 3] [--budget 90]

``--quick``: tiny presets only (generation with the tiny prior and vocoder), 4 training steps, a 10 s
budget, a small corpus. Writes ``bench/results/sound_speed.json`` (``--out``) and a plot of the
generation stages next to it (``.png``).
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
RESULT = ROOT / "bench" / "results" / "sound_speed.json"
SECONDS = 10.0
OUT_RATE = 48000
GL_ITERS = 32
GOAL_S = 2.0
STAGES = ("prior", "decode", "vocode", "resample", "total")
WEIGHTS_NOTE = "random weights: speed only (generation); the training figures are real"
LOADED = 2.5  # 1-minute load average above which the figures are flagged (2 cores)

# name -> (preset, vocoder, prior); vocoder "gl" Griffin-Lim, "hifigan" the neural one, "" none needed;
# a VQ-VAE always samples through its prior, a VAE with one only when asked (else N(0, I) frames)
GEN_FULL = {
    "vae+gl": ("vae", "gl", False),
    "vae+hifigan": ("vae", "hifigan", False),
    "vqvae+prior+gl": ("vqvae", "gl", True),
    "vae-wave": ("vae-wave", "", False),
    "vaegan": ("vaegan", "", False),
    "vaegan+prior": ("vaegan", "", True),
}
GEN_QUICK = {
    "vae-tiny+gl": ("vae-tiny", "gl", False),
    "vae-tiny+hifigan": ("vae-tiny", "hifigan", False),
    "vqvae-tiny+prior+gl": ("vqvae-tiny", "gl", True),
    "vae-wave-tiny": ("vae-wave-tiny", "", False),
    "vaegan-tiny": ("vaegan-tiny", "", False),
    "vaegan-tiny+prior": ("vaegan-tiny", "", True),
}
# train case -> (shipped config, overrides)
TRAIN_TINY = {
    "vae-tiny": ("vae-tiny", []),
    "vae-wave-tiny": ("vae-tiny", ["sound.preset=vae-wave-tiny"]),
    "vqvae-tiny": ("vqvae-tiny", []),
    "vaegan-tiny": ("vaegan-tiny", []),
    "vaegan-tiny:adversarial": ("vaegan-tiny", ["sound.adversarial_after=0"]),
}
TRAIN_FULL = {
    "vae": ("vae", []),
    "vae-wave": ("vae", ["sound.preset=vae-wave"]),
    "vqvae": ("vqvae", []),
    "vaegan": ("vaegan", []),
    "vaegan:adversarial": ("vaegan", ["sound.adversarial_after=0"]),
}
RECON = {name: TRAIN_TINY[name] for name in ("vae-tiny", "vae-wave-tiny", "vqvae-tiny", "vaegan-tiny")}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def ort_session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------------------------- generate
def build_generation(preset_name: str, vocoder: str, with_prior: bool):
    """The random-init sound model (5 labels), its prior and its vocoder (``hifigan``)."""
    import torch

    from sesli.models.sound.config import preset
    from sesli.models.sound.model import SoundModel
    from sesli.models.sound.prior import LatentPrior
    from sesli.models.sound.vocoder import SoundVocoder, VocoderConfig
    from sesli.testing.sound_corpus import CALMING_LABELS
    from sesli.train.tasks import sound, sound_prior, sound_vocoder

    tiny = preset_name.endswith("-tiny")
    torch.manual_seed(0)
    model = SoundModel(preset(preset_name, labels=list(CALMING_LABELS))).eval()
    cfg = model.config
    prior = voc = None
    if with_prior or cfg.family == "vqvae":
        prior_cfg = sound_prior.load_run_config("prior-tiny" if tiny else "prior").prior
        segment = sound.load_run_config(preset_name).sound.segment  # the shipped crop: the prior's context
        frames = -(-segment // cfg.samples_per_frame)
        prior = LatentPrior(sound_prior.prior_config(prior_cfg, cfg, frames)).eval()
        # a Gaussian prior's normalisation buffers stay 0 / 1: their values do not change the cost
    if vocoder == "hifigan":
        voc_cfg = sound_vocoder.load_run_config("vocoder-tiny" if tiny else "vocoder").vocoder
        voc = SoundVocoder(VocoderConfig.from_dict(voc_cfg.model)).eval()
        voc.check_fits(cfg)
    return model, prior, voc


def generate_case(name: str, args: argparse.Namespace) -> dict:
    import torch

    from sesli.audio.features import griffin_lim
    from sesli.audio.io import resample
    from sesli.export.sound import export_sound

    set_threads(args.threads)
    preset_name, vocoder, with_prior = (GEN_QUICK | GEN_FULL)[name]
    t0 = time.perf_counter()
    model, prior, voc = build_generation(preset_name, vocoder, with_prior)
    build_s = time.perf_counter() - t0
    c = model.config
    sr, n = c.sample_rate, int(SECONDS * c.sample_rate)
    frames = -(-n // c.samples_per_frame)
    label = torch.tensor([0])  # "rain"
    codes = c.family == "vqvae"

    def latents(seed: int):
        g = torch.Generator().manual_seed(seed)
        if prior is not None:
            return prior.sample(label, frames, temperature=1.0, generator=g)
        return torch.randn(1, c.latent_dim, frames, generator=g)

    def vocode(log_mag: torch.Tensor, seed: int) -> np.ndarray:
        if voc is not None:
            return voc(log_mag)[0, 0].numpy()
        g = torch.Generator().manual_seed(seed)
        return griffin_lim(log_mag, c.n_fft, c.hop_length, n_iter=GL_ITERS, generator=g)[0].numpy()

    def torch_decode(z):
        dec = model.decode_codes(z, label) if codes else model.decode(z, label)
        return dec.audio if dec.audio is not None else dec.log_mag

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        exp = export_sound(model, Path(tmp) / "onnx", vocoder=voc)
        export_s = time.perf_counter() - t0
        sizes = {k: round(p.stat().st_size / 2**20, 1) for k, p in exp.graphs.items()}
        dec_sess = ort_session(exp.decoder, args.threads)
        voc_sess = ort_session(exp.vocoder, args.threads) if exp.vocoder is not None else None

    def ort_decode(z):
        feeds = {"codes" if codes else "z": z.numpy(), "label": label.numpy()}
        return torch.from_numpy(dec_sess.run(None, feeds)[0])

    def ort_vocode(log_mag: torch.Tensor, seed: int) -> np.ndarray:
        if voc_sess is None:
            return vocode(log_mag, seed)  # Griffin-Lim stays torch: it is not a graph of the export
        return voc_sess.run(None, {"log_mag": log_mag.numpy()})[0][0, 0]

    def once(decode, vocode_fn, seed: int) -> tuple[dict, np.ndarray]:
        with torch.inference_mode():
            t = [time.perf_counter()]
            z = latents(seed)
            t.append(time.perf_counter())
            y = decode(z)  # (1, 1, N') audio or (1, K, F) log-magnitude
            t.append(time.perf_counter())
            audio = y[0, 0].numpy() if c.representation == "waveform" else vocode_fn(y, seed)
            audio = np.clip(audio[:n], -1.0, 1.0)
            t.append(time.perf_counter())
            out = resample(audio, sr, OUT_RATE)
            t.append(time.perf_counter())
        stage = dict(zip(STAGES[:4], np.diff(t).tolist(), strict=True))
        stage["total"] = t[-1] - t[0]
        return stage, out

    result = {
        "case": name,
        "preset": preset_name,
        "family": c.family,
        "representation": c.representation,
        "model_rate": sr,
        "latent_frames": frames,
        "samples_per_frame": c.samples_per_frame,
        "model_params": n_params(model),
        "prior": None if prior is None else {"params": n_params(prior), **prior.config.to_dict()},
        "vocoder": {
            "gl": f"griffin-lim {GL_ITERS} iterations (torch)",
            "hifigan": "HiFi-GAN",
            "": "none (waveform)",
        }[vocoder],
        "vocoder_params": n_params(voc) if voc is not None else 0,
        "build_s": round(build_s, 2),
        "export_s": round(export_s, 2),
        "onnx_mib": sizes,
        "runtimes": {},
    }
    with torch.inference_mode():  # parity of the exported decoder on this case's latents
        z = latents(0)
        result["onnx_decoder_max_abs_diff"] = float((torch_decode(z) - ort_decode(z)).abs().max())
    for runtime, dec, voc_fn in (("torch", torch_decode, vocode), ("onnxruntime", ort_decode, ort_vocode)):
        _, audio = once(dec, voc_fn, 0)  # warm-up
        runs = [once(dec, voc_fn, i + 1)[0] for i in range(args.repeats)]
        med = {k: round(statistics.median(r[k] for r in runs), 3) for k in STAGES}
        result["runtimes"][runtime] = {
            "median_s": med,
            "rtf": round(med["total"] / SECONDS, 4),
            "meets_goal": med["total"] <= GOAL_S,
            "runs_s": {k: [round(r[k], 3) for r in runs] for k in STAGES},
            "output": {"samples": len(audio), "rate": OUT_RATE, "finite": bool(np.isfinite(audio).all())},
        }
    if prior is not None:  # the autoregressive loop is many tiny ops: thread hand-offs can dominate
        torch.set_num_threads(1)
        with torch.inference_mode():
            latents(0)
            times = []
            for i in range(2):
                t0 = time.perf_counter()
                latents(i + 1)
                times.append(time.perf_counter() - t0)
        set_threads(args.threads)
        result["prior_1_thread_median_s"] = round(statistics.median(times), 3)
        result["prior_steps"] = frames * prior.config.n_quantizers if codes else frames
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return result


# ---------------------------------------------------------------------------------- training
def build_task(config: str, overrides: list[str], data: Path, run: Path, extra: list[str]):
    """A SoundTask built on LocalAccelerator("cpu") from a shipped config, and its StepContext."""
    import torch

    from sesli.train.local import LocalAccelerator
    from sesli.train.task import StepContext
    from sesli.train.tasks.sound import SoundTask, load_run_config

    cfg = load_run_config(config, [*overrides, "train.mixed_precision=no", *extra])
    task = SoundTask(cfg.sound, data, run, quiet=True)
    torch.manual_seed(cfg.train.seed)
    built = task.build(LocalAccelerator("cpu"), cfg.train)
    for m in built.modules.values():
        m.train()
    return cfg, task, built, StepContext(LocalAccelerator("cpu"), built, cfg.train)


class Steps:
    """The engine's loop, reduced to batches and optimizer steps (epochs advance the crops).

    ``full_batches``: pass over an epoch's smaller last batch (timing at the config's batch size).
    """

    def __init__(self, task, built, ctx, *, full_batches: bool = False) -> None:
        self.task, self.built, self.ctx = task, built, ctx
        self.batch_size = built.train_data.batch_size if full_batches else 0
        self.epoch, self.batches = 0, iter(built.train_data)
        self.whole: list[float] = []  # seconds per step, batch fetching included
        self.only: list[float] = []
        self.terms: dict = {}

    def _next(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.epoch += 1
            self.built.train_data.sampler.set_epoch(self.epoch)
            self.ctx.epoch = self.epoch
            self.batches = iter(self.built.train_data)
            return next(self.batches)

    def step(self) -> None:
        t0 = time.perf_counter()
        batch = self._next()
        while batch.audio.shape[0] < self.batch_size:
            t0 = time.perf_counter()
            batch = self._next()
        t1 = time.perf_counter()
        self.terms = self.task.train_step(batch, self.ctx)
        for opt in self.built.optimizers.values():
            opt.zero_grad(set_to_none=True)
        self.ctx.global_step += 1
        t2 = time.perf_counter()
        self.whole.append(t2 - t0)
        self.only.append(t2 - t1)


def train_case(name: str, steps: int, args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    config, overrides = (TRAIN_TINY | TRAIN_FULL)[name]
    with tempfile.TemporaryDirectory() as tmp:
        cfg, task, built, ctx = build_task(
            config, overrides, args.data, Path(tmp) / "run", ["sound.val_clips=0"]
        )
        rss_built = peak_rss_mib()
        loop = Steps(task, built, ctx, full_batches=True)
        while len(loop.whole) < steps:
            loop.step()
    gen = built.modules["gen"]
    skip = max(1, steps // 4) if steps > 1 else 0  # the process's first steps run slow (warm-up)
    return {
        "case": name,
        "config": config,
        "overrides": overrides,
        "preset": cfg.sound.preset,
        "phase": "adversarial" if task.adversarial(gen.config, 0) else "reconstruction",
        "batch_size": cfg.train.batch_size,
        "segment": task.meta["data"]["segment"],
        "model_params": n_params(gen),
        "discriminator_params": n_params(built.modules["disc"]) if "disc" in built.modules else 0,
        "steps": steps,
        "step_s": [round(s, 3) for s in loop.whole],
        "warmup_steps_left_out": skip,
        "s_per_step": round(statistics.median(loop.whole[skip:]), 3),
        "step_only_s_per_step": round(statistics.median(loop.only[skip:]), 3),
        "last_loss": round(float(loop.terms["loss"]), 4),
        "peak_rss_mib_after_build": round(rss_built, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


# ---------------------------------------------------------------------------------- reconstruction
def reconstruction(model, clips, *, floor: bool = False) -> dict:
    """Mean MR-STFT distance and LSD of the clips' reconstructions, the VQ codes' usage, and with
    ``floor`` (spectrogram models) the same of Griffin-Lim on the clips' own log-magnitude."""
    import soundfile as sf
    import torch

    from sesli.audio.features import griffin_lim
    from sesli.eval.sound_metrics import code_counts, codebook_usage, log_spectral_distance
    from sesli.eval.sound_metrics import multi_resolution_stft_distance as mrstft

    c, was = model.config, model.training
    model.eval()
    dist, lsd, floor_d, floor_l, codes = [], [], [], [], []
    with torch.inference_mode():
        for clip in clips:
            ref, _ = sf.read(str(clip.path), dtype="float32", always_2d=True)
            ref = ref.mean(axis=1)
            x = torch.from_numpy(ref).view(1, 1, -1)
            labels = torch.tensor([clip.label]) if c.labels else None
            enc = model.encode(x, labels)
            dec = model.decode(enc.z, labels)
            if dec.audio is not None:
                est = dec.audio[0, 0].numpy()
            else:
                g = torch.Generator().manual_seed(0)
                est = griffin_lim(dec.log_mag, c.n_fft, c.hop_length, n_iter=GL_ITERS, generator=g)[0].numpy()
            if dec.audio is None and floor:
                own = model.log_magnitude(model.pad(x))  # the clip's own spectrogram through Griffin-Lim
                g = torch.Generator().manual_seed(0)
                gl = griffin_lim(own, c.n_fft, c.hop_length, n_iter=GL_ITERS, generator=g)[
                    0, : len(ref)
                ].numpy()
                floor_d.append(mrstft(gl, ref))
                floor_l.append(log_spectral_distance(gl, ref))
            est = est[: len(ref)]
            dist.append(mrstft(est, ref))
            lsd.append(log_spectral_distance(est, ref))
            if enc.vq is not None:
                codes.append(enc.vq.codes[0])  # (Q, T')
    model.train(was)
    out = {"mrstft": round(float(np.mean(dist)), 4), "lsd_db": round(float(np.mean(lsd)), 3)}
    if floor_d:
        out["griffin_lim_floor"] = {"mrstft": round(float(np.mean(floor_d)), 4),
                                    "lsd_db": round(float(np.mean(floor_l)), 3)}  # fmt: skip
    if codes:
        all_codes = torch.cat(codes, dim=-1)  # (Q, sum T')
        stages = []
        for q in range(all_codes.shape[0]):
            u = codebook_usage(code_counts(all_codes[q], c.codebook_size))
            stages.append({"used": u.used, "size": u.size, "usage": round(u.usage, 3),
                           "perplexity": round(u.perplexity, 2)})  # fmt: skip
        out["codebook"] = stages
    return out


def recon_case(name: str, budget: float, args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    config, overrides = RECON[name]
    with tempfile.TemporaryDirectory() as tmp:
        cfg, task, built, ctx = build_task(config, overrides, args.data, Path(tmp) / "run", [])
        gen = built.modules["gen"]
        clips = built.val_data.dataset.clips
        t0 = time.perf_counter()
        init = reconstruction(gen, clips, floor=True)
        eval_s = time.perf_counter() - t0
        loop = Steps(task, built, ctx)
        start = time.perf_counter()
        while time.perf_counter() - start < budget:
            loop.step()
        trained_s = time.perf_counter() - start
        end = reconstruction(gen, clips)
    out = {
        "case": name,
        "config": config,
        "overrides": overrides,
        "preset": cfg.sound.preset,
        "batch_size": cfg.train.batch_size,
        "segment": task.meta["data"]["segment"],
        "lr": cfg.train.lr,
        "budget_s": budget,
        "trained_s": round(trained_s, 1),
        "steps": len(loop.whole),
        "s_per_step": round(statistics.median(loop.whole), 3),
        "phase_at_end": task.phase(gen.config, ctx.global_step),
        "val_clips": len(clips),
        "val_seconds": round(sum(cl.frames for cl in clips) / gen.config.sample_rate, 2),
        "eval_s": round(eval_s, 1),
        "griffin_lim_floor": init.pop("griffin_lim_floor", None),
        "init": init,
        "end": end,
        "mrstft_ratio_end_over_init": round(end["mrstft"] / init["mrstft"], 3),
        "last_train_terms": {k: round(float(v), 4) for k, v in loop.terms.items()},
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    return out


# ---------------------------------------------------------------------------------- driver
MARK = "SOUND_SPEED_RESULT "


def make_corpus(root: Path, per_label: int, seconds: float) -> tuple[Path, dict]:
    from sesli.data.sound_prepare import prepare_sound
    from sesli.testing.sound_corpus import CALMING_LABELS, write_calming_corpus

    t0 = time.perf_counter()
    raw = write_calming_corpus(root / "raw", seconds=seconds, per_label=per_label, seed=0)
    summary = prepare_sound(raw, root / "data", val_split=0.2, seed=0)
    lines = {s: len((root / "data" / f"{s}.jsonl").read_text().splitlines()) for s in ("train", "val")}
    info = {
        "source": "sesli.testing.sound_corpus.write_calming_corpus, seed 0; prepare_sound 16 kHz, val_split 0.2",
        "labels": list(CALMING_LABELS),
        "per_label": per_label,
        "clip_seconds": seconds,
        "train_clips": lines["train"],
        "val_clips": lines["val"],
        "rejected": getattr(summary, "rejected", None),
        "make_s": round(time.perf_counter() - t0, 1),
    }
    return root / "data", info


def run_worker(spec: str, args: argparse.Namespace) -> dict:
    """Run one case in a fresh process (its own peak RSS); returns its result dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", spec, "--threads", str(args.threads),
           "--repeats", str(args.repeats), "--data", str(args.data)]  # fmt: skip
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        return {"case": spec, "error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    out = json.loads(lines[-1][len(MARK) :])
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    out["load_avg_1_5_15_before"] = [round(v, 2) for v in load_before]
    out["load_avg_1_5_15_after"] = [round(v, 2) for v in os.getloadavg()]
    print(f"  {spec}: {out['wall_s']} s (load {out['load_avg_1_5_15_before'][0]})", flush=True)
    return out


def machine(threads: int) -> dict:
    import onnxruntime
    import soxr
    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "soxr": soxr.__version__,
        "numpy": np.__version__,
        "torch_threads": threads,
        "onnxruntime_threads": {"intra_op": threads, "inter_op": 1},
        "note": "shared with other jobs: see the load averages",
    }


def table(result: dict) -> str:
    rows = [f"generate {SECONDS:g} s at {OUT_RATE} Hz, {result['threads']} threads, median of "
            f"{result['repeats']} ({WEIGHTS_NOTE}; goal <= {GOAL_S:g} s)"]  # fmt: skip
    rows.append(f"{'case':22} {'runtime':12}" + "".join(f"{s:>9}" for s in STAGES) + "  goal")
    for case in result["generate"]:
        for rt, r in case.get("runtimes", {}).items():
            cells = "".join(f"{r['median_s'][s]:9.3f}" for s in STAGES)
            rows.append(f"{case['case']:22} {rt:12}{cells}  {'yes' if r['meets_goal'] else 'NO'}")
        if "error" in case:
            rows.append(f"{case['case']:22} ERROR {case['error']}")
    rows += [
        "",
        "train (shipped config's batch and segment; s/step median after the first quarter of the steps)",
    ]
    rows.append(f"{'case':26} {'batch':>5} {'segment':>8} {'steps':>5} {'s/step':>8} {'peak RSS MiB':>13}")
    for case in result["train"]:
        if "error" in case:
            rows.append(f"{case['case']:26} ERROR {case['error']}")
            continue
        rows.append(f"{case['case']:26} {case['batch_size']:5d} {case['segment']:8d} {case['steps']:5d} "
                    f"{case['s_per_step']:8.3f} {case['peak_rss_mib']:13.0f}")  # fmt: skip
    rows += ["", f"reconstruction of the validation clips after {result['budget_s']:g} s of training"]
    rows.append(f"{'preset':14} {'steps':>5} {'MR-STFT init':>12} {'end':>7} {'GL floor':>8} "
                f"{'LSD init':>8} {'end':>6}  codebook")  # fmt: skip
    for case in result["reconstruction"]:
        if "error" in case:
            rows.append(f"{case['case']:14} ERROR {case['error']}")
            continue
        i, e = case["init"], case["end"]
        floor = (case.get("griffin_lim_floor") or {}).get("mrstft")
        book = " ".join(f"{s['used']}/{s['size']} ppl {s['perplexity']}" for s in e.get("codebook", []))
        rows.append(f"{case['case']:14} {case['steps']:5d} {i['mrstft']:12.3f} {e['mrstft']:7.3f} "
                    f"{floor if floor is not None else '-':>8} {i['lsd_db']:8.2f} {e['lsd_db']:6.2f}  {book}")  # fmt: skip
    return "\n".join(rows)


def plot(result: dict, path: Path) -> Path | None:
    """Stacked bars of the generation stages per case and runtime, with the goal and RAVE marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    bars = [(f"{c['case']} ({rt})", r["median_s"]) for c in result["generate"]
            for rt, r in c.get("runtimes", {}).items()]  # fmt: skip
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(bars) + 1.5))
    left = np.zeros(len(bars))
    for stage in STAGES[:4]:
        width = np.array([m[stage] for _, m in bars])
        ax.barh(range(len(bars)), width, left=left, label=stage)
        left += width
    ax.axvline(GOAL_S, color="k", ls="--", lw=1, label=f"goal {GOAL_S:g} s")
    ax.axvline(0.15, color="grey", ls=":", lw=1, label="RAVE 0.15 s")
    ax.set_yticks(range(len(bars)), [b for b, _ in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(
        f"seconds to generate {SECONDS:g} s at {OUT_RATE // 1000} kHz ({result['threads']} threads)"
    )
    ax.set_title("sesli sound models, random weights (speed only)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def worker(spec: str, args: argparse.Namespace) -> dict:
    kind, name, *rest = spec.split("|")
    if kind == "gen":
        return generate_case(name, args)
    if kind == "train":
        return train_case(name, int(rest[0]), args)
    return recon_case(name, float(rest[0]), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny presets only, short budget")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--budget", type=float, default=None, help="training seconds per preset (90; quick 10)"
    )
    parser.add_argument("--tiny-steps", type=int, default=20)
    parser.add_argument("--full-steps", type=int, default=3)
    parser.add_argument("--corpus-per-label", type=int, default=None, help="clips per label (6; quick 4)")
    parser.add_argument(
        "--corpus-seconds", type=float, default=4.2, help="clip length (covers the 4.1 s crops)"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["generate", "train", "reconstruction"])
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)  # the prepared corpus (workers)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # gen|NAME, train|NAME|STEPS, recon|NAME|BUDGET
    args = parser.parse_args()

    if args.worker:
        print(MARK + json.dumps(worker(args.worker, args)), flush=True)
        return

    budget = args.budget if args.budget is not None else (10.0 if args.quick else 90.0)
    per_label = args.corpus_per_label or (4 if args.quick else 6)
    seconds = min(args.corpus_seconds, 2.0) if args.quick else args.corpus_seconds
    start, load_start = time.perf_counter(), os.getloadavg()
    print(
        f"sound_speed{' --quick' if args.quick else ''}: {WEIGHTS_NOTE}; load {load_start[0]:.2f}", flush=True
    )
    result: dict = {"weights": WEIGHTS_NOTE, "quick": args.quick, "threads": args.threads,
                    "repeats": args.repeats, "warmup_runs": 1, "seconds": SECONDS, "output_rate": OUT_RATE,
                    "griffin_lim_iterations": GL_ITERS, "goal_s": GOAL_S, "budget_s": budget,
                    "generate": [], "train": [], "reconstruction": []}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="sound_speed-") as tmp:
        args.data, result["corpus"] = make_corpus(Path(tmp), per_label, seconds)
        print(f"  corpus: {result['corpus']['train_clips']} train / {result['corpus']['val_clips']} val clips",
              flush=True)  # fmt: skip
        if "generate" not in args.skip:
            result["generate"] = [
                run_worker(f"gen|{n}", args) for n in (GEN_QUICK if args.quick else GEN_FULL)
            ]
        if "train" not in args.skip:
            cases = [(n, args.tiny_steps if not args.quick else 4) for n in TRAIN_TINY]
            cases += [] if args.quick else [(n, args.full_steps) for n in TRAIN_FULL]
            result["train"] = [run_worker(f"train|{n}|{s}", args) for n, s in cases]
        if "reconstruction" not in args.skip:
            result["reconstruction"] = [run_worker(f"recon|{n}|{budget}", args) for n in RECON]
    load_end = os.getloadavg()
    loads = [load_start[0], load_end[0]] + [
        c[k][0] for part in ("generate", "train", "reconstruction") for c in result[part]
        for k in ("load_avg_1_5_15_before", "load_avg_1_5_15_after") if k in c
    ]  # fmt: skip
    result.update({
        "total_wall_s": round(time.perf_counter() - start, 1),
        "load_avg_1_5_15_start": [round(v, 2) for v in load_start],
        "load_avg_1_5_15_end": [round(v, 2) for v in load_end],
        "max_load_1min_seen": round(max(loads), 2),
        "loaded": max(loads) > LOADED,
        "load_note": (f"machine loaded: a 1-minute load average up to {max(loads):.2f} on {os.cpu_count()} cores "
                      "was seen, so the times are upper bounds") if max(loads) > LOADED
                     else f"1-minute load stayed <= {LOADED} on {os.cpu_count()} cores",
        "machine": machine(args.threads),
        "command": "python bench/sound_speed.py " + " ".join(sys.argv[1:]),
    })  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(result))
    png = plot(result, args.out.with_suffix(".png"))
    print(result["load_note"])
    if png is not None:
        print(f"wrote {png}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
