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
from sesli.models.vits.loading import VitsLoadError
from sesli.models.vits.model import VitsModel

WEIGHTS, META = "vits.safetensors", "vits.json"
PIPER_DEFAULTS = {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}


VoiceLoadError = VitsLoadError
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


def read_artifact(folder: str | Path) -> tuple[VitsModel, dict[str, Any]]:
    """``folder/vits.safetensors`` + ``folder/vits.json`` -> (eval :class:`VitsModel` on CPU, the JSON).

    Raises:
        VoiceLoadError: a missing or unreadable file, a ``model_type`` other than ``vits``, a config
            that does not build, weights that do not fit it, or a ``sample_rate`` that disagrees.
    """
    from safetensors.torch import load_file

    from sesli.models.vits.config import VitsConfigError
    from sesli.models.vits.loading import load_state, normalize_state

    folder = Path(folder)
    meta_path, weights = folder / META, folder / WEIGHTS
    for path in (meta_path, weights):
        if not path.is_file():
            raise VoiceLoadError(
                f"{folder} is not a VITS voice: {path.name} is missing (train one with `sesli vits train`)"
            )
    try:
        meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise VoiceLoadError(f"cannot read {meta_path}: {err}") from err
    if meta.get("model_type", "vits") != "vits":
        raise VoiceLoadError(f"{meta_path} describes a {meta['model_type']!r} model, not 'vits'")
    if not isinstance(meta.get("config"), dict) or not meta.get("phoneme_id_map"):
        raise VoiceLoadError(f"{meta_path} needs a 'config' dict and a 'phoneme_id_map'")
    try:
        config = VitsConfig.from_dict(meta["config"])
    except (VitsConfigError, TypeError) as err:
        raise VoiceLoadError(f"{meta_path}: {err}") from err
    if int(meta.get("sample_rate", config.sample_rate)) != config.sample_rate:
        raise VoiceLoadError(
            f"{meta_path}: sample_rate {meta['sample_rate']} but the config says {config.sample_rate}"
        )
    if meta.get("weights_sha256"):
        from sesli.artifacts import sha256_file

        if sha256_file(weights) != meta["weights_sha256"]:
            raise VoiceLoadError(
                f"{weights} does not match the sha256 in {META}: the file is damaged or replaced"
            )
    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises its own error types
        raise VoiceLoadError(f"cannot read {weights}: {err}") from err
    model = VitsModel(config)
    try:
        load_state(model, normalize_state(state))
    except (VitsLoadError, RuntimeError, ValueError, KeyError) as err:
        raise VoiceLoadError(f"{folder}: the weights do not fit {META}: {err}"[:500]) from None
    return model.eval(), meta


def _load_artifact(folder: Path, device: str | None) -> LoadedVoice:
    model, meta = read_artifact(folder)
    model = model.to(device or "cpu")
    inference = {
        **PIPER_DEFAULTS,
        **{k: float(v) for k, v in meta.get("inference", {}).items() if k in PIPER_DEFAULTS},
    }
    notes = [f"sesli VITS voice {folder} ({model.config.sample_rate} Hz)"]
    return LoadedVoice(model, _id_lists(meta["phoneme_id_map"]), dict(meta.get("speaker_id_map", {})),
                       inference, str(folder), notes)  # fmt: skip


__all__ = [
    "META",
    "WEIGHTS",
    "LoadedVoice",
    "VoiceLoadError",
    "is_vits_source",
    "load_voice",
    "read_artifact",
]
