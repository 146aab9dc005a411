"""bench/report.md (tables, targets with PASS/FAIL) and bench/report.png (a matplotlib chart)."""

from __future__ import annotations

from pathlib import Path

from bench_lib.common import fmt


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return out + [""]


def _verdict(t: dict) -> str:
    v = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "**FAIL**")
    return v + (" (indicative)" if t["indicative"] and t["pass"] is not None else "")


def write_markdown(results: dict, path: Path, chart: Path | None) -> None:
    m = results["meta"]
    lines = ["# tropesearch benchmark", "",
             f"{m['machine']['date']} on {m['machine']['cpu_model']} ({m['machine']['cores']} cores, "
             f"{m['machine']['memory_gb']} GB), Python {m['machine']['python']}, torch {m['machine']['versions'].get('torch')}, "
             f"onnxruntime {m['machine']['versions'].get('onnxruntime')}, faiss {m['machine']['versions'].get('faiss-cpu')}; "
             f"load average at start {m['machine']['loadavg_at_start']}.", "",
             f"Corpus: `{m['corpus']}`" + (f" (subset: {m['subset']})" if m.get("subset") else "")
             + f"; sections: {', '.join(m['sections'])}; `{m['command']}`.", ""]
    if m.get("indicative"):
        lines += ["Not the full `../shared/corpus`: the targets are indicative only.", ""]
    lines += ["## Targets", ""]
    lines += _table(["check", "value", "target", "verdict"],
                    [[t["name"], t["value"], f"{t['op']} {t['target']}{t['unit']}", _verdict(t)] for t in results["targets"]])
    if chart is not None:
        lines += [f"![benchmark chart]({chart.name})", ""]
    b = results.get("build")
    if b:
        lines += ["## Build", "", "Cold build into a fresh index dir (fresh embedding cache), then a no-change rebuild of "
                  "the same dir; each in its own process (`tropesearch build --json`), peak RSS from wait4. Plain = "
                  "`SentenceTransformer.encode(embed_texts, batch_size=64)` fp32 of the same passages, model load excluded.", ""]
        rows = []
        for backend, e in b["backends"].items():
            c, r = e["cold"], e["rebuild"]
            rows.append([backend, c["passages"], c["seconds"], c["passages_per_s"], e["ratio_to_plain"],
                         e.get("ratio_to_plain_with_model_load"), c["peak_rss_mb"],
                         r["seconds"], r["passages_per_s"], e["rebuild_fraction"], r["peak_rss_mb"],
                         ", ".join(f"{k} {v}" for k, v in c["stage_seconds"].items())])
        p = b["plain"]
        if p:
            rows.append(["plain ST fp32", p["passages"], p["encode_seconds"], p["passages_per_s"], 1.0, None, p["peak_rss_mb"],
                         None, None, None, None, f"model load {p['load_seconds']}"])
        lines += _table(["backend", "passages", "cold s", "cold passages/s", "x plain", "x plain incl. its load",
                         "cold peak MiB", "rebuild s",
                         "rebuild passages/s", "rebuild/cold", "rebuild peak MiB", "cold stages (s)"], rows)
    q = results.get("query")
    if q:
        threads = {r.get("threads") for r in q["backends"].values()}
        lines += ["## Query (in-process)", "", f"{q.get('passages')} passages; encoder threads "
                  f"{', '.join(str(t or 'default') for t in threads)}; k=10; distinct queries per mode on a "
                  "fresh engine (every dense/hybrid query is encoded); 'cached' asks them again.", ""]
        rows = []
        for backend, r in q["backends"].items():
            for mode, e in r["modes"].items():
                c = e.get("cached", {})
                rows.append([backend, mode, e["n"], e["p50_ms"], e["p99_ms"], c.get("p50_ms"), c.get("p99_ms"),
                             e["mean_results"]])
            rows.append([backend, "encode only", r["encode_only"]["n"], r["encode_only"]["p50_ms"],
                         r["encode_only"]["p99_ms"], None, None, None])
        lines += _table(["backend", "mode", "queries", "p50 ms", "p99 ms", "cached p50", "cached p99", "results"], rows)
    h = results.get("http")
    if h:
        lines += ["## HTTP", "", f"`tropesearch serve` on 127.0.0.1 ({h['threads_per_worker']} threads/worker), "
                  "closed-loop keep-alive clients in the benchmark process (they share the machine's cores), "
                  "GET /api/search?q=...&k=10, every query text distinct.", ""]
        rows = []
        for key, run in h["runs"].items():
            for c, r in run["levels"].items():
                rows.append([key, c, r["ok"], r["errors"], r["seconds"], r["throughput_qps"], r["p50_ms"], r["p99_ms"]])
        lines += _table(["server", "clients", "ok", "errors", "s", "queries/s", "p50 ms", "p99 ms"], rows)
        lines += _table(["server", "cold start s", "RSS MiB after load", "PSS MiB", "RSS bytes/passage"],
                        [[k, r["cold_start_s"], r["memory_after_load"]["rss_mb"], r["memory_after_load"]["pss_mb"],
                          r["rss_bytes_per_passage"]] for k, r in h["runs"].items()])
    s = results.get("serve")
    if s:
        lines += ["## Served process", "", f"{s['backend']}, {s['workers']} workers: cold start (process start to the "
                  f"first 200 on /readyz) {s['cold_start_s']} s, median {s['cold_start_median_s']} s. Memory summed over "
                  "gunicorn's master and workers after 50 queries; 'index' = minus the same service with no index.", ""]
        lines += _table(["", "RSS MiB", "PSS MiB", "bytes/passage (RSS)", "bytes/passage (PSS)"],
                        [["served", s["memory"]["rss_mb"], s["memory"]["pss_mb"], s["rss_bytes_per_passage"],
                          s["pss_bytes_per_passage"]],
                         ["no index", s["memory_without_index"]["rss_mb"], s["memory_without_index"]["pss_mb"], None, None],
                         ["index share", None, None, s["index_rss_bytes_per_passage"], s["index_pss_bytes_per_passage"]]])
    sc = results.get("scale")
    if sc:
        lines += ["## Scale (FAISS)", "", f"scripts/bench_scale.py: copies of real passage embeddings with noise "
                  f"{sc.get('noise')}, {sc.get('threads')} search threads; recall@10 against exact.", ""]
        lines += _table(["n", "index", "p50 ms", "p99 ms", "recall@10", "bytes/vector", "build s"],
                        [[r["n"], r["index"], r["p50_ms"], r["p99_ms"], r["recall@10"], r["bytes_per_vector"], r["build_s"]]
                         for r in sc["rows"]])
    path.write_text("\n".join(lines), encoding="utf-8")


