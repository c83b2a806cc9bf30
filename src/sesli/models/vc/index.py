"""The retrieval index of RVC: the training set's content features, searched at convert time.

Letters: N training frames, T frames to convert, C feature size (768 v2, 256 v1), K neighbours.

Build (RVC ``train_index``): shuffle the (N, C) float32 training features; above 200,000 frames
replace them by 10,000 k-means centres (faiss k-means here, sklearn's MiniBatchKMeans in RVC);
``n_ivf = min(int(16 * sqrt(N)), N // 39)``; ``faiss.index_factory(C, f"IVF{n_ivf},Flat")``, train,
add in batches of 8192, ``nprobe = 1``. RVC names the file
``added_IVF{n_ivf}_Flat_nprobe_1_{name}_{version}.index`` (:func:`index_filename`).

Small sets: below 78 vectors ``N // 39`` is at most 1 and the IVF would hold a single list, which
is an exhaustive search with training overhead and faiss's "too few training points" warnings; an
``IndexFlatL2`` gives the same neighbours, so that is what :func:`build_index` returns there.

Convert (RVC ``pipeline.vc``): search K = 8 neighbours per frame; faiss returns *squared* L2
distances ``score``, and RVC weighs by ``1 / score**2`` normalised per frame (so by 1/d^4 in true
distance; kept for parity with trained voices); the blend ``sum(w * neighbours)`` replaces
``index_rate`` of each frame: ``feats = blend * index_rate + feats * (1 - index_rate)``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sesli.fileio import atomic_path

KMEANS_ABOVE = 200_000  # frames above which RVC clusters first
KMEANS_CENTRES = 10_000
ADD_BATCH = 8192
FLAT_BELOW = 78  # vectors: N // 39 <= 1, a one-list IVF


class IndexLoadError(RuntimeError):
    """An index file that is missing, unreadable or unusable."""


class IndexMissingError(IndexLoadError, FileNotFoundError):
    """No index file at the given path."""


class IndexMismatchError(IndexLoadError):
    """The index's vector size differs from the content features' size (v1 index, v2 model?)."""


def ivf_size(n: int) -> int:
    """RVC's number of inverted lists for ``n`` vectors: ``min(int(16 sqrt(n)), n // 39)``, at least 1."""
    return max(1, min(int(16 * math.sqrt(n)), n // 39))


def index_filename(index, name: str, version: str) -> str:
    """RVC's file name for an added index (``added_IVF256_Flat_nprobe_1_alice_v2.index``)."""
    faiss = _faiss()

    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:  # flat index: no inverted lists
        return f"added_Flat_nprobe_1_{name}_{version}.index"
    return f"added_IVF{ivf.nlist}_Flat_nprobe_{ivf.nprobe}_{name}_{version}.index"


def build_index(
    features: np.ndarray,
    *,
    seed: int = 0,
    kmeans_above: int = KMEANS_ABOVE,
    kmeans_centres: int = KMEANS_CENTRES,
    kmeans_iters: int = 20,
):
    """Build RVC's retrieval index over training content features.

    Args:
        features: (N, C) content features of the whole training set (any float dtype, no NaN).
        seed: seeds the shuffle, k-means and the IVF's coarse quantizer (same input and seed: same index).
        kmeans_above, kmeans_centres: cluster to ``kmeans_centres`` first when N > ``kmeans_above``.
        kmeans_iters: k-means iterations (cost ~ N * centres * C * iters: minutes on 2 cores for 300k
            frames; faiss subsamples to 256 points per centre).

    Returns:
        A ``faiss.Index`` holding the vectors: ``IVF{n},Flat`` with nprobe 1, or ``IndexFlatL2``
        below 78 vectors (module docstring).
    """
    faiss = _faiss()

    x = _as_matrix(features, "features")
    if len(x) == 0:
        raise ValueError("no features to index: extract content features first")
    x = x[np.random.default_rng(seed).permutation(len(x))]  # RVC shuffles before training
    dim = x.shape[1]
    if len(x) > kmeans_above:
        kmeans = faiss.Kmeans(dim, kmeans_centres, niter=kmeans_iters, seed=seed, verbose=False)
        kmeans.train(x)
        x = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)  # (centres, C)
    if len(x) < FLAT_BELOW:
        index = faiss.IndexFlatL2(dim)
    else:
        index = faiss.index_factory(dim, f"IVF{ivf_size(len(x))},Flat")
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = 1
        ivf.cp.seed = seed
        index.train(x)
    for start in range(0, len(x), ADD_BATCH):
        index.add(x[start : start + ADD_BATCH])
    return index


def save_index(index, path: str | Path) -> Path:
    """Write ``index`` to ``path`` atomically (temporary file beside it, then ``os.replace``)."""
    faiss = _faiss()

    path = Path(path)
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))
    return path


