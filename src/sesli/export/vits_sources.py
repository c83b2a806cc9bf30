"""What a VITS export starts from: a sesli training run or a Piper voice, as a model + Piper metadata.

* **A run directory** (``sesli``'s VITS training task writes it): ``vits.safetensors``, the
  :class:`~sesli.models.vits.VitsModel` state dict, and ``vits.json`` with ``model_type "vits"``,
  ``config`` (what :meth:`VitsConfig.from_dict <sesli.models.vits.VitsConfig.from_dict>` reads),
  ``phoneme_id_map`` (symbol -> id or ``[id]``), ``speaker_id_map`` and ``sample_rate``; optional
  ``inference`` defaults (``noise_scale``, ``length_scale``, ``noise_w``, ``sdp_ratio``) and
  ``dataset``. Such a voice speaks Turkish in Piper's convention (:mod:`sesli.text.piper_ids`), so
  its metadata is :meth:`PiperMeta.turkish <sesli.export.piper.PiperMeta.turkish>`.
* **A Piper voice** (``.onnx`` + ``.onnx.json``), read through
  :func:`~sesli.models.vits.load_piper_voice`, keeping its own ids, speakers, espeak-ng voice,
  language and dataset: re-exporting it checks sesli's export against a file Piper made.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from sesli.export.piper import DEFAULT_INFERENCE, QUALITIES, PiperExportError, PiperMeta
from sesli.models.vits import VitsModel, load_piper_voice
from sesli.models.vits.artifact import META as RUN_META
from sesli.models.vits.artifact import WEIGHTS as RUN_WEIGHTS


@dataclass
class ExportSource:
    """A voice ready for :func:`~sesli.export.piper.export_piper`, with defaults for its file name."""

    model: VitsModel
    meta: PiperMeta
    name: str  # default voice name (Piper's middle part)
    quality: str  # default quality
    sdp_ratio: float | None  # the run's default, for voices with both duration predictors
    kind: str  # "run" or "piper"
    path: Path


def _voice_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "voice"


def load_vits_run(run_dir: str | Path) -> ExportSource:
    """Read ``RUN/vits.safetensors`` + ``RUN/vits.json`` into an eval :class:`VitsModel` and Turkish metadata.

    Raises:
        VitsLoadError: a missing or unreadable file, a ``model_type`` other than ``vits``, a config
            that does not build, weights that do not fit it, or a ``sample_rate`` that disagrees.
    """
    from sesli.models.vits.artifact import read_artifact

    run = Path(run_dir)
    model, raw = read_artifact(run)
    inference = {k: float(v) for k, v in raw.get("inference", {}).items() if k in DEFAULT_INFERENCE}
    sdp_ratio = raw.get("inference", {}).get("sdp_ratio")
    meta = PiperMeta.turkish(
        phoneme_id_map=raw["phoneme_id_map"],
        speaker_id_map=raw.get("speaker_id_map") or {},
        inference=inference,
        dataset=str(raw.get("dataset", run.name)),
    )
    return ExportSource(
        model=model,
        meta=meta,
        name=_voice_name(str(raw.get("name", run.name))),
        quality="medium",
        sdp_ratio=None if sdp_ratio is None else float(sdp_ratio),
        kind="run",
        path=run,
    )


def load_piper_source(onnx_path: str | Path) -> ExportSource:
    """A Piper voice (its ``.onnx.json`` beside it) with its own metadata, for re-export.

    Raises:
        PiperImportError: see :func:`~sesli.models.vits.load_piper_voice`.
    """
    path = Path(onnx_path)
    voice = load_piper_voice(path)
    meta = voice.meta  # the JSON less its id maps
    phoneme_map = json.loads(path.with_name(path.name + ".json").read_text("utf-8")).get("phoneme_map") or {}
    parts = path.name.removesuffix(".onnx").split("-")  # <lang>-<name>-<quality>
    quality = str(meta.get("audio", {}).get("quality") or (parts[-1] if len(parts) == 3 else "medium"))
    return ExportSource(
        model=voice.model,
        meta=PiperMeta(
            phoneme_id_map=voice.phoneme_id_map,
            phoneme_map={str(k): list(v) for k, v in phoneme_map.items()},
            speaker_id_map=voice.speaker_id_map,
            inference=voice.inference,
            espeak_voice=str(meta.get("espeak", {}).get("voice", "tr")),
            language=dict(meta.get("language") or {"code": parts[0] if len(parts) == 3 else "tr_TR"}),
            dataset=str(meta.get("dataset", "")),
        ),
        name=_voice_name(parts[1] if len(parts) == 3 else str(meta.get("dataset") or path.stem)),
        quality=quality if quality in QUALITIES else "medium",
        sdp_ratio=None,
        kind="piper",
        path=path,
    )


def load_export_source(path: str | Path) -> ExportSource:
    """A run directory (or its ``vits.json``) or a Piper ``.onnx`` voice, told apart by what is there.

    Raises:
        PiperExportError: ``path`` is neither.
        VitsLoadError: (and its subclass ``PiperImportError``) the files cannot be read.
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".onnx":
        return load_piper_source(path)
    if path.is_file() and path.name == RUN_META:
        return load_vits_run(path.parent)
    if path.is_dir() and (path / RUN_META).is_file():
        return load_vits_run(path)
    raise PiperExportError(
        f"{path} is neither a VITS run directory (with {RUN_META} and {RUN_WEIGHTS}) nor a Piper .onnx voice"
    )


__all__ = [
    "RUN_META",
    "RUN_WEIGHTS",
    "ExportSource",
    "load_export_source",
    "load_piper_source",
    "load_vits_run",
]
