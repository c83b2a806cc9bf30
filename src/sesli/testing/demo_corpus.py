"""A small Turkish speech corpus made on the spot, for ``make demo`` and tests.

Sentences come from Common Voice's CC0 Turkish sentence list (``data/cv_tr_sentences.txt``). Audio
comes from ``espeak-ng -v tr``, run as an external program (it is GPL; sesli never imports it).
Without espeak-ng a tone-per-letter stand-in is written instead, enough to exercise the pipeline
but not speech; :func:`write_demo_corpus` says which it used. The result is an LJSpeech-style folder
(``metadata.csv`` + ``wavs/``) that ``sesli prepare`` reads.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sesli.fileio import atomic_open, atomic_path

SENTENCES_FILE = Path(__file__).resolve().parents[3] / "data" / "cv_tr_sentences.txt"
# Used when the package is installed without the repository's data/ folder.
FALLBACK_SENTENCES = (
    "Bugün hava çok güzel ve güneşli görünüyor.",
    "Yarın sabah erkenden yola çıkmamız gerekiyor.",
    "Kitabı okuduktan sonra bana geri verir misin?",
    "Bu şehirde her köşede başka bir hikâye var.",
    "Akşam yemeğinden sonra biraz yürüyüş yaptık.",
    "Öğrenciler sınavdan önce çok çalıştılar.",
)


class DemoCorpusError(RuntimeError):
    """The demo corpus could not be made (no sentences, or the synthesiser failed)."""


@dataclass(frozen=True)
class DemoCorpus:
    """Where the corpus went and how it was voiced."""

    root: Path
    n_clips: int
    voice: str  # "espeak-ng" or "tones"


def pick_sentences(
    n: int = 40,
    *,
    min_words: int = 5,
    max_words: int = 9,
    seed: int = 0,
    path: str | Path | None = None,
) -> list[str]:
    """``n`` distinct sentences of ``min_words``..``max_words`` words, chosen reproducibly.

    Sentences with quotes or characters other than letters and simple punctuation are skipped,
    so the demo stays about ordinary reading.
    """
    path = Path(path) if path is not None else SENTENCES_FILE
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else list(FALLBACK_SENTENCES)
    ok = [
        s.strip()
        for s in lines
        if min_words <= len(s.split()) <= max_words and all(c.isalpha() or c in " ,.?!'’-" for c in s.strip())
    ]
    if not ok:
        raise DemoCorpusError(f"no sentence of {min_words}..{max_words} words in {path}")
    rng = random.Random(seed)
    return rng.sample(ok, min(n, len(ok)))


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on PATH."""
    return shutil.which("espeak-ng") is not None


def _espeak(text: str, wav: Path, *, words_per_minute: int) -> None:
    with atomic_path(wav) as tmp:
        proc = subprocess.run(
            ["espeak-ng", "-v", "tr", "-s", str(words_per_minute), "-w", str(tmp), text],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0 or tmp.stat().st_size < 100:
            raise DemoCorpusError(f"espeak-ng failed on {text!r}: {proc.stderr.strip()}")


def _tones(text: str, wav: Path, *, sample_rate: int = 24000) -> None:
    """A stand-in when espeak-ng is missing: a monotone "voice" reading letter by letter.

    Each letter is 70 ms of a 120 Hz harmonic tone (falling gently over the sentence, as speech
    does) whose harmonic weights depend on the letter, the way vowels differ by their formants;
    spaces and punctuation are short silences.
    """
    import soundfile as sf

    t = np.arange(int(0.07 * sample_rate)) / sample_rate
    letters = [c for c in text.lower() if c.isalpha()]
    pieces, k = [], 0
    for ch in text.lower():
        if not ch.isalpha():
            pieces.append(np.zeros(t.size // 2))
            continue
        f0 = 120.0 * (1.0 - 0.15 * k / max(len(letters), 1))
        shape = 1 + (ord(ch) % 13)
        tone = sum((1.0 + 0.9 * np.sin(h * shape)) / h * np.sin(2 * np.pi * f0 * h * t) for h in range(1, 11))
        pieces.append(0.1 * tone * np.hanning(t.size))
        k += 1
    audio = np.concatenate([np.zeros(2400), *pieces, np.zeros(2400)]).astype(np.float32)
    with atomic_path(wav) as tmp:
        sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")


def write_demo_corpus(
    out_dir: str | Path,
    *,
    n: int = 40,
    seed: int = 0,
    words_per_minute: int = 170,
    max_words: int = 7,
    use_espeak: bool | None = None,
) -> DemoCorpus:
    """Write ``out_dir/metadata.csv`` and ``out_dir/wavs/demo_XXXX.wav`` for ``n`` sentences.

    Args:
        out_dir: the LJSpeech-style folder to write (created; existing clips are reused, so a
            re-run is quick).
        n: number of sentences.
        seed: which sentences.
        words_per_minute: espeak-ng speaking rate.
        max_words: longest sentence (at least 5 words, what ``sesli prepare`` keeps by default).
        use_espeak: force the voice; ``None`` uses espeak-ng when it is installed.
    """
    out = Path(out_dir)
    use_espeak = espeak_available() if use_espeak is None else use_espeak
    if use_espeak and not espeak_available():
        raise DemoCorpusError("espeak-ng is not installed (apt-get install espeak-ng)")
    sentences = pick_sentences(n, seed=seed, max_words=max(5, max_words))
    rows = []
    for i, text in enumerate(sentences):
        utt = f"demo_{i:04d}"
        wav = out / "wavs" / f"{utt}.wav"
        if not wav.is_file():
            if use_espeak:
                _espeak(text, wav, words_per_minute=words_per_minute)
            else:
                _tones(text, wav)
        rows.append(f"{utt}|{text}")
    with atomic_open(out / "metadata.csv") as fh:
        fh.write("\n".join(rows) + "\n")
    return DemoCorpus(root=out, n_clips=len(rows), voice="espeak-ng" if use_espeak else "tones")


def tiny_prepared(root: str | Path, *, n: int = 4) -> Path:
    """``n`` short tone-voiced clips run through ``sesli prepare`` into ``root/prepared`` (tests)."""
    from sesli.data.prepare import PrepareConfig, prepare

    root = Path(root)
    corpus = write_demo_corpus(root / "corpus", n=n, max_words=5, use_espeak=False)
    prepare(corpus.root, root / "prepared", PrepareConfig(progress=False, val_split=0.25))
    return root / "prepared"
