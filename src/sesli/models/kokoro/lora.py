"""LoRA for Kokoro-82M through Hugging Face PEFT: target sets, weight-norm-aware merge, a parameter table.

LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") freezes a layer's weight
``W`` and learns a low-rank change ``ΔW = (alpha / r) · B A`` with ``A: (r, in)``, ``B: (out, r)``,
``B`` initialised to zero so training starts at the base model. For a ``Conv1d`` PEFT uses an ``A``
convolution with the base kernel and a 1x1 ``B``.

Target sets (names, so configs and the command line can say ``--targets albert,decoder``):

- ``albert`` (default): the ALBERT transformer's attention (query/key/value/dense) and feed-forward
  (ffn/ffn_output) ``Linear`` layers, the plan's "transformer layers";
- ``predictor``: every ``Linear``/``Conv1d`` in the prosody predictor (durations, F0, energy);
- ``text_encoder``: the ``Conv1d`` stack of the acoustic text encoder;
- ``decoder``: every ``Linear``/``Conv1d`` in the iSTFTNet decoder (``ConvTranspose1d`` is not
  supported by PEFT and stays frozen; dilated convolutions get a dilated ``A``, see
  :func:`_fix_dilation`);
- ``lstm``: PEFT refuses LSTMs as LoRA targets, so this set trains full copies of the predictor's
  and text encoder's LSTMs through PEFT's ``modules_to_save``.

Weight norm. Most of Kokoro's convolutions are weight-normalised: their ``weight`` is recomputed from
``g`` and ``v`` before every forward (``torch.nn.utils.weight_norm`` hook) or on access
(``parametrizations.weight_norm``). PEFT's ``merge`` adds ``ΔW`` to ``weight.data``, which the next
forward overwrites from ``g`` and ``v``: the adapter silently vanishes. :func:`merge_lora` therefore
removes the weight norm (folding ``g`` and ``v`` into a plain weight), merges, and re-applies the
same kind of weight norm, which recomputes ``g = ||W + ΔW||`` and ``v = W + ΔW`` so the official
``weight_g``/``weight_v`` checkpoint format round-trips.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

TARGET_SETS: tuple[str, ...] = ("albert", "predictor", "text_encoder", "decoder", "lstm")
DEFAULT_TARGETS: tuple[str, ...] = ("albert",)
# Named presets (``--targets albert+text``): the plan's default, + the text encoder (where the
# Turkish phoneme embeddings and the decoder's text features live), and every set.
TARGET_PRESETS: dict[str, tuple[str, ...]] = {
    "albert+text": ("albert", "text_encoder"),
    "all": ("albert", "text_encoder", "predictor", "decoder"),
}
ADAPTER_NAME = "default"

_ALBERT_LEAF = re.compile(
    r"^bert\..*albert_layers\.\d+\.(attention\.(query|key|value|dense)|ffn|ffn_output)$"
)


class LoraTargetError(ValueError):
    """A LoRA target set is unknown or selects no layer of the model."""


@dataclass(frozen=True)
class LoraTargets:
    """What :func:`resolve_targets` picked: LoRA layers and fully trained (``modules_to_save``) ones."""

    lora: list[str]
    modules_to_save: list[str]


@dataclass(frozen=True)
class ParamRow:
    """One row of :func:`parameter_table`: a top-level module and its parameter counts."""

    module: str
    trainable: int
    total: int


def parse_targets(targets: str | Iterable[str] | None) -> tuple[str, ...]:
    """Turn ``"albert,decoder"``, ``["albert", "decoder"]`` or a preset (``"all"``) into a checked
    tuple of set names."""
    if targets is None:
        return DEFAULT_TARGETS
    if isinstance(targets, str):
        targets = [t for t in re.split(r"[,\s]+", targets) if t]
    expanded = []
    for t in (t.strip().lower() for t in targets):
        expanded.extend(TARGET_PRESETS.get(t, (t,)))
    names = tuple(dict.fromkeys(expanded))
    unknown = [t for t in names if t not in TARGET_SETS]
    if unknown or not names:
        choices = ", ".join((*TARGET_SETS, *TARGET_PRESETS))
        raise LoraTargetError(f"unknown LoRA target set(s) {unknown or names!r}; choose from {choices}")
    return names


def _in_set(name: str, module: nn.Module, target: str) -> bool:
    if target == "albert":
        return isinstance(module, nn.Linear) and bool(_ALBERT_LEAF.match(name))
    if target == "lstm":
        return isinstance(module, nn.LSTM) and name.split(".")[0] in {"predictor", "text_encoder"}
    prefix = {"predictor": "predictor.", "text_encoder": "text_encoder.", "decoder": "decoder."}[target]
    # isinstance also covers parametrize's generated subclasses ("ParametrizedConv1d");
    # ConvTranspose1d is not a Conv1d, and PEFT has no LoRA layer for it.
    if isinstance(module, nn.Conv1d) and module.groups > 1:
        return False  # PEFT cannot merge grouped convolutions
    return name.startswith(prefix) and isinstance(module, (nn.Linear, nn.Conv1d))


def resolve_targets(model: nn.Module, targets: str | Iterable[str] | None = None) -> LoraTargets:
    """Full module names selected by the target sets.

    Args:
        model: a Kokoro model (modules ``bert``, ``bert_encoder``, ``predictor``, ``text_encoder``,
            ``decoder``).
        targets: set names (see the module docstring); ``None`` means ``("albert",)``.

    Raises:
        LoraTargetError: an unknown set, or a set that matches no layer.
    """
    sets = parse_targets(targets)
    lora: list[str] = []
    save: list[str] = []
    for target in sets:
        found = [n for n, m in model.named_modules() if n and _in_set(n, m, target)]
        if not found:
            raise LoraTargetError(f"LoRA target set {target!r} matches no layer of {type(model).__name__}")
        (save if target == "lstm" else lora).extend(n for n in found if n not in lora and n not in save)
    return LoraTargets(lora=lora, modules_to_save=save)


def lora_config(
    targets: LoraTargets, *, r: int = 8, alpha: float = 16, dropout: float = 0.0, base_id: str | None = None
):
    """The PEFT ``LoraConfig`` for these targets (exact module names, anchored regex)."""
    from peft import LoraConfig

    if r < 1:
        raise LoraTargetError(f"LoRA rank must be >= 1, got {r}")
    pattern = "^(" + "|".join(re.escape(n) for n in targets.lora) + ")$" if targets.lora else None
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=pattern,
        modules_to_save=list(targets.modules_to_save) or None,
        bias="none",
        base_model_name_or_path=base_id,
    )


def apply_lora(
    model: nn.Module,
    *,
    r: int = 8,
    alpha: float = 16,
    dropout: float = 0.0,
    targets: str | Iterable[str] | None = None,
    base_id: str | None = None,
):
    """Inject LoRA layers into ``model`` in place and freeze everything else.

    The model keeps its class and methods (PEFT's ``inject_adapter_in_model``, not a ``PeftModel``
    wrapper), so training and inference code call it as before.

    Returns:
        The PEFT ``LoraConfig`` used (save it with :func:`save_adapter`).
    """
    from peft import inject_adapter_in_model

    config = lora_config(resolve_targets(model, targets), r=r, alpha=alpha, dropout=dropout, base_id=base_id)
    if config.target_modules is None:
        # Only LSTMs (modules_to_save) were asked for: PEFT needs at least one LoRA layer target.
        raise LoraTargetError("the 'lstm' set trains LSTM copies beside LoRA layers; add another set")
    inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    _fix_dilation(model)
    return config


def _fix_dilation(model: nn.Module) -> None:
    """Give each LoRA ``A`` convolution its base layer's dilation.

    PEFT builds ``A`` with the base kernel size, stride and padding but not its dilation, so on
    iSTFTNet's dilated residual convolutions (dilation 3, 5) the LoRA branch has the wrong length
    and the wrong receptive field. With ``A`` dilated like the base, ``B A`` (``B`` is 1x1) is
    exactly the kernel change ``ΔW`` that the merge adds, applied with the base's dilation.
    """
    from peft.tuners.lora import LoraLayer

    for module in model.modules():
        if isinstance(module, LoraLayer) and isinstance(module.get_base_layer(), nn.Conv1d):
            base = module.get_base_layer()
            for conv in module.lora_A.values():
                conv.dilation = base.dilation
                conv.padding_mode = base.padding_mode


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's tensors (LoRA A/B and ``modules_to_save`` copies), PEFT key names."""
    from peft import get_peft_model_state_dict

    # save_embedding_layers=False: no embedding is a target, and "auto" would look the base id up
    # on the Hub (offline here, and "debug" is no Hub id).
    state = get_peft_model_state_dict(model, save_embedding_layers=False)
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def load_adapter_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load tensors from :func:`adapter_state_dict` into a model that :func:`apply_lora` prepared.

    Raises:
        LoraTargetError: the adapter's keys do not fit the model (other targets, other shapes).
    """
    from peft import set_peft_model_state_dict

    try:
        result = set_peft_model_state_dict(model, state, adapter_name=ADAPTER_NAME)
    except RuntimeError as err:  # shape mismatch: an adapter for another architecture
        raise LoraTargetError(f"the adapter does not fit this model: {err}") from err
    missing = [k for k in result.unexpected_keys if "lora_" in k or "modules_to_save" in k]
    if missing:
        raise LoraTargetError(f"adapter tensors with no place in this model: {missing[:5]}")


def _strip_weight_norm(layer: nn.Module) -> tuple[str, int] | None:
    """Fold a weight norm into a plain ``weight``; return how to put it back (kind, dim)."""
    from torch.nn.utils import parametrize
    from torch.nn.utils.weight_norm import WeightNorm

    for hook in list(layer._forward_pre_hooks.values()):
        if isinstance(hook, WeightNorm) and hook.name == "weight":
            dim = hook.dim
            torch.nn.utils.remove_weight_norm(layer)
            return "hook", dim
    if parametrize.is_parametrized(layer, "weight"):
        plist = layer.parametrizations["weight"]
        dims = [getattr(p, "dim", None) for p in plist if type(p).__name__ == "_WeightNorm"]
        if dims and len(plist) == 1:
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
            return "param", int(dims[0])
    return None


def _restore_weight_norm(layer: nn.Module, how: tuple[str, int] | None) -> None:
    if how is None:
        return
    kind, dim = how
    if kind == "hook":  # the classic form, as Kokoro's checkpoints store it (weight_g, weight_v)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.nn.utils.weight_norm(layer, name="weight", dim=dim)
    else:
        torch.nn.utils.parametrizations.weight_norm(layer, name="weight", dim=dim)


def _set_child(model: nn.Module, name: str, child: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, leaf, child)


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA change into its base layer and unwrap PEFT layers, in place.

    Weight-normalised layers are handled explicitly (see the module docstring); ``modules_to_save``
    copies replace the originals. The result has the base model's module tree and state-dict keys.
    """
    from peft.tuners.lora import LoraLayer
    from peft.utils import ModulesToSaveWrapper

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            base = module.get_base_layer()
            how = _strip_weight_norm(base)
            module.merge(safe_merge=True, adapter_names=[ADAPTER_NAME])
            _restore_weight_norm(base, how)
            _set_child(model, name, base)
        elif isinstance(module, ModulesToSaveWrapper):
            _set_child(model, name, module.modules_to_save[ADAPTER_NAME])
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def parameter_table(model: nn.Module, extra: dict[str, nn.Parameter] | None = None) -> list[ParamRow]:
    """Trainable and total parameters per top-level module (plus ``extra`` named parameters)."""
    rows: dict[str, list[int]] = {}
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        row = rows.setdefault(top, [0, 0])
        is_adapter = "lora_" in name or ".modules_to_save." in name
        row[1] += 0 if is_adapter else p.numel()  # the total counts the base model once
        row[0] += p.numel() if p.requires_grad else 0
    for name, p in (extra or {}).items():
        rows[name] = [p.numel() if p.requires_grad else 0, p.numel()]
    return [ParamRow(k, v[0], v[1]) for k, v in rows.items()]


def format_parameter_table(rows: Sequence[ParamRow]) -> str:
    """The table printed at the start of a run: trainable parameters by module and their share."""
    total = sum(r.total for r in rows)
    trainable = sum(r.trainable for r in rows)
    width = max([len(r.module) for r in rows] + [6])
    lines = [f"{'module':<{width}}  {'trainable':>11}  {'of':>12}  share"]
    for r in rows:
        share = 100.0 * r.trainable / max(r.total, 1)
        lines.append(f"{r.module:<{width}}  {r.trainable:>11,}  {r.total:>12,}  {share:6.2f}%")
    lines.append(
        f"{'total':<{width}}  {trainable:>11,}  {total:>12,}  {100.0 * trainable / max(total, 1):6.2f}%"
    )
    return "\n".join(lines)
