"""A VITS run's loadable artifact, and warm starts from other VITS weights.

**Artifact.** Every new best writes ``RUN/vits.safetensors`` (the generator's state dict, sesli
names, weight norm as ``weight_g``/``weight_v``) and then ``RUN/vits.json``: ``model_type: "vits"``,
``format_version``, the :class:`VitsConfig` (``config``), ``sample_rate``, ``symbols: "piper"`` and
``phoneme_id_map`` (symbol -> ``[id]``, the shape of Piper's ``.onnx.json``), the espeak-ng
``phoneme_map`` (:data:`sesli.text.piper_ids.ESPEAK_PHONEME_MAP`), ``speaker_id_map``, default
``inference`` settings (Piper's: noise 0.667, length 1, noise_w 0.8), ``weights_sha256``,
``sesli_version``, and what the task adds (step, validation losses, data summary, warm start).
:func:`load_run` checks the hash and rebuilds the model from the JSON alone. Nothing here imports
``sesli.train``, so ``inference`` may use it (it belongs in ``models/vits/`` once an
``inference/vits.py`` needs it).

**Warm start** (``vits.init``): every generator tensor whose name and shape match is copied from
a Piper ``.onnx`` voice (:func:`load_piper_voice`; the file holds only the inference path, so the
posterior encoder ``enc_q`` and the duration predictor's posterior flows are not in it), a
``G_*.pth`` / Piper ``.ckpt`` (:func:`normalize_state`; a ``.ckpt`` also carries Piper's
discriminator ``model_d``, which is copied into the discriminator the same way), or another sesli
run. The text embedding ``enc_p.emb`` is matched by *symbol*, not by row: when the source says
its ``phoneme_id_map`` (ONNX, sesli run), each of sesli's symbols that the source also has gets
its row, the others start fresh; a ``.pth`` says no symbols, so its embedding is copied only when
its shape is sesli's, on the assumption that it was trained with sesli's ids. What transferred
and what did not is a :class:`WarmStartReport`, printed and recorded in ``vits.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sesli.fileio import atomic_path, write_json
from sesli.models.vits import VitsConfig, VitsLoadError, VitsModel
from sesli.models.vits.artifact import META, WEIGHTS, read_artifact

FORMAT_VERSION = 1
PIPER_INFERENCE = {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}
_ARCH_KEYS = ("sample_rate", "hidden_channels", "inter_channels", "filter_channels", "n_layers")
_ARCH_KEYS += ("n_fft", "hop_length", "resblock", "upsample_rates", "upsample_initial_channel")


class VitsRunError(VitsLoadError):
    """A VITS run directory without a complete, intact artifact."""


# ---- artifact ----------------------------------------------------------------------------------


def save_run_artifact(run_dir: str | Path, model: VitsModel, meta: dict[str, Any]) -> Path:
    """Write ``vits.safetensors`` then ``vits.json`` (``meta`` plus the fixed fields) atomically."""
    from safetensors.torch import save_file

    from sesli import __version__
    from sesli.artifacts import sha256_file
    from sesli.text.piper_ids import ESPEAK_PHONEME_MAP, phoneme_id_map

    run_dir = Path(run_dir)
    weights = run_dir / WEIGHTS
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "model_type": "vits"})
    card = {
        "model_type": "vits",
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "sample_rate": model.config.sample_rate,
        "symbols": "piper",
        "phoneme_id_map": {s: [i] for s, i in phoneme_id_map().items()},
        "phoneme_map": ESPEAK_PHONEME_MAP,
        "speaker_id_map": {},
        "inference": dict(PIPER_INFERENCE),
        **meta,
        "weights_sha256": sha256_file(weights),
        "sesli_version": __version__,
    }
    write_json(run_dir / META, card)
    return weights


def read_run_meta(run_dir: str | Path) -> dict[str, Any]:
    """``RUN/vits.json`` as a dict.

    Raises:
        VitsRunError: missing or unreadable, or not a VITS artifact.
    """
    path = Path(run_dir) / META
    if not path.is_file():
        raise VitsRunError(f"{run_dir} holds no {META}: not a sesli VITS run (or no best model saved yet)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise VitsRunError(f"cannot read {path}: {err}") from None
    if not isinstance(meta, dict) or meta.get("model_type") != "vits":
        raise VitsRunError(f"{path} is not a VITS artifact (model_type {meta.get('model_type')!r})")
    return meta


def load_run(run_dir: str | Path) -> tuple[VitsModel, dict[str, Any]]:
    """The trained generator of a VITS run (eval mode) and its ``vits.json``.

    Raises:
        VitsRunError: no artifact, a damaged one (the weights' sha256 differs from the JSON's), or
            weights that do not fit the JSON's config.
    """
    try:
        return read_artifact(run_dir)
    except VitsLoadError as err:
        raise VitsRunError(str(err)) from None


# ---- warm start --------------------------------------------------------------------------------


@dataclass
class InitSource:
    """Weights to warm-start from, as sesli-named tensors the file actually holds."""

    path: str
    kind: str  # "piper-onnx", "checkpoint" or "sesli-run"
    state: dict[str, Tensor]
    phoneme_id_map: dict[str, int] | None  # symbol -> row of enc_p.emb (None: the file does not say)
    config: VitsConfig | None = None
    disc_state: dict[str, Tensor] = field(default_factory=dict)  # Piper .ckpt model_d, sesli names

    @classmethod
    def from_piper_voice(cls, voice: Any, path: str | Path) -> InitSource:
        """An imported :class:`~sesli.models.vits.PiperVoice` (read only: its tensors are not changed)."""
        untrained = set(voice.untrained)  # in the model at their initial values, not in the file
        state = {k: v for k, v in voice.model.state_dict().items() if k not in untrained}
        return cls(str(path), "piper-onnx", state, _first_ids(voice.phoneme_id_map), voice.model.config)


def _first_ids(table: dict[str, Any]) -> dict[str, int]:
    return {s: int(v[0] if isinstance(v, (list, tuple)) else v) for s, v in table.items() if v != []}


def _piper_disc_state(raw: dict[str, Any]) -> dict[str, Tensor]:
    """Piper's ``model_d.discriminators.{0: S, 1..: P}`` -> :class:`VitsDiscriminator` names."""
    state = raw.get("state_dict") if isinstance(raw.get("state_dict"), dict) else {}
    out = {}
    for key, value in state.items():
        if not key.startswith("model_d.discriminators.") or not isinstance(value, Tensor):
            continue
        index, _, rest = key[len("model_d.discriminators.") :].partition(".")
        name = (
            f"msd.discriminators.0.{rest}" if index == "0" else f"mpd.discriminators.{int(index) - 1}.{rest}"
        )
        name = name.replace(".conv_post.", ".out.").replace(".weight_g", ".parametrizations.weight.original0")
        out[name.replace(".weight_v", ".parametrizations.weight.original1")] = value
    return out


