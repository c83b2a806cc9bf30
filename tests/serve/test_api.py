"""The OpenAI-compatible API, driven by the official ``openai`` client against a live server."""

from __future__ import annotations

import base64
import io
import json

import av
import httpx
import numpy as np
import openai
import pytest
import soundfile as sf

from sesli.serve.app import ServeConfig, create_app
from sesli.serve.service import ServiceConfig, SpeechService
from sesli.testing.server import live_server

TEXT = "Dr. Ali 3,5 kilo elma aldı mı? Evet, aldı. Sonra eve gitti ve biraz dinlendi."


@pytest.fixture(scope="module")
def server(debug_speaker):
    service = SpeechService(ServiceConfig(name="sesli-test"), speaker=debug_speaker)
    app = create_app(service)
    with live_server(app) as url:
        yield url, app, service


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server[0]}/v1", api_key="unused", max_retries=0)


def _pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2").astype(np.float32) / 32767


def _decode(data: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
        return np.concatenate(frames), stream.rate


def test_speech_wav_through_the_openai_client(client):
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="wav")
    audio, rate = sf.read(io.BytesIO(response.content))
    assert rate == 24000
    assert len(audio) / rate > 2.0
    assert np.abs(audio).max() > 0.01


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_every_compressed_format_decodes(client, fmt):
    response = client.audio.speech.create(model="gpt-4o-mini-tts", voice="debug", input="Merhaba dünya.",
                                          response_format=fmt)  # fmt: skip
    audio, rate = _decode(response.content)
    assert rate in (24000, 48000)
    assert 0.3 < len(audio) / rate < 5.0


def test_streamed_pcm_arrives_in_pieces_and_equals_the_whole(client, server):
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="debug", input=TEXT, response_format="pcm"
    ) as response:
        assert response.headers["x-sample-rate"] == "24000"
        assert int(response.headers["x-chunks"]) >= 2
        pieces = list(response.iter_bytes())
    streamed = b"".join(pieces)
    assert len(pieces) >= 2
    whole = httpx.post(f"{server[0]}/v1/audio/speech",
                       json={"input": TEXT, "voice": "debug", "response_format": "pcm", "stream": False}).content  # fmt: skip
    assert streamed == whole  # noise=False: deterministic


def test_sse_events_carry_the_same_audio(server):
    body = {"input": TEXT, "voice": "debug", "response_format": "pcm"}
    plain = httpx.post(f"{server[0]}/v1/audio/speech", json=body).content
    r = httpx.post(f"{server[0]}/v1/audio/speech", json={**body, "stream_format": "sse"})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done"
    usage = events[-1]["usage"]
    assert (
        usage["input_tokens"] > 10 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    )
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == plain


