"""``make demo``: sesli's main job, end to end and offline, with real Kokoro-82M weights.

1. The Turkish text front-end (normaliser + G2P + Kokoro ids) on sentences with its hard cases.
2. Zero-shot Turkish from the base model: ``demo/sifir.wav`` (+ spectrogram).
3. Data: the 51 real CC0 Common Voice Turkish clips in ``data/cv-tr-sample50`` (``DATA=`` takes
   yours) -> ``sesli prepare``.
4. A short LoRA fine-tune on them (``sesli kokoro finetune``; aligner and targets on the way).
5. Speech with the adapter: ``demo/merhaba.wav`` (+ spectrogram), the loss curve ``demo/loss.png``.
6. Intelligibility before/after: Whisper base (offline, packaged) transcribes the held-out
   sentences spoken zero-shot and with the adapter, and the recordings themselves as a reference;
   CER/WER printed and written to ``demo/report.json``.

The base is the default one (the official Kokoro-82M when it is in the Hugging Face cache, else the
kokoro-onnx int8 export that ``make`` installs from the package index), or ``BASE=`` (an id, a path,
or ``debug`` for the tiny model that trains in a minute but does not speak). The demo says which.

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
ROOT = Path(__file__).resolve().parents[2]
CONFIGS = Path(__file__).resolve().parent / "configs"  # shipped inside the package
CV_SAMPLE = ROOT / "data" / "cv-tr-sample50"
CPU_STEPS = 30  # the full 82M model on a CPU: ~5 s a step; a taste of fine-tuning, not a real run


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
    """The base model and why: (``from_pretrained`` argument for the run, explanation).

    Without ``BASE=`` the default base is resolved (not loaded) once here, so every step uses the
    same weights.
    """
    if base:
        return base, f"BASE={base}"
    from sesli.models.kokoro.defaults import PACKAGED_ID, default_source
    from sesli.models.kokoro.loading import ModelLoadError

    try:
        source = default_source()
    except ModelLoadError as err:
        raise SystemExit(f"demo: {err}") from None
    if source == PACKAGED_ID:
        return source, "Kokoro-82M v1.0 int8 (kokoro-onnx export) from its packages on the package index"
    return source, "the official weights (Hugging Face cache or hub)"


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
    """A prepared experiment folder: DATA as is (if already prepared), DATA prepared, or the CV sample."""
    if data and (Path(data) / "train.jsonl").is_file():
        print(f"using the prepared folder {data}")
        return Path(data)
    if data is None:
        if not (CV_SAMPLE / "validated.tsv").is_file():
            raise SystemExit(f"demo: the Common Voice sample is missing ({CV_SAMPLE}); pass DATA=")
        print(f"data: {CV_SAMPLE} (51 real Common Voice Turkish clips, 29 speakers, CC0)")
        argv = [str(CV_SAMPLE), "--format", "commonvoice", "--min-words", "3", "--val-split", "0.15"]
    else:
        argv = [data]
    _run("prepare", [*argv, "--out", str(out / "prepared"), "--workers", "1"])
    return out / "prepared"


def intelligibility(models: dict[str, str], prepared: Path, out: Path) -> dict:
    """CER/WER of each model on the held-out sentences, and of the recordings, with Whisper base."""
    from sesli.data.manifest import read_manifest
    from sesli.eval.asr import ASRError, load_asr
    from sesli.eval.evaluate import evaluate
    from sesli.inference import load

    utts = read_manifest(prepared / "val.jsonl")
    texts = {u.id: u.text for u in utts}
    try:
        asr = load_asr("base")
    except ASRError as err:
        print(f"no intelligibility check: {err}")
        return {}
    report: dict = {"utterances": len(utts), "asr": "whisper base (packaged, int8, greedy)"}
    for name, model in models.items():
        result = evaluate(load(model, noise=False), utts, prepared, asr=asr, spectral=False)
        s = result.summary
        report.setdefault("recordings", {"cer": s.get("reference_cer"), "wer": s.get("reference_wer")})
        report[name] = {"model": model, "cer": s.get("cer"), "wer": s.get("wer")}
        report[f"{name}_transcripts"] = [
            {"id": u.id, "text": texts.get(u.id, ""), "asr": u.asr_text, "cer": u.cer}
            for u in result.utterances
        ]
    from sesli.fileio import write_json

    write_json(out / "report.json", report)
    return report


def _fmt(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


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

    _step("2. zero-shot Turkish from the base model")
    base, why = choose_base(args.base)
    print(f"base model: {base} — {why}")
    if base == "debug":
        import torch

        torch.set_num_threads(1)  # tiny tensors: one thread is as fast, and never oversubscribes
    zero = out / "sifir.wav"
    _run("say", ["--model", base, DEMO_TEXT, "-o", str(zero)])
    spectrogram_png(zero, zero.with_suffix(".png"), title=f"{DEMO_TEXT} (zero-shot, {base})")

    _step("3. data")
    prepared = prepare_data(args.data, out)

    _step("4. LoRA fine-tuning")
    run = out / "run"
    ft = ["--data", str(prepared), "--out", str(run), "--base", base, "--batch-size", "1"]
    if base == "debug":
        ft += ["--config", str(CONFIGS / "debug" / "kokoro_finetune.yaml")]
    if args.max_steps is not None:
        ft += ["--max-steps", str(args.max_steps)]
    elif base != "debug":
        import torch

        if not torch.cuda.is_available():
            ft += ["--max-steps", str(CPU_STEPS)]
            print(
                f"CPU: {CPU_STEPS} steps only (about 5 s each for the 82M model); a GPU runs the full epochs"
            )
    _run("kokoro", ["finetune", *ft])

    _step("5. speech with the adapter")
    wav = out / "merhaba.wav"
    _run("say", ["--model", str(run), DEMO_TEXT, "-o", str(wav)])
    spectrogram_png(wav, wav.with_suffix(".png"), title=f"{DEMO_TEXT} (LoRA on {base})")
    if (run / "loss.png").is_file():
        with atomic_path(out / "loss.png") as tmp:
            shutil.copyfile(run / "loss.png", tmp)

    _step("6. intelligibility before/after (Whisper base, held-out sentences)")
    report = intelligibility({"zero_shot": base, "fine_tuned": str(run)}, prepared, out)
    if report:
        print(f"{'':12} {'CER':>7} {'WER':>7}   ({report['utterances']} held-out sentences)")
        for key in ("recordings", "zero_shot", "fine_tuned"):
            print(f"{key:12} {_fmt(report[key]['cer']):>7} {_fmt(report[key]['wer']):>7}")

    print(f"\nbase model : {base} ({why})")
    print(f"zero-shot  : {zero} (+ {zero.with_suffix('.png').name})")
    print(f"fine-tuned : {wav} (+ {wav.with_suffix('.png').name})")
    print(f"loss curve : {out / 'loss.png'}")
    if report:
        print(f"report     : {out / 'report.json'}")
    print(f'adapter    : {run} (sesli say --model {run} "…" -o out.wav)')
    print(f"took {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
