"""One clip through the pipeline: text front-end, decode, checks, clean-up, write.

:func:`process_item` runs in worker processes; it never raises for a bad clip, it returns a
:class:`ClipResult` holding either the prepared utterances or a reject reason. Whether audio is a
*duplicate* is decided by the caller, which sees every clip in order.

Word counts are taken on the **normalised** text (numbers spelled out, as they will be spoken), and
a word is a token holding at least one letter or digit, so "5 kedi." has two words.

An item with a ``crop`` (start, duration in seconds) is decoded only over that span: libsndfile
seeks to it (``soundfile.read(start=, stop=)``), so a 4 s crop of a 20-minute recording reads 4 s;
formats it cannot seek (ffmpeg's) are decoded whole and sliced. The item's ``labels`` are copied
into every utterance it yields.
"""

from __future__ import annotations

import hashlib
import re
import traceback
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from sesli.audio import effects
from sesli.audio.io import AudioDecodeError, load_audio, resample, save_wav, to_int16
from sesli.data.manifest import Utterance
from sesli.data.sources.base import SourceItem

_ASCII = str.maketrans("şŞğĞıİçÇöÖüÜâÂîÎûÛ", "sSgGiIcCoOuUaAiIuU")


@dataclass(frozen=True)
class ProcessConfig:
    """Settings that change what a prepared clip contains (stored with the output folder).

    Attributes:
        sample_rate: output rate in Hz.
        trim: cut leading/trailing silence (``trim_db`` below the loudest frame).
        normalize: ``peak`` (to ``peak_db``), ``loudness`` (gated RMS to ``loudness_db``) or ``none``.
        highpass_hz: zero-phase high-pass cutoff (RVC uses 48 Hz), or None for no filter.
        min_words: reject transcripts with fewer words (normalised text); 0 disables.
        min_duration, max_duration: bounds in seconds after trimming.
        max_clipping: reject when more than this fraction of samples sit in flat full-scale runs.
        silence_db: reject when the trimmed clip's RMS is below this (dBFS).
        reject_unknown: reject transcripts with characters the G2P cannot read.
        slice: cut long recordings on silence and into 3.7 s windows (voice conversion); text is
            not used then.
        use_text: run the text front-end; False keeps empty text (voice conversion, sound).
        piece_seconds: sound: a recording longer than ``max_duration`` is cut into consecutive
            pieces of this length (the last one keeps the remainder) instead of being rejected as
            too long; None rejects it.
    """

    sample_rate: int = 24000
    trim: bool = True
    trim_db: float = -40.0
    normalize: Literal["peak", "loudness", "none"] = "peak"
    peak_db: float = -1.0
    loudness_db: float = -23.0
    highpass_hz: float | None = None
    min_words: int = 5
    min_duration: float = 0.5
    max_duration: float = 30.0
    max_clipping: float = 0.01
    silence_db: float = -50.0
    reject_unknown: bool = True
    slice: bool = False
    use_text: bool = True
    piece_seconds: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["piece_seconds"] is None:  # absent from folders prepared before it existed: they still resume
            del d["piece_seconds"]
        return d


@dataclass
class ClipResult:
    """What became of one source item: utterances (with audio hashes) or a reject."""

    ref: str
    utterances: list[dict] = field(default_factory=list)  # Utterance fields + "hash"
    reason: str | None = None
    detail: str = ""
    dropped: list[dict] = field(default_factory=list)  # slices left out: {source, reason, detail}

    def to_json(self) -> dict:
        return asdict(self)


class _Reject(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def utterance_id(ref: str) -> str:
    """A filesystem-safe id from a source reference: readable stem + 10 hex digits of its hash."""
    stem = Path(ref.split(":")[0]).stem or "clip"
    stem = unicodedata.normalize("NFKD", stem.translate(_ASCII)).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:40] or "clip"
    return f"{stem}_{hashlib.sha1(ref.encode('utf-8')).hexdigest()[:10]}"


def count_words(text: str) -> int:
    """Tokens holding at least one letter or digit."""
    return sum(1 for tok in text.split() if any(ch.isalnum() for ch in tok))


