"""``make demo``: sesli's main job, end to end and offline.

1. The Turkish text front-end (normaliser + G2P + Kokoro ids) on sentences with its hard cases.
2. A small Turkish corpus: CC0 Common Voice sentences voiced by espeak-ng (``DATA=`` takes yours).
3. ``sesli prepare`` -> ``sesli kokoro finetune`` (LoRA; training targets extracted on the way).
4. ``sesli say --model RUN`` -> ``demo/merhaba.wav``, its spectrogram ``demo/merhaba.png`` and the
   loss curve ``demo/loss.png``.

The base model is the official Kokoro-82M when its weights are in the Hugging Face cache (or
``BASE=`` names a path or id); otherwise the tiny ``debug`` model, which trains in a minute or two
on a CPU but does not speak intelligibly. The demo says which one it used.

    python -m sesli.demo [--data DIR] [--base ID|PATH|debug] [--out demo] [--max-steps N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from sesli.fileio import atomic_path

SENTENCES = [
    "Merhaba, size nasıl yardımcı olabilirim?",
    "Dr. Ayşe Yılmaz 29.10.1923'te kurulan TBMM'de 14:30'da konuştu.",
    "Bu kâr, 1.250,75 TL ve %3,5 faizle 121.100 kişiye ulaştı.",
    "İstanbul'dan Ankara'ya 450 km; 3. gün hava 25 °C idi.",
    "Öğretmen dağda soğuk bir rüzgâr hissetti, değil mi?",
    "Geliyor musun? Gelmedi; belki yarın güzeldir.",
]
DEMO_TEXT = "Merhaba, size nasıl yardımcı olabilirim?"
OFFICIAL_ID = "hexgrad/Kokoro-82M"
OFFICIAL_WEIGHTS = "kokoro-v1_0.pth"
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def show_front_end() -> None:
    """Print each sentence's normalised text, phonemes and Kokoro ids."""
    from sesli.text.g2p import phonemize
    from sesli.text.symbols import get_table

    kokoro = get_table("kokoro")
    for text in SENTENCES:
        result = phonemize(text)
        ids = kokoro.encode(result.phonemes, errors="report").ids
        print(f"text      : {text}")
        print(f"normalised: {result.normalized}")
        print(f"phonemes  : {result.phonemes}")
        print(f"kokoro ids: {' '.join(map(str, ids[:24]))}{' …' if len(ids) > 24 else ''} ({len(ids)} ids)")
        if result.unknown:
            print(f"unknown   : {' '.join(result.unknown)}")
        print()


def choose_base(base: str | None) -> tuple[str, str]:
    """The base model to fine-tune and why: (base, explanation)."""
    if base:
        return base, f"BASE={base}"
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(OFFICIAL_ID, OFFICIAL_WEIGHTS)
    except Exception:  # an unusable cache is the same as no cache here
        cached = None
    if isinstance(cached, str) and Path(cached).is_file():
        return OFFICIAL_ID, f"official weights found in the Hugging Face cache ({cached})"
    return "debug", (
        f"official weights not found in the Hugging Face cache ({OFFICIAL_ID}/{OFFICIAL_WEIGHTS}): "
        "using the tiny debug model (it learns, but does not speak; BASE=PATH for real weights)"
    )


def spectrogram_png(wav: Path, png: Path, *, title: str = "") -> None:
    """Draw the log-mel spectrogram of ``wav`` into ``png`` (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf
    import torch

    from sesli.audio.features import MelConfig, mel_spectrogram

    audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    cfg = MelConfig(sample_rate=sr)
    mel = mel_spectrogram(torch.from_numpy(audio[:, 0]), cfg)[0].numpy()  # (M, F)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    seconds = audio.shape[0] / sr
    ax.imshow(mel, origin="lower", aspect="auto", extent=(0, seconds, 0, cfg.n_mels), cmap="magma")
    ax.set_xlabel("seconds")
    ax.set_ylabel("mel band")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def _run(verb: str, argv: list[str]) -> None:
    """Run ``sesli VERB ...`` in this process; stop the demo on a failure."""
    from sesli.cli import main as sesli_main

    print("$ sesli " + " ".join([verb, *(f'"{a}"' if " " in a else a for a in argv)]), flush=True)
    status = sesli_main([verb, *argv])
    if status:
        raise SystemExit(f"demo: `sesli {verb}` failed (exit {status})")


def prepare_data(data: str | None, out: Path) -> Path:
    """A prepared experiment folder: DATA as is (if already prepared), DATA prepared, or the demo corpus."""
    if data and (Path(data) / "train.jsonl").is_file():
        print(f"using the prepared folder {data}")
        return Path(data)
    source = data
    if source is None:
        from sesli.testing.demo_corpus import write_demo_corpus

        corpus = write_demo_corpus(out / "corpus", n=24)
        voice = "espeak-ng" if corpus.voice == "espeak-ng" else "tones (espeak-ng is not installed)"
        print(f"demo corpus: {corpus.n_clips} CC0 Common Voice sentences voiced by {voice} in {corpus.root}")
        source = str(corpus.root)
    _run("prepare", [source, "--out", str(out / "prepared"), "--workers", "1"])
    return out / "prepared"


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m sesli.demo", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", default=None, help="your data: a source for `sesli prepare`, or a prepared folder"
    )
    p.add_argument("--base", default=None, help="base model: hexgrad/Kokoro-82M, a path, or debug")
    p.add_argument("--out", default="demo", help="output folder (default: demo/)")
    p.add_argument("--max-steps", type=int, default=None, help="cap the fine-tuning steps")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    _step("1. Turkish text front-end")
    show_front_end()

    base, why = choose_base(args.base)
    if base == "debug":
        import torch

        torch.set_num_threads(1)  # tiny tensors: one thread is as fast, and never oversubscribes

    _step("2. data")
    prepared = prepare_data(args.data, out)

    _step("3. LoRA fine-tuning")
    print(f"base model: {base} — {why}")
    run = out / "run"
    ft = ["--data", str(prepared), "--out", str(run), "--base", base]
    if base == "debug":
        ft += ["--config", str(CONFIGS / "debug" / "kokoro_finetune.yaml")]
    if args.max_steps is not None:
        ft += ["--max-steps", str(args.max_steps)]
    elif base != "debug" and args.data is None:
        ft += ["--max-steps", "60"]  # the full model on a CPU: a short taste, not a real fine-tune
    _run("kokoro", ["finetune", *ft])

    _step("4. speech")
    wav = out / "merhaba.wav"
    _run("say", ["--model", str(run), DEMO_TEXT, "-o", str(wav)])
    plot = wav.with_suffix(".png")
    spectrogram_png(wav, plot, title=f"{DEMO_TEXT} ({base})")
    if (run / "loss.png").is_file():
        with atomic_path(out / "loss.png") as tmp:
            shutil.copyfile(run / "loss.png", tmp)
    print(f"\nbase model : {base} ({why})")
    print(f"speech     : {wav}")
    print(f"spectrogram: {plot}")
    print(f"loss curve : {out / 'loss.png'}")
    print(f'adapter    : {run} (sesli say --model {run} "…" -o out.wav)')
    print(f"took {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
