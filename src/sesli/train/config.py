"""Training configs: dataclasses loaded from YAML, with dotted ``key=value`` overrides.

A run's config is a tree of dataclasses (the engine's :class:`TrainConfig` plus whatever a task
adds). :func:`load_config` reads a YAML file into that tree, applies command-line overrides such
as ``train.lr=1e-3`` and type-checks every value against the dataclass field it lands on, so a
typo (``train.lrr=1``) or a wrong type (``train.epochs=ten``) fails at start-up with the key and
the source named, not an hour into a run. :func:`dump_config` freezes the resolved tree to YAML.

The shipped configs live inside the package, ``sesli/configs/<family>/<name>.yaml`` (package data,
so an installed wheel has them); :func:`config_path` turns ``--config tiny`` into one of them from
any working directory, and passes a path to an existing file through unchanged.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from sesli.fileio import atomic_open

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not fit its dataclass (message names key and source)."""


def configs_dir() -> Path:
    """The folder of the shipped YAML configs, ``sesli/configs`` (inside the installed package)."""
    return Path(str(resources.files("sesli") / "configs"))


def shipped_configs(family: str | None = None) -> list[str]:
    """Names of the shipped configs, ``family/name`` (only ``family``'s, as ``name``, when given)."""
    root = configs_dir()
    if family is not None:
        return sorted(p.stem for p in (root / family).glob("*.yaml"))
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.glob("*/*.yaml"))


def config_path(name: str | Path, family: str | None = None) -> Path:
    """A config file: ``name`` itself when it is an existing file, else a shipped config.

    Args:
        name: a path to a YAML file, a shipped name of ``family`` (``tiny``), or ``family/name``
            (``debug/lm``).
        family: the folder of ``sesli/configs`` that plain names are looked up in (``lm``, ``kokoro``).

    Raises:
        ConfigError: no such file and no shipped config of that name (the shipped ones are listed).
    """
    path = Path(name).expanduser()
    if path.is_file():
        return path
    root = configs_dir()
    stem = str(name).removesuffix(".yaml").removesuffix(".yml")
    candidates = [root / f"{stem}.yaml"] + ([root / family / f"{stem}.yaml"] if family else [])
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = shipped_configs(family) if family else shipped_configs()
    raise ConfigError(f"no config named {str(name)!r}: no such file, nor a shipped one ({', '.join(known)})")


@dataclass
class TrainConfig:
    """What the engine needs to run any task (see ``sesli.train.engine``).

    Steps are optimizer steps (one step = ``grad_accum`` batches).
    """

    epochs: int = 10
    max_steps: int | None = None  # stop after this many optimizer steps (None: run all epochs)
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 0
    schedule: Literal["cosine", "exponential", "constant"] = "cosine"
    min_lr_ratio: float = 0.1  # cosine floor, and the exponential decay's end point
    grad_accum: int = 1
    grad_clip: float | None = 1.0
    ema_decay: float | None = None  # e.g. 0.999; None turns EMA off
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = "auto"
    cpu: bool = False  # force CPU even where an accelerator exists
    # several GPUs: let DDP accept parameters that get no gradient in a step (a frozen encoder)
    find_unused_parameters: bool = False
    eval_every: int | None = None  # steps; None validates at the end of each epoch
    early_stopping_patience: int | None = None  # evaluations without improvement; None: never stop
    metric: str = "val/loss"
    mode: Literal["min", "max"] = "min"
    save_best: bool = True
    save_every: int | None = None  # steps; a checkpoint is always written at the end of the run
    keep_last: int = 3
    seed: int = 0
    deterministic: bool = False  # torch.use_deterministic_algorithms (exact resume on GPU)
    log_every: int = 10
    plot_every: int = 100
    num_workers: int = 0


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` converted to the type hint ``tp``, or raise ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: {value!r} is not a {_type_name(tp)}")
    if origin is Literal:
        if isinstance(value, bool) and value not in args:  # YAML 1.1 reads a bare `no` as False
            value = next(
                (c for c in (("yes", "true", "on") if value else ("no", "false", "off")) if c in args), value
            )
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(
                _coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item = args[0] if args else Any
        return origin(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
            return value.lower() in {"true", "yes", "1"}
        raise ConfigError(f"{where}: {value!r} is not a bool")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"{where}: {value!r} is not an int")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not an int") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: {value!r} is not a float")
        try:
            return float(value)  # YAML reads "1e-3" as a string; float() accepts it
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {value!r} is not a float") from None
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: {value!r} is not a string")
        return str(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: {value!r} is not a {tp.__name__}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from a (nested) mapping, checking names and types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass tree as plain dicts/lists (tuples become lists, for YAML)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str = "override") -> dict[str, Any]:
    """Set dotted ``a.b=value`` pairs in a nested dict (values parsed as YAML scalars)."""
    data = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{source} {item!r}: expected dotted key=value, e.g. train.lr=1e-3")
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as err:
            raise ConfigError(f"{source} {item!r}: value is not valid YAML ({err})") from None
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load dataclass ``cls`` from a YAML file (or its defaults) plus dotted overrides.

    Args:
        cls: the root config dataclass.
        path: YAML file whose top-level keys are ``cls``'s fields; None uses the defaults.
        overrides: ``["train.lr=1e-3", "model.n_layers=2"]``, applied after the file.

    Raises:
        ConfigError: unreadable file, unknown key or a value of the wrong type.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping, got {type(loaded).__name__}")
        data = loaded or {}
    if overrides:
        source += f" + overrides {overrides}"
    data = apply_overrides(data, overrides or [])
    try:
        return from_dict(cls, data, where="config")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def dump_config(cfg: Any, path: str | Path) -> None:
    """Write a dataclass tree to YAML atomically (the run's frozen config)."""
    with atomic_open(path) as fh:
        yaml.safe_dump(to_dict(cfg), fh, sort_keys=False, allow_unicode=True)


def _deep_update(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in new.items():
        out[k] = _deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_task_config(
    cls: type[T], family: str, config: str | Path | None = None, overrides: list[str] | None = None
) -> T:
    """A task's run config: ``cls()``'s defaults, then a YAML file (path or shipped name under
    ``family``), then dotted overrides.

    The task's defaults come first, so a partly given ``train:`` section keeps the task's values
    for the rest (``load_config`` alone would fill it from the engine's generic defaults).

    Raises:
        ConfigError: an unreadable file, an unknown key or a value of the wrong type.
    """
    data = to_dict(cls())
    if config is not None:
        config = config_path(config, family)
        load_config(cls, config)  # checks the file: unknown keys, wrong types
        data = _deep_update(data, yaml.safe_load(config.read_text(encoding="utf-8")) or {})
    return from_dict(cls, apply_overrides(data, overrides or []), where=str(config or "defaults"))
