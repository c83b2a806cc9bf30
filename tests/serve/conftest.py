"""Shared fixtures for the server tests: a tiny Kokoro with two voices."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def debug_speaker():
    """The tiny random Kokoro ("debug"), deterministic, with a second voice ``ikinci``."""
    import sesli

    speaker = sesli.load("debug", noise=False)
    speaker.loaded.voices["ikinci"] = speaker.voice_pack("debug").flip(-1).cpu()
    return speaker
