"""Encode synthesised speech for the OpenAI-compatible ``POST /v1/audio/speech`` while it is made.

The API's ``response_format`` names six formats; :data:`FORMATS` maps each to the content type
the server sends. :class:`StreamEncoder` takes float32 mono audio in pieces of any length as the
model produces them and hands back the bytes that are ready after every piece, so a client starts
playing before synthesis ends; :func:`encode` does a whole clip in one call.

- ``pcm``: raw signed 16-bit little-endian mono at the model's rate, no header. OpenAI documents
  ``pcm`` as 24 kHz s16le, which is what a 24 kHz model (Kokoro) gives; a 22050 Hz VITS voice
  sends 22050 Hz, since raw PCM has no header to tell a client about a resample it did not ask for.
- ``wav``: a RIFF header, then the same samples. A stream cannot know its length, so its header
  says 0xFFFFFFFF for the RIFF and data sizes, the convention for "until the end" that ffmpeg
  and browsers accept; :func:`encode` knows the length and writes the real sizes.
- ``mp3`` (libmp3lame in an MP3 file), ``aac`` (FFmpeg's AAC in ADTS), ``opus`` (libopus in Ogg,
  as OpenAI sends it) and ``flac`` go through PyAV, whose wheel carries the FFmpeg libraries.

Streaming works because the muxer writes into a file object that cannot seek: FFmpeg then
flushes its I/O buffer after every packet (``flush_packets`` defaults to "when not seekable")
and never goes back to patch a header. The price is small: a streamed MP3 has no Xing/LAME
frame (players do not trim the encoder delay, ~50 ms) and a streamed FLAC's STREAMINFO has no
length or MD5. :func:`encode` writes into a seekable buffer, so there both are filled in.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

FORMATS: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",  # Ogg Opus (RFC 7845); browsers play audio/ogg, not RTP's audio/opus
    "aac": "audio/aac",  # ADTS: each frame carries its own header, so a stream can start anywhere
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

# Bit rates for one voice, mono. MP3 at 22.05/24 kHz is MPEG-2 Layer III (8-160 kbit/s): 96k is
# clean speech with room to spare. AAC-LC is about as good at two thirds of that, and Opus is
# transparent for speech at 32k.
MP3_BIT_RATE = 96_000
AAC_BIT_RATE = 64_000
OPUS_BIT_RATE = 32_000
# An Ogg page is written only when it is full or this long (microseconds); FFmpeg's default of
# 1 s would hold back the first audio that long. 100 ms costs ~2 kbit/s of page headers.
OGG_PAGE_DURATION_US = 100_000

_WAV_UNKNOWN_SIZE = 0xFFFFFFFF


class EncodeError(ValueError):
    """A format, rate or piece of audio that cannot be encoded (or an encoder already finished)."""


@dataclass(frozen=True)
class _AVSpec:
    """How one ``response_format`` is made with PyAV."""

    container: str
    codec: str
    sample_format: str  # what the encoder takes; PyAV converts our float32 into it
    bit_rate: int | None = None
    # Rate for a model rate the codec cannot take; None: the nearest supported rate above.
    fallback_rate: int | None = None
    container_options: dict[str, str] = field(default_factory=dict)


_AV_SPECS: dict[str, _AVSpec] = {
    "mp3": _AVSpec("mp3", "libmp3lame", "fltp", MP3_BIT_RATE),
    "aac": _AVSpec("adts", "aac", "fltp", AAC_BIT_RATE),
    # Opus takes 8/12/16/24/48 kHz. Every Opus decoder plays back at 48 kHz whatever went in, so
    # a 22050 Hz voice is resampled once, straight to the rate it will be heard at.
    "opus": _AVSpec(
        "ogg",
        "libopus",
        "flt",
        OPUS_BIT_RATE,
        fallback_rate=48_000,
        container_options={"page_duration": str(OGG_PAGE_DURATION_US)},
    ),
    "flac": _AVSpec("flac", "flac", "s16"),
}


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise EncodeError(f"unknown audio format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    return fmt


def _check_rate(sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise EncodeError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    return int(sample_rate)


def _as_mono_float(audio: np.ndarray) -> np.ndarray:
    """Check one piece of audio and return it as float32 in [-1, 1]."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise EncodeError(f"expected mono audio of shape (T,), got shape {x.shape}")
    if not np.isfinite(x).all():
        # Clipping would turn NaN into noise at full scale (or silence): refuse rather than send it.
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise EncodeError(f"audio contains {bad} non-finite samples (NaN or inf); refusing to encode")
    return np.clip(x, -1.0, 1.0)


def _to_s16le(x: np.ndarray) -> bytes:
    """Float32 in [-1, 1] -> signed 16-bit little-endian bytes (round(x * 32767))."""
    return np.round(x * 32767.0).astype("<i2").tobytes()


def _wav_stream_header(sample_rate: int) -> bytes:
    """A 44-byte RIFF/WAVE header for s16 mono whose sizes say "unknown length"."""
    fmt_chunk = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)  # PCM, mono
    return (
        b"RIFF"
        + struct.pack("<I", _WAV_UNKNOWN_SIZE)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt_chunk))
        + fmt_chunk
        + b"data"
        + struct.pack("<I", _WAV_UNKNOWN_SIZE)
    )


