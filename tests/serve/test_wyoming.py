"""The Wyoming TTS server, driven by the wyoming package's own client over a real socket.

One debug Kokoro service (random weights, noise off, an extra voice) is loaded for the module;
each test starts a server on a free port in its own event loop and talks to it in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

import sesli
from sesli.serve.service import NotReady, ServiceConfig, SpeechService
from sesli.serve.wyoming import PLACEHOLDER_VOICE, pcm16, run_wyoming, start_wyoming

pytestmark = pytest.mark.anyio

EXTRA_VOICE = "tr_test"
TIMEOUT = 20.0  # seconds for one event: generous, a test never waits that long unless broken


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The debug model with a second voice, loaded once (~1 s)."""
    voices = tmp_path_factory.mktemp("voices") / "extra.npz"
    pack = np.random.default_rng(0).normal(0.0, 0.3, (510, 1, 32)).astype(np.float32)
    np.savez(voices, **{EXTRA_VOICE: pack})
    svc = SpeechService(ServiceConfig(model="debug", load_options={"noise": False, "voices": str(voices)}))
    svc.start()
    assert svc.wait_ready(60)
    yield svc
    svc.close()


class _NeverLoads(SpeechService):
    """A service whose model is forever loading: ``start`` does nothing."""

    def start(self) -> None:
        pass


@contextlib.asynccontextmanager
async def serving(svc: SpeechService):
    """A server on 127.0.0.1 and a free port; yields the port."""
    server = await start_wyoming(svc, "tcp://127.0.0.1:0")
    port = server._server.sockets[0].getsockname()[1]  # the wyoming server keeps its socket private
    try:
        yield port
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def client_to(port: int):
    async with AsyncTcpClient("127.0.0.1", port, read_timeout=TIMEOUT) as client:
        yield client


async def read_until(client: AsyncTcpClient, event_type: str) -> list[Event]:
    """Events up to and including the first of ``event_type`` (fails if the server closes first)."""
    events = []
    while True:
        event = await client.read_event()
        assert event is not None, f"closed before {event_type}; got {[e.type for e in events]}"
        events.append(event)
        if event.type == event_type:
            return events


async def read_to_close(client: AsyncTcpClient) -> list[Event]:
    """Every event until the server closes the connection."""
    events = []
    while (event := await client.read_event()) is not None:
        events.append(event)
    return events


async def nothing_more(client: AsyncTcpClient, wait: float = 0.5) -> None:
    """Nothing arrives within ``wait`` seconds."""
    with pytest.raises(asyncio.TimeoutError):
        event = await asyncio.wait_for(client.read_event(), wait)
        pytest.fail(f"unexpected {event.type if event else 'close'}")


def audio_of(events: list[Event]) -> np.ndarray:
    """Check the audio framing (one start, chunks, one stop, in order) and return the int16 samples."""
    types = [e.type for e in events if e.type.startswith("audio-")]
    assert types[0] == "audio-start" and types[-1] == "audio-stop", types
    assert types.count("audio-start") == 1 and types.count("audio-stop") == 1, types
    assert types.count("audio-chunk") >= 1
    start = AudioStart.from_event(next(e for e in events if AudioStart.is_type(e.type)))
    assert (start.rate, start.width, start.channels) == (24000, 2, 1)
    chunks = [AudioChunk.from_event(e) for e in events if AudioChunk.is_type(e.type)]
    assert all((c.rate, c.width, c.channels) == (24000, 2, 1) for c in chunks)
    assert all(0 < c.samples <= 1024 and len(c.audio) % 2 == 0 for c in chunks)
    return np.frombuffer(b"".join(c.audio for c in chunks), dtype="<i2")


def the_error(events: list[Event]) -> Error:
    assert not any(AudioStart.is_type(e.type) for e in events), [e.type for e in events]
    errors = [Error.from_event(e) for e in events if Error.is_type(e.type)]
    assert len(errors) == 1, [e.type for e in events]
    return errors[0]


async def describe(client: AsyncTcpClient) -> Info:
    await client.write_event(Describe().event())
    return Info.from_event((await read_until(client, "info"))[-1])


async def synthesize(client: AsyncTcpClient, text: str, voice: str | None = None) -> list[Event]:
    await client.write_event(
        Synthesize(text=text, voice=SynthesizeVoice(name=voice) if voice else None).event()
    )
    return await read_until(client, "audio-stop")


def test_pcm16_clips_then_rounds():
    x = np.array([0.0, 0.25, 1.0, -1.0, 2.0, -3.0, 1e-5], np.float32)
    got = np.frombuffer(pcm16(x), dtype="<i2")
    assert got.tolist() == [0, 8192, 32767, -32767, 32767, -32767, 0]


async def test_describe_answers_while_loading():
    loading = _NeverLoads(ServiceConfig(model="debug"))
    async with serving(loading) as port, client_to(port) as client:
        t0 = time.monotonic()
        info = await describe(client)
        assert time.monotonic() - t0 < 0.5
        (program,) = info.tts
        assert program.installed and program.supports_synthesize_streaming
        assert [(v.name, v.languages) for v in program.voices] == [(PLACEHOLDER_VOICE, ["tr_TR"])]
        await client.write_event(Synthesize(text="Merhaba.").event())
        assert the_error(await read_to_close(client)).code == "not-ready"


