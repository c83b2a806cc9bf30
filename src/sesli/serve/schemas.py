"""Request bodies and errors of the OpenAI-compatible speech API.

Errors have OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``. Everything a client
can fix is a 4xx (the OpenAI SDK retries 5xx and 429 only), and a request is checked completely
before the first byte of audio, so a client never gets a 200 that turns into an error.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

ResponseFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
MIN_SPEED, MAX_SPEED = 0.25, 4.0


class VoiceRef(BaseModel):
    """OpenAI's object form of a voice: ``{"id": "name"}``."""

    id: str


class SpeechRequest(BaseModel):
    """``POST /v1/audio/speech`` (OpenAI's fields, plus sesli's at the end)."""

    model_config = ConfigDict(extra="ignore")

    model: str = "tts-1"
    input: str
    voice: str | VoiceRef | None = None
    response_format: ResponseFormat = "mp3"
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    instructions: str | None = None  # accepted; sesli's models take no style prompt
    stream_format: Literal["audio", "sse"] = "audio"
    # sesli: False sends the file whole (a WAV then has exact sizes in its header).
    stream: bool = True
    # sesli, VITS voices only (None: the voice's defaults).
    noise_scale: float | None = Field(None, ge=0.0, le=10.0)
    noise_w: float | None = Field(None, ge=0.0, le=10.0)
    sdp_ratio: float | None = Field(None, ge=0.0, le=1.0)

    def voice_spec(self) -> str | None:
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice

    def options(self) -> dict[str, Any]:
        opts = {"noise_scale": self.noise_scale, "noise_w": self.noise_w, "sdp_ratio": self.sdp_ratio}
        return {k: v for k, v in opts.items() if v is not None}


def error_response(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An OpenAI-shaped error."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


class APIError(Exception):
    """Raised inside a route; the app turns it into :func:`error_response`."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, type=self.type, param=self.param, code=self.code,
                              headers=self.headers)  # fmt: skip


__all__ = ["APIError", "MODEL_ALIASES", "ResponseFormat", "SpeechRequest", "VoiceRef", "error_response"]
