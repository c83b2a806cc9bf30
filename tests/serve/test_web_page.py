"""The web page in headless Chromium against a real server (uvicorn) with the tiny debug model.

The page is a client of the HTTP API only: these tests drive it like a user (type, click) and
check what it shows, plus that its requests reached the API. They skip when Chromium or
chromedriver is not installed.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

selenium = pytest.importorskip("selenium")
uvicorn = pytest.importorskip("uvicorn")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from sesli.serve.app import ServeConfig, create_app  # noqa: E402
from sesli.serve.service import ServiceConfig, SpeechService  # noqa: E402

SENTENCE = "Merhaba dünya. Bugün hava çok güzel, değil mi?"
WORDS = SENTENCE.split()


@pytest.fixture(scope="module")
def server():
    """A real HTTP server on a free 127.0.0.1 port (the socket is bound before uvicorn starts)."""
    service = SpeechService(ServiceConfig(model="debug", load_options={"noise": False}))
    app = create_app(service, ServeConfig())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                if response.status == 200 and json.load(response)["ready"]:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the server did not get ready: {service.error}")
        time.sleep(0.1)
    yield url, app
    uv.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser(chrome):
    chrome.set_script_timeout(10)
    return chrome


@pytest.fixture
def page(server, browser):
    """The page, freshly loaded in Turkish (the language choice cleared), voices filled in."""
    url, app = server
    browser.get(url + "/")
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready")
    )
    return browser, app


def _artifact(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("SESLI_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _playable(src: str, duration: float) -> bool:
    return src.startswith("blob:") and duration > 0


def test_page_loads_in_turkish_and_switches_to_english(page):
    driver, _ = page
    assert "Türkçe" in driver.title
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "tr"
    assert "Türkçe seslendirme" in driver.find_element(By.TAG_NAME, "h1").text
    assert driver.find_element(By.ID, "speak").text == "Seslendir"
    voices = Select(driver.find_element(By.ID, "voice"))
    assert [o.get_attribute("value") for o in voices.options] == ["debug"]
    assert voices.first_selected_option.get_attribute("value") == "debug"

    driver.find_element(By.ID, "lang").click()
    assert driver.find_element(By.ID, "speak").text == "Speak"
    assert driver.find_element(By.ID, "stop").text == "Stop"
    assert "Turkish" in driver.title
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    driver.refresh()  # the choice is remembered
    WebDriverWait(driver, 5).until(lambda d: d.find_element(By.ID, "speak").text == "Speak")
    driver.find_element(By.ID, "lang").click()
    assert driver.find_element(By.ID, "speak").text == "Seslendir"

    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_speak_streams_plays_highlights_and_offers_a_wav(page, tmp_path):
    driver, app = page
    app.state.requests = []
    text = driver.find_element(By.ID, "text")
    text.clear()
    text.send_keys(SENTENCE)
    driver.find_element(By.ID, "speak").click()

    transcript = driver.find_element(By.ID, "transcript")
    # Highlighting runs on the Web Audio clock while the stream plays: the page counts the words
    # it lit up, so this does not depend on catching the class at the right moment.
    WebDriverWait(driver, 20, poll_frequency=0.05).until(
        lambda d: int(transcript.get_attribute("data-highlights")) > 0
    )
    WebDriverWait(driver, 20).until(lambda d: transcript.get_attribute("data-state") == "done")
    # The page calls load() on the WAV blob; its duration is known once the header is read.
    player = "const p = document.querySelector('#player'); return [p.src, p.duration || 0];"
    WebDriverWait(driver, 10).until(lambda d: _playable(*d.execute_script(player)))
    src, duration = driver.execute_script(player)
    download = driver.find_element(By.ID, "download")
    assert download.is_displayed()
    assert download.get_attribute("href") == src
    assert download.get_attribute("download") == "sesli.wav"
    assert int(transcript.get_attribute("data-chunks")) >= 2  # two sentences: two NDJSON lines

    # Every word became a span over the user's own text (char offsets from the API).
    spans = [s.text for s in transcript.find_elements(By.CSS_SELECTOR, ".word")]
    assert spans == WORDS
    assert transcript.text == SENTENCE
    assert 1.0 < duration < 30.0

    status = driver.find_element(By.ID, "status").text
    assert status.startswith("Bitti"), status
    assert not driver.find_element(By.ID, "error").is_displayed()

    shot = _artifact(tmp_path, "web_page.png")
    driver.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    # The page went through the HTTP API, as a browser.
    assert any(
        path == "/v1/audio/speech/captioned" and "Chrome" in agent for path, agent in app.state.requests
    ), app.state.requests

    # Stop silences the live stream; replaying the WAV then follows <audio>.currentTime.
    driver.find_element(By.ID, "stop").click()
    assert driver.find_element(By.ID, "status").text == "Durduruldu."
    time.sleep(0.2)  # past one highlight tick: nothing is playing now
    before = int(transcript.get_attribute("data-highlights"))
    driver.execute_script("document.querySelector('#player').play()")
    WebDriverWait(driver, 10, poll_frequency=0.05).until(
        lambda d: int(transcript.get_attribute("data-highlights")) > before
    )
    driver.find_element(By.ID, "stop").click()
    assert driver.execute_script("return document.querySelector('#player').paused")


def test_unknown_mix_voice_shows_the_api_error(page):
    driver, app = page
    driver.find_element(By.ID, "mix").send_keys("debug(2)+yok(1)")
    driver.find_element(By.ID, "speak").click()
    error = driver.find_element(By.ID, "error")
    WebDriverWait(driver, 10).until(lambda d: error.is_displayed())
    assert "unknown voice 'yok'" in error.text
    assert error.get_attribute("role") == "alert"
    assert driver.find_element(By.ID, "transcript").get_attribute("data-state") == "failed"
    assert driver.find_element(By.ID, "speak").is_enabled()
