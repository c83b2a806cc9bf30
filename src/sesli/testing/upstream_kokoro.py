"""Import upstream ``kokoro``'s model code without its English G2P stack (tests, benchmarks).

``kokoro/__init__.py`` pulls in ``misaki`` and the pipeline, which sesli does not install. The
model files (``model.py``, ``modules.py``, ``istftnet.py``, ``custom_stft.py``) only need torch,
transformers, huggingface_hub and loguru, so we register an empty package module and import the
submodules under it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class UpstreamKokoroMissing(ImportError):
    """The upstream ``kokoro`` package (or its ``loguru`` dependency) is not installed."""


def import_upstream_kmodel() -> Any:
    """Return upstream ``kokoro.model.KModel`` (raises :class:`UpstreamKokoroMissing`)."""
    if "kokoro.model" in sys.modules:
        return sys.modules["kokoro.model"].KModel
    spec = importlib.util.find_spec("kokoro")
    if spec is None or not spec.submodule_search_locations:
        raise UpstreamKokoroMissing("upstream kokoro is not installed: pip install --no-deps kokoro==0.9.4")
    if importlib.util.find_spec("loguru") is None:
        raise UpstreamKokoroMissing("upstream kokoro needs loguru: pip install loguru")
    if importlib.util.find_spec("attr") is None:
        # upstream custom_stft.py does ``from attr import attr`` and never uses it
        stub = types.ModuleType("attr")
        stub.attr = None  # type: ignore[attr-defined]
        sys.modules["attr"] = stub
    if "kokoro" not in sys.modules:
        pkg = types.ModuleType("kokoro")
        pkg.__path__ = list(spec.submodule_search_locations)  # a package, minus its __init__
        sys.modules["kokoro"] = pkg
    module = importlib.import_module("kokoro.model")
    try:  # quiet upstream's debug logging
        from loguru import logger

        logger.remove()
    except ValueError:  # pragma: no cover
        pass
    return module.KModel