def read_init(path: str | Path) -> InitSource:
    """Read warm-start weights: a Piper ``.onnx``, a ``.pth``/``.ckpt``/``.pt``, or a sesli VITS run.

    Raises:
        VitsLoadError: no such file, a corrupt or foreign one (its reader's message), or a format
            sesli cannot warm-start from.
    """
    from sesli.models.vits import load_piper_voice
    from sesli.models.vits.loading import config_from_state, normalize_state, read_checkpoint

    p = Path(path)
    if p.is_file() and p.name == WEIGHTS:
        p = p.parent
    if p.is_dir():
        model, meta = load_run(p)
        table = _first_ids(meta.get("phoneme_id_map", {}))
        return InitSource(str(p), "sesli-run", model.state_dict(), table, model.config)
    if not p.is_file():
        raise VitsLoadError(f"no file or VITS run at {p}")
    if p.suffix == ".onnx":
        return InitSource.from_piper_voice(load_piper_voice(p), p)
    if p.suffix in (".pth", ".ckpt", ".pt"):
        raw = read_checkpoint(p)
        state = normalize_state(raw)
        try:
            config = config_from_state(state)
        except (VitsLoadError, TypeError, KeyError):
            config = None  # the shapes name no known decoder: the architecture notes are left out
        return InitSource(str(p), "checkpoint", state, None, config, _piper_disc_state(raw))
    raise VitsLoadError(
        f"cannot warm-start from {p}: expected a Piper .onnx voice, a G_*.pth / .ckpt checkpoint, "
        "or a sesli VITS run directory"
    )


