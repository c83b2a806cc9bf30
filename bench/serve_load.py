"""The speech server under load: sesli's scheduler vs a Kokoro-FastAPI-style loop, same weights.

Each server runs in its own process (uvicorn on 127.0.0.1, a free port), so its memory is its own
and it shares no GIL with the load generator (this process: httpx's async client). For 1, 2, 4
and 8 concurrent clients (``--levels``), each level sends ``max(--requests, clients)`` requests,
each a different Turkish paragraph of 400-600 characters (Common Voice sentences, CC0, from
``data/cv_tr_sentences.txt``), as ``POST /v1/audio/speech`` with ``response_format=pcm``, and
reads every response to its end. No request starts after ``--max-seconds``; any still running
then is cut (its audio so far counts). Per server and level it reports:

* time to first audio byte (TTFA) p50/p95, from sending the request to the first body byte;
* audio seconds per wall second: all s16le audio received / the level's wall time;
* ``/health`` latency, polled every 100 ms during the level (p50/p95/max);
* peak RSS of the server process and its children (psutil, sampled every 50 ms).

The levels alternate sesli / baseline (sesli first at even levels, baseline first at odd ones),
with the same texts and voice, so both see the same machine load. Then a burst of ``--burst``
simultaneous short requests hits a fresh sesli server with ``max_active=2, max_queued=4``: it
counts 200s and 429s, checks that each 429 has a ``Retry-After``, and that one more request
afterwards gets its audio.

The baseline is built here, after Kokoro-FastAPI (remsky/Kokoro-FastAPI, read at commit 26eec06,
August 2026): ``KokoroV1.generate`` iterates its ``KPipeline`` synchronously inside an ``async``
generator, so synthesis runs on the event loop (``/health`` waits for the chunk being made), and
the router awaits ``request.is_disconnected()`` between chunks (the one point where other
requests and ``/health`` get the loop). Its ``smart_split`` (``text_processor.py``) cuts the text
into sentences at ``[.!?;:]`` followed by whitespace, phonemizes them all before the first chunk,
and packs whole sentences into chunks of ``target_min_tokens=175`` to ``target_max_tokens=250``
phoneme tokens, going past 250 (up to ``absolute_max_tokens=450``) only while a chunk is under
175; a sentence over 450 is cut at commas into pieces of at most 250 (``core/config.py``). There is
no short first chunk: the first chunk is packed like the others. Concurrency is bounded only by an
``asyncio.Semaphore(4)`` around chunk processing; nothing is refused (no 429). Here the same rules
run on sesli's phonemes (a token is one phoneme symbol, spaces and punctuation included), a
sentence pause (0.2 s) follows each chunk as sesli's planner adds one, and the audio comes from
the same ``sesli.load(model)`` synthesizer through ``Synthesizer.render`` with
``RenderItem(phonemes, voice, speed)``, the call sesli's service makes: same weights, same G2P,
same kernels; only chunking and scheduling differ.

Threads: ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` are removed from the servers' environment, so
torch uses its default (one thread per core); each server reports its torch thread counts, and the
machine's cores, load averages (before/after) and CPU steal are recorded, since other jobs may
share the machine. Prints a markdown table and writes bench/results/serve_load.{md,json}
(``--quick``: the debug model, levels 1,2, 2 requests of 150-250 characters, 30 s per level,
written to the temp folder as serve_load_quick.{md,json}).

    .venv/bin/python bench/serve_load.py [--model debug] [--levels 1,2,4,8] [--requests 8]
        [--max-seconds 120] [--chars 400,600] [--burst 40] [--skip-baseline] [--quick] [--out STEM]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import numpy as np
from fastapi import Request  # at module level: FastAPI resolves the baseline's annotations here

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT / "data" / "cv_tr_sentences.txt"
RESULTS = ROOT / "bench" / "results" / "serve_load"
RATE = 24000
KFA_MIN, KFA_MAX, KFA_ABSOLUTE = 175, 250, 450  # Kokoro-FastAPI's target_min/max, absolute_max tokens
_KFA_SENTENCE = re.compile(r"([.!?;:])(?=\s|$)")


# ---- texts --------------------------------------------------------------------------------------
def paragraphs(n: int, seed: int = 0, low: int = 400, high: int = 600) -> list[str]:
    """``n`` distinct paragraphs of ``low``..``high`` characters of whole Common Voice sentences."""
    lines = [s.strip() for s in SENTENCES.read_text(encoding="utf-8").splitlines()]
    ok = re.compile(r"^[A-ZÇĞİÖŞÜ][\w ,'’-]+[.!?]$")
    pool = [s for s in lines if 50 <= len(s) <= 140 and ok.match(s)]
    random.Random(seed).shuffle(pool)
    out, current = [], ""
    for sentence in pool:
        joined = f"{current} {sentence}".strip()
        if len(joined) > high:
            continue
        current = joined
        if len(current) >= low:
            out.append(current)
            current = ""
            if len(out) == n:
                return out
    raise RuntimeError(f"only {len(out)} paragraphs could be made from {SENTENCES}")


def kfa_chunks(synth, text: str) -> list[str]:
    """Kokoro-FastAPI's ``smart_split`` (see the module docstring) over sesli's phonemes."""

    def phon(piece: str) -> str:
        return synth.speech_phonemes(piece)[0].strip()

    parts = _KFA_SENTENCE.split(text)
    sentences = [
        parts[i].strip() + (parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)
    ]
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in filter(None, (s.strip() for s in sentences)):
        ph = phon(sentence)
        n = len(ph)
        if n > KFA_ABSOLUTE:  # cut at commas into pieces of at most KFA_MAX
            chunks += [" ".join(current)] if current else []
            current, count = [], 0
            clause: list[str] = []
            for c in filter(None, (c.strip() for c in re.split(r"(?<=,)", sentence))):
                cp = phon(c)
                if clause and len(" ".join([*clause, cp])) > KFA_MAX:
                    chunks.append(" ".join(clause))
                    clause = []
                clause.append(cp)
            chunks += [" ".join(clause)] if clause else []
        elif count >= KFA_MIN and count + n > KFA_MAX:  # a good chunk, and the next would overshoot
            chunks.append(" ".join(current))
            current, count = [ph], n
        elif count + n <= KFA_MAX or (count + n <= KFA_ABSOLUTE and count < KFA_MIN):
            current.append(ph)  # under the target, or over it while the chunk is under the minimum
            count += n
        else:
            chunks += [" ".join(current)] if current else []
            current, count = [ph], n
    chunks += [" ".join(current)] if current else []
    limit = int(synth.max_phonemes)
    return [c[:limit] for c in chunks if any(ch.isalpha() for ch in c)]


# ---- the servers (run in a subprocess: ``--serve sesli|baseline``) --------------------------------
def baseline_app(model):
    """A Kokoro-FastAPI-style app: synthesis on the event loop, sentence-packed chunks."""
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    import sesli
    from sesli.inference.base import RenderItem
    from sesli.inference.chunking import SENTENCE_PAUSE

    state: dict = {}

    @asynccontextmanager
    async def lifespan(app):
        t0 = time.perf_counter()
        synth = sesli.load(model)  # on the loop, as Kokoro-FastAPI loads and warms up at startup
        synth.render([RenderItem(synth.speech_phonemes("Merhaba, hoş geldiniz.")[0])])
        state.update(synth=synth, load_seconds=time.perf_counter() - t0)
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        return {"ready": True, "load_seconds": state["load_seconds"]}

    @app.post("/v1/audio/speech")
    async def speech(request: Request):
        body = await request.json()  # input, voice, speed; the format is always pcm here
        text, voice, speed = body["input"], body.get("voice"), float(body.get("speed", 1.0))
        synth = state["synth"]
        pause = np.zeros(int(SENTENCE_PAUSE * RATE), np.float32)

        async def audio():
            chunks = kfa_chunks(synth, text)  # G2P of every sentence first, on the loop
            for k, phonemes in enumerate(chunks):
                if await request.is_disconnected():
                    return
                (r,) = synth.render([RenderItem(phonemes, voice, speed)])  # on the loop
                x = np.concatenate([r.audio, pause]) if k < len(chunks) - 1 else r.audio
                yield np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()

        return StreamingResponse(audio(), media_type="audio/pcm", headers={"X-Sample-Rate": str(RATE)})

    return app


def serve_main(args) -> int:
    """The ``--serve`` subprocess: build one app and run uvicorn on 127.0.0.1."""
    import torch
    import uvicorn

    info = {"pid": os.getpid(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}  # fmt: skip
    Path(args.info).write_text(json.dumps(info))
    if args.serve == "baseline":
        app = baseline_app(args.model)
    else:
        from sesli.serve.app import ServeConfig, create_app
        from sesli.serve.service import ServiceConfig, SpeechService

        bounds = {
            k: v for k, v in {"max_active": args.max_active, "max_queued": args.max_queued}.items() if v
        }
        model, load = args.model, {}
        if getattr(args, "backend", "torch") == "onnx":
            from sesli.export.kokoro import onnx_source

            model, load = onnx_source(model)[0], {"backend": "onnx"}
        service = SpeechService(ServiceConfig(model=model, load_options=load, **bounds))
        app = create_app(service, ServeConfig())
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


class Server:
    """A server subprocess, its URL, and its RSS (process + children) sampled every 50 ms."""

    def __init__(self, kind: str, model: str | None, workdir: Path, **bounds: int | None) -> None:
        import psutil

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.kind, self.url = kind, f"http://127.0.0.1:{self.port}"
        self.info_path, self.log_path = (
            workdir / f"{kind}-{self.port}.json",
            workdir / f"{kind}-{self.port}.log",
        )
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port", str(self.port),
               "--info", str(self.info_path)]  # fmt: skip
        cmd += ["--model", model] if model is not None else []
        cmd += [x for k, v in bounds.items() if v for x in (f"--{k.replace('_', '-')}", str(v))]
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.ps = psutil.Process(self.proc.pid)
        self.peak = self.window_peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.05):
            try:
                rss = self.ps.memory_info().rss + sum(
                    c.memory_info().rss for c in self.ps.children(recursive=True)
                )
            except psutil.Error:
                continue
            self.peak, self.window_peak = max(self.peak, rss), max(self.window_peak, rss)

    def log_tail(self, n: int = 2000) -> str:
        return self.log_path.read_bytes()[-n:].decode(errors="replace")

    def wait_ready(self, timeout: float = 300.0) -> dict:
        """Poll ``/ready`` until 200; raises with the server's log when it dies or times out."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                r = httpx.get(f"{self.url}/ready", timeout=5)
                if r.status_code == 200:
                    return r.json()
                if r.json().get("status") == "failed":
                    raise RuntimeError(f"{self.kind} server failed to load: {r.json().get('error')}")
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.kind} server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        import psutil

        if self._stop.is_set():
            return
        self._stop.set()
        try:
            family = [*self.ps.children(recursive=True), self.ps]
        except psutil.Error:
            family = []
        for p in family:
            with suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(family, timeout=10)
        for p in alive:
            with suppress(psutil.Error):
                p.kill()
        self._log.close()


