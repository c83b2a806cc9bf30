"""The ``extract`` and ``index`` steps of a voice-conversion experiment on real Common Voice clips,
with the random tiny HuBERT (``content_model="tiny"``): aligned files, resuming, errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sesli.audio.pitch import PitchError
from sesli.data.vc_experiment import Experiment, ExperimentError
from sesli.models.vc.content import ContentModelError, num_frames
from sesli.train.vc_steps import build_index_vc, extract_vc

CLIPS = Path("/work/shared/data/cv-tr-sample50/clips")
pytestmark = pytest.mark.skipif(not CLIPS.is_dir(), reason="cv-tr-sample50 clips not present")


@pytest.fixture(scope="module")
def prepared_src(tmp_path_factory) -> Path:
    """Two real clips prepared at 24 kHz (a few 16 kHz pieces), made once; tests copy it."""
    from sesli.data.vc_prepare import prepare_vc

    path = tmp_path_factory.mktemp("vc") / "exp"
    exp = Experiment.create(path, sample_rate=24000)
    prepare_vc(exp, sorted(CLIPS.glob("*.mp3"))[:2], progress=False)
    return path


@pytest.fixture(scope="module")
def extracted_src(prepared_src, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vc") / "exp"
    shutil.copytree(prepared_src, path)  # copy2: modification times kept
    extract_vc(Experiment.open(path), f0_method="dio", content_model="tiny", progress=False)
    return path


def _copy(src: Path, tmp_path: Path) -> Experiment:
    shutil.copytree(src, tmp_path / "exp")
    return Experiment.open(tmp_path / "exp")


def _mtimes(exp: Experiment) -> dict[str, int]:
    dirs = (exp.f0_coarse_dir, exp.f0_hz_dir, exp.feature_dir)
    return {f"{d.name}/{p.name}": p.stat().st_mtime_ns for d in dirs for p in sorted(d.iterdir())}


def test_extract_writes_aligned_files(extracted_src, tmp_path):
    exp = _copy(extracted_src, tmp_path)
    clips = exp.clips()
    assert len(clips) >= 2
    for stem in clips:
        n = sf.info(str(exp.wav16k_dir / f"{stem}.wav")).frames
        hz = np.load(exp.f0_hz_dir / f"{stem}.npy")
        coarse = np.load(exp.f0_coarse_dir / f"{stem}.npy")
        feats = np.load(exp.feature_dir / f"{stem}.npy")
        assert hz.dtype == np.float32 and coarse.dtype == np.int64 and feats.dtype == np.float32
        assert hz.shape == coarse.shape == (1 + n // 160,)  # 100 frames/s
        assert feats.shape == (num_frames(n), 768)  # 50 frames/s, RVC v2
        # HuBERT's 400-sample receptive field: 2 T trails the pitch frames by 1 to 3 (RVC trims).
        assert 1 <= len(hz) - 2 * len(feats) <= 3
        assert coarse.min() >= 1 and coarse.max() <= 255
        assert (coarse[hz == 0] == 1).all() and (coarse[hz > 0] > 1).any()  # unvoiced -> 1
    assert exp.feature_dir.name == "3_feature768"
    rec = exp.steps["extract"]
    assert (
        rec["done"] and rec["settings"]["content_model"] == "tiny" and rec["settings"]["f0_method"] == "dio"
    )
    res = rec["result"]
    assert res["clips"] == len(clips) and res["f0_method"] == "dio" and res["content_model"] == "tiny"
    assert 0.2 < res["voiced_fraction"] < 1.0  # speech
    assert res["frames"] == sum(np.load(exp.feature_dir / f"{c}.npy").shape[0] for c in clips)


def test_extract_resumes_and_redoes_what_changed(extracted_src, tmp_path):
    exp = _copy(extracted_src, tmp_path)
    before = _mtimes(exp)
    result = exp.result("extract")
    assert extract_vc(exp, f0_method="dio", content_model="tiny", progress=False) == result
    assert _mtimes(exp) == before  # a no-op

    # A killed run: one clip's features gone, a temp file left behind. Only that clip is redone.
    stem = exp.clips()[-1]
    old = np.load(exp.feature_dir / f"{stem}.npy")
    (exp.feature_dir / f"{stem}.npy").unlink()
    (exp.feature_dir / f".{stem}.npy.abc.npy.tmp").write_bytes(b"half")
    assert extract_vc(exp, f0_method="dio", content_model="tiny", progress=False) == result
    after = _mtimes(exp)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {f"3_feature768/{stem}.npy"}
    # fixed seed: the same features (to float32 rounding: torch's thread count may differ between runs)
    np.testing.assert_allclose(np.load(exp.feature_dir / f"{stem}.npy"), old, rtol=1e-4, atol=1e-4)

    # Another f0 method: every pitch file is redone, the content features are kept.
    exp.record("train", {}, {})
    result = extract_vc(exp, f0_method="harvest", content_model="tiny", progress=False)
    final = _mtimes(exp)
    assert all(final[k] != after[k] for k in final if not k.startswith("3_feature"))
    assert all(final[k] == after[k] for k in final if k.startswith("3_feature"))
    assert result["f0_method"] == "harvest" and exp.steps["extract"]["settings"]["filter_radius"] == 3
    assert not exp.steps["train"]["done"]  # new pitch makes a trained model stale
    assert json.loads((exp.path / ".extract" / "settings.json").read_text())["f0"]["f0_method"] == "harvest"


def test_index_builds_loads_and_is_kept(extracted_src, tmp_path):
    from sesli.models.vc.index import load_index

    exp = _copy(extracted_src, tmp_path)
    path = build_index_vc(exp, progress=False)
    assert path.parent == exp.path and exp.index_path == path
    assert re.fullmatch(r"added_(IVF\d+_)?Flat_nprobe_1_exp_v2\.index", path.name)
    index = load_index(path, dim=exp.feature_dim)
    assert index.d == 768 and index.ntotal == exp.result("extract")["frames"]
    assert exp.result("index")["file"] == path.name
    mtime = path.stat().st_mtime_ns
    assert build_index_vc(exp, progress=False) == path and path.stat().st_mtime_ns == mtime

    # Re-extracting a clip rewrites its file: the index is rebuilt.
    (exp.feature_dir / f"{exp.clips()[0]}.npy").unlink()
    extract_vc(exp, f0_method="dio", content_model="tiny", progress=False)
    assert build_index_vc(exp, progress=False).stat().st_mtime_ns != mtime
    assert list(exp.path.glob("added_*.index")) == [path]


def test_rmvpe_model_is_used_and_a_failed_load_keeps_old_files(extracted_src, tmp_path, monkeypatch):
    import sesli.models.vc.rmvpe as rmvpe

    class Flat:  # stands in for RMVPE: 220 Hz everywhere
        def infer(self, wav16k):
            return np.full(1 + len(wav16k) // 160, 220.0, np.float32)

    exp = _copy(extracted_src, tmp_path)
    before = _mtimes(exp)
    with pytest.raises(ContentModelError):
        extract_vc(exp, f0_method="dio", content_model=tmp_path / "missing", progress=False)
    assert _mtimes(exp) == before and exp.steps["extract"]["done"]  # nothing deleted or invalidated

    weights = tmp_path / "rmvpe.pt"
    weights.write_bytes(b"stand-in")
    loaded = []
    monkeypatch.setattr(rmvpe, "load_rmvpe", lambda path, device="cpu": loaded.append(path) or Flat())
    result = extract_vc(exp, f0_method="rmvpe", f0_model=weights, content_model="tiny", progress=False)
    assert loaded == [str(weights.resolve())] and result["voiced_fraction"] == 1.0
    stem = exp.clips()[0]
    assert set(np.load(exp.f0_hz_dir / f"{stem}.npy")) == {np.float32(220.0)}
    assert exp.steps["extract"]["settings"]["f0_model"] == str(weights.resolve())


def test_no_f0_v1_experiment(prepared_src, tmp_path):
    """No pitch files without f0; v1 features are 256-d in 3_feature256."""
    from sesli.data.vc_prepare import prepare_vc

    exp = Experiment.create(tmp_path / "v1", sample_rate=40000, f0=False, version="v1")
    prepare_vc(exp, sorted(CLIPS.glob("*.mp3"))[:1], progress=False)
    result = extract_vc(exp, content_model="tiny", progress=False)
    assert result["f0_method"] is None and result["voiced_fraction"] is None
    assert not exp.f0_coarse_dir.exists() and not exp.f0_hz_dir.exists()
    feats = [np.load(p) for p in sorted((exp.path / "3_feature256").glob("*.npy"))]
    assert len(feats) == len(exp.clips()) and all(f.shape[1] == 256 for f in feats)
    assert "v1.index" in build_index_vc(exp, progress=False).name


def test_errors_are_clear(prepared_src, extracted_src, tmp_path):
    from sesli.models.vc.tiny import tiny_hubert

    empty = Experiment.create(tmp_path / "empty", sample_rate=40000)
    with pytest.raises(ExperimentError, match=r"run `sesli vc prepare .* INPUT\.\.\.` first"):
        extract_vc(empty, content_model="tiny", progress=False)

    exp = _copy(prepared_src, tmp_path)
    with pytest.raises(ExperimentError, match="do not exist yet: run `sesli vc extract .*` first"):
        build_index_vc(exp, progress=False)
    with pytest.raises(PitchError, match=r"needs model weights.*rmvpe\.pt.*--f0-model"):
        extract_vc(exp, f0_method="rmvpe", content_model="tiny", progress=False)
    with pytest.raises(PitchError, match="f0 model file not found.*assets/rmvpe/rmvpe.pt"):
        extract_vc(
            exp, f0_method="rmvpe", f0_model=tmp_path / "rmvpe.pt", content_model="tiny", progress=False
        )
    with pytest.raises(PitchError, match="crepe is not supported"):
        extract_vc(exp, f0_method="crepe", content_model="tiny", progress=False)
    with pytest.raises(ContentModelError, match="huggingface-cli download"):
        extract_vc(exp, f0_method="dio", content_model=tmp_path / "no-such-model", progress=False)

    small = tmp_path / "hubert256"
    tiny_hubert(hidden=256, layers=1, conv_dim=16).save_pretrained(small)
    with pytest.raises(ContentModelError, match=r"gives 256-d features but .* v2 experiment \(768-d"):
        extract_vc(exp, f0_method="dio", content_model=str(small), progress=False)
    assert not any(exp.feature_dir.glob("*.npy"))  # refused before writing a feature

    # Features of a stale extract (prepare changed since) are refused by index.
    done = _copy(extracted_src, tmp_path / "stale")
    done.invalidate("prepare")
    with pytest.raises(ExperimentError, match="stale .* run `sesli vc extract"):
        build_index_vc(done, progress=False)
