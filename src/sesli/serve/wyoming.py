"""A Wyoming text-to-speech server on the speech service, for Home Assistant and Wyoming satellites.

Wyoming is a line of JSON per event (an optional binary payload after it) over TCP. A client
asks ``describe`` and gets ``info`` (programs, voices, languages); it asks for speech with one
``synthesize`` event or, when the program says ``supports_synthesize_streaming``, a stream:
``synthesize-start``, ``synthesize-chunk`` (text as an LLM writes it), ``synthesize-stop``. The
answer is ``audio-start``, ``audio-chunk`` (16-bit little-endian mono PCM), ``audio-stop``, and
for a stream ``synthesize-stopped`` after that.

Decisions:

* **describe never waits for the model.** ``info`` is built from what the service knows now.
  While the model loads, the program lists one placeholder voice, :data:`PLACEHOLDER_VOICE`
  (Turkish), because Home Assistant takes its languages from the voices: with no voice its
  entity has no language and cannot be used. A request for the placeholder speaks with the
  model's default voice, so a voice Home Assistant stored while the model loaded keeps working.
  Home Assistant reads ``info`` when the integration is set up, so it shows the real voices
  after its next reload. A model that failed to load is listed as not installed.
* **A stream is one utterance.** Its text is buffered and cut with
  :func:`sesli.text.sentences.split_sentences`; every span but the last is complete (the last
  may still grow, or end a sentence only when the next upper-case word arrives) and is spoken at
  once, the tail at ``synthesize-stop``. All of a stream's audio is inside one ``audio-start`` ...
  ``audio-stop`` (Home Assistant writes one WAV header, at the first ``audio-start``); a stream
  with nothing to say still sends the pair. Spans with no letter or digit are skipped.
* **Home Assistant's duplicate.** For old servers Home Assistant also sends the whole text as a
  ``synthesize`` inside the stream (start, chunks, synthesize, stop). A ``synthesize`` while a
  stream is open is ignored, and so is one right after ``synthesize-stop`` whose text is the
  stream's text (whitespace aside), in case a client sends it after the stop instead.
* **Plan ahead, render in order.** The next piece of text is planned (G2P, on a thread) while
  the current one renders, but submitted to the scheduler only when the current one is done:
  the scheduler renders first chunks first, so an early submit would delay the current
  sentence's later chunks behind the next sentence's first one.
* **Errors end the connection.** A refused request (model loading, unknown voice, nothing to
  say, queue full) gets an ``error`` event (``text``, ``code``) and no ``audio-start``; then the
  server closes the connection, as wyoming-piper does. Home Assistant ignores ``error`` events
  and waits for ``audio-stop`` (or ``synthesize-stopped``) with no timeout: the close is what ends
  its wait. A client that disconnects cancels its job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import Any

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice
from wyoming.server import AsyncEventHandler, AsyncServer, AsyncTcpServer, AsyncUnixServer
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

import sesli
from sesli.inference.base import SynthesisError
from sesli.inference.plan import Plan
from sesli.serve.scheduler import QueueFull
from sesli.serve.service import NotReady, SpeechService
from sesli.text.sentences import split_sentences

_LOGGER = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10200"
LANGUAGES = ["tr_TR"]
PLACEHOLDER_VOICE = "default"
SAMPLES_PER_CHUNK = 1024  # as wyoming-piper: ~43 ms at 24 kHz per audio-chunk event
SAMPLE_WIDTH = 2  # bytes: signed 16-bit PCM
ATTRIBUTION = Attribution(name="sesli", url="https://github.com/sesli/sesli")

# Error codes, most specific first: the ``code`` of an ``error`` event.
_CODES = ((NotReady, "not-ready"), (QueueFull, "busy"), (SynthesisError, "invalid-text"))


def pcm16(audio: np.ndarray) -> bytes:
    """Float audio in [-1, 1] -> signed 16-bit little-endian bytes: clip, then ``round(x * 32767)``."""
    x = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return np.round(x * 32767.0).astype("<i2").tobytes()


def wyoming_info(service: SpeechService) -> Info:
    """The ``info`` answer for ``describe``: one TTS program with the voices known now.

    While the model loads the voices are :data:`PLACEHOLDER_VOICE` alone; after a failed load
    the program is not installed and has no voices (see the module docstring).
    """
    version = getattr(sesli, "__version__", None)
    installed = service.error is None
    if service.ready:
        names, default, state = service.voice_names(), service.default_voice, service.model_id
    else:
        names, default = ([PLACEHOLDER_VOICE] if installed else []), PLACEHOLDER_VOICE
        state = "loading" if installed else "failed to load"
    voices = [
        TtsVoice(
            name=name,
            attribution=ATTRIBUTION,
            installed=True,
            description=f"{name} (default)" if name == default else name,
            version=version,
            languages=list(LANGUAGES),
        )
        for name in names
    ]
    program = TtsProgram(
        name="sesli",
        attribution=ATTRIBUTION,
        installed=installed,
        description=f"sesli Turkish speech ({state})",
        version=version,
        voices=voices,
        supports_synthesize_streaming=True,
    )
    return Info(tts=[program])


def error_event(err: BaseException, code: str | None = None) -> Event:
    """An ``error`` event for ``err``; ``code`` overrides the one its type maps to."""
    if code is None:
        code = next((c for kind, c in _CODES if isinstance(err, kind)), "synthesis-failed")
    return Error(text=str(err) or type(err).__name__, code=code).event()


def _sayable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _squash(text: str) -> str:
    return " ".join(text.split())


class _Speech:
    """One utterance (a ``synthesize`` or a whole stream): text in, one audio-start ... audio-stop out.

    :meth:`say` queues text; :meth:`finish` ends it. A planner task plans each text (one plan
    ahead), the speech task submits the plans in order and writes their audio.
    """

    def __init__(
        self, handler: WyomingHandler, voice: str | None, *, streaming: bool, after: Any = None
    ) -> None:
        self.handler = handler
        self.service = handler.service
        self.voice = voice
        self.streaming = streaming
        self.rate = self.service.sample_rate  # NotReady while loading: checked before, by the handler
        self._texts: asyncio.Queue[str | None] = asyncio.Queue()
        self._plans: asyncio.Queue[Plan | BaseException | None] = asyncio.Queue(maxsize=1)
        self._started = False
        self._samples = 0
        self.task = asyncio.create_task(self._run(after), name="sesli wyoming speech")

    def say(self, text: str) -> None:
        self._texts.put_nowait(text)

    def finish(self) -> None:
        self._texts.put_nowait(None)

    async def _run(self, after: asyncio.Task | None) -> None:
        if after is not None:  # a client's second request waits for its first
            await asyncio.wait([after])
        planner = asyncio.create_task(self._plan_all(), name="sesli wyoming planner")
        try:
            await self._speak_all()
        except Exception as err:  # noqa: BLE001 - reported to the client, then the connection closes
            await self.handler.fail(err)
        finally:
            planner.cancel()

    async def _plan_all(self) -> None:
        try:
            while (text := await self._texts.get()) is not None:
                if self.streaming and not _sayable(text):
                    continue  # a stream's "***" between sentences is not an error
                await self._plans.put(await asyncio.to_thread(self.service.plan, text, self.voice))
        except Exception as err:  # noqa: BLE001 - raised by the speech task, after the audio before it
            await self._plans.put(err)
            return
        await self._plans.put(None)

    async def _speak_all(self) -> None:
        while (plan := await self._plans.get()) is not None:
            if isinstance(plan, BaseException):
                raise plan
            job = self.service.submit(plan)
            try:
                async for piece in job:
                    await self._write_audio(piece.audio)
            finally:
                job.cancel()  # a no-op when it finished; frees its slot when the client left
        await self._start_audio()
        await self.handler.write_event(AudioStop(timestamp=self._ms()).event())
        if self.streaming:
            await self.handler.write_event(SynthesizeStopped().event())

    async def _start_audio(self) -> None:
        if not self._started:
            self._started = True
            await self.handler.write_event(AudioStart(self.rate, SAMPLE_WIDTH, 1, timestamp=0).event())

    async def _write_audio(self, audio: np.ndarray) -> None:
        await self._start_audio()
        step = self.handler.samples_per_chunk
        for k in range(0, len(audio), step):
            data = pcm16(audio[k : k + step])
            await self.handler.write_event(
                AudioChunk(self.rate, SAMPLE_WIDTH, 1, data, timestamp=self._ms()).event()
            )
            self._samples += len(data) // SAMPLE_WIDTH

    def _ms(self) -> int:
        return self._samples * 1000 // self.rate


class WyomingHandler(AsyncEventHandler):
    """One Wyoming client connection (see the module docstring for the protocol and decisions).

    Args:
        reader: the connection's stream reader (given by the wyoming server).
        writer: its stream writer.
        service: the speech service; need not be loaded yet.
        samples_per_chunk: most samples in one ``audio-chunk`` event.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        service: SpeechService,
        *,
        samples_per_chunk: int = SAMPLES_PER_CHUNK,
    ) -> None:
        super().__init__(reader, writer)
        self.service = service
        self.samples_per_chunk = samples_per_chunk
        self._speech: _Speech | None = None  # the latest request
        self._tasks: set[asyncio.Task] = set()  # its task and any earlier ones still speaking
        self._stream: list[str] | None = None  # the open stream's text pieces; None: no stream open
        self._tail = ""  # the open stream's text not spoken yet: an unfinished sentence
        self._echo: str | None = None  # the text of the stream that just stopped

    async def run(self) -> None:
        """Serve the connection until it closes; a reset or a cut-off event is a disconnect too.

        The base class lets those escape its task, to be logged as an unretrieved exception; a
        client that hangs up with audio still unread resets the connection, which is routine.
        """
        try:
            await super().run()
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            _LOGGER.debug("wyoming: client gone: %s", err)

    async def handle_event(self, event: Event) -> bool:
        """Answer one event; False closes the connection (after an error)."""
        if Describe.is_type(event.type):
            await self.write_event(wyoming_info(self.service).event())
            return True
        if Synthesize.is_type(event.type):
            return await self._on_synthesize(Synthesize.from_event(event))
        if SynthesizeStart.is_type(event.type):
            start = SynthesizeStart.from_event(event)
            return await self._on_start(start.voice.name if start.voice else None)
        if SynthesizeChunk.is_type(event.type):
            self._on_chunk(SynthesizeChunk.from_event(event).text)
        elif SynthesizeStop.is_type(event.type):
            self._on_stop()
        return True  # other events are not for a TTS server: dropped, as the protocol asks

    async def _on_synthesize(self, synthesize: Synthesize) -> bool:
        if self._stream is not None:
            return True  # Home Assistant's copy of the open stream's text
        echo, self._echo = self._echo, None
        if echo is not None and _squash(synthesize.text) == echo:
            return True  # the same copy, sent after synthesize-stop
        speech = await self._open(synthesize.voice.name if synthesize.voice else None, streaming=False)
        if speech is None:
            return False
        speech.say(synthesize.text)
        speech.finish()
        return True

    async def _on_start(self, voice: str | None) -> bool:
        self._echo = None
        if self._stream is not None:
            return await self.fail(SynthesisError("synthesize-start while a stream is open"), "stream-open")
        if await self._open(voice, streaming=True) is None:
            return False
        self._stream, self._tail = [], ""
        return True

    def _on_chunk(self, text: str) -> None:
        if self._stream is None or self._speech is None:
            return  # a chunk outside a stream has nowhere to go
        self._stream.append(text)
        self._tail += text
        spans = split_sentences(self._tail)
        if len(spans) > 1:  # all but the last span are whole sentences; the last may still grow
            cut = spans[-1].start
            self._speech.say(self._tail[:cut])
            self._tail = self._tail[cut:]

    def _on_stop(self) -> None:
        if self._stream is None or self._speech is None:
            return
        self._speech.say(self._tail)
        self._speech.finish()
        self._echo = _squash("".join(self._stream))
        self._stream, self._tail = None, ""

    async def _open(self, voice: str | None, *, streaming: bool) -> _Speech | None:
        """Check the service and the voice, then start an utterance (None: refused, error sent)."""
        try:
            names = self.service.voice_names()
        except NotReady as err:
            await self.fail(err)
            return None
        if voice is not None and (not voice.strip() or (voice == PLACEHOLDER_VOICE and voice not in names)):
            voice = None  # the placeholder listed while loading speaks with the default voice
        try:
            self.service.check_voice(voice)
        except SynthesisError as err:
            await self.fail(err, "unknown-voice")
            return None
        after = self._speech.task if self._speech is not None and not self._speech.task.done() else None
        self._speech = _Speech(self, voice, streaming=streaming, after=after)
        self._tasks.add(self._speech.task)
        self._speech.task.add_done_callback(self._tasks.discard)
        return self._speech

    async def fail(self, err: BaseException, code: str | None = None) -> bool:
        """Send an ``error`` event for ``err`` and close the connection; returns False."""
        if not isinstance(err, (NotReady, QueueFull, SynthesisError)):
            _LOGGER.warning("wyoming: synthesis failed: %s: %s", type(err).__name__, err)
        with contextlib.suppress(ConnectionError, OSError):  # the client may have left first
            await self.write_event(error_event(err, code))
        await self.stop()
        return False

    async def disconnect(self) -> None:
        """The client left: cancel its utterances (their jobs are cancelled as they unwind)."""
        for task in list(self._tasks):
            task.cancel()