def load_index(path: str | Path, *, dim: int | None = None):
    """Read an index written by :func:`save_index` or by RVC / Applio.

    Args:
        path: the ``.index`` file (RVC's ``added_*.index``, not ``trained_*.index``).
        dim: the content feature size it must hold (768 v2, 256 v1); ``None`` skips the check.

    Raises:
        IndexMissingError: no file at ``path``.
        IndexLoadError: not a faiss index, truncated, or holding no vectors.
        IndexMismatchError: its vectors are not ``dim``-d.
    """
    faiss = _faiss()

    path = Path(path)
    if not path.is_file():
        raise IndexMissingError(f"no index at {path}: build it with `sesli vc index EXP`")
    try:
        index = faiss.read_index(str(path))
    except Exception as err:  # faiss raises RuntimeError with the C++ message
        detail = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise IndexLoadError(f"{path} is not a readable faiss index ({detail[:200]}): rebuild it") from err
    if index.ntotal == 0:
        raise IndexLoadError(
            f"{path} holds no vectors (RVC's trained_*.index is empty: use the added_*.index)"
        )
    if dim is not None and index.d != dim:
        raise IndexMismatchError(_mismatch(path, index.d, dim))
    return index


def retrieve(index, feats: np.ndarray, *, index_rate: float, k: int = 8) -> np.ndarray:
    """Blend content features towards their nearest training features (RVC's index step).

    Args:
        index: a loaded or built faiss index of C-d vectors.
        feats: (T, C) content features of the audio being converted.
        index_rate: 0 returns ``feats`` itself, untouched; 1 replaces every frame by its blend.
        k: neighbours per frame (RVC: 8); capped at the index size.

    Returns:
        (T, C) float32. Frames whose search found no neighbour (an empty IVF list) stay as they were.
    """
    if not 0.0 <= index_rate <= 1.0:
        raise ValueError(f"index_rate must lie in [0, 1], got {index_rate}")
    if index_rate == 0:
        return feats
    x = _as_matrix(feats, "feats")
    if x.shape[1] != index.d:
        raise IndexMismatchError(_mismatch("the index", index.d, x.shape[1]))
    k = max(1, min(k, index.ntotal))
    score, ids, neighbours = index.search_and_reconstruct(x, k)  # (T, K), (T, K), (T, K, C)
    found = ids >= 0
    # RVC: weight = 1 / score**2 on faiss's squared distances; an exact hit (score 0) dominates.
    weight = np.where(found, 1.0 / np.square(np.maximum(score.astype(np.float64), 1e-12)), 0.0)
    total = weight.sum(axis=1, keepdims=True)  # (T, 1)
    weight = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    neighbours = np.where(found[..., None], neighbours, 0.0)  # missing neighbours come back NaN
    blend = np.einsum("tk,tkc->tc", weight, neighbours).astype(np.float32)  # (T, C)
    blend[total[:, 0] == 0] = x[total[:, 0] == 0]
    return blend * np.float32(index_rate) + x * np.float32(1 - index_rate)


def _faiss():
    """faiss, imported on first use: it is the optional ``vc`` extra."""
    try:
        import faiss
    except ImportError as err:
        raise ImportError("the retrieval index needs faiss: pip install 'sesli[vc]' (faiss-cpu)") from err
    return faiss


def _as_matrix(a: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(a)
    if x.ndim != 2:
        raise ValueError(f"{what} must be (frames, channels), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} hold NaN or infinite values")
    return np.ascontiguousarray(x, dtype=np.float32)


def _mismatch(where, index_dim: int, feat_dim: int) -> str:
    def kind(d: int) -> str:
        return {768: " (v2)", 256: " (v1)"}.get(d, "")

    return (
        f"{where} holds {index_dim}-d vectors{kind(index_dim)} but the content features are "
        f"{feat_dim}-d{kind(feat_dim)}: rebuild the index from this model's features"
    )


__all__ = [
    "IndexLoadError",
    "IndexMismatchError",
    "IndexMissingError",
    "build_index",
    "index_filename",
    "ivf_size",
    "load_index",
    "retrieve",
    "save_index",
]
