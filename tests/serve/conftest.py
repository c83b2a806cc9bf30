"""Shared fixtures for the server tests: a tiny Kokoro with two voices."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="session")
def debug_speaker():
    """The tiny random Kokoro ("debug"), deterministic, with a second voice ``ikinci``."""
    import sesli

    speaker = sesli.load("debug", noise=False)
    speaker.loaded.voices["ikinci"] = speaker.voice_pack("debug").flip(-1).cpu()
    return speaker


@pytest.fixture(scope="module")
def chrome():
    """Headless Chromium through chromedriver (skips without them), browser logs kept."""
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are needed (Debian: apt install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--window-size=1200,1000"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