def _server(uri: str) -> AsyncServer:
    server = AsyncServer.from_uri(uri)
    if not isinstance(server, (AsyncTcpServer, AsyncUnixServer)):
        raise ValueError(f"a Wyoming server listens on tcp://HOST:PORT or unix://PATH, not {uri!r}")
    return server


async def start_wyoming(service: SpeechService, uri: str = DEFAULT_URI, **options: Any) -> AsyncServer:
    """Listen for Wyoming clients on ``uri`` and return once the socket is bound.

    Call it in the event loop the service's jobs are submitted from (the HTTP server's); the
    model may still be loading. Stop with ``await server.stop()``.

    Args:
        service: the speech service (started here if it was not).
        uri: ``tcp://HOST:PORT`` or ``unix://PATH``.
        **options: keyword arguments for :class:`WyomingHandler` (``samples_per_chunk``).

    Raises:
        ValueError: another scheme (``stdio://``), or a TCP URI without a port.
        OSError: the address is in use.
    """
    server = _server(uri)
    service.start()
    # start(), not run(): run() takes over SIGTERM, which is the HTTP server's to handle.
    await server.start(partial(WyomingHandler, service=service, **options))
    return server


async def run_wyoming(service: SpeechService, uri: str = DEFAULT_URI, **options: Any) -> None:
    """Serve Wyoming on ``uri`` until cancelled (run it as a task beside the HTTP server).

    Args:
        service: the speech service (started here if it was not).
        uri: ``tcp://HOST:PORT`` or ``unix://PATH``.
        **options: keyword arguments for :class:`WyomingHandler`.
    """
    server = await start_wyoming(service, uri, **options)
    _LOGGER.info("wyoming: listening on %s", uri)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


__all__ = [
    "DEFAULT_URI",
    "PLACEHOLDER_VOICE",
    "WyomingHandler",
    "error_event",
    "pcm16",
    "run_wyoming",
    "start_wyoming",
    "wyoming_info",
]