# ---- the load -----------------------------------------------------------------------------------
def pct(xs: list[float], q: float, scale: float = 1.0) -> float | None:
    return round(float(np.percentile(xs, q)) * scale, 3) if xs else None


async def speak(client, text: str, voice: str | None, rec: dict) -> None:
    """One streamed pcm request; fills ``rec`` as bytes arrive (so a cut request keeps its audio)."""
    import httpx

    body = {"model": "tts-1", "input": text, "voice": voice, "response_format": "pcm"}
    t0 = time.perf_counter()
    rec.update(started=True, bytes=0, ttfa=None, done=False, status=None)
    try:
        async with client.stream("POST", "/v1/audio/speech", json=body) as resp:
            rec["status"] = resp.status_code
            rec["retry_after"] = resp.headers.get("retry-after")
            rec["headers_s"] = time.perf_counter() - t0
            if resp.status_code != 200:
                await resp.aread()
                return
            rec["rate"] = int(resp.headers.get("x-sample-rate", RATE))
            async for data in resp.aiter_raw():
                if data and rec["ttfa"] is None:
                    rec["ttfa"] = time.perf_counter() - t0
                rec["bytes"] += len(data)
        rec["done"] = True
    except httpx.HTTPError as err:
        rec["error"] = f"{type(err).__name__}: {err}"
    finally:
        rec["total_s"] = time.perf_counter() - t0