async def test_describe_a_model_that_failed_to_load():
    failed = SpeechService(ServiceConfig(model="/nonexistent/model"))
    async with serving(failed) as port, client_to(port) as client:
        with pytest.raises(NotReady, match="failed to load"):
            await asyncio.to_thread(failed.wait_ready, 10)
        (program,) = (await describe(client)).tts
        assert not program.installed and program.voices == []


async def test_describe_lists_the_voices(service):
    async with serving(service) as port, client_to(port) as client:
        (program,) = (await describe(client)).tts
    assert program.name == "sesli" and program.installed
    assert program.version == sesli.__version__ and program.attribution.name == "sesli"
    assert program.supports_synthesize_streaming
    assert sorted(v.name for v in program.voices) == sorted(["debug", EXTRA_VOICE])
    assert all(v.languages == ["tr_TR"] and v.installed for v in program.voices)


async def test_synthesize_sends_one_audio_stream(service):
    async with serving(service) as port, client_to(port) as client:
        events = await synthesize(client, "Merhaba, bugün hava çok güzel.")
        samples = audio_of(events)
        assert samples.size > 0.2 * 24000
        assert np.abs(samples).max() > 0
        await nothing_more(client, 0.2)  # a plain synthesize has no synthesize-stopped


async def test_voice_by_name_and_unknown_voice(service):
    text = "Merhaba, nasılsınız?"
    async with serving(service) as port:
        async with client_to(port) as client:
            default = audio_of(await synthesize(client, text))
            chosen = audio_of(await synthesize(client, text, EXTRA_VOICE))
            placeholder = audio_of(await synthesize(client, text, PLACEHOLDER_VOICE))
        assert not np.array_equal(default, chosen)
        assert np.array_equal(default, placeholder)  # the loading-time voice speaks as the default
        async with client_to(port) as client:
            await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name="nope")).event())
            error = the_error(await read_to_close(client))
    assert error.code == "unknown-voice" and "nope" in error.text


@pytest.mark.parametrize("text", ["", "   "])
async def test_empty_text_is_an_error(service, text):
    async with serving(service) as port, client_to(port) as client:
        await client.write_event(Synthesize(text=text).event())
        assert the_error(await read_to_close(client)).code == "invalid-text"


CHUNKS = ["Merhaba. Bugün ", "hava çok ", "güzel. Yarın görüşürüz."]


@pytest.mark.parametrize("echo", ["before-stop", "after-stop"])
async def test_stream_is_one_audio_stream_and_ignores_the_echo(service, echo):
    """Home Assistant's order: start, chunks, the whole text as synthesize, stop (and the reverse)."""
    whole = "".join(CHUNKS)
    async with serving(service) as port, client_to(port) as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name=EXTRA_VOICE)).event())
        for chunk in CHUNKS:
            await client.write_event(SynthesizeChunk(text=chunk).event())
        if echo == "before-stop":
            await client.write_event(Synthesize(text=whole).event())
        await client.write_event(SynthesizeStop().event())
        if echo == "after-stop":
            await client.write_event(Synthesize(text=whole).event())
        events = await read_until(client, "synthesize-stopped")
        assert AudioStop.is_type(events[-2].type)
        samples = audio_of(events)
        assert samples.size > 1.0 * 24000  # three sentences
        await nothing_more(client)  # no second audio-start for the echo


async def test_stream_speaks_a_sentence_before_the_stop(service):
    async with serving(service) as port, client_to(port) as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text=CHUNKS[0]).event())
        first = await read_until(client, "audio-chunk")  # "Merhaba." is whole: spoken already
        assert AudioStart.is_type(first[0].type)
        for chunk in CHUNKS[1:]:
            await client.write_event(SynthesizeChunk(text=chunk).event())
        await client.write_event(SynthesizeStop().event())
        samples = audio_of(first + await read_until(client, "synthesize-stopped"))
        assert samples.size > 1.0 * 24000


async def test_stream_with_nothing_to_say(service):
    async with serving(service) as port, client_to(port) as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text=" *** ").event())
        await client.write_event(SynthesizeStop().event())
        types = [e.type for e in await read_until(client, "synthesize-stopped")]
    assert types == ["audio-start", "audio-stop", "synthesize-stopped"]


async def test_disconnect_cancels_and_the_server_serves_on(service):
    text = " ".join(f"Bugün {k}. kez parka gidiyoruz ve hava çok güzel." for k in range(40))
    chunks = len(service.plan(text).chunks)
    before = service.scheduler.rendered_chunks
    async with serving(service) as port:
        async with client_to(port) as client:
            await client.write_event(Synthesize(text=text).event())
            await read_until(client, "audio-chunk")
        deadline = time.monotonic() + 10
        while service.scheduler.load["active"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert service.scheduler.load["active"] == 0
        assert service.scheduler.rendered_chunks - before < chunks  # the rest was never rendered
        async with client_to(port) as client:
            assert audio_of(await synthesize(client, "Tekrar merhaba.")).size > 0


async def test_run_wyoming_serves_until_cancelled(service):
    with socket.socket() as probe:  # a free port: run_wyoming does not say which one it bound
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task = asyncio.create_task(run_wyoming(service, f"tcp://127.0.0.1:{port}"))
    for _ in range(100):  # until it listens
        await asyncio.sleep(0.02)
        with contextlib.suppress(OSError):
            async with client_to(port) as client:
                assert (await describe(client)).tts[0].voices
            break
    else:
        pytest.fail("run_wyoming never listened")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


def test_only_sockets_are_served(service):
    with pytest.raises(ValueError, match="tcp://"):
        asyncio.run(start_wyoming(service, "stdio://"))
