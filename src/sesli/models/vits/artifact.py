"""A sesli VITS voice on disk: ``vits.safetensors`` + ``vits.json``, and one loader for every VITS source.

``vits.json`` holds ``model_type: "vits"``, ``config`` (a :class:`VitsConfig` dict),
``phoneme_id_map`` (symbol -> id, or -> [id] as Piper writes it), ``speaker_id_map`` (name -> id),
``sample_rate`` and optionally ``inference`` defaults (noise_scale, length_scale, noise_w). The
training task writes it on every new best; :func:`load_voice` reads it, a Piper ``.onnx`` voice
(with its ``.onnx.json``), or a folder holding either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sesli.models.vits.config import VitsConfig
from sesli.models.vits.model import VitsModel

WEIGHTS, META = "vits.safetensors", "vits.json"
PIPER_DEFAULTS = {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}


class VoiceLoadError(RuntimeError):
    """No VITS voice where one was expected, or one that cannot be read (the message says why)."""


@dataclass
class LoadedVoice:
    """A VITS model ready to speak, with what its ids and speakers mean."""

    model: VitsModel
    phoneme_id_map: dict[str, list[int]]
    speaker_id_map: dict[str, int] = field(default_factory=dict)
    inference: dict[str, float] = field(default_factory=lambda: dict(PIPER_DEFAULTS))
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.sample_rate)


def is_vits_source(model: str | Path | None) -> bool:
    """Whether ``model`` names a VITS voice: a run/folder with ``vits.json`` or a Piper ``.onnx``
    with its ``.onnx.json`` (a kokoro-onnx ``.onnx`` has none)."""
    if model is None:
        return False
    path = Path(str(model)).expanduser()
    if path.is_dir():
        return (path / META).is_file() or any(path.glob("*.onnx.json"))
    return path.suffix == ".onnx" and path.with_name(path.name + ".json").is_file()


def _id_lists(mapping: dict[str, Any]) -> dict[str, list[int]]:
    return {str(k): [int(x) for x in (v if isinstance(v, list) else [v])] for k, v in mapping.items()}


def load_voice(model: str | Path, *, device: str | None = None) -> LoadedVoice:
    """Load a sesli VITS run/artifact folder or a Piper ``.onnx`` voice, in eval mode.

    Raises:
        VoiceLoadError: nothing loadable there, or a damaged file (named).
    """
    path = Path(str(model)).expanduser()
    if path.is_dir() and not (path / META).is_file():
        onnx = sorted(p for p in path.glob("*.onnx") if p.with_name(p.name + ".json").is_file())
        if not onnx:
            raise VoiceLoadError(f"{path} holds no {META} and no Piper .onnx + .onnx.json")
        path = onnx[0]
    if path.suffix == ".onnx":
        return _load_piper(path, device)
    return _load_artifact(path, device)


def _load_piper(path: Path, device: str | None) -> LoadedVoice:
    from sesli.models.vits.piper_import import PiperImportError, load_piper_voice

    try:
        voice = load_piper_voice(path)
    except PiperImportError as err:
        raise VoiceLoadError(str(err)) from err
    model = voice.model.to(device or "cpu").eval()
    inference = {**PIPER_DEFAULTS, **{k: float(v) for k, v in voice.inference.items()}}
    notes = [f"Piper voice {path.name} ({voice.sample_rate} Hz, {len(voice.phoneme_id_map)} symbols)"]
    return LoadedVoice(model, _id_lists(voice.phoneme_id_map), dict(voice.speaker_id_map), inference,
                       str(path), notes)  # fmt: skip


def _load_artifact(folder: Path, device: str | None) -> LoadedVoice:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta_path, weights = folder / META, folder / WEIGHTS
    if not meta_path.is_file() or not weights.is_file():
        raise VoiceLoadError(
            f"{folder} has no VITS voice ({META} + {WEIGHTS}); train one with `sesli vits train`"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("model_type", "vits") != "vits":
            raise VoiceLoadError(f"{meta_path} is a {meta.get('model_type')!r} model, not VITS")
        model = VitsModel(VitsConfig.from_dict(meta["config"]))
        model.load_state_dict(load_file(str(weights)))
    except VoiceLoadError:
        raise
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as err:
        raise VoiceLoadError(f"{folder}: the VITS voice cannot be loaded ({err})") from None
    model = model.to(device or "cpu").eval()
    inference = {**PIPER_DEFAULTS, **{k: float(v) for k, v in meta.get("inference", {}).items()}}
    notes = [f"sesli VITS voice {folder} ({model.config.sample_rate} Hz)"]
    return LoadedVoice(model, _id_lists(meta["phoneme_id_map"]), dict(meta.get("speaker_id_map", {})),
                       inference, str(folder), notes)  # fmt: skip


__all__ = ["META", "WEIGHTS", "LoadedVoice", "VoiceLoadError", "is_vits_source", "load_voice"]
