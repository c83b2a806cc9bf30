"""Voice conversion (RVC's inference pipeline) on a trained voice: source speech in, target voice out.

Letters: N samples at 16 kHz, T50 content frames (50 /s), T model frames (100 /s), C feature size.

:func:`load_converter` takes an experiment folder (its ``{name}.pth`` and ``added_*.index``) or an
RVC voice file, and returns a :class:`VoiceConverter`. ``convert`` follows RVC's ``Pipeline``
(RVC-Project/Retrieval-based-Voice-Conversion-WebUI ``infer/modules/vc/pipeline.py``, the version
before its 2025 rewrite, which interpolates unvoiced f0 and so silences ``protect``):

1. resample to 16 kHz (soxr), 5th-order Butterworth high-pass at 48 Hz, zero-phase (``filtfilt``);
2. reflect-pad ``pad_s`` (RVC ``x_pad``) on both sides; f0 of the whole padded clip once
   (harvest by default, then RVC's median filter), shifted by ``2 ** (pitch / 12)``, then coarse;
3. an input longer than ``max_s`` (``x_max``) is cut near every multiple of ``center_s``
   (``x_center``) at the quietest point within ``query_s`` (``x_query``) of it, where "quiet" is
   the 10 ms moving sum of ``|x|``; each piece is converted with ``pad_s`` of real audio on both
   sides and trimmed back, so the pieces join without seams of padding;
4. per piece: content features (v2 768-d at 50 /s); with an index, each frame is blended towards
   its 8 nearest training frames (1/d² weights) by ``index_rate``; frames repeated x2 to 100 /s;
   ``protect`` < 0.5 pulls unvoiced frames (f0 = 0) back towards the un-retrieved features
   (``feats * w + feats0 * (1 - w)``, w = 1 voiced, ``protect`` unvoiced: breaths and "s" keep
   their own content); the generator at speaker ``speaker``;
5. ``rms_mix_rate`` < 1: the output's loudness envelope moves towards the input's, RVC's
   ``change_rms``: RMS in 1 s frames every 0.5 s (``frame_length = sr // 2 * 2``,
   ``hop_length = sr // 2``: coarser than the 50 ms often quoted), interpolated linearly to every
   sample, ``out *= rms_in ** (1 - rate) * rms_out ** (rate - 1)``;
6. scaled down when its peak passes 0.99 (RVC's int16 write), never up.

The output has exactly ``round(len(audio) * model_rate / sample_rate)`` samples (the pieces give
whole 10 ms frames; the end is cropped or zero-filled by less than one frame). The generator's
prior and NSF noise come from a generator seeded with ``seed`` at every call, so one input gives
one output (RVC draws fresh noise each time).

Streaming (:meth:`VoiceConverter.stream`, beyond the WebUI, for the server): blocks of
``block_s`` are converted with ``context_s`` of past audio and ``lookahead_s`` of future audio
around them and joined with a ``crossfade_s`` raised-cosine crossfade. A block's audio is ready
once the input reaches its end plus the lookahead, so the latency is ``block_s + lookahead_s`` plus
the time to convert one window (``context_s + block_s + lookahead_s``; with the defaults 2.2 s of
audio per 1 s block, so the stream keeps up where whole conversion runs below RTF ~0.45). Each
block is peak-clipped at 0.99 instead of scaled (a stream cannot look at its own future peak).

The inference registry (:mod:`sesli.inference.registry`) is not used: its families implement the
text-to-speech :class:`~sesli.inference.base.Speaker` surface (``synthesize(text)``) and
``say``/``eval``/``serve`` call that on whatever it returns; a converter takes audio, so it gets
its own loader here rather than a family entry that those verbs would trip over.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sesli.audio.effects import highpass
from sesli.audio.io import AUDIO_EXTENSIONS, AudioDecodeError, load_audio, resample, save_wav
from sesli.audio.pitch import F0_METHODS, PitchError, coarse_f0, extract_f0, shift_f0
from sesli.models.vc.config import VcConfig
from sesli.models.vc.content import ContentEncoder, ContentInputError, ContentModelError
from sesli.models.vc.index import IndexLoadError, load_index, retrieve
from sesli.models.vc.model import VcInputError, VcModel
from sesli.models.vc.rvc_format import RvcFormatError, load_rvc_voice

if TYPE_CHECKING:
    from sesli.inference.vc_stream import BlockStream

SR16 = 16000
WINDOW = 160  # samples per f0 frame at 16 kHz (10 ms): the unit every cut is rounded to
MIN_SECONDS = 0.25  # shortest input converted
SILENT_PEAK = 1e-3  # -60 dBFS: below this the input counts as silent
HIGHPASS_HZ = 48.0
PEAK = 0.99
NOISE_SCALE = 0.66666  # RVC's prior noise scale at inference
INDEX_K = 8
INDEX_HELP = "build it with `sesli vc index {exp}`"


class ConvertError(ValueError):
    """Input, options or model files that voice conversion cannot use (the message says what to do)."""


@dataclass(frozen=True)
class Segmenting:
    """RVC's long-input settings, seconds (``x_pad``, ``x_query``, ``x_center``, ``x_max``).

    The defaults are RVC's for float32 (CPU) inference; its fp16 GPU config uses 3, 10, 60, 65.
    """

    pad_s: float = 1.0
    query_s: float = 6.0
    center_s: float = 38.0
    max_s: float = 41.0


@dataclass
class ConvertResult:
    """Converted audio and what it cost."""

    audio: np.ndarray  # (N,) float32 at the model's rate
    sample_rate: int
    timings: dict[str, float]  # seconds: features, f0, index, generate, total
    warnings: list[str] = field(default_factory=list)
    segments: list[tuple[float, float]] = field(default_factory=list)  # pieces, seconds of input

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def save(self, path: str | Path) -> Path:
        """Write a 16-bit WAV atomically."""
        return save_wav(path, self.audio, self.sample_rate)


@dataclass
class FolderResult:
    """What :meth:`VoiceConverter.convert_folder` did with each file."""

    converted: list[tuple[Path, Path]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Options:
    pitch: float
    f0_method: str
    index_rate: float
    protect: float
    filter_radius: int
    rms_mix_rate: float
    speaker: int


def _in_range(name: str, value: Any, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConvertError(f"{name} must be a number, got {value!r}") from None
    if not lo <= v <= hi:
        raise ConvertError(f"{name} must lie in [{lo:g}, {hi:g}], got {value}")
    return v


def _frame_rms(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """``librosa.feature.rms(y, frame_length=frame, hop_length=hop)`` (centred, zero-padded): (F,)."""
    padded = np.pad(np.asarray(x, dtype=np.float64), (frame // 2, frame // 2))
    n = 1 + (len(padded) - frame) // hop
    power = np.concatenate([[0.0], np.cumsum(np.square(padded))])
    starts = np.arange(n) * hop
    return np.sqrt(np.maximum(power[starts + frame] - power[starts], 0.0) / frame)


def _stretch(values: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation to ``n`` points as ``F.interpolate(mode="linear")`` (align_corners False)."""
    pos = (np.arange(n) + 0.5) * (len(values) / n) - 0.5
    return np.interp(pos, np.arange(len(values)), values)


