"""The HTTP server: an OpenAI-compatible speech API and the web page, made by :func:`create_app`.

Routes: ``POST /v1/audio/speech`` (OpenAI's contract: formats, speed, ``stream_format`` audio or
sse), ``POST /v1/audio/speech/captioned`` (audio with each word's time, NDJSON when streamed),
``GET /v1/models``, ``GET /v1/audio/voices``, ``GET /health`` (answers during synthesis),
``GET /ready`` (200 after warm-up), ``GET /`` (the web page, a client of this API only),
``/browser/`` (when configured: the exported model running in the browser, no API calls).

Safe by default: the CLI binds 127.0.0.1; with ``api_key`` every ``/v1`` route needs
``Authorization: Bearer <key>``; CORS is closed unless origins are configured; bodies over
``max_body_bytes`` are refused before they are read; voices and models are only those loaded.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from sesli.inference.base import SynthesisError
from sesli.inference.plan import Plan
from sesli.serve.encode import StreamEncoder, encode
from sesli.serve.scheduler import Job, QueueFull
from sesli.serve.schemas import MODEL_ALIASES, APIError, SpeechRequest, error_response
from sesli.serve.service import NotReady, ServiceConfig, SpeechService

STATIC = Path(__file__).parent / "static"


@dataclass
class ServeConfig:
    """HTTP settings.

    Attributes:
        api_key: a Bearer key every ``/v1`` route needs (None: open, for 127.0.0.1).
        cors_origins: origins allowed to call the API from a browser (empty: none).
        max_input_chars: longest ``input`` (OpenAI's limit is 4096).
        max_body_bytes: largest request body; longer ones get 413 before they are read.
        browser_dir: a Kokoro export with its browser page (:func:`sesli.serve.browser.build_site`),
            served at ``/browser/`` (None: no in-browser page).
    """

    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_input_chars: int = 4096
    max_body_bytes: int = 64 * 1024
    browser_dir: Path | None = None


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, by header or as it streams in."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise APIError(413, f"the request body is over {self.limit} bytes", code="body_too_large")
            return message

        return await self.app(scope, counted, send)

    async def _refuse(self, scope, receive, send):
        response = error_response(413, f"the request body is over {self.limit} bytes", code="body_too_large")
        await response(scope, receive, send)


def _param_of(message: str) -> str:
    lower = message.lower()
    if "voice" in lower or "mix" in lower or "speaker" in lower:
        return "voice"
    if "speed" in lower:
        return "speed"
    return "input"


def create_app(
    service: SpeechService | None = None,
    config: ServeConfig | None = None,
    *,
    service_config: ServiceConfig | None = None,
) -> FastAPI:
    """Build the app (the model loads in the background when the app starts).

    Args:
        service: the speech service to serve (None: one made from ``service_config``).
        config: HTTP settings.
        service_config: what to load when ``service`` is None (None: the default Kokoro base).
    """
    service = service or SpeechService(service_config or ServiceConfig())
    config = config or ServeConfig()
    started = time.time()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        yield
        service.close()

    app = FastAPI(title="sesli", version="0.1.0", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.service = service
    app.state.config = config
    app.state.requests = []  # (path, user agent) of speech requests, newest last (bounded)
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["X-Sample-Rate", "X-Chunks", "Retry-After"])  # fmt: skip
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, err: APIError):
        return err.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            return error_response(400, f"the body is not valid JSON: {first.get('ctx', {}).get('error', '')}",
                                  code="json_invalid")  # fmt: skip
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        where = ".".join(loc)
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return error_response(400, message, param=loc[0] if loc else None, code=first.get("type"))

    def authorize(request: Request) -> None:
        if config.api_key is None:
            return
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(token.encode(), config.api_key.encode()):
            raise APIError(401, "a valid API key is needed: Authorization: Bearer <key>",
                           type="authentication_error", code="invalid_api_key")  # fmt: skip

    # ---- status ---------------------------------------------------------------------------------
    @app.get("/health")
    async def health():
        load = service.scheduler.load if service.scheduler else {"active": 0, "queued": 0, "chunks": 0}
        return {"status": "ok", "ready": service.ready, "model": service.model_id,
                "uptime_s": round(time.time() - started, 1), **load}  # fmt: skip

    @app.get("/ready")
    async def ready():
        if service.ready:
            return {"ready": True, "model": service.model_id, "load_seconds": service.load_seconds}
        body = {"ready": False, "status": "failed" if service.error else "loading", "error": service.error}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})

    # ---- catalogue ------------------------------------------------------------------------------
    def model_ids() -> list[str]:
        return [service.model_id, *MODEL_ALIASES]

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    async def models():
        data = [
            {"id": m, "object": "model", "created": int(started), "owned_by": "sesli"} for m in model_ids()
        ]
        return {"object": "list", "data": data}

    @app.get("/v1/models/{model_id}", dependencies=[Depends(authorize)])
    async def model(model_id: str):
        if model_id not in model_ids():
            raise APIError(
                404, f"the model {model_id!r} does not exist", param="model", code="model_not_found"
            )
        return {"id": model_id, "object": "model", "created": int(started), "owned_by": "sesli"}

    @app.get("/v1/audio/voices", dependencies=[Depends(authorize)])
    async def voices():
        names = _ready_or_503(service.voice_names)
        return {"voices": names, "default": service.default_voice, "family": service.family,
                "sample_rate": service.sample_rate, "languages": ["tr"]}  # fmt: skip

    # ---- speech ---------------------------------------------------------------------------------
    async def prepare(req: SpeechRequest, request: Request) -> tuple[Plan, Job]:
        if req.model not in model_ids():
            raise APIError(404, f"the model {req.model!r} does not exist; this server has {', '.join(model_ids())}",
                           param="model", code="model_not_found")  # fmt: skip
        if len(req.input) > config.max_input_chars:
            raise APIError(400, f"input is {len(req.input)} characters; the limit is {config.max_input_chars}",
                           param="input", code="string_above_max_length")  # fmt: skip
        _ready_or_503(service.require_ready)
        try:
            service.scheduler.reserve()
        except QueueFull as err:
            raise _busy(err) from None
        try:
            plan = await service.plan_async(req.input, req.voice_spec(), req.speed, **req.options())
            job = service.submit(plan, reserved=True)
        except SynthesisError as err:
            service.scheduler.release()
            raise APIError(400, str(err), param=_param_of(str(err)), code="invalid_value") from None
        except BaseException:
            service.scheduler.release()
            raise
        app.state.requests = [
            *app.state.requests[-99:],
            (request.url.path, request.headers.get("user-agent", "")),
        ]
        return plan, job

    @app.post("/v1/audio/speech", dependencies=[Depends(authorize)])
    async def speech(req: SpeechRequest, request: Request):
        plan, job = await prepare(req, request)
        rate = service.sample_rate
        headers = {"X-Sample-Rate": str(rate), "X-Chunks": str(len(plan.chunks))}
        if req.stream_format == "sse":
            return StreamingResponse(_sse(job, StreamEncoder(req.response_format, rate), plan, rate),
                                     media_type="text/event-stream", headers=headers)  # fmt: skip
        encoder = StreamEncoder(req.response_format, rate)
        if not req.stream:
            audio = [piece.audio async for piece in job]
            data = encode(np.concatenate(audio), rate, req.response_format)
            return Response(data, media_type=encoder.content_type, headers=headers)
        return StreamingResponse(_audio(job, encoder), media_type=encoder.content_type, headers=headers)

    @app.post("/v1/audio/speech/captioned", dependencies=[Depends(authorize)])
    async def captioned(req: SpeechRequest, request: Request):
        plan, job = await prepare(req, request)
        rate = service.sample_rate
        encoder = StreamEncoder(req.response_format, rate)
        headers = {"X-Sample-Rate": str(rate)}
        if req.stream:
            return StreamingResponse(_ndjson(job, encoder, rate, req.response_format),
                                     media_type="application/x-ndjson", headers=headers)  # fmt: skip
        data, words = b"", []
        async for line in _ndjson(job, encoder, rate, req.response_format, as_dicts=True):
            data += base64.b64decode(line["audio"])
            words += line["timestamps"]
        body = {
            "audio": base64.b64encode(data).decode(),
            "audio_format": req.response_format,
            "timestamps": words,
        }
        return JSONResponse(body, headers=headers)

    # ---- the web page ---------------------------------------------------------------------------
    if (STATIC / "index.html").is_file():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        async def page():
            return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    if config.browser_dir is not None:
        _mount_browser(app, Path(config.browser_dir))
    return app


class _Isolated(StaticFiles):
    """Static files with cross-origin isolation, so onnxruntime-web may use threads."""

    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Embedder-Policy"] = "require-corp"
        return response


def _mount_browser(app: FastAPI, folder: Path) -> None:
    from sesli.serve.browser import SiteError, is_site

    if not is_site(folder):
        raise SiteError(f"{folder} has no browser page: run `sesli kokoro export MODEL --out {folder} --web`")
    app.mount("/browser", _Isolated(directory=folder, html=True), name="browser")


def _busy(err: QueueFull) -> APIError:
    return APIError(429, str(err), type="rate_limit_error", code="server_busy",
                    headers={"Retry-After": str(int(err.retry_after))})  # fmt: skip


def _ready_or_503(fn):
    try:
        return fn()
    except NotReady as err:
        raise APIError(503, str(err), type="server_error", headers={"Retry-After": "2"}) from None


async def _audio(job: Job, encoder: StreamEncoder) -> AsyncIterator[bytes]:
    try:
        async for piece in job:
            data = encoder.push(piece.audio)
            if data:
                yield data
        tail = encoder.finish()
        if tail:
            yield tail
    finally:
        job.cancel()


async def _sse(job: Job, encoder: StreamEncoder, plan: Plan, rate: int) -> AsyncIterator[str]:
    """OpenAI's speech events: ``speech.audio.delta`` (base64 audio) ... ``speech.audio.done``.

    ``usage`` counts the phoneme symbols sent to the model as input tokens and 25 ms audio
    frames as output tokens (OpenAI's audio tokens have no equivalent here).
    """
    samples = 0
    try:
        async for piece in job:
            samples += len(piece.audio)
            data = encoder.push(piece.audio) + (encoder.finish() if piece.last else b"")
            if data:
                event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
                yield f"data: {json.dumps(event)}\n\n"
    finally:
        job.cancel()
    symbols = sum(len(c.phonemes) for c in plan.chunks)
    frames = round(samples / rate * 40)
    usage = {"input_tokens": symbols, "output_tokens": frames, "total_tokens": symbols + frames}
    yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n"


async def _ndjson(job: Job, encoder: StreamEncoder, rate: int, fmt: str, *, as_dicts: bool = False):
    """One JSON object per rendered chunk: its encoded audio and its words' times."""
    elapsed = 0.0
    try:
        async for piece in job:
            data = encoder.push(piece.audio)
            if piece.last:
                data += encoder.finish()
            line = {"audio": base64.b64encode(data).decode(), "audio_format": fmt,
                    "timestamps": [w.as_dict() for w in piece.shifted(elapsed)]}  # fmt: skip
            elapsed += len(piece.audio) / rate
            yield line if as_dicts else json.dumps(line, ensure_ascii=False) + "\n"
    finally:
        job.cancel()


__all__ = ["ServeConfig", "create_app"]
