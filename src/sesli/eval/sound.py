"""``sesli sound eval``: how well a sound model reconstructs, what its latents hold, what it samples.

For held-out clips (``DATA/val.jsonl``, else the training clips), cut to ``seconds`` from their
start at the model's rate:

* **reconstruction**: multi-resolution STFT distance, log-spectral distance (dB) and SI-SDR of
  ``decode(encode(clip))`` against the clip. For a spectrogram model the audio passes through its
  vocoder (Griffin-Lim or neural), so the report also gives the *vocoder alone* on the clip's own
  spectrogram: the part of the error that is phase reconstruction, not the model. (SI-SDR needs
  the phase: it is low for any phase-free reconstruction and is reported, not judged.)
* **latents**: a VAE's KL per latent dimension and its active units (Burda et al. 2016: a
  dimension whose posterior mean varies over the frames by more than 0.01); a VQ-VAE's codebook
  usage and perplexity per stage.
* **samples**: ``samples`` sounds (labels in turn), their diversity (mean pairwise distance of
  MFCC summaries) and the Fréchet MFCC distance between their MFCC frame statistics and the
  clips' (a Fréchet distance on MFCCs, *not* FAD: no VGGish embedding is involved).
* **loop seam**: the first sample made into a loop (:func:`sesli.audio.loops.make_loop`) and its
  seam measured against the clip's own sample jumps and spectral flux.

Writes ``OUT/report.json``, ``OUT/spectrograms.png`` (clip, reconstruction, sample),
``OUT/latents.png`` (the clips' mean latents in their first two principal components, by label)
and the reconstructions and samples as WAVs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

MIN_SECONDS = 0.5  # shortest clip or sample the metrics take (2048-point STFT, seam frames)


def _clips(data: Path, sample_rate: int, seconds: float, n: int) -> list[tuple[str, str, np.ndarray]]:
    """Up to ``n`` (id, label, audio) held-out clips at ``sample_rate``, cut to ``seconds``."""
    from sesli.audio.io import load_audio
    from sesli.data.manifest import read_split
    from sesli.train.tasks.sound_data import clip_label

    utts = read_split(data, "val") or read_split(data, "train")
    if not utts:
        raise FileNotFoundError(f"{data} holds no prepared clips (val.jsonl / train.jsonl)")
    out = []
    for u in utts:  # clips under MIN_SECONDS are left out: the metrics' longest STFT needs them
        if len(out) == n:
            break
        if u.duration >= MIN_SECONDS:
            audio, _ = load_audio(u.resolve_audio(data), sr=sample_rate)
            out.append((u.id, clip_label(u), audio[: round(seconds * sample_rate)]))
    if not out:
        raise FileNotFoundError(f"{data}: no clip of at least {MIN_SECONDS} s to evaluate on")
    return out


def _latent_figures(gen: Any, encs: list[Any]) -> dict[str, Any]:
    from sesli.eval.sound_metrics import code_counts, codebook_usage
    from sesli.losses.kl import active_units, gaussian_kl

    c = gen.config
    means = torch.cat([e.mean[0].T for e in encs])  # (sum T', D)
    out: dict[str, Any] = {"latent_frames": int(means.shape[0]), "latent_dim": c.latent_dim}
    if c.family == "vqvae":
        codes = torch.cat([e.vq.codes[0] for e in encs], dim=-1)  # (Q, sum T')
        stages = [codebook_usage(code_counts(codes[q], c.codebook_size)) for q in range(codes.shape[0])]
        out["codebook"] = [{"used": s.used, "size": s.size, "usage": round(s.usage, 4),
                            "perplexity": round(s.perplexity, 2)} for s in stages]  # fmt: skip
    else:
        kl = torch.stack([gaussian_kl(e.mean, e.logvar) for e in encs]).mean()
        out["kl_per_dim"] = round(float(kl) / c.latent_dim, 5)
        out["active_units"] = active_units(means) if means.shape[0] > 1 else None
    return out


def _plots(
    out: Path, gen: Any, rows: list[tuple[str, np.ndarray]], encs: list[Any], labels: list[str]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sesli.audio.features import log_magnitude
    from sesli.fileio import atomic_path

    sr = gen.sample_rate
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 2.2 * len(rows)), squeeze=False)
    for ax, (title, audio) in zip(axes[:, 0], rows, strict=True):
        spec = log_magnitude(torch.from_numpy(audio).view(1, -1), 1024, 256)[0].numpy()
        ax.imshow(
            spec, origin="lower", aspect="auto", extent=(0, len(audio) / sr, 0, sr / 2000), cmap="magma"
        )
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("s")
    fig.tight_layout()
    with atomic_path(out / "spectrograms.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

    points = np.stack([e.mean[0].mean(dim=-1).numpy() for e in encs])  # (clips, D)
    if len(points) >= 2:
        centred = points - points.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T if vt.shape[0] >= 2 else np.c_[centred @ vt[:1].T, np.zeros(len(points))]
        fig, ax = plt.subplots(figsize=(5, 4))
        for name in sorted(set(labels)):
            idx = [i for i, lab in enumerate(labels) if lab == name]
            ax.scatter(xy[idx, 0], xy[idx, 1], label=name or "(none)", s=24)
        ax.set_title("clips' mean latents (first two principal components)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        with atomic_path(out / "latents.png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)


def evaluate_sound(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    clips: int = 16,
    samples: int = 8,
    seconds: float = 2.0,
    vocoder: str | Path | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate the run ``model`` on ``data``'s held-out clips; writes ``out`` (see the module docstring).

    Returns:
        The report (also ``out/report.json``); ``report["summary"]`` holds the headline figures.
    """
    from sesli.audio.io import save_wav
    from sesli.audio.loops import make_loop
    from sesli.eval import sound_metrics as m
    from sesli.fileio import write_json
    from sesli.inference.sound import SoundGenerationError, SoundGenerator

    if not seconds >= MIN_SECONDS:
        raise SoundGenerationError(
            f"the evaluation needs clips of at least {MIN_SECONDS} s, got --seconds {seconds}"
        )
    gen = SoundGenerator.load(model, vocoder=vocoder)
    out, sr, c = Path(out), gen.sample_rate, gen.config
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    real = _clips(Path(data), sr, seconds, clips)
    recon_rows, encs, recons = [], [], []
    for clip_id, label, audio in real:
        enc, n = gen.encode(audio, sr, label if label in gen.labels else None)
        rec = gen.render(enc.z, gen.label_ids(label if label in gen.labels else None, 1), seed=seed)[0][:n]
        encs.append(enc)
        recons.append(rec)
        row = {"id": clip_id, "label": label, "mrstft": m.multi_resolution_stft_distance(rec, audio),
               "lsd_db": m.log_spectral_distance(rec, audio), "si_sdr_db": m.si_sdr(rec, audio)}  # fmt: skip
        if c.representation == "spectrogram":  # the vocoder alone, on the clip's own spectrogram
            x = gen.model.pad(torch.from_numpy(audio).view(1, 1, -1))
            alone = gen.render_log_mag(gen.model.log_magnitude(x), seed=seed)[0][:n]
            row["vocoder_only_mrstft"] = m.multi_resolution_stft_distance(alone, audio)
        recon_rows.append(row)
        save_wav(out / "wavs" / f"recon-{clip_id}.wav", rec, sr)
    report: dict[str, Any] = {"model": str(model), "data": str(data), **gen.describe(), "seconds": seconds,
                              "clips": recon_rows, "latents": _latent_figures(gen, encs)}  # fmt: skip
    mean = lambda k: round(float(np.mean([r[k] for r in recon_rows])), 4)  # noqa: E731
    summary = {"recon mrstft (lower better)": mean("mrstft"), "recon lsd dB": mean("lsd_db"),
               "recon si-sdr dB": mean("si_sdr_db")}  # fmt: skip
    if c.representation == "spectrogram":
        summary["vocoder-only mrstft"] = mean("vocoder_only_mrstft")
    summary.update({k: v for k, v in report["latents"].items() if k in ("kl_per_dim", "active_units")})
    if "codebook" in report["latents"]:
        summary["codebook usage (stage 1)"] = report["latents"]["codebook"][0]["usage"]
    rows = [(f"clip {real[0][0]} ({real[0][1]})", real[0][2]), ("reconstruction", recons[0])]
    try:
        names = gen.labels or [""]
        made = [gen.sample(names[k % len(names)], seconds, seed=seed + k)[0] for k in range(samples)]
    except SoundGenerationError as err:
        report["samples"] = {"skipped": str(err)}
    else:
        for k, clip in enumerate(made):
            save_wav(out / "wavs" / f"sample-{k}-{clip.label or 'none'}.wav", clip.audio, sr)
        audio = [x.audio for x in made]
        report["samples"] = {"n": len(made), "labels": [x.label for x in made]}
        if len(made) >= 2:
            report["samples"]["diversity"] = m.sample_diversity(audio, sr)
            report["samples"]["frechet_mfcc_distance"] = m.frechet_mfcc_distance(
                [r[2] for r in real], audio, sr
            )
            summary["sample diversity"] = round(report["samples"]["diversity"], 3)
            summary["Fréchet MFCC distance"] = round(report["samples"]["frechet_mfcc_distance"], 3)
        loop = make_loop(audio[0], sr, seconds, crossfade=min(0.5, seconds / 4))
        seam = m.loop_seam(loop.audio, sr)
        report["loop_seam"] = {k: float(v) for k, v in vars(seam).items()} | {"click_free": seam.click_free}
        summary["loop seam click-free"] = seam.click_free
        rows.append((f"sample ({made[0].label or 'no label'})", audio[0]))
    report["summary"] = summary
    _plots(out, gen, rows, encs, [r[1] for r in real])
    write_json(out / "report.json", report)
    return report


__all__ = ["evaluate_sound"]
