"""Ranking evaluation: trope-level Recall@1/@10, MRR@10, nDCG@10 and latency per mode, and
find-similar quality (share of a passage's neighbours from its own trope).

A query is answered at the first rank where any passage of its target trope appears; results are
grouped by trope (one best passage per trope), so ranks count tropes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engine import SearchEngine
from .errors import InvalidQueryError
from .query import MODES, Query


@dataclass
class EvalQuery:
    query: str
    target_trope_id: str


def load_queries(path: Path) -> list[EvalQuery]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append(EvalQuery(str(obj["query"]), str(obj["target_trope_id"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidQueryError(f"{path}:{lineno}: expected {{\"query\", \"target_trope_id\"}} ({exc})") from None
    if not out:
        raise InvalidQueryError(f"{path}: no queries")
    return out


def first_rank(trope_ids: Sequence[str], target: str) -> int | None:
    target = target.lower()
    for i, t in enumerate(trope_ids, 1):
        if t.lower() == target:
            return i
    return None


def metrics_from_ranks(ranks: Sequence[int | None], k: int) -> dict[str, float]:
    n = len(ranks)
    hits = [r for r in ranks if r is not None and r <= k]
    return {
        "recall@1": sum(1 for r in hits if r == 1) / n,
        f"recall@{k}": len(hits) / n,
        f"mrr@{k}": sum(1.0 / r for r in hits) / n,
        f"ndcg@{k}": sum(1.0 / math.log2(r + 1) for r in hits) / n,
    }


def evaluate_mode(engine: SearchEngine, queries: list[EvalQuery], mode: str, k: int = 10,
                  warmup: int = 5) -> dict:
    if mode not in MODES:
        raise InvalidQueryError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    for i in range(warmup):  # warm up on other texts, then start with an empty query cache
        engine.search(Query(f"warm up query number {i}", k=k, mode=mode, group="trope"))
    engine.clear_query_cache()
    ranks, latencies, per_query = [], [], []
    for q in queries:
        t0 = time.perf_counter()
        response = engine.search(Query(q.query, k=k, mode=mode, group="trope"))
        latencies.append((time.perf_counter() - t0) * 1000)
        rank = first_rank([r["trope"]["id"] for r in response.results], q.target_trope_id)
        ranks.append(rank)
        per_query.append({"query": q.query, "target": q.target_trope_id, "rank": rank})
    out = metrics_from_ranks(ranks, k)
    out.update({
        "mode": mode, "queries": len(queries),
        "latency_ms_p50": float(np.percentile(latencies, 50)), "latency_ms_p95": float(np.percentile(latencies, 95)),
    })
    return {"metrics": out, "per_query": per_query}


def similar_quality(engine: SearchEngine, n: int, k: int = 10, seed: int = 0) -> dict:
    """For n sampled example passages: mean share of the top-k neighbours (scope=any) from the same trope."""
    conn = engine.conn()
    ids = [r[0] for r in conn.execute("SELECT id FROM passages WHERE kind = 'example' ORDER BY row")]
    if not ids:
        return {"sampled": 0, "same_trope_share@10": None}
    rng = np.random.default_rng(seed)
    sample = [ids[i] for i in rng.choice(len(ids), min(n, len(ids)), replace=False)]
    shares = []
    for pid in sample:
        trope = engine.passage(pid)["trope"]["id"]
        results = engine.similar(pid, k=k, scope="any").results
        if results:
            shares.append(sum(r["trope"]["id"] == trope for r in results) / len(results))
    return {"sampled": len(sample), f"same_trope_share@{k}": float(np.mean(shares)) if shares else None}


def markdown_table(rows: Iterable[dict], k: int) -> str:
    cols = ["mode", "recall@1", f"recall@{k}", f"mrr@{k}", f"ndcg@{k}", "latency_ms_p50", "latency_ms_p95"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(r["mode"] if c == "mode" else f"{r[c]:.3f}" if "latency" not in c else f"{r[c]:.1f}"
                                         for c in cols) + " |")
    return "\n".join(lines)


def write_chart(rows: list[dict], k: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["recall@1", f"recall@{k}", f"mrr@{k}", f"ndcg@{k}"]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    width = 0.8 / max(len(rows), 1)
    for i, r in enumerate(rows):
        xs = [j + i * width for j in range(len(metrics))]
        bars = ax.bar(xs, [r[m] for m in metrics], width, label=r["mode"])
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([j + width * (len(rows) - 1) / 2 for j in range(len(metrics))], metrics)
    ax.set_ylim(0, 1.05)
    ax.set_title("tropesearch: trope-level ranking by mode")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
