"""The Kokoro LoRA run directory: what a fine-tune leaves behind, and how a model takes it back.

A run directory (``sesli kokoro finetune --out RUN``) holds, besides the engine's checkpoints,
logs and plots::

    RUN/
        adapter_model.safetensors   LoRA A/B tensors (+ LSTM copies), PEFT key names
        adapter_config.json         PEFT's LoraConfig, so PEFT tooling can read it
        voice.pt                    the trained Turkish voice, official pack format [510, 1, 256]
        model_card.json             base id + base weights sha256, LoRA settings and target sets,
                                    data hours, steps, best validation losses

The card is what sesli reads back: it names the base model and the hash of its weights, so an
adapter is never applied to a different base by accident (:class:`AdapterError`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sesli.fileio import atomic_path, write_json
from sesli.models.kokoro import lora
from sesli.models.kokoro.loading import ModelLoadError

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
VOICE_FILE = "voice.pt"
MODEL_CARD = "model_card.json"
CARD_FORMAT = "sesli-kokoro-lora/1"
PACK_ROWS = 510  # official voice packs hold one style per phoneme count 1..510


class AdapterError(ModelLoadError):
    """A LoRA run directory that is incomplete, corrupt, or made for a different base model."""


@dataclass
class AdapterRun:
    """A LoRA run directory read back.

    Attributes:
        path: the run directory.
        state: adapter tensors (PEFT key names).
        voice: the voice pack, (510, 1, 256).
        card: the model card (see the module docstring).
    """

    path: Path
    state: dict[str, torch.Tensor]
    voice: torch.Tensor
    card: dict[str, Any]

    @property
    def base_id(self) -> str:
        return str(self.card["base"]["id"])

    @property
    def base_sha256(self) -> str:
        return str(self.card["base"]["weights_sha256"])


def base_weights_hash(model: nn.Module) -> str:
    """sha256 over a model's base tensors (names, dtypes, shapes, bytes), LoRA layers ignored.

    Keys are compared without PEFT's wrapper names, so a model with an adapter injected hashes the
    same as the bare base model.
    """
    h = hashlib.sha256()
    state = {}
    for key, value in model.state_dict().items():
        if "lora_" in key or ".modules_to_save." in key:
            continue
        state[key.replace(".base_layer.", ".").replace(".original_module.", ".")] = value
    for key in sorted(state):
        t = state[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def voice_pack(style: torch.Tensor) -> torch.Tensor:
    """Repeat one 256-d style into an official-format pack, (510, 1, 256)."""
    style = style.detach().to("cpu", torch.float32).reshape(1, 1, -1)
    return style.expand(PACK_ROWS, 1, style.shape[-1]).clone()


def is_adapter_run(path: str | Path) -> bool:
    """Whether ``path`` is a directory holding a LoRA adapter (the dispatch for ``inference.load``)."""
    path = Path(path)
    return path.is_dir() and (path / MODEL_CARD).is_file() and (path / ADAPTER_WEIGHTS).is_file()


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        items = [_json_safe(v) for v in obj]
        return sorted(items, key=str) if isinstance(obj, set) else items
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return getattr(obj, "value", str(obj))  # enums (PeftType, TaskType)


def save_adapter_run(
    run_dir: str | Path,
    *,
    model: nn.Module,
    config: Any,
    style: torch.Tensor,
    card: dict[str, Any],
) -> None:
    """Write the adapter, its PEFT config, the voice pack and the model card (each atomically).

    Args:
        run_dir: the run directory.
        model: a model prepared by :func:`lora.apply_lora` (its adapter tensors are saved).
        config: the PEFT ``LoraConfig`` that :func:`lora.apply_lora` returned.
        style: the trained 256-d style, saved as a [510, 1, 256] pack.
        card: model card fields; must hold ``base`` (``id``, ``weights_sha256``) and ``lora``
            (``r``, ``alpha``, ``dropout``, ``targets``).
    """
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(run_dir / ADAPTER_WEIGHTS) as tmp:
        save_file(lora.adapter_state_dict(model), str(tmp), metadata={"format": "pt"})
    write_json(run_dir / ADAPTER_CONFIG, _json_safe(config.to_dict()))
    with atomic_path(run_dir / VOICE_FILE) as tmp:
        torch.save(voice_pack(style), tmp)
    write_json(run_dir / MODEL_CARD, {"format": CARD_FORMAT, **_json_safe(card)})


def read_adapter_run(run_dir: str | Path) -> AdapterRun:
    """Read a run directory written by :func:`save_adapter_run`.

    Raises:
        AdapterError: a missing or unreadable file, or a card without the fields sesli needs.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    for name in (ADAPTER_WEIGHTS, VOICE_FILE, MODEL_CARD):
        if not (run_dir / name).is_file():
            raise AdapterError(f"{run_dir} is not a finished LoRA run: {name} is missing")
    try:
        card = json.loads((run_dir / MODEL_CARD).read_text(encoding="utf-8"))
        card["base"]["id"], card["base"]["weights_sha256"], card["lora"]["targets"]  # noqa: B018
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise AdapterError(f"{run_dir / MODEL_CARD}: not a sesli LoRA model card ({err})") from None
    try:
        state = load_file(str(run_dir / ADAPTER_WEIGHTS))
    except (SafetensorError, OSError) as err:
        raise AdapterError(f"{run_dir / ADAPTER_WEIGHTS} is corrupt or truncated ({err})") from None
    try:
        voice = torch.load(run_dir / VOICE_FILE, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a bad pickle/zip
        raise AdapterError(f"{run_dir / VOICE_FILE} is not a readable voice pack ({err})") from None
    if not isinstance(voice, torch.Tensor) or voice.dim() != 3 or voice.shape[1] != 1:
        raise AdapterError(f"{run_dir / VOICE_FILE}: expected a [510, 1, 256] tensor")
    return AdapterRun(path=run_dir, state=state, voice=voice, card=card)


def attach_adapter(model: nn.Module, run: AdapterRun, *, check_base: bool = True) -> nn.Module:
    """Inject the run's LoRA layers into a base ``model`` and load its tensors (in place).

    Raises:
        AdapterError: the model is not the base the adapter was trained on (weights hash differs),
            or the adapter does not fit it.
    """
    if check_base:
        found = base_weights_hash(model)
        if found != run.base_sha256:
            raise AdapterError(
                f"the adapter in {run.path} was trained on base {run.base_id!r} "
                f"(weights sha256 {run.base_sha256[:12]}…), but this base model's weights hash to "
                f"{found[:12]}…; load the same base (e.g. --base {run.base_id})"
            )
    spec = run.card["lora"]
    try:
        lora.apply_lora(
            model,
            r=int(spec["r"]),
            alpha=float(spec["alpha"]),
            dropout=float(spec.get("dropout", 0.0)),
            targets=spec["targets"],
            base_id=run.base_id,
        )
        lora.load_adapter_state_dict(model, run.state)
    except lora.LoraTargetError as err:
        raise AdapterError(f"{run.path}: {err}") from None
    return model


VOICE_NAME = "tr_sesli"  # the trained voice's name when a run is loaded for synthesis


def load_run_model(run_dir: str | Path, *, device: str | torch.device | None = None, **load_kwargs: Any):
    """Load a LoRA run for synthesis: its base, the adapter merged in, and its voice as default.

    Merging (:func:`lora.merge_lora`) gives the same output as base + adapter at the base's speed.

    Args:
        run_dir: a finished run directory (:func:`is_adapter_run`).
        device: where to put the model.
        load_kwargs: passed to ``from_pretrained`` for the base (``revision``, ``local_files_only``).

    Returns:
        a ``LoadedKokoro`` whose default voice (``tr_sesli``) is the trained one.

    Raises:
        AdapterError: incomplete run, or a base that is not the one it was trained on.
        ModelLoadError: the base cannot be found.
    """
    from sesli.models.kokoro.loading import LoadedKokoro, from_pretrained

    run = read_adapter_run(run_dir)
    base = from_pretrained(run.base_id, **load_kwargs)
    model = attach_adapter(base.model, run)
    lora.merge_lora(model)
    if device is not None:
        model.to(device)
    voices = dict(base.voices, **{VOICE_NAME: run.voice})
    return LoadedKokoro(
        model=model.eval(),
        source=f"{run_dir} (LoRA on {run.base_id})",
        voices=voices,
        default_voice=VOICE_NAME,
        fetch_voice=base.fetch_voice,
        inference=dict(base.inference),
    )