def write_chart(results: dict, path: Path) -> bool:
    """Up to three panels: build passages/s (vs plain), query p50/p99 by mode, HTTP throughput by clients."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("build", "query", "http") if results.get(k)]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, name in zip(axes[0], panels):
        if name == "build":
            b = results["build"]
            labels = [f"{k}\ncold" for k in b["backends"]] + ([("plain ST\nfp32")] if b["plain"] else [])
            values = [e["cold"]["passages_per_s"] for e in b["backends"].values()] + (
                [b["plain"]["passages_per_s"]] if b["plain"] else [])
            ax.bar(labels, values, color=["tab:blue"] * len(b["backends"]) + ["tab:gray"] * bool(b["plain"]))
            ax.set_ylabel("passages/s")
            ax.set_title("Cold build vs plain encode")
        elif name == "query":
            q = results["query"]
            labels, p50, p99 = [], [], []
            for backend, r in q["backends"].items():
                for mode, e in r["modes"].items():
                    labels.append(f"{backend}\n{mode}")
                    p50.append(e["p50_ms"])
                    p99.append(e["p99_ms"])
            x = range(len(labels))
            ax.bar([i - 0.2 for i in x], p50, 0.4, label="p50")
            ax.bar([i + 0.2 for i in x], p99, 0.4, label="p99")
            ax.axhline(10, color="tab:blue", ls=":", lw=1)
            ax.axhline(25, color="tab:orange", ls=":", lw=1)
            ax.set_xticks(list(x), labels, fontsize=7)
            ax.set_ylabel("ms")
            ax.set_title("In-process query latency (k=10)")
            ax.legend()
        else:
            for key, run in results["http"]["runs"].items():
                cs = [int(c) for c in run["levels"]]
                ax.plot(cs, [run["levels"][str(c)]["throughput_qps"] or 0 for c in cs], marker="o", label=key)
            ax.axhline(150, color="gray", ls=":", lw=1)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("concurrent clients")
            ax.set_ylabel("queries/s")
            ax.set_title("HTTP throughput")
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