class _Sink:
    """A write-only file object that collects what the muxer writes until it is taken.

    It has no ``seek``/``tell`` on purpose: PyAV then tells FFmpeg the output is not seekable,
    which is what makes the muxer flush after every packet (see the module docstring).
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


def _codec_rate(spec: _AVSpec, supported: list[int] | None, sample_rate: int) -> int:
    """The rate to encode at: the model's when the codec takes it, else the spec's choice."""
    if not supported or sample_rate in supported:
        return sample_rate
    if spec.fallback_rate is not None:
        return spec.fallback_rate
    above = [r for r in supported if r >= sample_rate]
    return min(above) if above else max(supported)


class _AVEncoder:
    """One PyAV output container with one mono audio stream, writing into ``fileobj``.

    Frames of any size go in at the model's rate. PyAV's audio encoder context converts them
    (``av.AudioResampler``: sample format, and the rate when the codec needs another) and re-cuts
    them to the codec's ``frame_size`` for encoders that want fixed frames (MP3 576/1152, AAC
    1024, Opus 20 ms, FLAC 2304), so no AudioFifo is needed here.
    """

    def __init__(self, fmt: str, sample_rate: int, fileobj) -> None:
        try:
            import av
        except ImportError as e:  # the serve extra brings it; pcm and wav do not need it
            raise EncodeError(f"format {fmt!r} needs PyAV (pip install av)") from e
        spec = _AV_SPECS[fmt]
        supported = av.Codec(spec.codec, "w").audio_rates
        self._rate = sample_rate
        self._time_base = Fraction(1, sample_rate)
        self._pts = 0
        self._container = av.open(
            fileobj, mode="w", format=spec.container, container_options=dict(spec.container_options)
        )
        self._stream = self._container.add_stream(
            spec.codec, rate=_codec_rate(spec, supported, sample_rate), layout="mono"
        )
        self._stream.format = spec.sample_format
        if spec.bit_rate is not None:
            self._stream.bit_rate = spec.bit_rate
        self._av = av

    def write(self, x: np.ndarray) -> None:
        """Encode and mux one piece (float32 in [-1, 1], shape (T,))."""
        if x.size == 0:
            return  # a zero-sample frame would read as end of stream to some encoders
        frame = self._av.AudioFrame.from_ndarray(x[None, :], format="flt", layout="mono")  # (1, T)
        frame.sample_rate = self._rate
        frame.time_base = self._time_base
        frame.pts = self._pts
        self._pts += x.size
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        """Drain the encoder, write the trailer and let go of the file object."""
        self._container.mux(self._stream.encode(None))
        self._container.close()


class StreamEncoder:
    """Encode mono audio piece by piece, returning the bytes ready after each piece.

    Example::

        enc = StreamEncoder("mp3", 24000)
        for piece in voice.stream(text):
            yield enc.push(piece)
        yield enc.finish()

    Args:
        fmt: One of :data:`FORMATS` (``mp3``, ``opus``, ``aac``, ``flac``, ``wav``, ``pcm``).
        sample_rate: The model's sample rate in Hz; the rate of every piece pushed.

    Raises:
        EncodeError: Unknown format or a rate that is not a positive integer.
    """

    def __init__(self, fmt: str, sample_rate: int) -> None:
        self.fmt = _check_format(fmt)
        self.sample_rate = _check_rate(sample_rate)
        self._finished = False
        self._sink: _Sink | None = None
        self._av: _AVEncoder | None = None
        self._pending = b""  # bytes to send with the first push (the WAV header)
        if fmt == "wav":
            self._pending = _wav_stream_header(self.sample_rate)
        elif fmt in _AV_SPECS:
            self._sink = _Sink()
            self._av = _AVEncoder(fmt, self.sample_rate, self._sink)

    @property
    def content_type(self) -> str:
        """The HTTP ``Content-Type`` for this format."""
        return FORMATS[self.fmt]

    def _take_pending(self) -> bytes:
        out, self._pending = self._pending, b""
        if self._sink is not None:
            out += self._sink.take()
        return out

    def push(self, audio: np.ndarray) -> bytes:
        """Encode one piece of audio.

        Args:
            audio: float32 mono samples, shape (T,), any T including 0; values outside [-1, 1]
                are clipped.

        Returns:
            The encoded bytes ready so far, possibly ``b""`` (an encoder waiting for a whole
            frame, or an Ogg page not yet due).

        Raises:
            EncodeError: ``finish()`` was already called, the audio is not 1-D, or it holds NaN
                or inf.
        """
        if self._finished:
            raise EncodeError("push() after finish(): this encoder's stream is already closed")
        x = _as_mono_float(audio)
        if self._av is not None:
            self._av.write(x)
            return self._take_pending()
        return self._take_pending() + _to_s16le(x)

    def finish(self) -> bytes:
        """Flush the encoder and close the stream.

        Returns:
            The remaining bytes (the encoder's last frames and the container's trailer). A
            second call returns ``b""``, so it is safe in a ``finally``.
        """
        if self._finished:
            return b""
        self._finished = True
        if self._av is not None:
            self._av.close()
        return self._take_pending()


def encode(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """Encode a whole clip in one call, as a file a player can seek in.

    Unlike the stream, WAV gets its real sizes, MP3 its Xing/LAME frame (length and gapless
    trimming) and FLAC a complete STREAMINFO (length and MD5).

    Args:
        audio: float32 mono samples, shape (T,); clipped to [-1, 1].
        sample_rate: Its sample rate in Hz.
        fmt: One of :data:`FORMATS`.

    Returns:
        The encoded file's bytes.

    Raises:
        EncodeError: Unknown format, bad rate, audio not 1-D or holding NaN or inf.
    """
    fmt = _check_format(fmt)
    sample_rate = _check_rate(sample_rate)
    x = _as_mono_float(audio)
    if fmt == "pcm":
        return _to_s16le(x)
    buf = io.BytesIO()
    if fmt == "wav":
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(_to_s16le(x))
        return buf.getvalue()
    encoder = _AVEncoder(fmt, sample_rate, buf)  # BytesIO seeks: headers are patched at close
    encoder.write(x)
    encoder.close()
    return buf.getvalue()
