"""Never stalls: fair chunk order, micro-batches, queue bounds, cancel on disconnect, slow clients."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import numpy as np
import pytest

from sesli.inference.base import Rendered
from sesli.inference.plan import Piece, Plan, PlanChunk
from sesli.serve.app import create_app
from sesli.serve.scheduler import QueueFull, Scheduler
from sesli.serve.service import ServiceConfig, SpeechService
from sesli.testing.server import live_server

LONG = " ".join(f"Bu uzun metnin {n}. cümlesi, sunucuyu bir süre meşgul eder." for n in range(1, 13))


def _plan(name: str, chunks: int) -> Plan:
    return Plan(name, [PlanChunk(k, "a", [], 0.0) for k in range(chunks)])


class Recorder:
    """A fake render: logs (plan text, chunk index) per call, sleeps ``delay`` per call."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[tuple[str, int]]] = []
        self.delay = delay

    def __call__(self, work):
        self.calls.append([(plan.text, chunk.index) for plan, chunk in work])
        time.sleep(self.delay)
        return [Piece(c.index, np.zeros(10, np.float32), [], c.index == len(p.chunks) - 1) for p, c in work]


async def _drain(job) -> int:
    return sum([1 async for _ in job])


def test_first_chunks_go_first_and_long_jobs_interleave():
    render = Recorder(delay=0.02)
    scheduler = Scheduler(render, max_active=4)

    async def main():
        long_job = scheduler.submit(_plan("long", 6))
        await asyncio.sleep(0.05)  # long has started
        short = scheduler.submit(_plan("short", 2))
        other = scheduler.submit(_plan("other", 3))
        await asyncio.gather(_drain(long_job), _drain(short), _drain(other))

    asyncio.run(main())
    order = [item for call in render.calls for item in call]
    # Both newcomers' first chunks come right after the long job's chunk in flight.
    first_new = min(order.index(("short", 0)), order.index(("other", 0)))
    assert max(order.index(("short", 0)), order.index(("other", 0))) <= first_new + 1
    assert sum(1 for name, _ in order[:first_new] if name == "long") <= 3
    # Then the least-served job goes next: no job waits for another to finish.
    assert order.index(("other", 2)) < order.index(("long", 5))
    scheduler.close()


def test_micro_batches_take_chunks_of_different_jobs():
    render = Recorder()
    scheduler = Scheduler(render, max_active=4, batch_size=4, batch_window=0.1)

    async def main():
        jobs = [scheduler.submit(_plan(f"j{k}", 2)) for k in range(3)]
        await asyncio.gather(*map(_drain, jobs))

    asyncio.run(main())
    assert max(len(call) for call in render.calls) == 3
    assert sorted(render.calls[0]) == [("j0", 0), ("j1", 0), ("j2", 0)]
    scheduler.close()


def test_queue_bound_raises_with_retry_after():
    scheduler = Scheduler(Recorder(delay=0.05), max_active=1, max_queued=1)

    async def main():
        a = scheduler.submit(_plan("a", 3))
        b = scheduler.submit(_plan("b", 1))
        with pytest.raises(QueueFull) as info:
            scheduler.submit(_plan("c", 1))
        assert info.value.retry_after >= 1
        await asyncio.gather(_drain(a), _drain(b))
        scheduler.submit(_plan("d", 1))  # room again

    asyncio.run(main())
    scheduler.close()


def test_a_client_that_stops_reading_costs_nothing_and_is_dropped():
    render = Recorder()
    scheduler = Scheduler(render, max_active=1, max_queued=4, max_ahead=2, stall_timeout=0.3)

    async def main():
        stuck = scheduler.submit(_plan("stuck", 50))
        waiting = scheduler.submit(_plan("next", 1))
        await asyncio.sleep(0.15)
        assert sum(len(c) for c in render.calls) == 2  # only max_ahead pieces made for it
        assert await asyncio.wait_for(_drain(waiting), 5) == 1  # freed after stall_timeout
        assert stuck.cancelled

    asyncio.run(main())
    scheduler.close()


class SlowSpeaker:
    """The debug synthesizer's text side with a slow, cheap "model": each render call sleeps
    ``delay`` (the GIL is free, as in torch ops) and returns 20 ms of tone per phoneme symbol."""

    def __init__(self, speaker, delay: float) -> None:
        self.inner, self.delay, self.rendered = speaker, delay, 0
        self.family, self.loaded = speaker.family, speaker.loaded

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def render(self, items):
        time.sleep(self.delay)
        self.rendered += len(items)
        out = []
        for item in items:
            n = len(item.phonemes)
            t = np.arange(n * 480) / 24000
            times = np.stack([np.arange(n) * 0.02, np.arange(1, n + 1) * 0.02], axis=-1)
            out.append(Rendered((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), times))
        return out


