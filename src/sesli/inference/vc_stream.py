"""Streaming voice conversion: fixed-size blocks with context, lookahead and crossfade.

:meth:`sesli.inference.vc.VoiceConverter.stream` (pull) and ``.streamer()`` (push: ``feed`` packets,
then ``finish``) run this. Each block of ``block_s`` is converted inside a window with ``context_s``
of past and ``lookahead_s`` of future input, and crossfaded into the previous block over
``crossfade_s``; latency is one block plus the lookahead plus the time to convert one window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sesli.audio.effects import highpass
from sesli.inference.vc import (
    HIGHPASS_HZ,
    MIN_SECONDS,
    PEAK,
    SR16,
    WINDOW,
    ConvertError,
    VoiceConverter,
    change_rms,
    check_rate,
)


class BlockStream:
    """Fixed-size block conversion with context, lookahead and crossfade (module docstring).

    Positions are 16 kHz samples from the stream's start; blocks, context and lookahead are whole
    20 ms units, so every window starts on a content frame.
    """

    def __init__(self, conv: VoiceConverter, sample_rate: int, *, block_s: float = 1.0,
                 context_s: float = 1.0, lookahead_s: float = 0.2, crossfade_s: float = 0.05,
                 **options: Any) -> None:  # fmt: skip
        import soxr

        self.conv, self.opts, self.sr_in = conv, conv.options(**options), check_rate(sample_rate)
        unit = 2 * WINDOW
        self.block, self.ctx, self.look = (
            max(1, round(v * SR16 / unit)) * unit for v in (block_s, context_s, lookahead_s)
        )
        hop = conv.config.hop
        self.fade = min(self.look, max(WINDOW, round(crossfade_s * SR16 / WINDOW) * WINDOW)) // WINDOW * hop
        self.ramp = np.sin(0.5 * np.pi * (np.arange(self.fade) + 0.5) / self.fade) ** 2  # fade-in
        self.rs = soxr.ResampleStream(self.sr_in, SR16, 1, dtype="float32") if self.sr_in != SR16 else None
        self.gen, self.times = conv._generator(), dict.fromkeys(("features", "f0", "index", "generate"), 0.0)
        self.buf, self.buf0, self.pos, self.n_in = np.zeros(0, np.float32), 0, 0, 0
        self.tail: np.ndarray | None = None

    def feed(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Take the next input samples (at the stream's rate); returns the blocks now ready."""
        x = np.asarray(chunk).reshape(-1)
        if not np.issubdtype(x.dtype, np.floating) or not np.isfinite(x).all():
            raise ConvertError("stream chunks must hold finite float samples in [-1, 1]")
        self.n_in += len(x)
        x = self.rs.resample_chunk(x.astype(np.float32)) if self.rs is not None else x.astype(np.float32)
        self.buf = np.concatenate([self.buf, x])
        out = []
        while self.buf0 + len(self.buf) >= self.pos + self.block + self.look:
            out.append(self._block(self.pos + self.block, last=False))
        return out

    def finish(self) -> list[np.ndarray]:
        """The input has ended: the remaining blocks, the last one ending the stream."""
        if self.rs is not None:
            self.buf = np.concatenate([self.buf, self.rs.resample_chunk(np.zeros(0, np.float32), last=True)])
        if self.n_in / self.sr_in < MIN_SECONDS:
            raise ConvertError(
                f"the stream held {self.n_in / self.sr_in:.2f} s; need at least {MIN_SECONDS} s"
            )
        total, out = self.buf0 + len(self.buf), []
        while total - self.pos >= self.block + self.look:
            out.append(self._block(self.pos + self.block, last=False))
        return [*out, self._block(total, last=True)]

    def _block(self, end: int, last: bool) -> np.ndarray:
        """Convert the window around [pos, end) and return that block's audio, crossfaded in."""
        conv, hop, a = self.conv, self.conv.config.hop, self.pos
        ws, we = max(0, a - self.ctx), min(self.buf0 + len(self.buf), end + (0 if last else self.look))
        window = highpass(self.buf[ws - self.buf0 : we - self.buf0], SR16, HIGHPASS_HZ, order=5)
        window = np.pad(window, (0, max(0, 4 * WINDOW - len(window))))
        y, _ = conv._convert16k(window, self.opts, self.gen, self.times, pad=4 * WINDOW)
        if self.opts.rms_mix_rate != 1:
            y = change_rms(window, SR16, y, conv.sample_rate, self.opts.rms_mix_rate)
        if last:  # the stream's total length, as convert() gives it
            n = round(self.n_in * conv.sample_rate / self.sr_in) - a // WINDOW * hop
        else:
            n = (end - a) // WINDOW * hop
        want = n + (0 if last else self.fade)
        off = (a - ws) // WINDOW * hop
        seg = np.pad(y[off : off + want], (0, max(0, want - len(y[off : off + want]))))
        if self.tail is not None:
            k = min(self.fade, len(seg))
            seg[:k] = self.tail[:k] * (1 - self.ramp[:k]) + seg[:k] * self.ramp[:k]
        self.tail = None if last else seg[n:].copy()
        self.pos = end
        keep = max(0, end - self.ctx - self.buf0)  # drop what no later window needs
        self.buf, self.buf0 = self.buf[keep:], self.buf0 + keep
        return np.clip(seg[:n], -PEAK, PEAK).astype(np.float32)


__all__ = ["BlockStream"]
