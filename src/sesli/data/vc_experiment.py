"""A voice-conversion (RVC-style) experiment: one folder that records what each step did.

::

    EXP/
      experiment.json      {"format": 1, "name", "sample_rate", "f0", "version", "steps": {...}}
      0_gt_wavs/           {file}_{piece}.wav, float32 at the target rate   (prepare)
      1_16k_wavs/          the same pieces at 16 kHz                         (prepare)
      2a_f0/               coarse pitch 1..255 per frame                     (extract, f0 models)
      2b-f0nsf/            pitch in Hz per frame                             (extract, f0 models)
      3_feature768/        content features (v2; v1: 3_feature256)          (extract)
      train/               checkpoints and the inference artifact            (train)
      added_*.index        the faiss index                                   (index)
      .prepare/            prepare's journal (sesli.data.vc_prepare)

The folder names are RVC's (``logs/NAME/`` in the WebUI), so the layout is a contract shared with
the code of the later steps and with users who know RVC.

Each step is recorded as ``{"done", "settings", "result", "finished"}``. A step is *done* only
when it finished **with the same settings**; steps run in the order prepare < extract < train <
index, and a step that re-runs with a different outcome invalidates every later one (new pieces
make old features stale, new features make a trained model stale). ``experiment.json`` is always
written atomically, so a killed step never leaves it half written.

The sample rate, pitch (f0) use and model version are fixed when the experiment is created:
every file in it depends on them, so changing one means starting a new experiment.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sesli.fileio import write_json

FORMAT = 1
FILE = "experiment.json"
SAMPLE_RATES = (24000, 32000, 40000, 48000)  # RVC ships 32k/40k/48k configs; 24k for sesli
VERSIONS = ("v2", "v1")
STEPS = ("prepare", "extract", "train", "index")  # run order; a step invalidates the later ones


class ExperimentError(RuntimeError):
    """The folder is not an experiment, or the requested settings conflict with it."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _natural(stem: str) -> tuple:
    """Sort key: ``2_10`` after ``2_9`` (RVC's ``{file}_{piece}`` names)."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", stem))


def _check_step(name: str) -> None:
    if name not in STEPS:
        raise ExperimentError(f"unknown step {name!r}; the steps are {', '.join(STEPS)}")


class Experiment:
    """An experiment folder (see the module docstring); build it with :meth:`create` or :meth:`open`.

    Attributes:
        path: the folder.
        name: a label (defaults to the folder's name; RVC names its model files after it).
        sample_rate: rate of ``0_gt_wavs`` and of the trained model, Hz.
        f0: whether the model uses pitch (needed for singing; without it the model is lighter).
        version: ``v2`` (768-d content features) or ``v1`` (256-d).
    """

    def __init__(self, path: Path, data: dict):
        self.path = path
        self._data = data

    # ----------------------------------------------------------------------------- building
    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        name: str | None = None,
        sample_rate: int = 40000,
        f0: bool = True,
        version: str = "v2",
    ) -> Experiment:
        """Create the experiment at ``path``, or open it when it exists with the same settings.

        Raises:
            ExperimentError: bad settings, ``path`` is a non-empty folder that is not an
                experiment, or the existing experiment has another sample rate, f0 or version.
        """
        path = Path(path)
        if sample_rate not in SAMPLE_RATES:
            rates = ", ".join(str(r) for r in SAMPLE_RATES)
            raise ExperimentError(f"sample rate {sample_rate} is not supported; use one of {rates}")
        if version not in VERSIONS:
            raise ExperimentError(f"version {version!r} is not supported; use one of {', '.join(VERSIONS)}")
        if (path / FILE).is_file():
            exp = cls.open(path)
            wanted = {"sample_rate": sample_rate, "f0": bool(f0), "version": version}
            diff = [f"{k} {exp._data[k]!r} -> {v!r}" for k, v in wanted.items() if exp._data[k] != v]
            if diff:
                raise ExperimentError(
                    f"{path} is an experiment with other settings ({'; '.join(diff)}); every file in it "
                    f"depends on them. Keep its settings, use a new experiment folder, or delete {path} "
                    "to start over"
                )
            if name is not None and name != exp.name:
                exp._data["name"] = name  # a label only: nothing depends on it
                exp._save()
            return exp
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ExperimentError(
                f"{path} exists and is not an experiment (no {FILE}); choose a new or empty folder"
            )
        data = {
            "format": FORMAT,
            "name": name or path.resolve().name,
            "sample_rate": int(sample_rate),
            "f0": bool(f0),
            "version": version,
            "steps": {},
        }
        path.mkdir(parents=True, exist_ok=True)
        exp = cls(path, data)
        exp._save()
        return exp

    @classmethod
    def open(cls, path: str | Path) -> Experiment:
        """Open an existing experiment.

        Raises:
            ExperimentError: no ``experiment.json`` there, or it is unreadable or of a newer format.
        """
        path = Path(path)
        file = path / FILE
        if not file.is_file():
            what = "does not exist" if not path.exists() else f"has no {FILE}"
            raise ExperimentError(
                f"{path} is not a voice-conversion experiment ({what}); "
                f"create one with `sesli vc prepare {path} INPUT...`"
            )
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ExperimentError(f"{file} is not readable JSON ({err})") from None
        if not isinstance(data, dict) or "sample_rate" not in data:
            raise ExperimentError(f"{file} is not an experiment file")
        if data.get("format", 0) > FORMAT:
            raise ExperimentError(f"{file} has format {data['format']}; this sesli reads format {FORMAT}")
        data.setdefault("steps", {})
        return cls(path, data)

    def _save(self) -> None:
        write_json(self.path / FILE, self._data)

    # ----------------------------------------------------------------------------- settings
    @property
    def name(self) -> str:
        return str(self._data["name"])

    @property
    def sample_rate(self) -> int:
        return int(self._data["sample_rate"])

    @property
    def f0(self) -> bool:
        return bool(self._data["f0"])

    @property
    def version(self) -> str:
        return str(self._data["version"])

    @property
    def steps(self) -> dict[str, dict]:
        """The step records (a copy)."""
        return json.loads(json.dumps(self._data["steps"]))

    # ----------------------------------------------------------------------------- paths
    @property
    def gt_dir(self) -> Path:
        return self.path / "0_gt_wavs"

    @property
    def wav16k_dir(self) -> Path:
        return self.path / "1_16k_wavs"

    @property
    def f0_coarse_dir(self) -> Path:
        return self.path / "2a_f0"

    @property
    def f0_hz_dir(self) -> Path:
        return self.path / "2b-f0nsf"

    @property
    def feature_dim(self) -> int:
        return 768 if self.version == "v2" else 256

    @property
    def feature_dir(self) -> Path:
        return self.path / f"3_feature{self.feature_dim}"

    @property
    def train_dir(self) -> Path:
        return self.path / "train"

    @property
    def index_path(self) -> Path | None:
        """The newest ``added_*.index`` (RVC's name for the index used at inference), or None."""
        found = sorted(self.path.glob("added_*.index"), key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None

    def clips(self) -> list[str]:
        """Stems of the prepared pieces present at both rates, in ``{file}_{piece}`` order."""
        if not self.gt_dir.is_dir() or not self.wav16k_dir.is_dir():
            return []

        def stems(d: Path) -> set[str]:
            return {p.stem for p in d.glob("*.wav") if not p.name.startswith(".")}

        return sorted(stems(self.gt_dir) & stems(self.wav16k_dir), key=_natural)

    # ----------------------------------------------------------------------------- steps
    def step_done(self, name: str, settings: dict) -> bool:
        """True when ``name`` finished with exactly these settings (and was not invalidated since)."""
        _check_step(name)
        rec = self._data["steps"].get(name)
        return bool(rec and rec.get("done") and rec.get("settings") == _plain(settings))

    def record(self, name: str, settings: dict, result: dict) -> None:
        """Mark ``name`` done with its settings and result.

        The later steps are invalidated unless this record repeats the previous one (same
        settings, same result): their inputs may have changed.
        """
        _check_step(name)
        settings, result = _plain(settings), _plain(result)
        old = self._data["steps"].get(name) or {}
        same = old.get("settings") == settings and old.get("result") == result
        if not same:
            for later in STEPS[STEPS.index(name) + 1 :]:
                self._mark_undone(later)
        self._data["steps"][name] = {"done": True, "settings": settings, "result": result, "finished": _now()}
        self._save()

    def invalidate(self, name: str) -> None:
        """Mark ``name`` and every later step not done (their records are kept for ``info``)."""
        _check_step(name)
        for step in STEPS[STEPS.index(name) :]:
            self._mark_undone(step)
        self._save()

    def _mark_undone(self, step: str) -> None:
        rec = self._data["steps"].get(step)
        if rec is not None:
            rec["done"] = False

    def result(self, name: str) -> dict | None:
        """The recorded result of a done step, else None."""
        _check_step(name)
        rec = self._data["steps"].get(name)
        return dict(rec["result"]) if rec and rec.get("done") else None

    def next_step(self) -> str | None:
        """The first step not done (``index`` only counts when no index file exists), or None."""
        for step in STEPS:
            rec = self._data["steps"].get(step)
            if not (rec and rec.get("done")) and not (step == "index" and self.index_path):
                return step
        return None

    def summary(self) -> dict[str, Any]:
        """What ``sesli vc info`` shows: settings, each step's state, clip counts, next step."""
        steps = {}
        for step in STEPS:
            rec = self._data["steps"].get(step)
            steps[step] = (
                {"done": bool(rec.get("done")), "finished": rec.get("finished"), "result": rec.get("result")}
                if rec
                else {"done": False, "finished": None, "result": None}
            )
        prep = steps["prepare"]["result"] or {}
        index = self.index_path
        return {
            "path": str(self.path),
            "name": self.name,
            "sample_rate": self.sample_rate,
            "f0": self.f0,
            "version": self.version,
            "feature_dim": self.feature_dim,
            "steps": steps,
            "clips": len(self.clips()),
            "seconds": prep.get("seconds", 0.0),
            "index": str(index) if index else None,
            "next": self.next_step(),
        }

    def __repr__(self) -> str:
        return f"Experiment({str(self.path)!r}, sr={self.sample_rate}, f0={self.f0}, {self.version})"


def _plain(obj: Any) -> Any:
    """A JSON round trip, so settings compare equal to what was stored (tuples, Paths)."""
    return json.loads(json.dumps(obj, default=str))
