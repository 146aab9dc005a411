"""Scale section: scripts/bench_scale.py (FAISS flat / HNSW / IVF(+SQ8/PQ) at 100k..5M vectors) on the
index's real passage embeddings, with the dev queries' embeddings as queries."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bench_lib.common import SCRIPTS, Targets, check_child, current_version_dir, fmt, run_child, say

COMPRESSED = ("-sq8-", "-pq")


def run(index_dir: Path, queries: Path, sizes: list[int], nq: int, workdir: Path, targets: Targets) -> dict:
    logs = workdir / "logs"
    base = current_version_dir(index_dir) / "vectors.npy"
    qfile = workdir / "dev_queries.npy"
    check_child(run_child([sys.executable, "-m", "bench_lib.workers", "embed-queries", str(queries), str(qfile),
                           str(nq)], logs, "embed-queries"), "embedding the dev queries")
    threads = min(2, os.cpu_count() or 1)
    out_json = workdir / "scale.json"
    say(f"== scale: FAISS at {', '.join(f'{n:,}' for n in sizes)} vectors (384-d float32 from {base}), "
        f"{nq} dev queries, {threads} search threads")
    res = run_child([sys.executable, str(SCRIPTS / "bench_scale.py"), "--base", str(base), "--queries", str(qfile),
                     "--sizes", ",".join(map(str, sizes)), "--nq", str(nq), "--threads", str(threads),
                     "--out", str(out_json)], logs, "scale", echo=True)
    if res.returncode != 0:
        raise RuntimeError("bench_scale.py failed:\n" + "\n".join(res.stderr.strip().splitlines()[-15:]))
    data = json.loads(out_json.read_text())
    data["peak_rss_mb"] = round(res.peak_rss_mb, 1)
    data["seconds"] = round(res.seconds, 1)
    best = {}
    for n in sizes:
        rows = [r for r in data["rows"] if r["n"] == n]
        good = [r for r in rows if r["recall@10"] >= 0.95]
        fastest = min(good, key=lambda r: r["p50_ms"]) if good else None
        small = [r for r in good if any(c in r["index"] for c in COMPRESSED) and r["p50_ms"] <= 5]
        smallest = min(small, key=lambda r: r["bytes_per_vector"]) if small else None
        best[str(n)] = {"fastest_at_recall95": fastest, "smallest_compressed_at_recall95_p50_5ms": smallest}
        say(f"   n={n:,}: fastest with recall@10 >= 0.95: "
            + (f"{fastest['index']} p50 {fmt(fastest['p50_ms'])} ms, recall {fastest['recall@10']:.3f}, "
               f"{fastest['bytes_per_vector']:.0f} B/vector" if fastest else "none")
            + "; smallest compressed (recall >= 0.95, p50 <= 5 ms): "
            + (f"{smallest['index']} {smallest['bytes_per_vector']:.0f} B/vector" if smallest else "none"))
        if n == 1_000_000:
            say("   1M: " + targets.check("scale.1M.p50_ms_at_recall95", fastest and fastest["p50_ms"], "<=", 5, " ms",
                                          missing_fails=True)
                + " " + targets.check("scale.1M.compressed_bytes_per_passage", smallest and smallest["bytes_per_vector"],
                                      "<=", 600, " B", missing_fails=True))
    if 1_000_000 not in sizes:
        say("   (the 1M targets need --scale-sizes with 1000000)")
    data["best"] = best
    return data
