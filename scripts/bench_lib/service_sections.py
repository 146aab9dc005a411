"""Query (in-process), HTTP (load against `tropesearch serve`) and serve (cold start, memory) sections."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from bench_lib.common import Targets, check_child, fmt, index_passages, run_child, say
from bench_lib.queries import load_queries, unique_stream
from bench_lib.serving import Server, get, load
from indexer.storage import resolve_query_backend


def query_section(index_dir: Path, queries: Path, backends: list[str], n: int, threads: int, workdir: Path,
                  targets: Targets) -> dict:
    say(f"== query (in-process, k=10, {n} distinct queries per mode, encoder threads {threads or 'default'}) "
        f"over {index_dir}")
    out = {"index_dir": str(index_dir), "backends": {}}
    for backend in backends:
        res = run_child([sys.executable, "-m", "bench_lib.query_worker", "--index-dir", str(index_dir),
                         "--backend", backend, "--queries", str(queries), "--n", str(n),
                         "--threads", str(threads)], workdir / "logs",
                        f"query-{backend}")
        r = check_child(res, f"query worker ({backend})")
        r["peak_rss_mb"] = round(res.peak_rss_mb, 1)
        backend = r["backend"]   # "auto" resolved: the backend that agrees with the index
        out["backends"][backend] = r
        out["passages"] = r["passages"]
        say(f"   {backend}: {r['passages']} passages ({r['index_type']}), encoder load {r['encoder_load_seconds']:.2f} s, "
            f"query encode alone p50 {fmt(r['encode_only']['p50_ms'])} ms")
        for mode, m in r["modes"].items():
            line = f"   {backend:9s} {mode:7s} p50 {fmt(m['p50_ms'])} ms  p99 {fmt(m['p99_ms'])} ms"
            if "cached" in m:
                line += f"  (cached embedding: p50 {fmt(m['cached']['p50_ms'])} p99 {fmt(m['cached']['p99_ms'])})"
            if mode == "hybrid":
                line += (" " + targets.check(f"query.{backend}.hybrid.p50_ms", m["p50_ms"], "<=", 10, " ms")
                         + " " + targets.check(f"query.{backend}.hybrid.p99_ms", m["p99_ms"], "<=", 25, " ms"))
            say(line)
    return out


def http_section(index_dir: Path, queries: Path, combos: list[tuple[str, int]], threads: int, levels: list[int],
                 max_requests: int, max_seconds: float, workdir: Path, targets: Targets) -> dict:
    say(f"== http: tropesearch serve on 127.0.0.1, closed-loop clients at {levels} "
        f"(each at most {max_requests} requests / {max_seconds:g} s)")
    passages = index_passages(index_dir)
    pool = load_queries(queries)
    out = {"index_dir": str(index_dir), "passages": passages, "threads_per_worker": threads, "runs": {}}
    offset = 0
    for requested, workers in combos:
        backend = resolve_query_backend(requested, index_dir)
        key = f"{backend}/w{workers}"
        server = Server(index_dir, workdir / "logs" / f"serve-{backend}-w{workers}.log", workers=workers,
                        threads=threads, backend=backend)
        try:
            cold = server.wait_for("/readyz")
            run = {"backend": backend, "workers": workers, "cold_start_s": round(cold, 3),
                   "memory_ready": server.memory(), "levels": {}}
            say(f"   {key}: ready in {cold:.2f} s (process start -> first 200 on /readyz)")
            warm = [f"{t} warm" for t in unique_stream(pool[::-1], 10 * workers)]
            load(server.port, warm, 2 * workers, len(warm), 60)
            for c in levels:
                # distinct texts across levels and runs: the service's query cache never answers
                texts = unique_stream(pool, offset + max_requests)[offset:]
                offset += max_requests
                r = load(server.port, texts, c, max_requests, max_seconds)
                run["levels"][str(c)] = r
                line = (f"   {key} c={c:<3d} {r['ok']} ok / {r['errors']} errors in {r['seconds']:.1f} s: "
                        f"{fmt(r['throughput_qps'], 1)} q/s, p50 {fmt(r['p50_ms'])} ms, p99 {fmt(r['p99_ms'])} ms")
                if c == 1:
                    line += " " + targets.check(f"http.{key}.c1.p50_ms", r["p50_ms"], "<=", 15, " ms")
                if c == 8:
                    line += (" " + targets.check(f"http.{key}.c8.throughput_qps", r["throughput_qps"], ">=", 150, " q/s")
                             + " " + targets.check(f"http.{key}.c8.errors", r["errors"], "<=", 0))
                say(line)
            mem = server.memory()
            run["memory_after_load"] = mem
            run["rss_bytes_per_passage"] = round(mem["rss_mb"] * 2**20 / passages)
            say(f"   {key} memory after load: RSS {mem['rss_mb']:.0f} MiB, PSS {fmt(mem['pss_mb'], 0)} MiB over "
                f"{mem['processes']} processes = {run['rss_bytes_per_passage']:.0f} RSS bytes/passage")
        finally:
            server.stop()
        out["runs"][key] = run
    return out


def serve_section(index_dir: Path, queries: Path, backend: str, workers: int, threads: int, repeats: int,
                  workdir: Path, targets: Targets) -> dict:
    say(f"== serve: cold start to /readyz ({repeats} starts, {backend}, {workers} workers) and memory per passage")
    passages = index_passages(index_dir)
    pool = load_queries(queries)
    logs = workdir / "logs"
    colds, mem = [], None
    for i in range(repeats):
        server = Server(index_dir, logs / f"serve-cold-{i}.log", workers=workers, threads=threads, backend=backend)
        try:
            colds.append(round(server.wait_for("/readyz"), 3))
            if i == 0:
                load(server.port, unique_stream(pool, 50), 2, 50, 60)
                mem = server.memory()
        finally:
            server.stop()
    # the same service with no index: the model, the libraries, the interpreter
    empty = workdir / "empty-index"
    empty.mkdir(parents=True, exist_ok=True)
    server = Server(empty, logs / "serve-empty.log", workers=workers, threads=threads, backend=backend)
    try:
        server.wait_for("/healthz")
        for _ in range(10):   # the app (and its encoder) is built before a worker answers; /readyz says 503
            get(server.port, "/readyz")
        base = server.memory()
    finally:
        server.stop()
    cold = statistics.median(colds)
    out = {
        "index_dir": str(index_dir), "passages": passages, "backend": backend, "workers": workers, "threads": threads,
        "cold_start_s": colds, "cold_start_median_s": round(cold, 3), "memory": mem, "memory_without_index": base,
        "rss_bytes_per_passage": round(mem["rss_mb"] * 2**20 / passages),
        "pss_bytes_per_passage": round(mem["pss_mb"] * 2**20 / passages) if mem["pss_mb"] else None,
        "index_rss_bytes_per_passage": round((mem["rss_mb"] - base["rss_mb"]) * 2**20 / passages),
        "index_pss_bytes_per_passage": (round((mem["pss_mb"] - base["pss_mb"]) * 2**20 / passages)
                                        if mem["pss_mb"] and base["pss_mb"] else None),
    }
    say(f"   cold start to ready: {', '.join(f'{c:.2f}' for c in colds)} s, median {cold:.2f} s "
        + targets.check("serve.cold_start_s", round(cold, 3), "<=", 3, " s"))
    say(f"   served RSS {mem['rss_mb']:.0f} MiB (PSS {fmt(mem['pss_mb'], 0)}) over {mem['processes']} processes for "
        f"{passages} passages = {out['rss_bytes_per_passage']:.0f} bytes/passage; without an index "
        f"{base['rss_mb']:.0f} MiB, so the index costs {out['index_rss_bytes_per_passage']:.0f} RSS bytes/passage "
        f"(PSS: {fmt(out['index_pss_bytes_per_passage'], 0)})")
    return out
