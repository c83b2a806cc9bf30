"""Dummy audio and small corpora in every input shape ``sesli prepare`` reads (for tests, benchmarks).

Signals are deterministic given a seed. ``speech_like`` is a harmonic tone with a syllable-rate
envelope between stretches of silence: enough for trimming, slicing and level code to see
"speech", with no recordings shipped.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

SENTENCES = (
    "Bugün hava çok güzel ve güneşli görünüyor.",
    "Yarın sabah erkenden İstanbul'a gideceğiz.",
    "Kediler bahçede oyun oynamayı çok sever.",
    "Öğretmen çocuklara yeni bir şarkı öğretti.",
    "Akşam yemeğinde mercimek çorbası içtik biz.",
    "Kitap okumak insanın ufkunu genişletir her zaman.",
    "Şehrin ışıkları gece boyunca parlak kaldı.",
    "Küçük kız annesine çiçek getirdi bugün.",
)


def sine(duration: float, sr: int, freq: float = 220.0, amplitude: float = 0.5) -> np.ndarray:
    """A sine, float32 (T,)."""
    t = np.arange(int(round(duration * sr))) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(duration: float, sr: int, amplitude: float = 0.1, seed: int = 0) -> np.ndarray:
    """White noise, float32 (T,)."""
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(int(round(duration * sr)))).astype(np.float32)


def speech_like(
    duration: float, sr: int, seed: int = 0, amplitude: float = 0.5, pad: float = 0.1
) -> np.ndarray:
    """Voiced-sounding syllables (about 4 per second) with ``pad`` seconds of silence at both ends."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(3.5, 4.5) * t + rng.uniform(0, np.pi))
    audio = voiced * envelope + 0.01 * rng.standard_normal(n)
    audio = amplitude * audio / (np.max(np.abs(audio)) + 1e-9)
    edge = int(pad * sr)
    if 0 < 2 * edge < n:
        audio[:edge] = 0.0
        audio[-edge:] = 0.0
    return audio.astype(np.float32)


def with_pauses(segments: Sequence[float], pause: float, sr: int, seed: int = 0) -> np.ndarray:
    """Speech-like segments of the given lengths separated by ``pause`` seconds of silence."""
    gap = np.zeros(int(pause * sr), dtype=np.float32)
    parts = []
    for i, seg in enumerate(segments):
        parts += [speech_like(seg, sr, seed=seed + i, pad=0.0), gap]
    return np.concatenate([gap] + parts)


def write_wav(path: str | Path, audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    """Write a test file in any soundfile subtype (PCM_U8, PCM_24, FLOAT, ...) or format by suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr, subtype=subtype)
    return path


def wav_bytes(audio: np.ndarray, sr: int) -> bytes:
    """A 16-bit WAV file's bytes (as Hugging Face datasets store audio)."""
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def write_truncated_wav(path: str | Path, sr: int = 16000) -> Path:
    """A WAV whose header promises 1 s but whose data stops after 10 ms."""
    path = Path(path)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((speech_like(1.0, sr) * 32767).astype("<i2").tobytes())
    path.write_bytes(buf.getvalue()[: 44 + int(0.01 * sr) * 2])
    return path


def make_ljspeech(root: str | Path, n: int = 6, sr: int = 22050, speakers: Sequence[str] | None = None,
                  duration: float = 1.0) -> Path:  # fmt: skip
    """``root/metadata.csv`` (``id|text`` or ``id|speaker|text``) + ``root/wavs``."""
    root = Path(root)
    lines = []
    for i in range(n):
        write_wav(root / "wavs" / f"LJ{i:03d}.wav", speech_like(duration, sr, seed=i), sr)
        text = SENTENCES[i % len(SENTENCES)]
        lines.append(f"LJ{i:03d}|{speakers[i % len(speakers)]}|{text}" if speakers else f"LJ{i:03d}|{text}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def make_melo(root: str | Path, n: int = 4, sr: int = 44100, duration: float = 1.0) -> Path:
    """``root/train.list`` with ``path|speaker|language|text`` lines + ``root/audio``; returns the list."""
    root = Path(root)
    lines = []
    for i in range(n):
        write_wav(root / "audio" / f"m{i}.wav", speech_like(duration, sr, seed=10 + i), sr)
        lines.append(f"audio/m{i}.wav|spk{i % 2}|TR|{SENTENCES[i % len(SENTENCES)]}")
    (root / "train.list").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "train.list"


def make_commonvoice(
    root: str | Path, n: int = 4, sr: int = 48000, duration: float = 1.0, ext: str = ".mp3"
) -> Path:
    """A Common Voice release folder: ``validated.tsv`` + ``clips/`` (MP3 via libsndfile by default)."""
    root = Path(root)
    rows = ["client_id\tpath\tsentence\tup_votes\tdown_votes"]
    for i in range(n):
        name = f"common_voice_tr_{i}{ext}"
        audio = speech_like(duration, sr, seed=20 + i)
        write_wav(root / "clips" / name, audio, sr, subtype="MPEG_LAYER_III" if ext == ".mp3" else "PCM_16")
        rows.append(f"client{i % 2:02d}\t{name}\t{SENTENCES[i % len(SENTENCES)]}\t2\t0")
    (root / "validated.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def make_folder(
    root: str | Path, n: int = 4, sr: int = 16000, transcripts: bool = True, duration: float = 1.0
) -> Path:
    """A plain folder of wavs, with same-name ``.txt`` transcripts when ``transcripts``."""
    root = Path(root)
    for i in range(n):
        write_wav(root / f"clip{i}.wav", speech_like(duration, sr, seed=30 + i), sr)
        if transcripts:
            (root / f"clip{i}.txt").write_text(SENTENCES[i % len(SENTENCES)], encoding="utf-8")
    return root


def make_hf_rows(n: int = 4, sr: int = 16000, duration: float = 1.0) -> dict[str, list]:
    """Columns ``audio`` ({bytes, path}) and ``sentence``, as the default hub dataset has."""
    return {
        "audio": [
            {"bytes": wav_bytes(speech_like(duration, sr, seed=40 + i), sr), "path": f"r{i}.wav"}
            for i in range(n)
        ],  # fmt: skip
        "sentence": [SENTENCES[i % len(SENTENCES)] for i in range(n)],
    }
