"""16-bit PCM WAV files with a ``smpl`` (sampler) chunk: loop points game engines and samplers read.

Unreal Engine 5 imports 16-bit PCM WAV best and turns the loops of a ``smpl`` chunk into loop
regions; samplers (Kontakt, EXS24, SFZ players) read the same chunk. libsndfile (and so
``soundfile``) and Python's ``wave`` skip chunks they do not know, so the audio stays readable.

The ``smpl`` chunk, as the RIFF "Multimedia Programming Interface and Data Specifications 1.0"
addendum defines it (all fields little-endian unsigned 32-bit)::

    offset  field
    0       manufacturer            MMA manufacturer code (0: none)
    4       product                 manufacturer's product code (0: none)
    8       sample_period           nanoseconds per sample frame, 1e9 / sample rate
    12      midi_unity_note         MIDI note played at the recorded pitch (60 = middle C)
    16      midi_pitch_fraction     fraction of a semitone above the unity note (0x80000000 = 1/2)
    20      smpte_format            0, 24, 25, 29 or 30 (0: no SMPTE offset)
    24      smpte_offset            hh:mm:ss:ff packed in 4 bytes
    28      num_sample_loops        number of 24-byte loop records that follow the header
    32      sampler_data            bytes of sampler-specific data after the loops
    36      loops[i] (24 bytes each):
              +0  cue_point_id      identifier (matches a ``cue `` point when one exists)
              +4  type              0 forward, 1 alternating (ping-pong), 2 backward
              +8  start             first sample frame of the loop
              +12 end               last sample frame of the loop (inclusive)
              +16 fraction          fraction of a sample frame for finer loop end
              +20 play_count        0 = loop forever

sesli writes ``RIFF/WAVE`` with ``fmt `` (PCM, 16-bit), ``data`` and then ``smpl``; the reader here
(:func:`read_chunks`) walks any chunk order, with the RIFF pad byte after odd-sized chunks.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sesli.audio.io import to_int16
from sesli.fileio import atomic_open

SMPL_HEADER = struct.Struct("<9I")  # 36 bytes
SMPL_LOOP = struct.Struct("<6I")  # 24 bytes
LOOP_FORWARD = 0
_WAVE_FORMAT_PCM = 1


class WavChunkError(ValueError):
    """A WAV file (or the loop asked for) is malformed; the message says what and where."""


@dataclass(frozen=True)
class RiffChunk:
    """One chunk of a RIFF file: its four-character id, where its payload starts, and its size."""

    id: str
    offset: int  # byte offset of the payload in the file
    size: int  # payload bytes (without the pad byte)


@dataclass(frozen=True)
class SampleLoop:
    """One loop record of a ``smpl`` chunk (frames are sample frames; ``end`` is inclusive)."""

    start: int
    end: int
    cue_point_id: int = 0
    type: int = LOOP_FORWARD
    fraction: int = 0
    play_count: int = 0  # 0 = forever


@dataclass(frozen=True)
class SamplerChunk:
    """The decoded ``smpl`` chunk."""

    manufacturer: int
    product: int
    sample_period_ns: int
    midi_unity_note: int
    midi_pitch_fraction: int
    smpte_format: int
    smpte_offset: int
    loops: tuple[SampleLoop, ...]
    sampler_data: bytes = b""


def sample_period_ns(sample_rate: int) -> int:
    """Nanoseconds per sample frame, rounded (48 kHz -> 20833)."""
    return round(1e9 / sample_rate)


def build_smpl(
    sample_rate: int, loops: list[SampleLoop] | tuple[SampleLoop, ...], *, midi_unity_note: int = 60
) -> bytes:
    """The payload of a ``smpl`` chunk (36 + 24 * len(loops) bytes) for ``loops``."""
    if not 0 <= midi_unity_note <= 127:
        raise WavChunkError(f"midi_unity_note must be 0..127, got {midi_unity_note}")
    header = SMPL_HEADER.pack(0, 0, sample_period_ns(sample_rate), midi_unity_note, 0, 0, 0, len(loops), 0)
    body = b"".join(
        SMPL_LOOP.pack(lp.cue_point_id, lp.type, lp.start, lp.end, lp.fraction, lp.play_count) for lp in loops
    )
    return header + body


def parse_smpl(payload: bytes) -> SamplerChunk:
    """Decode a ``smpl`` chunk's payload.

    Raises:
        WavChunkError: the payload is shorter than its header says.
    """
    if len(payload) < SMPL_HEADER.size:
        raise WavChunkError(f"smpl chunk is {len(payload)} bytes, shorter than its 36-byte header")
    fields = SMPL_HEADER.unpack_from(payload, 0)
    n_loops, n_extra = fields[7], fields[8]
    need = SMPL_HEADER.size + n_loops * SMPL_LOOP.size
    if len(payload) < need:
        raise WavChunkError(f"smpl chunk says {n_loops} loops ({need} bytes) but holds {len(payload)} bytes")
    loops = []
    for i in range(n_loops):
        cue, kind, start, end, frac, count = SMPL_LOOP.unpack_from(
            payload, SMPL_HEADER.size + i * SMPL_LOOP.size
        )
        loops.append(SampleLoop(start, end, cue_point_id=cue, type=kind, fraction=frac, play_count=count))
    return SamplerChunk(*fields[:7], loops=tuple(loops), sampler_data=bytes(payload[need : need + n_extra]))


def _chunk(cid: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) % 2 else b""
    return cid + struct.pack("<I", len(payload)) + payload + pad


def _fmt_pcm16(channels: int, sample_rate: int) -> bytes:
    block = 2 * channels
    return struct.pack("<HHIIHH", _WAVE_FORMAT_PCM, channels, sample_rate, sample_rate * block, block, 16)


def write_wav_with_loop(
    path: str | os.PathLike,
    audio: np.ndarray,
    sr: int,
    loop_start: int,
    loop_end: int,
    *,
    midi_unity_note: int = 60,
    play_count: int = 0,
) -> Path:
    """Write 16-bit PCM WAV with one forward loop in a ``smpl`` chunk, atomically.

    Args:
        path: destination (parent folders are created).
        audio: float audio (T,) or (T, C) in [-1, 1] (clipped), or int16.
        sr: sample rate in Hz.
        loop_start: first frame of the loop.
        loop_end: last frame of the loop, inclusive (the whole file: ``T - 1``).
        midi_unity_note: the MIDI note a sampler treats as the recorded pitch.
        play_count: times the loop plays (0 = forever, what a looping ambience wants).

    Raises:
        WavChunkError: the loop lies outside the audio, or the audio is empty or not finite.
    """
    path = Path(path)
    audio = np.asarray(audio)
    frames = audio if audio.ndim == 2 else audio.reshape(-1, 1)  # (T, C)
    n, channels = frames.shape
    if n == 0 or not 1 <= channels <= 8:
        raise WavChunkError(f"cannot write {path}: audio of shape {audio.shape} (need (T,) or (T, C), T > 0)")
    if not np.all(np.isfinite(frames)):
        raise WavChunkError(f"refusing to write non-finite samples to {path}")
    if not 0 <= loop_start <= loop_end < n:
        raise WavChunkError(
            f"loop {loop_start}..{loop_end} (inclusive) is outside the {n} frames of {path.name}"
        )
    pcm = frames if frames.dtype == np.int16 else to_int16(frames)
    loop = SampleLoop(loop_start, loop_end, play_count=play_count)
    body = (
        b"WAVE"
        + _chunk(b"fmt ", _fmt_pcm16(channels, sr))
        + _chunk(b"data", pcm.astype("<i2").tobytes())
        + _chunk(b"smpl", build_smpl(sr, [loop], midi_unity_note=midi_unity_note))
    )
    with atomic_open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def read_chunks(path: str | os.PathLike) -> list[RiffChunk]:
    """The chunks of a RIFF/WAVE file, in file order (a tiny reader, independent of libsndfile).

    Raises:
        WavChunkError: not a RIFF/WAVE file, or a chunk runs past the end of the file.
    """
    data = Path(path).read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavChunkError(f"{path}: not a RIFF/WAVE file")
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4].decode("latin-1")
        (size,) = struct.unpack_from("<I", data, pos + 4)
        if pos + 8 + size > len(data):
            raise WavChunkError(f"{path}: chunk {cid!r} at byte {pos} runs past the end of the file")
        chunks.append(RiffChunk(cid, pos + 8, size))
        pos += 8 + size + (size % 2)
    return chunks


def read_smpl(path: str | os.PathLike) -> SamplerChunk | None:
    """The ``smpl`` chunk of a WAV file, or None when it has none."""
    for chunk in read_chunks(path):
        if chunk.id == "smpl":
            with open(path, "rb") as fh:
                fh.seek(chunk.offset)
                return parse_smpl(fh.read(chunk.size))
    return None


def read_loop_points(path: str | os.PathLike) -> list[SampleLoop]:
    """The loops of a WAV file's ``smpl`` chunk (empty when it has no ``smpl`` chunk)."""
    smpl = read_smpl(path)
    return list(smpl.loops) if smpl is not None else []


__all__ = [
    "RiffChunk",
    "SampleLoop",
    "SamplerChunk",
    "WavChunkError",
    "build_smpl",
    "parse_smpl",
    "read_chunks",
    "read_loop_points",
    "read_smpl",
    "sample_period_ns",
    "write_wav_with_loop",
]
