"""WAV ``smpl`` chunks: the byte layout of the RIFF spec, round trips, and readers that must still cope."""

from __future__ import annotations

import struct
import wave

import numpy as np
import pytest
import soundfile as sf

from sesli.audio.io import save_wav, to_int16
from sesli.audio.wavchunks import (
    SampleLoop,
    WavChunkError,
    build_smpl,
    parse_smpl,
    read_chunks,
    read_loop_points,
    read_smpl,
    sample_period_ns,
    write_wav_with_loop,
)

SR = 48000


def _tone(n: int, channels: int = 1) -> np.ndarray:
    t = np.arange(n) / SR
    x = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    return x if channels == 1 else np.stack([x, -x], axis=1)


def test_smpl_payload_follows_the_riff_layout():
    payload = build_smpl(SR, [SampleLoop(10, 99, cue_point_id=7, play_count=3)], midi_unity_note=69)
    assert len(payload) == 36 + 24
    header = struct.unpack_from("<9I", payload, 0)
    # manufacturer, product, sample period (ns), unity note, pitch fraction, SMPTE format/offset, loops, extra
    assert header == (0, 0, 20833, 69, 0, 0, 0, 1, 0)
    loop = struct.unpack_from("<6I", payload, 36)  # id, type, start, end (inclusive), fraction, count
    assert loop == (7, 0, 10, 99, 0, 3)
    assert sample_period_ns(44100) == 22676


def test_parse_smpl_reads_several_loops_and_sampler_data():
    loops = [SampleLoop(0, 9), SampleLoop(5, 50, cue_point_id=2, type=1, fraction=123, play_count=4)]
    payload = bytearray(build_smpl(44100, loops))
    struct.pack_into("<I", payload, 32, 4)  # 4 bytes of sampler-specific data follow the loops
    smpl = parse_smpl(bytes(payload) + b"abcd")
    assert smpl.loops == tuple(loops)
    assert smpl.sample_period_ns == 22676 and smpl.midi_unity_note == 60
    assert smpl.sampler_data == b"abcd"
    with pytest.raises(WavChunkError, match="2 loops"):
        parse_smpl(bytes(payload[:50]))


@pytest.mark.parametrize("channels", [1, 2])
def test_loop_points_round_trip_and_the_audio_stays_readable(tmp_path, channels):
    audio = _tone(4800, channels)
    path = write_wav_with_loop(tmp_path / "loop.wav", audio, SR, 0, 4799)
    assert [c.id for c in read_chunks(path)] == ["fmt ", "data", "smpl"]
    assert read_loop_points(path) == [SampleLoop(0, 4799)]
    assert read_smpl(path).sample_period_ns == 20833

    data, sr = sf.read(path, dtype="int16", always_2d=True)  # libsndfile skips or reads smpl
    info = sf.info(str(path))
    assert (sr, info.subtype, info.channels, info.frames) == (SR, "PCM_16", channels, 4800)
    np.testing.assert_array_equal(data, to_int16(audio).reshape(4800, channels))

    with wave.open(str(path), "rb") as w:  # Python's own RIFF reader
        params = (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())
        assert params == (channels, 2, SR, 4800)
        frames = np.frombuffer(w.readframes(4800), dtype="<i2").reshape(4800, channels)
    np.testing.assert_array_equal(frames, data)
    assert list(tmp_path.iterdir()) == [path]  # the atomic write left no temporary file


def test_reader_walks_odd_sized_chunks_and_any_order(tmp_path):
    smpl = build_smpl(SR, [SampleLoop(1, 2)])
    pcm = to_int16(_tone(8)).tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, SR, 2 * SR, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"junk" + struct.pack("<I", 3) + b"xyz\x00"  # odd size: one pad byte
    body += b"smpl" + struct.pack("<I", len(smpl)) + smpl  # before the data this time
    body += b"data" + struct.pack("<I", len(pcm)) + pcm
    path = tmp_path / "odd.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    chunks = [(c.id, c.size) for c in read_chunks(path)]
    assert chunks == [("fmt ", 16), ("junk", 3), ("smpl", 60), ("data", 16)]
    assert read_loop_points(path) == [SampleLoop(1, 2)]
    assert sf.read(path)[0].shape == (8,)


def test_a_wav_without_smpl_has_no_loops(tmp_path):
    path = save_wav(tmp_path / "plain.wav", _tone(100), SR)
    assert read_smpl(path) is None and read_loop_points(path) == []


def test_bad_files_and_loops_are_clear_errors(tmp_path):
    with pytest.raises(WavChunkError, match="outside"):
        write_wav_with_loop(tmp_path / "a.wav", _tone(100), SR, 0, 100)  # end is inclusive
    with pytest.raises(WavChunkError, match="outside"):
        write_wav_with_loop(tmp_path / "a.wav", _tone(100), SR, 50, 10)
    with pytest.raises(WavChunkError, match="non-finite"):
        write_wav_with_loop(tmp_path / "a.wav", np.full(10, np.nan), SR, 0, 9)
    with pytest.raises(WavChunkError, match="shape"):
        write_wav_with_loop(tmp_path / "a.wav", np.zeros(0), SR, 0, 0)
    assert not (tmp_path / "a.wav").exists()

    (tmp_path / "text.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(WavChunkError, match="not a RIFF"):
        read_chunks(tmp_path / "text.wav")
    good = write_wav_with_loop(tmp_path / "good.wav", _tone(100), SR, 0, 99).read_bytes()
    (tmp_path / "cut.wav").write_bytes(good[:-10])  # the smpl chunk is truncated
    with pytest.raises(WavChunkError, match="past the end"):
        read_loop_points(tmp_path / "cut.wav")
