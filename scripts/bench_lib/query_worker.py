"""In-process query latency: `python -m bench_lib.query_worker --index-dir D --backend B --queries F --n N`.

Per mode (dense, lexical, hybrid) a fresh SearchEngine (empty query-embedding cache) answers N
distinct queries, k=10, one at a time, after a warm-up with other texts; the same queries are then
asked again on that engine (the cached path: no encode). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_lib.common import percentiles
from bench_lib.queries import load_queries, unique_stream

MODES = ("dense", "lexical", "hybrid")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index-dir", required=True)
    ap.add_argument("--backend", default="auto", help="query encoder; auto: the fastest that agrees with the index")
    ap.add_argument("--queries", required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="encoder threads; 0: the library's default")
    args = ap.parse_args()

    from embeddings import load_encoder
    from indexer.storage import load_version, resolve_query_backend
    from searchsvc.engine import SearchEngine
    from searchsvc.query import Query

    pool = load_queries(Path(args.queries))
    texts = unique_stream(pool, args.n)
    warm_texts = [f"{t} warm" for t in unique_stream(pool[::-1], args.warmup)]

    backend = resolve_query_backend(args.backend, Path(args.index_dir))
    t0 = time.perf_counter()
    encoder = load_encoder(None, backend=backend, threads=args.threads or None)
    encoder_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    version = load_version(Path(args.index_dir), expected_fingerprint=encoder.fingerprint, query_backend=backend)
    SearchEngine(version, encoder).warm_up()
    engine_load = time.perf_counter() - t0

    def run(engine, mode, batch):
        lat, hits = [], 0
        for text in batch:
            t = time.perf_counter()
            response = engine.search(Query(text, k=args.k, mode=mode).validated())
            lat.append((time.perf_counter() - t) * 1000)
            hits += len(response.results)
        return lat, hits

    modes = {}
    for mode in args.modes.split(","):
        engine = SearchEngine(version, encoder)
        engine.warm_up()
        run(engine, mode, warm_texts)
        lat, hits = run(engine, mode, texts)
        entry = {**percentiles(lat), "mean_results": round(hits / max(1, len(texts)), 2)}
        if mode != "lexical":
            cached, _ = run(engine, mode, texts)
            entry["cached"] = percentiles(cached)
        modes[mode] = entry

    enc = []
    for text in texts[: min(len(texts), 100)]:
        t = time.perf_counter()
        encoder.encode([f"{text} encode-only"])
        enc.append((time.perf_counter() - t) * 1000)

    print(json.dumps({
        "backend": backend, "requested_backend": args.backend, "index_backend": version.manifest["model"]["backend"],
        "threads": args.threads or None, "passages": version.count, "index_type": version.manifest["index"]["type"],
        "queries": len(texts), "k": args.k, "encoder_load_seconds": round(encoder_load, 3),
        "engine_load_seconds": round(engine_load, 3), "encode_only": percentiles(enc), "modes": modes,
    }), flush=True)


if __name__ == "__main__":
    main()