def test_models_and_voices(client, server):
    ids = [m.id for m in client.models.list()]
    assert ids == ["sesli-test", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"]
    voices = httpx.get(f"{server[0]}/v1/audio/voices").json()
    assert voices["voices"] == ["debug", "ikinci"] and voices["default"] == "debug"
    assert voices["sample_rate"] == 24000


def test_voice_object_and_mix(server, debug_speaker):
    url = f"{server[0]}/v1/audio/speech"
    base = {"input": "Merhaba.", "response_format": "pcm", "stream": False}
    one = httpx.post(url, json={**base, "voice": {"id": "debug"}}).content
    assert one == httpx.post(url, json={**base, "voice": "debug"}).content
    mixed = httpx.post(url, json={**base, "voice": "debug(2)+ikinci(1)"})
    assert mixed.status_code == 200 and mixed.content != one
    # The mix is (2 a + b) / 3 of the packs: rendering that pack gives the same audio.
    from sesli.inference.base import RenderItem

    pack = (2 * debug_speaker.voice_pack("debug") + debug_speaker.voice_pack("ikinci")) / 3
    phonemes, _ = debug_speaker.speech_phonemes("Merhaba.")
    expected = debug_speaker.render([RenderItem(phonemes, pack, 1.0)])[0].audio
    got = _pcm(mixed.content)
    assert abs(len(got) - len(expected)) <= 1
    assert np.abs(got[: len(expected)] - np.clip(expected, -1, 1)[: len(got)]).max() < 2e-4


def test_captions_point_at_the_users_words(server):
    r = httpx.post(f"{server[0]}/v1/audio/speech/captioned",
                   json={"input": TEXT, "voice": "debug", "response_format": "pcm"})  # fmt: skip
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) >= 2
    words = [w for line in lines for w in line["timestamps"]]
    assert [w["word"] for w in words] == TEXT.split()  # the user's words: "Dr.", "3,5", not "doktor"
    for w in words:
        assert TEXT[w["char_start"] : w["char_end"]] == w["word"]
    starts = [w["start_time"] for w in words]
    assert starts == sorted(starts) and all(w["end_time"] > w["start_time"] for w in words)
    seconds = sum(len(base64.b64decode(line["audio"])) for line in lines) / 2 / 24000
    assert words[-1]["end_time"] <= seconds + 1e-3
    whole = httpx.post(f"{server[0]}/v1/audio/speech/captioned",
                       json={"input": TEXT, "voice": "debug", "response_format": "wav", "stream": False}).json()  # fmt: skip
    assert [w["word"] for w in whole["timestamps"]] == TEXT.split()
    audio, rate = sf.read(io.BytesIO(base64.b64decode(whole["audio"])))
    assert abs(len(audio) / rate - seconds) < 0.05


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": "   ...  "}, "input"),
        ({"input": "merhaba", "voice": "yok_boyle_ses"}, "voice"),
        ({"input": "merhaba", "voice": "../../etc/passwd"}, "voice"),
        ({"input": "merhaba", "voice": "debug(1)-ikinci(1)"}, "voice"),
        ({"input": "merhaba", "speed": 0}, "speed"),
        ({"input": "merhaba", "speed": 100}, "speed"),
        ({"input": "merhaba", "response_format": "ogg"}, "response_format"),
        ({"input": "a" * 4097}, "input"),
    ],
)
def test_bad_requests_are_400_in_openais_shape(client, body, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.speech.create(model="tts-1", voice=body.pop("voice", "debug"), **body)
    error = info.value.body
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]


def test_unknown_model_malformed_json_and_huge_body(client, server):
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-9", voice="debug", input="merhaba")
    r = httpx.post(
        f"{server[0]}/v1/audio/speech", content=b"{bad", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "json_invalid"
    r = httpx.post(f"{server[0]}/v1/audio/speech", json={"input": "a" * 1_000_000})
    assert r.status_code == 413 and "body" in r.json()["error"]["message"]
    assert httpx.get(f"{server[0]}/health").json()["status"] == "ok"  # still serving


def test_api_key_and_closed_cors(debug_speaker):
    service = SpeechService(ServiceConfig(), speaker=debug_speaker)
    with live_server(create_app(service, ServeConfig(api_key="gizli"))) as url:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key="yanlis", max_retries=0).models.list()
        good = openai.OpenAI(base_url=f"{url}/v1", api_key="gizli", max_retries=0)
        assert good.audio.speech.create(model="tts-1", voice="debug", input="Merhaba.").content[:3] in (
            b"ID3",
            b"\xff\xfb",
            b"\xff\xf3",
        )
        assert httpx.get(f"{url}/health").status_code == 200  # health needs no key
        pre = httpx.options(f"{url}/v1/audio/speech",
                            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert "access-control-allow-origin" not in pre.headers


def test_cors_opens_only_for_configured_origins(debug_speaker):
    service = SpeechService(ServiceConfig(), speaker=debug_speaker)
    app = create_app(service, ServeConfig(cors_origins=("https://app.example",)))
    with live_server(app) as url:
        ok = httpx.get(f"{url}/health", headers={"Origin": "https://app.example"})
        assert ok.headers.get("access-control-allow-origin") == "https://app.example"
        bad = httpx.get(f"{url}/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in bad.headers
