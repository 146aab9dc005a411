#!/usr/bin/env python3
"""FAISS at scale: latency, recall@10 vs exact and memory per vector for flat, HNSW and IVF variants.

The data behind `--index-type auto`. Vectors have the structure of real embeddings: real passage
embeddings of the corpus (a .npy file, e.g. an index version's vectors.npy), replicated with small
Gaussian noise and renormalised. Queries are real query embeddings (a second .npy) or noisy copies
of held-out passages. Uniform random vectors are never used: in 384 dimensions no ANN index has
recall on them, so such a benchmark says nothing.

    python scripts/bench_scale.py --base var/index/versions/<id>/vectors.npy --queries q.npy \
        --sizes 100000,1000000 --threads 2 --out bench/scale.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synth(base: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    """n vectors: random base rows plus N(0, noise^2) per dimension, renormalised (in chunks)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    step = 200_000
    for start in range(0, n, step):
        m = min(step, n - start)
        rows = base[rng.integers(0, len(base), m)]
        chunk = rows + rng.normal(scale=noise, size=rows.shape).astype(np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        out[start:start + m] = chunk
    return out


def exact_topk(xb: np.ndarray, xq: np.ndarray, k: int) -> np.ndarray:
    ids = np.empty((len(xq), k), dtype=np.int64)
    for s in range(0, len(xq), 64):
        sims = xq[s:s + 64] @ xb.T  # cosine (normalised)
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        ids[s:s + 64] = np.take_along_axis(top, order, axis=1)
    return ids


def recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want)]))


def index_bytes(index) -> int:
    import faiss

    with tempfile.NamedTemporaryFile(delete=False) as fh:
        path = fh.name
    try:
        faiss.write_index(index, path)
        return os.path.getsize(path)
    finally:
        os.unlink(path)


def time_search(search, xq: np.ndarray, k: int) -> tuple[float, float, np.ndarray]:
    for q in xq[:20]:
        search(q[None, :], k)
    lat, ids = [], []
    for q in xq:
        t0 = time.perf_counter()
        _, i = search(q[None, :], k)
        lat.append((time.perf_counter() - t0) * 1000)
        ids.append(i[0])
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), np.array(ids)


def configs(n: int, dim: int):
    import faiss

    nlist = int(4 * math.sqrt(n))
    yield "flat-numpy", None, {}
    yield "flat-faiss", lambda: faiss.IndexFlatIP(dim), {}
    for ef in (64, 128):
        yield f"hnsw32-ef{ef}", lambda: faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT), {"efSearch": ef}
    for nprobe in (8, 16, 32, 64):
        yield f"ivf{nlist}-flat-np{nprobe}", lambda: faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT), {"nprobe": nprobe}
    for nprobe in (16, 32, 64, 128):
        yield f"ivf{nlist}-sq8-np{nprobe}", lambda: faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT), {"nprobe": nprobe}
    for nprobe in (16, 32):
        yield f"ivf{nlist}-pq48-np{nprobe}-rf", lambda: faiss.IndexRefineFlat(faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)), {"nprobe": nprobe, "k_factor": 4}


def run_size(base, xq, n, args) -> list[dict]:
    import faiss

    dim = base.shape[1]
    xb = synth(base, n, args.noise, seed=n)
    want = exact_topk(xb, xq, args.k)
    rows = []
    cache = {}
    for name, make, params in configs(n, dim):
        if args.only and not any(name.startswith(o) for o in args.only.split(",")):
            continue
        if name == "flat-numpy":
            p50, p99, got = time_search(lambda q, k: (None, exact_topk(xb, q, k)), xq, args.k)
            rows.append({"n": n, "index": name, "p50_ms": p50, "p99_ms": p99, "recall@10": recall(got, want),
                         "bytes_per_vector": 4 * dim, "build_s": 0.0})
            print(json.dumps(rows[-1]), flush=True)
            continue
        family = name.rsplit("-np", 1)[0].rsplit("-ef", 1)[0]
        t0 = time.perf_counter()
        if family not in cache:
            faiss.omp_set_num_threads(args.build_threads)
            index = make()
            if not index.is_trained:
                train = xb[np.random.default_rng(0).choice(n, min(n, 100 * int(4 * math.sqrt(n)), 256 * 1024), replace=False)]
                index.train(train)
            index.add(xb)
            cache.clear()
            cache[family] = (index, time.perf_counter() - t0, index_bytes(index))
        index, build_s, nbytes = cache[family]
        faiss.omp_set_num_threads(args.threads)
        if "efSearch" in params:
            index.hnsw.efSearch = params["efSearch"]
        if "nprobe" in params:
            faiss.extract_index_ivf(index).nprobe = params["nprobe"]
        if "k_factor" in params:
            index.k_factor = params["k_factor"]
        p50, p99, got = time_search(index.search, xq, args.k)
        rows.append({"n": n, "index": name, "p50_ms": p50, "p99_ms": p99, "recall@10": recall(got, want),
                     "bytes_per_vector": nbytes / n, "build_s": build_s})
        print(json.dumps(rows[-1]), flush=True)
    del xb
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help=".npy of real passage embeddings (normalised float32)")
    ap.add_argument("--queries", help=".npy of real query embeddings; default: noisy held-out passages")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--noise", type=float, default=0.04, help="per-dimension noise of the copies")
    ap.add_argument("--nq", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="search threads (the laptop has 2 cores)")
    ap.add_argument("--build-threads", type=int, default=os.cpu_count())
    ap.add_argument("--only", default="", help="comma-separated index name prefixes")
    ap.add_argument("--out", default="bench/scale.json")
    args = ap.parse_args(argv)
    base = np.load(args.base).astype(np.float32)
    rng = np.random.default_rng(42)
    if args.queries:
        xq = np.load(args.queries).astype(np.float32)[: args.nq]
    else:
        held = base[rng.choice(len(base), args.nq, replace=False)]
        xq = held + rng.normal(scale=args.noise, size=held.shape).astype(np.float32)
        xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        rows += run_size(base, xq, n, args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"base": args.base, "noise": args.noise, "threads": args.threads,
                                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                          "rows": rows}, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
