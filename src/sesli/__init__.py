"""sesli: teach speech and sound generation models Turkish.

Layers (imports flow one way): ``audio, text -> data -> modules -> models -> {train, inference}
-> {export, serve, cli}``.

The Python API::

    import sesli

    tts = sesli.load()  # or sesli.load("runs/me") for a fine-tuned run, sesli.load("debug")
    audio = tts.generate("merhaba, size nasıl yardımcı olabilirim?")
    audio.save("out.wav")

``sesli.load`` is :func:`sesli.inference.load`, imported on first use: ``import sesli`` stays cheap
(no torch) for the CLI and for code that only needs the text front-end.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {"load"}  # names of sesli.inference re-exported here on first access


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import sesli.inference

        value = getattr(sesli.inference, name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'sesli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["__version__", "load"]
