"""A trained sound model on disk: ``weights.safetensors`` + ``model.json`` (:mod:`sesli.artifacts`).

``model.json`` holds ``model_type: "sound"``, ``config`` (the :class:`SoundConfig` as a dict: the
labels are inside, ``config["extra"]`` carries the training step and validation figures),
``sample_rate`` and ``voices`` (the label names, for listings). The training task writes it to
``RUN/model/`` on every new best; :func:`load_sound_model` reads it from that folder or its run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sesli.artifacts import ArtifactError, ArtifactMeta, is_artifact, load_weights, read_meta, save_artifact
from sesli.models.sound.config import SoundConfig, SoundConfigError
from sesli.models.sound.model import SoundModel

MODEL_TYPE = "sound"
ARTIFACT_DIR = "model"  # RUN/model/


class SoundLoadError(ArtifactError):
    """No sound model where one was expected, or one that cannot be read (the message says why)."""


def save_sound_model(
    directory: str | Path,
    model: SoundModel,
    *,
    extra: dict[str, Any] | None = None,
    inference: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a ``model_type: "sound"`` bundle into ``directory``; returns it.

    Args:
        directory: the bundle folder (created).
        model: the trained model (its ``config`` goes into ``model.json``).
        extra: stored as ``config["extra"]`` (step, validation losses, data summary...).
        inference: default generation settings recorded for inference.
    """
    config = model.config.to_dict()
    config["extra"] = {**config.get("extra", {}), **(extra or {})}
    meta = ArtifactMeta(
        model_type=MODEL_TYPE,
        config=config,
        sample_rate=int(model.config.sample_rate),
        symbols="",  # sound models read audio, not text
        voices=list(model.config.labels),
        default_voice=model.config.labels[0] if model.config.labels else None,
        inference=dict(inference or {}),
    )
    state = {k: v for k, v in model.state_dict().items()}
    return save_artifact(directory, state, meta)


def artifact_dir(path: str | Path) -> Path:
    """The bundle folder: ``path`` itself or a run's ``path/model``.

    Raises:
        SoundLoadError: neither holds a ``model.json``.
    """
    path = Path(path).expanduser()
    for candidate in (path, path / ARTIFACT_DIR):
        if is_artifact(candidate):
            return candidate
    raise SoundLoadError(
        f"{path} holds no sound model (no model.json there nor in {ARTIFACT_DIR}/); "
        "train one with `sesli sound train`"
    )


def load_sound_model(path: str | Path, *, device: str | None = None) -> SoundModel:
    """Load a sound bundle (or a run folder holding ``model/``) as an eval-mode :class:`SoundModel`.

    Raises:
        SoundLoadError: nothing there, another model type, a config that does not build, or weights
            that do not fit it (damaged weights fail their checksum).
    """
    folder = artifact_dir(path)
    meta = read_meta(folder)
    if meta.model_type != MODEL_TYPE:
        raise SoundLoadError(f"{folder} holds a {meta.model_type!r} model, not a {MODEL_TYPE!r} one")
    try:
        config = SoundConfig.from_dict(meta.config)
    except (SoundConfigError, TypeError) as err:
        raise SoundLoadError(f"{folder}/model.json: {err}") from None
    model = SoundModel(config)
    try:
        model.load_state_dict(load_weights(folder))
    except RuntimeError as err:  # missing / unexpected keys or shapes
        raise SoundLoadError(f"{folder}: the weights do not fit the model.json config: {err}") from None
    return model.to(device or "cpu").eval()


__all__ = [
    "ARTIFACT_DIR",
    "MODEL_TYPE",
    "SoundLoadError",
    "artifact_dir",
    "load_sound_model",
    "save_sound_model",
]
