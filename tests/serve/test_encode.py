"""Streaming and whole-clip encoding for the speech API: every format decodes back to the tone."""

import io
import struct
import wave

import numpy as np
import pytest

from sesli.serve.encode import FORMATS, EncodeError, StreamEncoder, encode

AV_FORMATS = ("mp3", "opus", "aac", "flac")
RATES = (24000, 22050)  # Kokoro, and a VITS voice that Opus cannot take as it is
TONE_HZ = 440.0


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def _require(fmt: str) -> None:
    """Skip a test that needs PyAV to encode or decode ``fmt`` when it is not installed."""
    if fmt != "pcm":
        pytest.importorskip("av")


def _decode(data: bytes, fmt: str, rate: int) -> tuple[int, np.ndarray]:
    """Bytes -> (sample rate, mono float samples), with numpy for pcm and PyAV for the rest."""
    if fmt == "pcm":
        return rate, np.frombuffer(data, dtype="<i2") / 32768.0
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.channels == 1
        pieces, out_rate = [], None
        for frame in container.decode(stream):
            a = frame.to_ndarray()  # (1, T) planar or packed: mono either way
            if a.dtype.kind == "i":
                a = a / float(np.iinfo(a.dtype).max + 1)
            pieces.append(a.reshape(-1))
            out_rate = frame.sample_rate
    return out_rate, np.concatenate(pieces)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum)) * rate / len(x)


def _stream(x: np.ndarray, rate: int, fmt: str, cuts: list[int]) -> tuple[list[bytes], bytes]:
    """Push ``x`` cut at ``cuts``; return the push outputs and finish()'s."""
    enc = StreamEncoder(fmt, rate)
    bounds = [0, *cuts, len(x)]
    outs = [enc.push(x[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return outs, enc.finish()


@pytest.mark.parametrize("mode", ["stream", "whole"])
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip_keeps_rate_length_and_pitch(fmt, rate, mode):
    _require(fmt)
    x = _tone(1.5, rate)
    if mode == "stream":
        # Uneven pieces, two of them empty, one a single sample.
        outs, tail = _stream(x, rate, fmt, [0, 700, 700, 701, 5000, 20000])
        data = b"".join(outs) + tail
    else:
        data = encode(x, rate, fmt)
    out_rate, y = _decode(data, fmt, rate)
    assert out_rate == (48000 if fmt == "opus" else rate)  # Opus always plays back at 48 kHz
    assert abs(len(y) / out_rate - 1.5) < 0.1  # codec priming and last-frame padding
    assert abs(_peak_hz(y, out_rate) - TONE_HZ) < 3.0
    assert 0.3 < np.abs(y).max() < 0.7


@pytest.mark.parametrize("fmt", ["mp3", "flac", "wav", "pcm"])
def test_whole_clip_knows_its_exact_length(fmt):
    # encode() writes a seekable file: MP3's LAME frame trims the encoder delay.
    _require(fmt)
    x = _tone(1.0, 24000)
    _, y = _decode(encode(x, 24000, fmt), fmt, 24000)
    assert abs(len(y) - len(x)) <= 24  # 1 ms


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_bytes_come_out_while_pushing(fmt):
    _require(fmt)
    rate = 24000
    x = _tone(5.0, rate)
    outs, tail = _stream(x, rate, fmt, list(range(rate // 2, len(x), rate // 2)))
    assert len(outs) == 10
    assert outs[0], "nothing came out after the first half second of audio"
    early = sum(map(len, outs))
    assert early > 0.8 * (early + len(tail))  # the bulk streams; finish() only flushes


def test_stream_wav_header_says_unknown_length():
    body = _tone(0.1, 22050)
    enc = StreamEncoder("wav", 22050)
    data = enc.push(body) + enc.finish()
    riff, riff_size, wave_id, fmt_id, fmt_size = struct.unpack("<4sI4s4sI", data[:20])
    codec, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", data[20:36])
    data_id, data_size = struct.unpack("<4sI", data[36:44])
    assert (riff, wave_id, fmt_id, data_id) == (b"RIFF", b"WAVE", b"fmt ", b"data")
    assert riff_size == data_size == 0xFFFFFFFF
    assert (fmt_size, codec, channels, rate, byte_rate, align, bits) == (16, 1, 1, 22050, 44100, 2, 16)
    assert data[44:] == encode(body, 22050, "pcm")


def test_whole_wav_has_real_sizes():
    body = _tone(0.25, 24000)
    data = encode(body, 24000, "wav")
    riff_size, data_size = struct.unpack("<I", data[4:8])[0], struct.unpack("<I", data[40:44])[0]
    assert riff_size == len(data) - 8
    assert data_size == 2 * len(body) == len(data) - 44
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            1,
            2,
            24000,
            len(body),
        )


def test_pcm_is_clipped_rounded_s16le_without_header():
    x = np.array([-2.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0], dtype=np.float32)
    expected = np.array([-32767, -32767, -8192, 0, 8192, 32767, 32767], dtype="<i2").tobytes()
    assert encode(x, 24000, "pcm") == expected
    enc = StreamEncoder("pcm", 24000)
    assert enc.push(x[:3]) + enc.push(x[3:3]) + enc.push(x[3:]) + enc.finish() == expected


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_silence_encodes_to_silence(fmt):
    _require(fmt)
    x = np.zeros(12000, dtype=np.float32)
    outs, tail = _stream(x, 24000, fmt, [5000])
    for data in (b"".join(outs) + tail, encode(x, 24000, fmt)):
        out_rate, y = _decode(data, fmt, 24000)
        assert abs(len(y) / out_rate - 0.5) < 0.1
        assert np.abs(y).max() < 1e-3


def test_content_types_follow_the_openai_formats():
    assert set(FORMATS) == {"mp3", "opus", "aac", "flac", "wav", "pcm"}
    assert StreamEncoder("pcm", 24000).content_type == "audio/pcm"
    assert StreamEncoder("wav", 24000).content_type == "audio/wav"
    assert FORMATS["mp3"] == "audio/mpeg"
    assert FORMATS["opus"] == "audio/ogg"


def test_unknown_format_names_the_known_ones():
    with pytest.raises(EncodeError, match="mp3, opus, aac, flac, wav, pcm"):
        StreamEncoder("ogg-vorbis", 24000)
    with pytest.raises(ValueError, match="unknown audio format 'm4a'"):  # EncodeError is a ValueError
        encode(_tone(0.1, 24000), 24000, "m4a")


@pytest.mark.parametrize("rate", [0, -24000, 24000.0])
def test_bad_rate_is_refused(rate):
    with pytest.raises(EncodeError, match="sample_rate"):
        StreamEncoder("pcm", rate)


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
def test_push_after_finish_raises_and_finish_again_is_empty(fmt):
    _require(fmt)
    enc = StreamEncoder(fmt, 24000)
    enc.push(_tone(0.2, 24000))
    enc.finish()
    with pytest.raises(EncodeError, match="after finish"):
        enc.push(_tone(0.1, 24000))
    assert enc.finish() == b""


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_audio_is_refused(bad):
    x = _tone(0.1, 24000)
    x[100] = bad
    with pytest.raises(EncodeError, match="non-finite"):
        encode(x, 24000, "wav")
    with pytest.raises(EncodeError, match="non-finite"):
        StreamEncoder("pcm", 24000).push(x)


def test_multichannel_audio_is_refused():
    with pytest.raises(EncodeError, match="mono"):
        StreamEncoder("pcm", 24000).push(np.zeros((2, 100), dtype=np.float32))