def change_rms(source: np.ndarray, source_sr: int, out: np.ndarray, out_sr: int, rate: float) -> np.ndarray:
    """RVC's ``change_rms``: ``out * rms_src ** (1 - rate) * rms_out ** (rate - 1)`` (module docstring)."""
    rms1 = _stretch(_frame_rms(source, source_sr // 2 * 2, source_sr // 2), len(out))
    rms2 = np.maximum(_stretch(_frame_rms(out, out_sr // 2 * 2, out_sr // 2), len(out)), 1e-6)
    return (out * rms1 ** (1 - rate) * rms2 ** (rate - 1)).astype(np.float32)


def protect_features(feats: np.ndarray, feats0: np.ndarray, pitchf: np.ndarray, protect: float) -> np.ndarray:
    """RVC's ``protect``: ``feats * w + feats0 * (1 - w)``, w = 1 where ``pitchf > 0``, else ``protect``.

    Args:
        feats: (T, C) features after retrieval, at 100 fps.
        feats0: (T, C) the same frames before retrieval.
        pitchf: (T,) f0 in Hz (0 = unvoiced).
        protect: 0 keeps unvoiced frames' own features entirely; 0.5 or more: no protection.
    """
    if protect >= 0.5:
        return feats
    w = np.where(pitchf > 0, 1.0, protect).astype(np.float32)[:, None]  # (T, 1)
    return feats * w + feats0 * (1 - w)


def split_points(x: np.ndarray, seg: Segmenting) -> list[int]:
    """Where RVC cuts a long 16 kHz input: near each multiple of ``center_s``, at the lowest 10 ms
    moving sum of ``|x|`` within ``query_s`` either side; multiples of :data:`WINDOW`, increasing."""
    if len(x) + WINDOW <= seg.max_s * SR16:
        return []
    a = np.abs(np.pad(x.astype(np.float64), (WINDOW // 2, WINDOW // 2), mode="reflect"))
    c = np.concatenate([[0.0], np.cumsum(a)])
    energy = c[WINDOW : WINDOW + len(x)] - c[: len(x)]  # (N,) sum of |x| over 10 ms centred on each sample
    query, center = int(seg.query_s * SR16), int(seg.center_s * SR16)
    cuts = []
    for t in range(center, len(x), center):
        lo = max(0, t - query)
        cut = (lo + int(np.argmin(energy[lo : t + query]))) // WINDOW * WINDOW
        if cut > (cuts[-1] if cuts else 0) and cut < len(x):
            cuts.append(cut)
    return cuts


class VoiceConverter:
    """A loaded voice that converts speech (see the module docstring).

    Args:
        model: the generator (eval mode).
        content: the content encoder whose features the voice was trained on.
        index: a faiss index of the training features, or None.
        index_hint: the sentence a missing-index warning ends with (None: no warning).
        f0_model: the loaded RMVPE network or its weights file (for ``f0_method="rmvpe"``/``fcpe``).
        device: torch device.
        seed: seed of the prior and NSF noise for every call (None: torch's global RNG).
        segmenting: long-input settings.
        speaker: the default speaker id (an experiment's: the one its voice was trained as).
        notes: how the files were found (shown by the CLI).
    """

    family = "vc"

    def __init__(
        self,
        model: VcModel,
        content: ContentEncoder,
        *,
        index: Any = None,
        index_hint: str | None = None,
        f0_model: Any = None,
        device: str | torch.device = "cpu",
        seed: int | None = 0,
        segmenting: Segmenting = Segmenting(),
        speaker: int = 0,
        notes: list[str] | None = None,
    ) -> None:
        cfg = model.config
        if content.dim != cfg.feature_dim:
            raise ConvertError(_dim_mismatch(content.dim, cfg))
        if index is not None and index.d != cfg.feature_dim:
            raise ConvertError(
                f"the index holds {index.d}-d vectors but the voice takes {cfg.feature_dim}-d features: "
                "rebuild it from this voice's features, " + (index_hint or INDEX_HELP.format(exp="EXP"))
            )
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.content = content.to(self.device).eval()
        self.index = index
        self.index_hint = index_hint
        self.f0_model = f0_model
        self.seed = seed
        self.segmenting = segmenting
        self.speaker = speaker
        self.notes = list(notes or [])

    @property
    def config(self) -> VcConfig:
        return self.model.config

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    # -- checks --------------------------------------------------------------------------------

    def options(self, *, pitch: float = 0, f0_method: str = "harvest", index_rate: float = 0.75,
                protect: float = 0.33, filter_radius: int = 3, rms_mix_rate: float = 0.25,
                speaker: int | None = None) -> _Options:  # fmt: skip
        """Validated options (raises :class:`ConvertError` before any work)."""
        if self.config.f0 and f0_method not in F0_METHODS:
            raise ConvertError(f"unknown f0 method {f0_method!r}; use one of {', '.join(F0_METHODS)}")
        n = self.config.n_speakers
        speaker = self.speaker if speaker is None else speaker
        try:
            sid = int(speaker)
        except (TypeError, ValueError):
            raise ConvertError(f"speaker must be an integer id, got {speaker!r}") from None
        if not 0 <= sid < n:
            raise ConvertError(f"speaker {speaker} is out of range: this voice has speakers 0..{n - 1}")
        return _Options(
            pitch=_in_range("pitch (semitones)", pitch, -48, 48),
            f0_method=f0_method,
            index_rate=_in_range("index_rate", index_rate, 0, 1),
            protect=_in_range("protect", protect, 0, 1),
            filter_radius=int(_in_range("filter_radius", filter_radius, 0, 7)),
            rms_mix_rate=_in_range("rms_mix_rate", rms_mix_rate, 0, 1),
            speaker=sid,
        )

    def _to16k(self, audio: Any, sample_rate: Any) -> np.ndarray:
        x = np.asarray(audio)
        if x.ndim == 2 and x.shape[1] <= 16 < x.shape[0]:  # (T, C) as soundfile gives: mix down
            x = x.mean(axis=1)
        if x.ndim != 1:
            raise ConvertError(f"expected mono audio (N,) or (N, channels), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise ConvertError(
                f"expected float audio in [-1, 1], got {x.dtype} samples (int16: divide by 32768)"
            )
        sample_rate = check_rate(sample_rate)
        if not np.isfinite(x).all():
            raise ConvertError("the input holds NaN or infinite samples")
        seconds = len(x) / int(sample_rate)
        if seconds < MIN_SECONDS:
            raise ConvertError(
                f"the input is {seconds:.2f} s long; voice conversion needs at least {MIN_SECONDS} s"
            )
        peak = float(np.max(np.abs(x)))
        if peak < SILENT_PEAK:
            level = f"{20 * np.log10(peak):.0f} dBFS" if peak > 0 else "digital silence"
            raise ConvertError(f"the input is silent (peak {level}, below -60 dBFS): nothing to convert")
        return resample(x.astype(np.float32), int(sample_rate), SR16)

    # -- the pipeline ----------------------------------------------------------------------------

    def _f0(self, x: np.ndarray, opts: _Options) -> np.ndarray:
        model, path = self.f0_model, None
        if isinstance(model, (str, Path)):
            path = model
            if opts.f0_method == "rmvpe":
                from sesli.models.vc.rmvpe import load_rmvpe

                model = self.f0_model = load_rmvpe(path, device=self.device)
                path = None
            else:
                model = None
        try:
            return extract_f0(x, opts.f0_method, filter_radius=opts.filter_radius, model=model,
                              model_path=path, device=str(self.device))  # fmt: skip
        except PitchError as err:
            raise ConvertError(str(err)) from err

    def _piece(self, x: np.ndarray, pitch: np.ndarray | None, pitchf: np.ndarray | None,
               opts: _Options, gen, times: dict[str, float]) -> np.ndarray:  # fmt: skip
        """One padded piece (16 kHz) and its f0 frames -> model-rate audio of its frames."""
        t0 = time.perf_counter()
        try:
            feats = self.content.extract(x)  # (T50, C)
        except ContentInputError as err:
            raise ConvertError(str(err)) from err
        t1 = time.perf_counter()
        feats0 = feats
        if self.index is not None and opts.index_rate > 0:
            feats = retrieve(self.index, feats, index_rate=opts.index_rate, k=INDEX_K)
        t2 = time.perf_counter()
        n = min(2 * len(feats), len(x) // WINDOW, len(pitch) if pitch is not None else 1 << 62)
        feats = np.repeat(feats, 2, axis=0)[:n]  # (T, C) at 100 fps
        if pitch is not None and pitchf is not None:
            pitch, pitchf = pitch[:n], pitchf[:n]
            if opts.protect < 0.5:
                feats = protect_features(feats, np.repeat(feats0, 2, axis=0)[:n], pitchf, opts.protect)
        dev = self.device
        with torch.inference_mode():
            try:
                out = self.model.infer(
                    torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))[None].to(dev),
                    None,
                    None if pitch is None else torch.from_numpy(pitch)[None].to(dev),
                    None if pitchf is None else torch.from_numpy(pitchf)[None].to(dev),
                    opts.speaker,
                    noise_scale=NOISE_SCALE,
                    generator=gen,
                )
            except VcInputError as err:
                raise ConvertError(str(err)) from err
        times["features"] += t1 - t0
        times["index"] += t2 - t1
        times["generate"] += time.perf_counter() - t2
        return out.audio[0].float().cpu().numpy()

    def _convert16k(self, x: np.ndarray, opts: _Options, gen, times: dict[str, float], *,
                    pad: int, segmenting: Segmenting | None = None) -> tuple[np.ndarray, list[int]]:  # fmt: skip
        """High-passed 16 kHz audio -> model-rate audio of ``ceil(len(x) / 160)`` frames, and the cuts."""
        pad = max(2 * WINDOW, pad // WINDOW * WINDOW)  # whole frames, at least 2 (covers rounding)
        hop = self.config.hop
        cuts = split_points(x, segmenting) if segmenting is not None else []
        xp = np.pad(x, (pad, pad), mode="reflect")
        pitch = pitchf = None
        if self.config.f0:
            t0 = time.perf_counter()
            f0 = self._f0(xp, opts)[: len(xp) // WINDOW]
            pitchf = shift_f0(f0, opts.pitch)
            pitch = coarse_f0(pitchf)
            times["f0"] += time.perf_counter() - t0
        bounds = [0, *cuts, len(x)]
        pieces = []
        for s, e in zip(bounds[:-1], bounds[1:], strict=True):
            frames = -(-(e - s) // WINDOW)  # the piece's own frames, the last one rounded up
            window = xp[s : e + 2 * pad + WINDOW]  # pad of real (or reflected) audio each side
            f = s // WINDOW
            p = None if pitch is None else pitch[f:]
            pf = None if pitchf is None else pitchf[f:]
            y = self._piece(window, p, pf, opts, gen, times)
            start = pad // WINDOW * hop
            y = y[start : start + frames * hop]
            pieces.append(np.pad(y, (0, frames * hop - len(y))))  # never needed with pad >= 2 frames
        return np.concatenate(pieces), cuts

    def _generator(self) -> torch.Generator | None:
        if self.seed is None:
            return None
        return torch.Generator(device=self.device).manual_seed(int(self.seed))

    def convert(self, audio: np.ndarray, sample_rate: int, *, pitch: float = 0, f0_method: str = "harvest",
                index_rate: float = 0.75, protect: float = 0.33, filter_radius: int = 3,
                rms_mix_rate: float = 0.25, speaker: int | None = None) -> ConvertResult:  # fmt: skip
        """Convert speech to this voice.

        Args:
            audio: mono float audio in [-1, 1], (N,) or (N, channels) (mixed down).
            sample_rate: its rate (resampled to 16 kHz for analysis).
            pitch: shift in semitones (+12: an octave up, e.g. a male voice into a female model).
            f0_method: ``harvest`` (default, no weights), ``dio``, ``rmvpe`` (needs ``f0_model``),
                ``fcpe`` (needs ``torchfcpe``).
            index_rate: share of each frame replaced by its retrieved blend (0: no retrieval).
            protect: unvoiced frames keep ``1 - protect`` of their own features (0.5 or more: off).
            filter_radius: harvest's median filter is on from 3 (RVC's setting).
            rms_mix_rate: 1 keeps the output's loudness, 0 follows the input's envelope.
            speaker: speaker id (None: the one the voice was trained as, :attr:`speaker`; RVC: 0).

        Returns:
            :class:`ConvertResult` at :attr:`sample_rate`, ``warnings`` saying what was missing.

        Raises:
            ConvertError: silent, too short, non-finite or non-mono input, bad options, missing f0 weights.
        """
        start = time.perf_counter()
        opts = self.options(pitch=pitch, f0_method=f0_method, index_rate=index_rate, protect=protect,
                            filter_radius=filter_radius, rms_mix_rate=rms_mix_rate, speaker=speaker)  # fmt: skip
        x = highpass(self._to16k(audio, sample_rate), SR16, HIGHPASS_HZ, order=5)
        times = dict.fromkeys(("features", "f0", "index", "generate"), 0.0)
        seg = self.segmenting
        out, cuts = self._convert16k(
            x, opts, self._generator(), times, pad=int(seg.pad_s * SR16), segmenting=seg
        )
        n_out = round(len(np.asarray(audio)) * self.sample_rate / int(sample_rate))
        out = np.pad(out[:n_out], (0, max(0, n_out - len(out))))
        if opts.rms_mix_rate != 1:
            out = change_rms(x, SR16, out, self.sample_rate, opts.rms_mix_rate)
        peak = float(np.max(np.abs(out))) / PEAK if len(out) else 0.0
        if peak > 1:
            out = out / peak
        times["total"] = time.perf_counter() - start
        bounds = [0, *cuts, len(x)]
        return ConvertResult(
            audio=out.astype(np.float32),
            sample_rate=self.sample_rate,
            timings=times,
            warnings=self._warnings(opts),
            segments=[(a / SR16, b / SR16) for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
        )

    def _warnings(self, opts: _Options) -> list[str]:
        if self.index is None and opts.index_rate > 0 and self.index_hint is not None:
            return [f"no retrieval index: index_rate {opts.index_rate:g} had no effect; {self.index_hint}"]
        return []

    # -- files -----------------------------------------------------------------------------------

    def convert_file(self, in_path: str | Path, out_path: str | Path, **options: Any) -> ConvertResult:
        """Convert one audio file (any format :func:`~sesli.audio.io.load_audio` reads) to a 16-bit WAV."""
        self.options(**options)
        try:
            audio, sr = load_audio(in_path, mono=True)
        except AudioDecodeError as err:
            raise ConvertError(f"cannot read {in_path} as audio: {err}") from err
        result = self.convert(audio, sr, **options)
        result.save(out_path)
        return result

    def convert_folder(self, in_dir: str | Path, out_dir: str | Path, **options: Any) -> FolderResult:
        """Convert every audio file directly in ``in_dir`` to ``out_dir/<stem>.wav`` (atomic writes).

        Subfolders, hidden files, other extensions and files that fail (unreadable, silent, too
        short) are skipped with their reason; the others are still converted.
        """
        in_dir, out_dir = Path(in_dir), Path(out_dir)
        if not in_dir.is_dir():
            raise ConvertError(f"input folder not found: {in_dir}")
        if out_dir.resolve() == in_dir.resolve():
            raise ConvertError("the output folder is the input folder: converted files would replace inputs")
        self.options(**options)
        result = FolderResult()
        for path in sorted(in_dir.iterdir()):
            reason = None
            if path.name.startswith("."):
                reason = "hidden file"
            elif path.is_dir():
                reason = "a folder (subfolders are not read)"
            elif path.suffix.lower() not in AUDIO_EXTENSIONS:
                reason = f"not an audio file ({path.suffix or 'no extension'})"
            if reason is None:
                target = out_dir / f"{path.stem}.wav"
                try:
                    converted = self.convert_file(path, target, **options)
                except ConvertError as err:
                    reason = str(err)
                else:
                    result.converted.append((path, target))
                    result.warnings += [w for w in converted.warnings if w not in result.warnings]
            if reason is not None:
                result.skipped.append((path, reason))
        return result

    # -- streaming -------------------------------------------------------------------------------

    def stream(self, chunks: Iterable[np.ndarray], sample_rate: int, *, block_s: float = 1.0,
               context_s: float = 1.0, lookahead_s: float = 0.2, crossfade_s: float = 0.05,
               **options: Any) -> Iterator[np.ndarray]:  # fmt: skip
        """Convert audio arriving in chunks of any size; yields model-rate float32 blocks.

        Latency and cost: see the module docstring. The blocks together are exactly as long as
        :meth:`convert`'s output for the whole input. For push-style use (a server receiving
        packets), :meth:`streamer` gives the same blocks through ``feed(chunk)`` and ``finish()``.
        """
        s = self.streamer(sample_rate, block_s=block_s, context_s=context_s, lookahead_s=lookahead_s,
                          crossfade_s=crossfade_s, **options)  # fmt: skip
        for chunk in chunks:
            yield from s.feed(chunk)
        yield from s.finish()

    def streamer(self, sample_rate: int, **settings: Any) -> BlockStream:
        """A :class:`~sesli.inference.vc_stream.BlockStream` over this voice (``settings``: those of
        :meth:`stream`)."""
        from sesli.inference.vc_stream import BlockStream

        return BlockStream(self, sample_rate, **settings)


def check_rate(sample_rate: Any) -> int:
    if isinstance(sample_rate, float) and sample_rate.is_integer():
        sample_rate = int(sample_rate)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise ConvertError(f"sample_rate must be an integer in Hz, got {sample_rate!r}")
    if not 4000 <= int(sample_rate) <= 384000:
        raise ConvertError(f"sample_rate {sample_rate} Hz is not an audio rate (4000..384000)")
    return int(sample_rate)


def _dim_mismatch(dim: int, cfg: VcConfig) -> str:
    kind = {768: " (v2)", 256: " (v1)"}
    return (
        f"the content model gives {dim}-d features{kind.get(dim, '')} but this voice takes "
        f"{cfg.feature_dim}-d{kind.get(cfg.feature_dim, '')}: use the content model it was trained on "
        f"(--content-model; {cfg.version} voices read {'layer 12' if cfg.version == 'v2' else 'layer 9 + final_proj'})"
    )


# -- loading -----------------------------------------------------------------------------------


@dataclass
class VoiceSource:
    """Where a voice came from: :func:`resolve_voice`'s result."""

    model: VcModel
    path: Path  # the voice file
    name: str
    experiment: Any = None  # sesli.data.vc_experiment.Experiment when given a folder
    speaker: int = 0  # the speaker id the experiment's voice was trained as


def _experiment_of(path: Path):
    from sesli.data.vc_experiment import FILE, Experiment

    for folder in (path, path.parent, path.parent.parent):
        if (folder / FILE).is_file():
            return Experiment.open(folder)
    return None


def _voice_in(exp) -> Path:
    train = exp.result("train") or {}
    named = [train.get(k) for k in ("voice", "pth", "voice_path")]
    candidates = [Path(p) if Path(p).is_absolute() else exp.path / p for p in named if isinstance(p, str)]
    candidates += [exp.path / f"{exp.name}.pth", exp.train_dir / f"{exp.name}.pth"]
    for folder in (exp.path, exp.train_dir):
        candidates += sorted(p for p in folder.glob("*.pth") if not p.name.startswith(("G_", "D_", ".")))
    for p in candidates:
        if p.is_file():
            return p
    raise ConvertError(
        f"{exp.path} holds no trained voice ({exp.name}.pth); train it with `sesli vc train {exp.path}`"
    )


def resolve_voice(model: str | Path | VcModel) -> VoiceSource:
    """An experiment folder, an RVC voice file (``.pth``) or a built model -> :class:`VoiceSource`.

    Raises:
        ConvertError: nothing there, not an experiment, no trained voice in it, or not a voice file.
    """
    if isinstance(model, VcModel):
        return VoiceSource(model.eval(), Path("<model>"), "model")
    path = Path(model).expanduser()
    if not path.exists():
        raise ConvertError(f"no voice at {path}: pass an experiment folder or an RVC .pth voice file")
    from sesli.data.vc_experiment import ExperimentError

    try:
        exp = _experiment_of(path) if path.is_dir() or path.suffix == ".pth" else None
        if path.is_dir():
            if exp is None or exp.path != path:
                raise ConvertError(
                    f"{path} is a folder but not a voice-conversion experiment (no experiment.json)"
                )
            path = _voice_in(exp)
        voice = load_rvc_voice(path)
    except (RvcFormatError, ExperimentError) as err:
        raise ConvertError(str(err)) from err
    return VoiceSource(
        voice.model, path, exp.name if exp is not None else path.stem, exp, _trained_speaker(exp)
    )


def _trained_speaker(exp) -> int:
    """The speaker id in the experiment's sesli artifact (``train/model.json``), else 0."""
    from sesli.artifacts import ArtifactError, is_artifact, read_meta

    if exp is None or not is_artifact(exp.train_dir):
        return 0
    try:
        return int(read_meta(exp.train_dir).inference.get("speaker", 0))
    except (ArtifactError, OSError, ValueError, TypeError):
        return 0


def _content(source: Any, cfg: VcConfig, exp, device) -> tuple[ContentEncoder, str]:
    if isinstance(source, ContentEncoder):
        return source, "content model: given"
    if source is None and exp is not None:
        source = (exp.result("extract") or {}).get("content_model")
    from sesli.models.vc.content import content_encoder, content_model_spec

    spec = content_model_spec(source)
    try:
        encoder = content_encoder(spec, cfg.version, device)
    except ContentModelError as err:
        raise ConvertError(str(err)) from err
    return encoder, f"content model: {spec}" + (" (random)" if spec == "tiny" else "")


def _index(index: Any, src: VoiceSource) -> tuple[Any, str | None, str]:
    """(faiss index or None, the missing-index hint or None, a note)."""
    exp = src.experiment
    hint = INDEX_HELP.format(exp=exp.path if exp is not None else "EXP") + (
        "" if exp is not None else " on the experiment the voice was trained in, or pass --index FILE"
    )
    if index is None:
        return None, None, "index: off"
    if index == "auto":
        found = exp.index_path if exp is not None else None
        if found is None and src.path.is_file():
            near = sorted(src.path.parent.glob("added_*.index"), key=lambda p: p.stat().st_mtime)
            named = [p for p in near if f"_{src.path.stem}_" in p.name]
            found = (named or near or [None])[-1]
        if found is None:
            return None, hint, "index: none found"
        index = found
    if not isinstance(index, (str, Path)):
        return index, hint, "index: given"
    try:
        return load_index(index, dim=src.model.config.feature_dim), hint, f"index: {index}"
    except IndexLoadError as err:
        raise ConvertError(str(err)) from err


def load_converter(model: str | Path | VcModel, *, index: Any = "auto", content_model: Any = None,
                   f0_model: Any = None, device: str = "cpu", seed: int | None = 0) -> VoiceConverter:  # fmt: skip
    """Load a voice for conversion.

    Args:
        model: an experiment folder (its trained ``{name}.pth``), an RVC ``.pth`` voice file
            (RVC's, Applio's or sesli's) or a :class:`VcModel`.
        index: ``"auto"`` (the experiment's newest ``added_*.index``, or one beside the ``.pth``),
            a path, a loaded faiss index, or None (no retrieval, no warning).
        content_model: a transformers HuBERT/ContentVec folder or hub id, ``"tiny"`` (random, for
            tests), a :class:`ContentEncoder`, or None (what the experiment's extract step used,
            else ContentVec ``lengyue233/content-vec-best`` from the hub cache).
        f0_model: RMVPE weights (``rmvpe.pt``) or a loaded RMVPE, for ``f0_method="rmvpe"``.
        device: torch device.
        seed: seed of the generator noise at every call (None: fresh noise each time).

    Raises:
        ConvertError: the voice, index or content model cannot be found or read, or they disagree
            on the feature size.
    """
    src = resolve_voice(model)
    cfg = src.model.config
    content, content_note = _content(content_model, cfg, src.experiment, device)
    faiss_index, hint, index_note = _index(index, src)
    notes = [f"voice: {src.path} ({cfg.sample_rate} Hz, {cfg.version}, {'f0' if cfg.f0 else 'no f0'})",
             content_note, index_note]  # fmt: skip
    return VoiceConverter(src.model, content, index=faiss_index, index_hint=hint, f0_model=f0_model,
                          device=device, seed=seed, speaker=src.speaker, notes=notes)  # fmt: skip


__all__ = [
    "ConvertError",
    "ConvertResult",
    "FolderResult",
    "Segmenting",
    "VoiceConverter",
    "VoiceSource",
    "change_rms",
    "load_converter",
    "protect_features",
    "resolve_voice",
    "split_points",
]