@pytest.fixture
def slow_server(debug_speaker):
    speaker = SlowSpeaker(debug_speaker, 0.15)
    service = SpeechService(ServiceConfig(max_active=2, max_queued=3, stall_timeout=1.0), speaker=speaker)
    with live_server(create_app(service)) as url:
        yield url, speaker, service


def test_health_answers_during_synthesis(slow_server):
    url, speaker, service = slow_server

    async def main():
        body = {"input": LONG, "voice": "debug", "response_format": "pcm"}
        async with httpx.AsyncClient(timeout=60) as client, httpx.AsyncClient() as probe:
            tasks = [
                asyncio.ensure_future(client.post(f"{url}/v1/audio/speech", json=body)) for _ in range(2)
            ]
            await asyncio.sleep(0.5)
            latencies, loads = [], []
            for _ in range(10):
                t0 = time.perf_counter()
                loads.append((await probe.get(f"{url}/health")).json())
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.05)
            responses = await asyncio.gather(*tasks)
        return latencies, loads, responses

    latencies, loads, responses = asyncio.run(main())
    assert all(load["active"] == 2 for load in loads)  # asked while both were being rendered
    assert max(latencies) < 0.1, f"/health took {max(latencies):.3f} s during synthesis"
    assert [r.status_code for r in responses] == [200, 200]


def test_100_requests_at_once_get_clear_429s_and_the_server_keeps_serving(slow_server):
    url, speaker, service = slow_server
    import psutil

    rss = psutil.Process().memory_info().rss

    async def main():
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as client:
            body = {"input": LONG, "voice": "debug", "response_format": "pcm"}
            responses = await asyncio.gather(
                *[client.post(f"{url}/v1/audio/speech", json=body) for _ in range(100)]
            )
            after = await client.post(f"{url}/v1/audio/speech", json={**body, "input": "Merhaba."})
            return responses, after

    responses, after = asyncio.run(main())
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 5 and codes.count(429) == 95  # 2 active + 3 queued
    for r in responses:
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]["type"] == "rate_limit_error"
        else:
            assert len(r.content) > 24000  # the whole text was said
    assert after.status_code == 200
    assert psutil.Process().memory_info().rss - rss < 200e6  # bounded: refused requests hold nothing


def test_disconnect_mid_stream_cancels_the_rest(slow_server):
    url, speaker, service = slow_server
    body = {"input": LONG, "voice": "debug", "response_format": "pcm"}
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=30) as r:
        total = int(r.headers["x-chunks"])
        next(r.iter_raw())
        before = speaker.rendered
    time.sleep(1.0)  # about 6 chunks' time
    assert speaker.rendered - before <= 2, "chunks kept being rendered after the client left"
    assert total >= 5
    assert httpx.post(f"{url}/v1/audio/speech", json={**body, "input": "Merhaba."}).status_code == 200
    assert service.scheduler.load["active"] == 0


def test_ready_is_503_until_warm(debug_speaker):
    gate = threading.Event()

    class Held(SpeechService):
        def _load(self):
            gate.wait(10)
            super()._load()

    service = Held(ServiceConfig(), speaker=debug_speaker)
    with live_server(create_app(service), wait_ready=False) as url:
        assert httpx.get(f"{url}/health").json()["ready"] is False
        assert httpx.get(f"{url}/ready").status_code == 503
        r = httpx.post(f"{url}/v1/audio/speech", json={"input": "Merhaba."})
        assert r.status_code == 503 and "Retry-After" in r.headers
        gate.set()
        assert service.wait_ready(10)
        assert httpx.get(f"{url}/ready").status_code == 200


def test_a_model_that_fails_to_load_says_why():
    service = SpeechService(ServiceConfig(model="/no/such/model.onnx"))
    with live_server(create_app(service), wait_ready=False) as url:
        deadline = time.monotonic() + 20
        while service.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        r = httpx.get(f"{url}/ready")
        assert r.status_code == 503 and r.json()["status"] == "failed" and r.json()["error"]
        r = httpx.post(f"{url}/v1/audio/speech", json={"input": "Merhaba."})
        assert r.status_code == 503 and "failed to load" in r.json()["error"]["message"]
