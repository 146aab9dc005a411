"""Vector indexes: one small interface (build, add, search, save, load), a FAISS implementation and
a NumPy brute-force one that serves as the test oracle.

Vectors are L2-normalised before they get here, so inner product *is* cosine similarity; every
index uses the inner-product metric.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf", "ivf-sq8")

# `--index-type auto`: exact search up to AUTO_FLAT_MAX vectors, IVF with 8-bit scalar quantisation
# above. Measured (bench/scale.json, README "Choosing the index type"): exact search takes 4 ms
# at 100k vectors but 59 ms at 1M (NumPy, 2 threads); at 1M, ivf-sq8 (nlist 4*sqrt(n), nprobe 64)
# answers in 2.5 ms at recall@10 0.964 with 398 bytes/vector (5M: 3.4 ms, 0.971), while HNSW
# (M 32, efSearch 128) reached only 0.895 recall with 1,808 bytes/vector on vectors shaped like ours.
AUTO_FLAT_MAX = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
IVF_NPROBE = 64


class VectorIndex(Protocol):
    index_type: str
    dim: int

    @property
    def ntotal(self) -> int: ...

    def add(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None: ...

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, path: Path) -> None: ...

    def params(self) -> dict: ...


def _as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if q.shape[1] != dim:
        raise ValueError(f"query dimension {q.shape[1]} != index dimension {dim}")
    return q


class NumpyIndex:
    """Exact inner-product search with a matrix product: the brute-force oracle for tests."""

    index_type = "numpy"

    def __init__(self, dim: int):
        self.dim = dim
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self.ids = np.zeros(0, dtype=np.int64)

    @property
    def ntotal(self) -> int:
        return len(self.ids)

    def add(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if ids is None:
            ids = np.arange(self.ntotal, self.ntotal + len(vectors), dtype=np.int64)
        self.vectors = np.vstack([self.vectors, vectors])
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])

    def search(self, queries, k, allowed=None):
        q = _as_queries(queries, self.dim)
        vectors, ids = self.vectors, self.ids
        if allowed is not None:
            mask = np.isin(ids, allowed)
            vectors, ids = vectors[mask], ids[mask]
        scores = q @ vectors.T  # cosine, since both sides are normalised
        k_eff = min(k, len(ids))
        out_s = np.full((len(q), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(q), k), -1, dtype=np.int64)
        if k_eff:
            top = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
            order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            out_s[:, :k_eff] = np.take_along_axis(scores, top, axis=1)
            out_i[:, :k_eff] = ids[top]
        return out_s, out_i

    def save(self, path: Path) -> None:
        raise NotImplementedError("NumpyIndex is an in-memory oracle")

    def params(self) -> dict:
        return {}


class FaissIndex:
    """A FAISS index with int64 ids (passage row ids) and the inner-product metric."""

    def __init__(self, index, index_type: str, dim: int):
        self.index = index
        self.index_type = index_type
        self.dim = dim

    @classmethod
    def create(cls, dim: int, index_type: str, n_expected: int, train: np.ndarray | None = None) -> "FaissIndex":
        import faiss

        if index_type == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif index_type == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            hnsw.hnsw.efSearch = HNSW_EF_SEARCH
            index = faiss.IndexIDMap2(hnsw)
        elif index_type in ("ivf", "ivf-sq8"):
            nlist = max(1, min(65536, int(4 * math.sqrt(max(n_expected, 1)))))
            n_train = len(train) if train is not None else 0
            if n_train < 39 * nlist:  # FAISS wants ~39 training points per list
                nlist = max(1, n_train // 39)
            quantizer = faiss.IndexFlatIP(dim)
            if index_type == "ivf":
                ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            else:
                ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                    faiss.METRIC_INNER_PRODUCT)
            ivf.train(np.ascontiguousarray(train, dtype=np.float32))
            ivf.nprobe = min(IVF_NPROBE, nlist)
            index = faiss.IndexIDMap2(ivf)
        else:
            raise ValueError(f"unknown index type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
        return cls(index, index_type, dim)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if ids is None:
            ids = np.arange(self.ntotal, self.ntotal + len(vectors), dtype=np.int64)
        self.index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, queries, k, allowed=None):
        import faiss

        q = _as_queries(queries, self.dim)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            inner_params = self._inner_search_params(selector)
            params = inner_params
        if params is None:
            scores, ids = self.index.search(q, k)
        else:
            scores, ids = self.index.search(q, k, params=params)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids

    def _inner_search_params(self, selector):
        import faiss

        if self.index_type == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, 256))
        if self.index_type.startswith("ivf"):
            ivf = faiss.extract_index_ivf(self.index)
            return faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe * 4)
        return faiss.SearchParameters(sel=selector)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, index_type: str, mmap: bool = False) -> "FaissIndex":
        import faiss

        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(path), flags)
        return cls(index, index_type, index.d)

    def params(self) -> dict:
        import faiss

        if self.index_type == "hnsw":
            inner = faiss.downcast_index(self.index.index)
            return {"M": HNSW_M, "efConstruction": inner.hnsw.efConstruction, "efSearch": inner.hnsw.efSearch}
        if self.index_type.startswith("ivf"):
            ivf = faiss.extract_index_ivf(self.index)
            return {"nlist": int(ivf.nlist), "nprobe": int(ivf.nprobe)}
        return {}


def choose_index_type(requested: str, n: int) -> str:
    if requested not in INDEX_TYPES:
        raise ValueError(f"unknown index type {requested!r}; choose one of {', '.join(INDEX_TYPES)}")
    if requested != "auto":
        return requested
    return "flat" if n <= AUTO_FLAT_MAX else "ivf-sq8"


def build_vector_index(vectors: np.ndarray, index_type: str = "auto") -> FaissIndex:
    """Build an index over `vectors` with ids 0..n-1 (= passage row ids)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    chosen = choose_index_type(index_type, len(vectors))
    sample = None
    if chosen.startswith("ivf"):
        rng = np.random.default_rng(0)
        take = min(len(vectors), 100_000)
        sample = vectors[rng.choice(len(vectors), take, replace=False)] if take else vectors
    index = FaissIndex.create(vectors.shape[1], chosen, len(vectors), sample)
    if len(vectors):
        index.add(vectors)
    return index


def recall_at_k(index: VectorIndex, exact: VectorIndex, queries: np.ndarray, k: int = 10) -> float:
    """Share of the exact top-k that `index` also returns, averaged over queries."""
    if len(queries) == 0:
        return 1.0
    _, got = index.search(queries, k)
    _, want = exact.search(queries, k)
    hits = total = 0
    for g, w in zip(got, want):
        w = set(int(x) for x in w if x >= 0)
        hits += len(w.intersection(int(x) for x in g))
        total += len(w)
    return hits / total if total else 1.0