def _source_error(message: str) -> _Reject:
    if message.startswith("missing audio"):
        return _Reject("missing audio", message)
    if message.startswith("missing transcript"):
        return _Reject("missing transcript", message)
    return _Reject("bad transcript" if "transcript" in message else "bad source entry", message)


def _text(item: SourceItem, cfg: ProcessConfig) -> tuple[str, str, str]:
    """(text, normalised, phonemes), or raise _Reject."""
    if item.text is None:
        raise _Reject("missing transcript", "no transcript for this clip")
    if not item.text.strip():
        raise _Reject("empty transcript", "the transcript is empty")
    from sesli.text.g2p import phonemize

    result = phonemize(item.text)
    if cfg.reject_unknown and result.unknown:
        chars = "".join(dict.fromkeys(result.unknown))
        raise _Reject("unreadable characters", f"G2P cannot read {chars!r} in {item.text!r}")
    words = count_words(result.normalized)
    if words < cfg.min_words:
        raise _Reject("too few words", f"{words} word(s) < --min-words {cfg.min_words}")
    if not result.phonemes.strip():
        raise _Reject("unreadable characters", f"no phonemes for {item.text!r}")
    return item.text, result.normalized, result.phonemes


def _span(n: int, sr: int, crop: tuple[float, float]) -> tuple[int, int]:
    """Sample range ``[start, stop)`` of a crop in a clip of ``n`` samples, or raise _Reject."""
    start = int(round(crop[0] * sr))
    stop = min(n, start + int(round(crop[1] * sr)))
    if crop[1] <= 0 or start < 0 or start >= stop:
        raise _Reject(
            "bad crop", f"crop {crop[0]:.3f}+{crop[1]:.3f} s lies outside the clip ({n / sr:.3f} s)"
        )
    return start, stop


def _read_crop(path: str, crop: tuple[float, float]) -> tuple[np.ndarray, int] | None:
    """Mono float32 samples of ``crop`` read straight from the file, or None if libsndfile cannot."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    start, stop = _span(info.frames, info.samplerate, crop)
    audio, sr = sf.read(path, start=start, stop=stop, dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(sr)


def _load(item: SourceItem) -> tuple[np.ndarray, int]:
    """The item's mono audio at its own rate (only its crop, when it has one)."""
    if isinstance(item.audio, str) and item.crop is not None and Path(item.audio).is_file():
        read = _read_crop(item.audio, item.crop)
        if read is not None:
            return read
    if isinstance(item.audio, tuple):
        audio, sr = np.asarray(item.audio[0], dtype=np.float32), int(item.audio[1])
        audio = audio.mean(axis=1) if audio.ndim == 2 else audio
    else:
        audio, sr = load_audio(item.audio, None, mono=True)
    if item.crop is not None:
        start, stop = _span(len(audio), sr, item.crop)
        audio = audio[start:stop]
    return audio, sr


def _decode(item: SourceItem, cfg: ProcessConfig) -> np.ndarray:
    """Decoded, checked, resampled mono audio at ``cfg.sample_rate``."""
    try:
        audio, sr = _load(item)
    except AudioDecodeError as err:
        raise _Reject("decode error", str(err)) from None
    if audio.size == 0:
        raise _Reject("decode error", "no audio samples")
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise _Reject("non-finite samples", f"{bad} NaN/inf sample(s)")
    clipped = effects.clipped_fraction(audio)
    if clipped > cfg.max_clipping:
        raise _Reject("clipping", f"{clipped:.1%} of samples clipped (> {cfg.max_clipping:.1%})")
    if np.max(np.abs(audio)) > 1.0:  # float files may exceed full scale without clipping
        audio = audio / np.max(np.abs(audio))
    out = resample(audio, sr, cfg.sample_rate)
    if out.size == 0:  # e.g. one sample at 44.1 kHz is none at 16 kHz
        raise _Reject("too short", f"{audio.size} sample(s) at {sr} Hz leave none at {cfg.sample_rate} Hz")
    return out