@dataclass
class WarmStartReport:
    """What a warm start copied (tensor names grouped by part: ``enc_p``, ``enc_q``, ``flow``, ...)."""

    source: str
    kind: str
    transferred: list[str] = field(default_factory=list)
    partial: dict[str, str] = field(default_factory=dict)  # name -> what part of it (embedding rows)
    not_transferred: dict[str, str] = field(default_factory=dict)  # name -> why
    unused: list[str] = field(default_factory=list)  # in the source, not in this model
    notes: list[str] = field(default_factory=list)

    def parts(self) -> dict[str, str]:
        """Per top-level part: ``"transferred"``, ``"not transferred"`` or ``"partial (k of n)"``."""
        count: dict[str, list[int]] = {}
        for name in [*self.transferred, *self.partial, *self.not_transferred]:
            part = name.split(".")[0] if not name.startswith("disc.") else "disc"
            done = name in self.transferred
            count.setdefault(part, [0, 0])[0] += done
            count[part][1] += 1
        out = {}
        for part, (k, n) in count.items():
            out[part] = "transferred" if k == n else "not transferred" if k == 0 else f"partial ({k} of {n})"
        for name, what in self.partial.items():
            out[name] = f"partial: {what}"
        return out

    def describe(self) -> str:
        """Lines for the console: the parts, then why the others did not transfer."""
        lines = [f"warm start from {self.source} ({self.kind}):"]
        lines += [f"  {part}: {state}" for part, state in self.parts().items()]
        reasons: dict[str, list[str]] = {}
        for name, why in self.not_transferred.items():
            reasons.setdefault(why, []).append(name)
        for why, names in reasons.items():
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            lines.append(f"  not transferred ({why}): {', '.join(names[:3])}{more}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"parts": self.parts(), **asdict(self)}


def _copy_embedding(
    own: Tensor, src: Tensor, own_map: dict[str, int], src_map: dict[str, int] | None
) -> tuple[int, list[str]]:
    """Copy rows of ``src`` into ``own`` by symbol; returns (rows copied, symbols not in the source)."""
    if src_map is None:  # the file names no symbols: only a same-shaped table, row for row
        if src.shape == own.shape:
            own.copy_(src)
            return own.shape[0], []
        return 0, list(own_map)
    copied, fresh = 0, []
    for sym, i in own_map.items():
        j = src_map.get(sym)
        if j is None or j >= src.shape[0]:
            fresh.append(sym)
            continue
        own[i].copy_(src[j])
        copied += 1
    return copied, fresh


def _transfer(
    own: dict[str, Tensor], src: dict[str, Tensor], report: WarmStartReport, prefix: str = ""
) -> None:
    for name, tensor in own.items():
        label = prefix + name
        if name not in src:
            report.not_transferred[label] = "not in the init"
        elif src[name].shape != tensor.shape:
            shapes = f"{tuple(src[name].shape)} there, {tuple(tensor.shape)} here"
            report.not_transferred[label] = f"other shape: {shapes}"
        else:
            tensor.copy_(src[name])
            report.transferred.append(label)
    report.unused += [prefix + k for k in src if k not in own]


@torch.no_grad()
def warm_start(
    model: VitsModel, source: InitSource, phoneme_id_map: dict[str, int], disc: nn.Module | None = None
) -> WarmStartReport:
    """Copy matching tensors of ``source`` into ``model`` (and Piper's D into ``disc``), in place.

    Args:
        model: the run's freshly built generator.
        source: from :func:`read_init`.
        phoneme_id_map: this run's symbol -> id (``sesli.text.piper_ids.phoneme_id_map()``).
        disc: the run's discriminator (only a Piper ``.ckpt`` carries one to copy).
    """
    from sesli.models.vits.loading import unfuse_weight_norm

    report = WarmStartReport(source=source.path, kind=source.kind)
    own = model.state_dict()  # tensors share storage with the parameters: copy_ writes the model
    src = dict(source.state)
    unfuse_weight_norm(src, set(own))
    emb_key = "enc_p.emb.weight"
    if emb_key in src and src[emb_key].shape[1:] == own[emb_key].shape[1:]:
        copied, fresh = _copy_embedding(own[emb_key], src.pop(emb_key), phoneme_id_map, source.phoneme_id_map)
        n = own[emb_key].shape[0]
        if copied == n:
            report.transferred.append(emb_key)
            if source.phoneme_id_map is None:
                report.notes.append(
                    "the init names no symbols: its embedding rows are taken to be sesli's ids"
                )
        elif copied == 0:
            why = "no symbol in common" if source.phoneme_id_map is not None else "another symbol set"
            report.not_transferred[emb_key] = why
        else:
            report.partial[emb_key] = f"{copied} of {n} symbols copied by name; new: {' '.join(fresh)}"
        own = {k: v for k, v in own.items() if k != emb_key}
    _transfer(own, src, report)
    if disc is not None and source.disc_state:
        _transfer(
            {f"{k}": v for k, v in disc.state_dict().items()}, source.disc_state, report, prefix="disc."
        )
    elif disc is not None:
        report.notes.append("the init holds no discriminator: it starts fresh")
    if source.config is not None:
        mine, theirs = model.config.to_dict(), source.config.to_dict()
        diff = [f"{k} {theirs[k]} there, {mine[k]} here" for k in _ARCH_KEYS if mine[k] != theirs[k]]
        if diff:
            report.notes.append("architecture differs: " + "; ".join(diff))
    if not report.transferred and not report.partial:
        report.notes.append("nothing transferred: choose the preset the init was trained with")
    return report


__all__ = [
    "META",
    "WEIGHTS",
    "InitSource",
    "VitsRunError",
    "WarmStartReport",
    "load_run",
    "read_init",
    "read_run_meta",
    "save_run_artifact",
    "warm_start",
]
