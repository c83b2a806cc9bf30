"""RVC's faiss retrieval index: build, save/load, retrieval blend, errors."""

from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from sesli.models.vc.index import (  # noqa: E402
    IndexLoadError,
    IndexMismatchError,
    IndexMissingError,
    build_index,
    index_filename,
    ivf_size,
    load_index,
    retrieve,
    save_index,
)

DIM = 32


def _features(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def test_ivf_size_follows_rvc():
    assert ivf_size(1) == 1 and ivf_size(100) == 2
    assert ivf_size(10_000) == 256  # N // 39
    assert ivf_size(200_000) == min(int(16 * 200_000**0.5), 200_000 // 39)


def test_build_save_load_round_trip(tmp_path):
    feats = _features(2000)
    index = build_index(feats)
    ivf = faiss.extract_index_ivf(index)
    assert (index.ntotal, index.d, ivf.nlist, ivf.nprobe) == (2000, DIM, ivf_size(2000), 1)
    name = index_filename(index, "alice", "v2")
    assert name == f"added_IVF{ivf_size(2000)}_Flat_nprobe_1_alice_v2.index"
    path = save_index(index, tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind
    back = load_index(path, dim=DIM)
    query = _features(20, seed=1)
    np.testing.assert_array_equal(index.search(query, 8)[1], back.search(query, 8)[1])
    # same input and seed: same index
    np.testing.assert_array_equal(build_index(feats).search(query, 8)[1], index.search(query, 8)[1])


def test_present_vector_retrieves_itself_and_rate_zero_is_identity():
    feats = _features(1000)
    index = build_index(feats)
    query = feats[[3, 500, 999]]
    np.testing.assert_allclose(retrieve(index, query, index_rate=1.0), query, atol=1e-4)
    unseen = _features(50, seed=7)
    assert retrieve(index, unseen, index_rate=0.0) is unseen
    full = retrieve(index, unseen, index_rate=1.0)
    half = retrieve(index, unseen, index_rate=0.5)
    assert full.shape == unseen.shape and full.dtype == np.float32
    assert not np.allclose(full, unseen)
    np.testing.assert_allclose(half, 0.5 * full + 0.5 * unseen, atol=1e-5)


def test_blend_uses_rvc_weights():
    feats = _features(200)
    index = build_index(feats)
    query = _features(5, seed=2)
    flat = faiss.IndexFlatL2(DIM)
    flat.add(feats)
    score, ids = flat.search(query, 8)  # squared L2, as RVC reads it
    weight = np.square(1 / score)
    weight /= weight.sum(axis=1, keepdims=True)
    expected = np.sum(feats[ids] * weight[..., None], axis=1)
    np.testing.assert_allclose(retrieve(flat, query, index_rate=1.0), expected, rtol=1e-4, atol=1e-5)
    assert retrieve(index, query, index_rate=1.0).shape == query.shape  # IVF, nprobe 1: approximate


def test_few_frames_use_a_flat_index():
    feats = _features(10)
    index = build_index(feats)
    assert isinstance(index, faiss.IndexFlatL2) and index.ntotal == 10
    assert index_filename(index, "bob", "v1") == "added_Flat_nprobe_1_bob_v1.index"
    out = retrieve(index, feats[:4], index_rate=1.0, k=8)
    np.testing.assert_allclose(out, feats[:4], atol=1e-4)
    one = build_index(feats[:1])
    np.testing.assert_allclose(retrieve(one, _features(3, 5), index_rate=1.0), np.repeat(feats[:1], 3, 0))


def test_kmeans_above_threshold():
    index = build_index(_features(3000), kmeans_above=1000, kmeans_centres=100, kmeans_iters=5)
    assert index.ntotal == 100 and not isinstance(index, faiss.IndexFlatL2)


def test_dimension_mismatch(tmp_path):
    path = save_index(build_index(_features(100)), tmp_path / "x.index")
    with pytest.raises(IndexMismatchError, match=r"32-d vectors .* 768-d \(v2\)"):
        load_index(path, dim=768)
    with pytest.raises(IndexMismatchError, match="32-d"):
        retrieve(load_index(path), np.zeros((4, 256), np.float32), index_rate=0.75)


def test_missing_corrupt_and_empty_files(tmp_path):
    with pytest.raises(IndexMissingError, match="sesli vc index"):
        load_index(tmp_path / "none.index")
    (tmp_path / "junk.index").write_bytes(b"not an index at all")
    with pytest.raises(IndexLoadError, match="not a readable faiss index"):
        load_index(tmp_path / "junk.index")
    good = save_index(build_index(_features(500)), tmp_path / "good.index")
    (tmp_path / "cut.index").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(IndexLoadError, match="not a readable faiss index"):
        load_index(tmp_path / "cut.index")
    trained = faiss.index_factory(DIM, "IVF4,Flat")
    trained.train(_features(500))
    faiss.write_index(trained, str(tmp_path / "trained.index"))
    with pytest.raises(IndexLoadError, match="no vectors"):
        load_index(tmp_path / "trained.index")


def test_bad_inputs():
    index = build_index(_features(100))
    with pytest.raises(ValueError, match="index_rate"):
        retrieve(index, _features(3), index_rate=1.5)
    with pytest.raises(ValueError, match="no features"):
        build_index(np.zeros((0, DIM), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        build_index(np.full((10, DIM), np.nan, np.float32))