def _finish(audio: np.ndarray, cfg: ProcessConfig) -> np.ndarray:
    sr = cfg.sample_rate
    if cfg.trim:
        audio = effects.trim_silence(audio, sr, threshold_db=cfg.trim_db)
    level = effects.rms_db(audio)
    if audio.size == 0 or level < cfg.silence_db:
        raise _Reject("near-silent", f"level {level:.1f} dBFS < {cfg.silence_db} dBFS")
    if cfg.normalize == "peak":
        audio = effects.peak_normalize(audio, cfg.peak_db)
    elif cfg.normalize == "loudness":
        audio = effects.loudness_normalize(audio, sr, cfg.loudness_db, max_peak_db=cfg.peak_db)
    duration = len(audio) / sr
    if duration < cfg.min_duration:
        raise _Reject("too short", f"{duration:.2f} s < {cfg.min_duration} s")
    if duration > cfg.max_duration:
        raise _Reject("too long", f"{duration:.2f} s > {cfg.max_duration} s")
    return audio


def _write(pcm: np.ndarray, uid: str, wav_dir: Path, cfg: ProcessConfig) -> tuple[str, str]:
    save_wav(wav_dir / f"{uid}.wav", pcm, cfg.sample_rate)
    return f"{wav_dir.name}/{uid}.wav", hashlib.sha1(pcm.tobytes()).hexdigest()


def _process(item: SourceItem, cfg: ProcessConfig, wav_dir: Path, use_text: bool) -> ClipResult:
    if item.error:
        raise _source_error(item.error)
    text = normalized = phonemes = ""
    if use_text and not cfg.slice:
        text, normalized, phonemes = _text(item, cfg)
    audio = _decode(item, cfg)
    if cfg.highpass_hz:
        audio = effects.highpass(audio, cfg.sample_rate, cfg.highpass_hz)
    uid = utterance_id(item.ref)
    if cfg.slice:
        pieces = [
            w
            for s in effects.slice_on_silence(audio, cfg.sample_rate)
            for w in effects.windows(s, cfg.sample_rate)
        ]
        if not pieces:
            raise _Reject("near-silent", "no sound above -42 dBFS to slice")
        ids = [(f"{uid}_{k:04d}", f"{item.ref}#{k}") for k in range(len(pieces))]
    elif cfg.piece_seconds and len(audio) > cfg.max_duration * cfg.sample_rate:
        pieces = effects.windows(audio, cfg.sample_rate, cfg.piece_seconds, 0.0)
        ids = [(f"{uid}_{k:04d}", f"{item.ref}#{k}") for k in range(len(pieces))]
    else:
        pieces, ids = [audio], [(uid, item.ref)]
    result, errors = ClipResult(item.ref), []
    for piece, (pid, pref) in zip(pieces, ids, strict=True):
        try:
            pcm = to_int16(_finish(piece, cfg))
        except _Reject as rej:
            errors.append(rej)
            result.dropped.append({"source": pref, "reason": rej.reason, "detail": rej.detail, "id": pid})
            continue
        path, digest = _write(pcm, pid, wav_dir, cfg)
        utt = Utterance(pid, path, round(len(pcm) / cfg.sample_rate, 4), cfg.sample_rate, item.speaker,
                        text, normalized, phonemes, pref, dict(item.labels or {}))  # fmt: skip
        result.utterances.append({**asdict(utt), "hash": digest})
    if not result.utterances:
        raise (
            errors[0]
            if len(errors) == 1
            else _Reject(errors[0].reason, f"all {len(errors)} slices: {errors[0].detail}")
        )
    return result


def process_item(
    item: SourceItem, cfg: ProcessConfig, wav_dir: str | Path, use_text: bool = True
) -> ClipResult:
    """Prepare one item, writing its wav(s) into ``wav_dir``; never raises for a bad clip.

    Args:
        item: the source item.
        cfg: processing settings.
        wav_dir: folder for the 16-bit wavs (the manifest paths are ``<wav_dir name>/<id>.wav``).
        use_text: run the text front-end and text filters (False for data without text).
    """
    try:
        return _process(item, cfg, Path(wav_dir), use_text)
    except _Reject as rej:
        return ClipResult(item.ref, reason=rej.reason, detail=rej.detail)
    except Exception as err:  # a bug or an exotic file must not stop a long run
        last = traceback.extract_tb(err.__traceback__)[-1]
        where = f"{Path(last.filename).name}:{last.lineno}"
        return ClipResult(
            item.ref, reason="processing error", detail=f"{type(err).__name__}: {err} ({where})"
        )
