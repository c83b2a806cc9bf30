"""The ``extract`` and ``index`` steps of a voice-conversion experiment (:mod:`sesli.data.vc_experiment`).

Letters: N samples at 16 kHz, F pitch frames (100 /s, ``1 + N // 160``), T content frames (50 /s,
``(N - 400) // 320 + 1``), C the feature size (768 v2, 256 v1).

``extract`` writes, per prepared clip ``1_16k_wavs/{stem}.wav``, the files RVC's training reads:

* ``2a_f0/{stem}.npy``: coarse pitch, int64 (F,), 1..255 (1 = unvoiced)  -- f0 experiments only;
* ``2b-f0nsf/{stem}.npy``: pitch in Hz, float32 (F,), 0 = unvoiced       -- f0 experiments only;
* ``3_feature768/{stem}.npy`` (v1: ``3_feature256``): content features, float32 (T, C), as the
  content model gives them. ``F - 2 T`` is 1, 2 or 3; RVC repeats each content frame twice and
  trims both to the shorter length (:func:`sesli.models.vc.model.upsample_features`).

Resuming: ``EXP/.extract/settings.json`` holds the settings the files on disk were made with,
written before the first new file. A run with other f0 settings deletes the pitch files, one with
another content model the features (the other half is kept), so files of two settings never mix;
the models load first, so one that fails to load leaves the old files in place.
A clip is then redone when one of its outputs is missing or older than its 16 kHz wav (prepare
rewrote it); outputs of clips that no longer exist, and temporary files of a killed run, are removed.
The step is recorded in ``experiment.json`` with its settings; a re-run with the same settings and
intact outputs returns the recorded result without loading a model.

The content model is recorded as ``content_model``: ``"tiny"`` (:func:`content_encoder` builds the
random tiny HuBERT of :mod:`sesli.models.vc.tiny`, :func:`sesli.models.vc.content.content_encoder`), an absolute folder, or a
hub id; ``train`` and ``convert`` must load the same one through :func:`content_encoder`.

``index`` builds RVC's faiss index over every clip's features (:mod:`sesli.models.vc.index`) and
saves it as ``EXP/added_IVF{n}_Flat_nprobe_1_{name}_{version}.index``, replacing older ones.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from sesli.audio.pitch import F0_METHODS, PitchError, check_model_path, coarse_f0, extract_f0
from sesli.data.vc_experiment import Experiment, ExperimentError
from sesli.fileio import atomic_open, write_json
from sesli.models.vc.content import (
    ContentEncoder,
    ContentModelError,
    content_encoder,
    content_model_spec,
)

SR_16K = 16000
STATE_DIR = ".extract"


def _check_dim(encoder: ContentEncoder, exp: Experiment, spec: str) -> None:
    if encoder.dim != exp.feature_dim:
        raise ContentModelError(
            f"content model {spec} gives {encoder.dim}-d features but {exp.path} is a {exp.version} "
            f"experiment ({exp.feature_dim}-d, {exp.feature_dir.name}): use a "
            f"{'768-d (v2: layer 12, no projection)' if exp.version == 'v2' else '256-d (v1: final_proj)'} "
            "content model, or a new experiment with the other --version"
        )


# ----------------------------------------------------------------------------- settings and state
def _prepared_clips(exp: Experiment) -> list[str]:
    clips = exp.clips()
    if exp.result("prepare") is None or not clips:
        state = "is not done (or was interrupted)" if exp.steps.get("prepare") else "has not run"
        raise ExperimentError(
            f"{exp.path} has no prepared clips: `prepare` {state}; run `sesli vc prepare {exp.path} INPUT...` first"
        )
    return clips


def _f0_settings(exp: Experiment, method: str, model: str | Path | None, filter_radius: int) -> dict | None:
    """The settings pitch files depend on (None without f0); checks the method and its weights."""
    if not exp.f0:
        return None
    if method not in F0_METHODS:
        extract_f0(np.zeros(SR_16K // 10, np.float32), method)  # raises PitchError with pitch.py's advice
    if method == "rmvpe":
        model = check_model_path(model, method)
    elif model is not None and method != "fcpe":
        raise PitchError(f"--f0-model is for rmvpe and fcpe; {method} needs no weights")
    return {
        "f0_method": method,
        "f0_model": str(Path(model).expanduser().resolve()) if model is not None else None,
        # Only harvest is filtered (pitch.extract_f0), and only on/off at radius 3.
        "filter_radius": int(filter_radius) if method == "harvest" else None,
    }


class _State:
    """``.extract/settings.json``: the settings of the files on disk, per half (f0, features)."""

    def __init__(self, exp: Experiment):
        self.file = exp.path / STATE_DIR / "settings.json"
        try:
            self.stored = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.stored = None  # none yet (or unreadable): files on disk are of unknown settings

    def changed(self, parts: dict[str, dict | None]) -> set[str]:
        """The halves whose files on disk were made with other settings (or unknown ones)."""
        old = self.stored if isinstance(self.stored, dict) else {}
        return {k for k, v in parts.items() if k not in old or old[k] != json.loads(json.dumps(v))}

    def commit(self, exp: Experiment, parts: dict[str, dict | None], changed: set[str]) -> None:
        """Delete the outputs of the ``changed`` halves, then store the new settings."""
        dirs = {"f0": (exp.f0_coarse_dir, exp.f0_hz_dir), "features": (exp.feature_dir,)}
        for part in changed:
            for d in dirs[part]:
                shutil.rmtree(d, ignore_errors=True)
        if changed or self.stored != parts:
            write_json(self.file, parts)


def _outputs(exp: Experiment, stem: str) -> dict[str, Path]:
    out = {"features": exp.feature_dir / f"{stem}.npy"}
    if exp.f0:
        out["coarse"] = exp.f0_coarse_dir / f"{stem}.npy"
        out["hz"] = exp.f0_hz_dir / f"{stem}.npy"
    return out


def _fresh(path: Path, wav_mtime: int) -> bool:
    try:
        return path.stat().st_mtime_ns >= wav_mtime
    except OSError:
        return False


def _remove_strays(exp: Experiment, clips: list[str]) -> None:
    """Outputs of clips that are gone, and temp files a killed run left behind."""
    keep = {f"{c}.npy" for c in clips}
    for d in (exp.f0_coarse_dir, exp.f0_hz_dir, exp.feature_dir):
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file() and p.name not in keep:
                    p.unlink(missing_ok=True)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_open(path, "wb") as fh:  # a file handle: np.save would append .npy to a temp name
        np.save(fh, array)


# ----------------------------------------------------------------------------- extract
def extract_vc(
    exp: Experiment,
    *,
    f0_method: str = "harvest",
    f0_model: str | Path | None = None,
    content_model: str | Path | None = None,
    device: str = "cpu",
    filter_radius: int = 3,
    progress: bool = True,
) -> dict:
    """Extract pitch and content features of every prepared clip (see the module docstring).

    Args:
        exp: a prepared experiment.
        f0_method: ``harvest``, ``dio``, ``rmvpe`` (needs ``f0_model``) or ``fcpe``; unused without f0.
        f0_model: the rmvpe weights (RVC's ``assets/rmvpe/rmvpe.pt``), or a torchfcpe ``.pt``.
        content_model: a transformers HuBERT/ContentVec folder or hub id (default
            ``lengyue233/content-vec-best``), or ``"tiny"`` for the random tiny HuBERT.
        device: torch device for the content model and rmvpe/fcpe.
        filter_radius: RVC's setting; harvest is median-filtered when it is at least 3.
        progress: a tqdm bar over clips.

    Returns:
        ``{"clips", "frames" (content frames, the index's vectors), "f0_frames", "f0_method"
        (None without f0), "content_model", "voiced_fraction" (None without f0)}``, also recorded
        as the ``extract`` step.

    Raises:
        ExperimentError: nothing prepared, or a clip that cannot be read.
        PitchError: unknown f0 method, missing rmvpe weights, or a clip pitch extraction refuses.
        ContentModelError: the content model cannot be loaded, or its feature size is not the
            experiment's.
    """
    clips = _prepared_clips(exp)
    spec = content_model_spec(content_model)
    f0_part = _f0_settings(exp, f0_method, f0_model, filter_radius)
    feat_part = {"content_model": spec, "version": exp.version, "feature_dim": exp.feature_dim}
    settings = {**(f0_part or {"f0_method": None}), **feat_part}
    parts = {"f0": f0_part, "features": feat_part} if exp.f0 else {"features": feat_part}
    state = _State(exp)
    changed = state.changed(parts)
    todo: list[tuple[str, set[str]]] = []  # (stem, the halves to write: "f0", "features")
    for stem in clips:
        mtime = (exp.wav16k_dir / f"{stem}.wav").stat().st_mtime_ns
        stale = {
            "f0" if k in ("coarse", "hz") else k
            for k, p in _outputs(exp, stem).items()
            if not _fresh(p, mtime)
        }
        if stale | changed:
            todo.append((stem, stale | changed))
    if not todo and exp.step_done("extract", settings):
        _remove_strays(exp, clips)
        return exp.result("extract") or {}

    # Models load before any file is deleted: a model that fails to load leaves the old files be.
    encoder = f0_net = None
    if any("features" in need for _, need in todo):
        encoder = content_encoder(spec, exp.version, device)
        _check_dim(encoder, exp, spec)
    if f0_part and f0_method == "rmvpe" and any("f0" in need for _, need in todo):
        from sesli.models.vc.rmvpe import load_rmvpe

        f0_net = load_rmvpe(f0_part["f0_model"], device)
    if changed:
        exp.invalidate("extract")  # the files on disk change from now on
    state.commit(exp, parts, changed)
    _remove_strays(exp, clips)
    from tqdm import tqdm

    with tqdm(
        total=len(clips), unit="clip", desc="vc extract", disable=not progress, dynamic_ncols=True
    ) as bar:
        bar.update(len(clips) - len(todo))
        for stem, need in todo:
            _extract_clip(exp, stem, need, f0_part, encoder, f0_net, device, filter_radius)
            bar.update(1)
    result = _summarize(exp, clips, f0_part, spec)
    exp.record("extract", settings, result)
    return result


def _extract_clip(exp, stem, need, f0_part, encoder, f0_net, device, filter_radius) -> None:
    """Write the ``need``-ed outputs (``"f0"``, ``"features"``) of one clip."""
    wav_path = exp.wav16k_dir / f"{stem}.wav"
    try:
        wav, sr = sf.read(wav_path, dtype="float32", always_2d=False)
    except (OSError, RuntimeError) as err:
        raise ExperimentError(f"cannot read {wav_path} ({err}): run `sesli vc prepare` again") from err
    if sr != SR_16K or wav.ndim != 1:
        raise ExperimentError(
            f"{wav_path} is not 16 kHz mono ({sr} Hz, shape {wav.shape}): run prepare again"
        )
    out = _outputs(exp, stem)
    if "f0" in need:
        try:
            hz = extract_f0(wav, f0_part["f0_method"], model=f0_net, model_path=f0_part["f0_model"],
                            device=device, filter_radius=filter_radius)  # fmt: skip
        except PitchError as err:
            raise PitchError(f"{wav_path.name}: {err}") from err
        _save_npy(out["coarse"], coarse_f0(hz))  # (F,) int64
        _save_npy(out["hz"], hz.astype(np.float32))  # (F,) float32
    if "features" in need:
        import torch

        with torch.inference_mode():
            feats = encoder.extract(wav)  # (T, C) float32
        _save_npy(out["features"], np.ascontiguousarray(feats, dtype=np.float32))


def _summarize(exp: Experiment, clips: list[str], f0_part: dict | None, spec: str) -> dict:
    """The step's result, read back from the files (so a resumed run counts every clip)."""
    frames = sum(np.load(exp.feature_dir / f"{c}.npy", mmap_mode="r").shape[0] for c in clips)
    f0_frames = voiced = 0
    if f0_part:
        for c in clips:
            hz = np.load(exp.f0_hz_dir / f"{c}.npy")
            f0_frames += len(hz)
            voiced += int(np.count_nonzero(hz > 0))
    return {
        "clips": len(clips),
        "frames": int(frames),
        "f0_frames": int(f0_frames),
        "f0_method": f0_part["f0_method"] if f0_part else None,
        "content_model": spec,
        "voiced_fraction": round(voiced / f0_frames, 4) if f0_frames else None,
    }


# ----------------------------------------------------------------------------- index
def _feature_files(exp: Experiment) -> list[Path]:
    run_extract = f"run `sesli vc extract {exp.path}` first"
    if exp.result("extract") is None:
        state = (
            "are stale (an earlier step changed) or incomplete"
            if exp.steps.get("extract")
            else "do not exist yet"
        )
        raise ExperimentError(f"the content features of {exp.path} {state}: {run_extract}")
    files = [exp.feature_dir / f"{c}.npy" for c in exp.clips()]
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        what = (
            f"{len(missing)} of {len(files)} clips have no features (e.g. {missing[0].name})"
            if missing
            else "no clips"
        )
        raise ExperimentError(f"{exp.feature_dir}: {what}: {run_extract}")
    return files


def build_index_vc(exp: Experiment, *, seed: int = 0, progress: bool = True) -> Path:
    """Build and save the experiment's retrieval index over all its content features.

    Skipped (the recorded file returned) when the feature files are unchanged since the last build.

    Returns:
        The index path, ``EXP/added_IVF{n}_Flat_nprobe_1_{name}_{version}.index`` (``added_Flat_...``
        below 78 frames); older ``added_*.index`` files are removed.

    Raises:
        ExperimentError: no (or stale) features: run ``sesli vc extract`` first; a feature file of
            the wrong size.
        ImportError: faiss is not installed (``pip install 'sesli[vc]'``).
    """
    from sesli.models.vc.index import build_index, index_filename, save_index

    files = _feature_files(exp)
    digest = hashlib.sha1()
    for f in files:
        st = f.stat()
        digest.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    settings = {"feature_dim": exp.feature_dim, "seed": seed, "features_sha1": digest.hexdigest()}
    done = exp.result("index")
    if done and exp.step_done("index", settings) and (exp.path / done["file"]).is_file():
        return exp.path / done["file"]
    feats = _load_features(files, exp, progress)  # (N, C)
    index = build_index(feats, seed=seed)
    path = save_index(index, exp.path / index_filename(index, exp.name, exp.version))
    for old in exp.path.glob("added_*.index"):
        if old != path:
            old.unlink(missing_ok=True)
    exp.record("index", settings, {"file": path.name, "vectors": int(index.ntotal), "frames": len(feats),
                                   "dim": exp.feature_dim})  # fmt: skip
    return path


def _load_features(files: list[Path], exp: Experiment, progress: bool) -> np.ndarray:
    """All clips' features stacked into one (N, C) float32 array, allocated once."""
    shapes = [np.load(f, mmap_mode="r").shape for f in files]
    bad = [(f, s) for f, s in zip(files, shapes, strict=True) if len(s) != 2 or s[1] != exp.feature_dim]
    if bad:
        f, s = bad[0]
        raise ExperimentError(
            f"{f} has shape {s}, not (frames, {exp.feature_dim}): run `sesli vc extract {exp.path}` again"
        )
    from tqdm import tqdm

    out = np.empty((sum(s[0] for s in shapes), exp.feature_dim), dtype=np.float32)
    at = 0
    for f, (n, _) in tqdm(zip(files, shapes, strict=True), total=len(files), unit="clip", desc="vc index",
                          disable=not progress, dynamic_ncols=True):  # fmt: skip
        out[at : at + n] = np.load(f)
        at += n
    return out


__all__ = ["build_index_vc", "extract_vc"]
