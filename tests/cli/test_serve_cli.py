"""``sesli serve`` as users run it: no --model serves the real Kokoro-82M weights, understood by Whisper."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import soundfile as sf

from sesli.cli.serve import _is_loopback, _parser
from sesli.packaged import KOKORO_INT8, WHISPER_BASE
from sesli.testing.server import free_port


def test_defaults_are_safe():
    args = _parser().parse_args([])
    assert args.host == "127.0.0.1" and args.port == 8880 and args.model is None
    assert args.cors_origin == [] and args.max_input == 4096
    assert _is_loopback("127.0.0.1") and _is_loopback("localhost") and _is_loopback("::1")
    assert not _is_loopback("0.0.0.0")


@pytest.mark.slow
@pytest.mark.skipif(not KOKORO_INT8.available(), reason="packaged Kokoro weights not installed")
def test_sesli_serve_without_a_model_speaks_turkish_with_the_real_weights(tmp_path):
    import openai

    port = free_port()
    env = {**os.environ, "SESLI_API_KEY": "gizli"}
    proc = subprocess.Popen([sys.executable, "-m", "sesli", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not get ready"
            time.sleep(0.5)
        voices = httpx.get(f"{url}/v1/audio/voices", headers={"Authorization": "Bearer gizli"}).json()
        assert len(voices["voices"]) >= 5  # the packaged voice packs
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="gizli", max_retries=0)
        text = "Bugün hava çok güzel, parka gidelim mi? Akşam da sinemaya gideriz."
        wav = client.audio.speech.create(
            model="tts-1", voice="alloy", input=text, response_format="wav"
        ).content
        audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
        assert rate == 24000 and 2.0 < len(audio) / rate < 12.0
        (tmp_path / "served.wav").write_bytes(wav)
        if WHISPER_BASE.available():
            from sesli.eval.asr import load_asr
            from sesli.eval.metrics import cer

            heard = load_asr().transcribe(audio, rate)
            # Measured on the first sentence alone, in two runs (the source noise is random):
            # CER 0.05 and 0.32; random weights give ~1. Over 16 Common Voice sentences served this
            # way (first chunk capped at 24 symbols, noise off): CER 0.136 (0.134 without the cap).
            assert cer(text, heard) < 0.45, heard
        else:
            assert np.abs(audio).max() > 0.05
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_browser_flag_exports_the_model_and_mounts_its_page(tmp_path, monkeypatch):
    """``sesli serve --model debug --browser``: the debug model exported into the cache, its page
    built there and served at /browser/ (the page itself is tested in tests/serve)."""
    from sesli.cli.serve import build
    from sesli.serve.webruntime import WebRuntimeError, ort_web_dir
    from sesli.testing.server import live_server

    try:
        runtime = ort_web_dir()
    except WebRuntimeError as err:
        pytest.skip(str(err))
    monkeypatch.setenv("SESLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SESLI_ORT_WEB", str(runtime))
    app, _ = build(_parser().parse_args(["--model", "debug", "--browser"]))
    with live_server(app) as url:
        page = httpx.get(f"{url}/browser/")
        site = httpx.get(f"{url}/browser/site.json").json()
        graph = httpx.head(f"{url}/browser/{site['graphs']['int8']}")  # --onnx-dtype's default
    assert page.status_code == 200 and "g2p.js" in page.text
    assert site["voices"] == ["debug"] and graph.status_code == 200
    assert list((tmp_path / "cache" / "onnx").glob("*/lexicon.json"))