async def poll_health(url: str, stop: asyncio.Event, timeout: float) -> tuple[list[float], int]:
    """``GET /health`` every 100 ms (the next starts at once when one took longer) until ``stop``.

    Returns the latencies and how many polls failed (a timeout counts with its elapsed time,
    a lower bound, so a server that never answers shows as slow, not as absent).
    """
    import httpx

    out, failed = [], 0
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                (await client.get("/health")).raise_for_status()
            except httpx.HTTPError:
                failed += 1
            out.append(time.perf_counter() - t0)
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))
    return out, failed


async def run_level(server: Server, clients: int, texts: list[str], voice, max_seconds: float) -> dict:
    """``clients`` workers share ``texts``; no request starts after ``max_seconds``, none runs past it."""
    import httpx

    recs = [{"started": False} for _ in texts]
    todo = list(range(len(texts)))[::-1]
    timeout = httpx.Timeout(max_seconds + 60, connect=10)
    stop = asyncio.Event()
    server.window_peak = 0
    health = asyncio.create_task(poll_health(server.url, stop, max_seconds + 60))
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    async with httpx.AsyncClient(base_url=server.url, timeout=timeout, limits=limits) as client:
        t0 = time.perf_counter()

        async def worker():
            while todo and time.perf_counter() - t0 < max_seconds:
                i = todo.pop()
                await speak(client, texts[i], voice, recs[i])

        workers = [asyncio.create_task(worker()) for _ in range(clients)]
        _, pending = await asyncio.wait(workers, timeout=max_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        wall = time.perf_counter() - t0
    stop.set()
    latencies, health_failed = await health
    started = [r for r in recs if r["started"]]
    ttfa = [r["ttfa"] for r in started if r["ttfa"] is not None]
    audio_s = sum(r["bytes"] for r in started) / 2 / RATE
    failed = [
        r.get("error") or r["status"] for r in started if r.get("error") or r["status"] not in (200, None)
    ]
    return {"server": server.kind, "clients": clients, "started": len(started),
            "done": sum(r.get("done", False) and r.get("status") == 200 for r in started),
            "no_first_audio": len(started) - len(ttfa), "errors": failed,
            "ttfa_p50_s": pct(ttfa, 50), "ttfa_p95_s": pct(ttfa, 95), "ttfa_max_s": pct(ttfa, 100),
            "audio_s": round(audio_s, 2), "wall_s": round(wall, 2), "audio_s_per_s": round(audio_s / wall, 3),
            "health_n": len(latencies), "health_failed": health_failed,
            "health_p50_ms": pct(latencies, 50, 1e3), "health_p95_ms": pct(latencies, 95, 1e3),
            "health_max_ms": pct(latencies, 100, 1e3), "peak_rss_mb": round(server.window_peak / 2**20, 1)}  # fmt: skip


async def settle(server: Server, timeout: float = 120.0) -> None:
    """Wait until the server is idle, so the next server measured has the CPU to itself: sesli
    reports active/queued in /health; for both, /health must also answer in < 50 ms three times
    in a row (the baseline's event loop answers only between chunks while it still works)."""
    import httpx

    deadline = time.monotonic() + timeout
    quick = 0
    async with httpx.AsyncClient(base_url=server.url, timeout=timeout) as client:
        while time.monotonic() < deadline and quick < 3:
            try:
                t0 = time.perf_counter()
                h = (await client.get("/health")).json()
                idle = not h.get("active") and not h.get("queued") and time.perf_counter() - t0 < 0.05
                quick = quick + 1 if idle else 0
            except httpx.HTTPError:
                quick = 0
            await asyncio.sleep(0.2)


async def burst(server: Server, n: int, text: str, voice) -> dict:
    """``n`` simultaneous requests, then one more after they all ended."""
    import httpx

    limits = httpx.Limits(max_connections=n + 2, max_keepalive_connections=n + 2)
    recs = [{} for _ in range(n)]
    async with httpx.AsyncClient(
        base_url=server.url, timeout=httpx.Timeout(600, connect=10), limits=limits
    ) as c:
        await asyncio.gather(*(speak(c, text, voice, r) for r in recs))
        after: dict = {}
        await settle(server)
        await speak(c, text, voice, after)
    refused = [r for r in recs if r["status"] == 429]
    other = [r.get("error") or r["status"] for r in recs if r["status"] not in (200, 429)]
    return {"requests": n, "text_chars": len(text), "ok_200": sum(r["status"] == 200 and r["done"] for r in recs),
            "refused_429": len(refused), "other": other,
            "429_with_retry_after": sum(bool(r["retry_after"] and r["retry_after"].isdigit()) for r in refused),
            "retry_after_values": sorted({r["retry_after"] for r in refused if r["retry_after"]}),
            "429_latency_p50_ms": pct([r["headers_s"] for r in refused], 50, 1e3),
            "last_answer_s": pct([r["headers_s"] for r in recs if "headers_s" in r], 100),
            "first_200_end_s": pct([r["total_s"] for r in recs if r["status"] == 200], 0),
            "after_status": after.get("status"), "after_audio_s": round(after.get("bytes", 0) / 2 / RATE, 2),
            "after_ok": after.get("status") == 200 and after.get("done") and after.get("bytes", 0) > 0}  # fmt: skip


# ---- report -------------------------------------------------------------------------------------
def markdown(result: dict) -> str:
    def f(x, fmt=".2f"):
        return "-" if x is None else format(x, fmt)

    def timeouts(r):
        return f" ({r['health_failed']} failed)" if r["health_failed"] else ""

    lines = [f"# Speech server under load ({result['date']})", "", f"`{result['command']}`", "",
             "| server | clients | done/started (no audio) | TTFA p50 s | TTFA p95 s | audio s/s | /health p50 ms "
             "| /health p95 ms | /health max ms | peak RSS MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in result["levels"]:
        lines.append(f"| {r['server']} | {r['clients']} | {r['done']}/{r['started']} ({r['no_first_audio']}) | {f(r['ttfa_p50_s'])} "
                     f"| {f(r['ttfa_p95_s'])} | {f(r['audio_s_per_s'])} | {f(r['health_p50_ms'], '.1f')} "
                     f"| {f(r['health_p95_ms'], '.1f')} | {f(r['health_max_ms'], '.1f')}{timeouts(r)} | {f(r['peak_rss_mb'], '.0f')} |")  # fmt: skip
    b, m = result.get("burst"), result["machine"]
    if b:
        lines += ["", f"Burst of {b['requests']} against sesli (max_active 2, max_queued 4): {b['ok_200']} x 200, "
                  f"{b['refused_429']} x 429 ({b['429_with_retry_after']} with Retry-After "
                  f"{', '.join(b['retry_after_values'])}; 429 in {f(b['429_latency_p50_ms'], '.1f')} ms p50), "
                  f"other {b['other'] or 'none'}; one more request afterwards: "
                  f"{'ok' if b['after_ok'] else 'FAILED'} ({b['after_status']}, {b['after_audio_s']} s audio)."]  # fmt: skip
    lines += ["", f"Model: {result['model']}. Machine: {m['cpus']} CPUs, {m['platform']}; torch threads per server "
              f"{m['torch_threads']}; load average before {m['loadavg_before']}, after {m['loadavg_after']}; "
              f"CPU steal during the run {m['cpu_steal_pct']}%. Servers' peak RSS over the run: "
              + ", ".join(f"{k} {v['peak_rss_mb']} MB" for k, v in result["servers"].items()) + "."]  # fmt: skip
    return "\n".join(lines) + "\n"


async def measure(args, servers: dict[str, Server], texts: list[list[str]], voice) -> list[dict]:
    rows = []
    for k, clients in enumerate(args.levels):
        order = list(servers) if k % 2 == 0 else list(servers)[::-1]  # interleaved
        for kind in order:
            row = await run_level(servers[kind], clients, texts[k], voice, args.max_seconds)
            rows.append(row)
            print(f"{kind:8} x{clients}: {row['done']}/{row['started']} done, TTFA p50 {row['ttfa_p50_s']} s, "
                  f"{row['audio_s_per_s']} audio s/s, /health p95 {row['health_p95_ms']} ms", flush=True)  # fmt: skip
            await settle(servers[kind])
    return rows


def cli(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="what sesli.load takes (default: the Kokoro-82M base)")
    p.add_argument("--levels", default="1,2,4,8", help="concurrent clients per level")
    p.add_argument("--requests", type=int, default=8, help="requests per level (at least one per client)")
    p.add_argument("--max-seconds", type=float, default=120.0, help="wall-time bound per level and server")
    p.add_argument("--chars", default="400,600", help="paragraph length range, characters")
    p.add_argument("--burst", type=int, default=40, help="simultaneous requests in the 429 burst (0: none)")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                   help="sesli's Kokoro backend (onnx: the int8 export via onnxruntime; the baseline stays torch)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="smoke run: debug model, levels 1,2, 2 requests")
    p.add_argument("--out", type=Path, default=None, help="results stem (default bench/results/serve_load)")
    p.add_argument("--serve", choices=["sesli", "baseline"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--info", help=argparse.SUPPRESS)
    p.add_argument("--max-active", type=int, help=argparse.SUPPRESS)
    p.add_argument("--max-queued", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.model, args.levels, args.requests, args.max_seconds, args.chars = (
            "debug",
            "1,2",
            2,
            30.0,
            "150,250",
        )
        args.out = args.out or Path(tempfile.gettempdir()) / "serve_load_quick"
    args.levels = [int(x) for x in str(args.levels).split(",") if x.strip()]
    args.out = args.out or RESULTS
    return args


def run_all(args, workdir: Path, per_level: list[list[str]], short: str) -> dict:
    """Start the servers (all load at once), run the levels, then the burst; always stop them."""
    import httpx

    kinds = ["sesli"] if args.skip_baseline else ["sesli", "baseline"]
    servers: dict[str, Server] = {}
    try:
        for kind in kinds:
            servers[kind] = Server(kind, args.model, workdir,
                                   **({"backend": args.backend} if kind == "sesli" and args.backend != "torch" else {}))  # fmt: skip
        if args.burst:
            servers["burst"] = Server("sesli", args.model, workdir, max_active=2, max_queued=4,
                                      **({"backend": args.backend} if args.backend != "torch" else {}))  # fmt: skip
        ready = {kind: s.wait_ready() for kind, s in servers.items()}
        voice = httpx.get(f"{servers['sesli'].url}/v1/audio/voices", timeout=10).json().get("default")
        rows = asyncio.run(measure(args, {k: servers[k] for k in kinds}, per_level, voice))
        info = {k: {**json.loads(servers[k].info_path.read_text()), "load_seconds": ready[k].get("load_seconds"),
                    "peak_rss_mb": round(servers[k].peak / 2**20, 1)} for k in kinds}  # fmt: skip
        for k in kinds:  # the burst server runs alone
            servers[k].stop()
        bursts = asyncio.run(burst(servers["burst"], args.burst, short, voice)) if args.burst else None
    finally:
        for s in servers.values():
            s.stop()
    return {"voice": voice, "levels": rows, "burst": bursts, "servers": info}


def main(argv: list[str] | None = None) -> int:
    import psutil

    args = cli(argv)
    if args.serve:
        return serve_main(args)
    load_before, cpu_before, t_start = os.getloadavg(), psutil.cpu_times(), time.time()
    low, high = (int(x) for x in args.chars.split(","))
    texts = paragraphs(sum(max(args.requests, c) for c in args.levels) + 1, low=low, high=high)
    per_level, rest = [], texts[1:]
    for c in args.levels:
        per_level.append(rest[: max(args.requests, c)])
        rest = rest[max(args.requests, c) :]
    short = re.match(r".+?[.!?](?=\s)", texts[0]).group(0)
    with tempfile.TemporaryDirectory(prefix="serve_load_") as tmp:
        measured = run_all(args, Path(tmp), per_level, short)
    cpu_after = psutil.cpu_times()
    spent = sum(cpu_after) - sum(cpu_before)
    steal = round(
        100 * (getattr(cpu_after, "steal", 0) - getattr(cpu_before, "steal", 0)) / max(spent, 1e-9), 1
    )
    result = {
        "what": "speech server under load: sesli (worker thread, fair scheduler) vs a Kokoro-FastAPI-style "
        "loop (synthesis on the event loop), same weights and G2P, pcm streaming",
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.datetime.fromtimestamp(t_start).isoformat(timespec="seconds"),
        "model": args.model or "Kokoro-82M base (sesli default)",
        "text_chars": [len(t) for t in texts],
        "args": {
            "levels": args.levels,
            "requests": args.requests,
            "max_seconds": args.max_seconds,
            "chars": args.chars,
        },
        **measured,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch_threads": sorted({v["torch_threads"] for v in measured["servers"].values()}),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "cpu_steal_pct": steal,
            "wall_s": round(time.time() - t_start, 1),
        },  # fmt: skip
    }
    from sesli.fileio import atomic_open, write_json

    write_json(args.out.with_suffix(".json"), result)
    md = markdown(result)
    with atomic_open(args.out.with_suffix(".md")) as fh:
        fh.write(md)
    print("\n" + md + f"\nwrote {args.out.with_suffix('.md')} and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
