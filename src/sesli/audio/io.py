"""Audio files in and out: decode anything common, resample, write 16-bit PCM atomically.

Decoding tries libsndfile first (WAV, FLAC, OGG/Vorbis, MP3 since libsndfile 1.1, AIFF, ...), then
falls back to an ``ffmpeg`` subprocess for containers libsndfile does not read (m4a/AAC, opus in
webm/mp4, wma, ...). Every failure becomes an :class:`AudioDecodeError` whose message says what is
wrong with which file, so a data pipeline can record it as a reject reason and carry on.

Arrays are float32 in [-1, 1]; mono audio has shape (T,), multichannel (T, C) as soundfile gives.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from sesli.fileio import atomic_path

# Extensions the data pipeline treats as audio.
AUDIO_EXTENSIONS = (
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".mp3",
    ".m4a",
    ".opus",
    ".aac",
    ".wma",
    ".webm",
    ".aiff",
)


class AudioDecodeError(ValueError):
    """A file (or bytes) could not be read as audio; the message says why."""


def _describe(src: str | os.PathLike | bytes) -> str:
    return "<bytes>" if isinstance(src, bytes | bytearray) else str(src)


def _decode_soundfile(src: str | os.PathLike | bytes) -> tuple[np.ndarray, int]:
    handle = io.BytesIO(src) if isinstance(src, bytes | bytearray) else src
    audio, sr = sf.read(handle, dtype="float32", always_2d=True)
    return audio, int(sr)


def _decode_ffmpeg(src: str | os.PathLike | bytes, sr: int | None) -> tuple[np.ndarray, int]:
    exe = shutil.which("ffmpeg")
    if exe is None:
        suffix = "" if isinstance(src, bytes | bytearray) else Path(src).suffix
        raise AudioDecodeError(f"ffmpeg not installed, cannot decode {suffix or 'this format'}")
    cmd = [exe, "-v", "error", "-nostdin", "-i", "pipe:0" if isinstance(src, bytes | bytearray) else str(src)]
    if sr is not None:
        cmd += ["-ar", str(sr)]
    # Float WAV on stdout keeps the channel count and rate in a header we can parse.
    cmd += ["-f", "wav", "-acodec", "pcm_f32le", "pipe:1"]
    proc = subprocess.run(
        cmd, input=src if isinstance(src, bytes | bytearray) else None, capture_output=True, check=False
    )
    if proc.returncode != 0 or not proc.stdout:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioDecodeError(f"ffmpeg could not decode: {reason[-1] if reason else 'no audio stream'}")
    return _decode_soundfile(proc.stdout)


def load_audio(
    src: str | os.PathLike | bytes, sr: int | None = None, mono: bool = True
) -> tuple[np.ndarray, int]:
    """Decode an audio file (or its bytes) to float32.

    Args:
        src: a path, or the encoded file's bytes (as Hugging Face datasets store them).
        sr: resample to this rate (None keeps the file's rate).
        mono: average the channels to shape (T,); otherwise return (T, C).

    Returns:
        ``(audio, sample_rate)``; audio in [-1, 1] for integer formats (float files are returned as
        stored, so callers can detect NaN/inf or values above full scale).

    Raises:
        AudioDecodeError: the file is missing, empty, truncated, not audio, or has no samples.
    """
    if not isinstance(src, bytes | bytearray):
        path = Path(src)
        if not path.is_file():
            raise AudioDecodeError(f"file not found: {path}")
        if path.stat().st_size == 0:
            raise AudioDecodeError(f"empty file (0 bytes): {path}")
    elif len(src) == 0:
        raise AudioDecodeError("empty audio bytes")
    try:
        audio, file_sr = _decode_soundfile(src)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as sf_err:
        try:
            audio, file_sr = _decode_ffmpeg(src, None)
        except AudioDecodeError as ff_err:
            if "not installed" in str(ff_err):
                raise
            raise AudioDecodeError(f"not a readable audio file ({sf_err}; {ff_err})") from None
    if audio.shape[0] == 0:
        raise AudioDecodeError(f"no audio samples in {_describe(src)}")
    if mono:
        audio = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if sr is not None and sr != file_sr:
        audio = resample(audio, file_sr, sr)
        file_sr = sr
    return np.ascontiguousarray(audio, dtype=np.float32), file_sr


def resample(audio: np.ndarray, sr_in: int, sr_out: int, quality: str = "HQ") -> np.ndarray:
    """Resample (T,) or (T, C) float audio with soxr (band-limited, linear phase).

    Non-finite samples are passed through unchanged in count but will poison the output, so
    callers check ``np.isfinite`` first.
    """
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(np.asarray(audio, dtype=np.float32), sr_in, sr_out, quality=quality).astype(
        np.float32, copy=False
    )


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio to int16 PCM with rounding and clipping to full scale."""
    return np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32767.0), -32768, 32767).astype(np.int16)


def save_wav(path: str | os.PathLike, audio: np.ndarray, sr: int) -> Path:
    """Write 16-bit PCM WAV atomically (a killed job never leaves half a file).

    Args:
        path: destination (parent folders are created).
        audio: float audio (T,) or (T, C) in [-1, 1]; values outside are clipped.
        sr: sample rate in Hz.
    """
    path = Path(path)
    audio = np.asarray(audio)
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"refusing to write non-finite samples to {path}")
    pcm = audio if audio.dtype == np.int16 else to_int16(audio)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, pcm, int(sr), subtype="PCM_16", format="WAV")
    return path


def audio_duration(path: str | os.PathLike) -> float:
    """Duration in seconds from the header (cheap; libsndfile formats only)."""
    info = sf.info(str(path))
    return info.frames / float(info.samplerate)
