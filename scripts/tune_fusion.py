#!/usr/bin/env python3
"""Evidence for the hybrid ranker: retrieve both legs once per dev query, then score fusion variants.

Prints trope-level Recall@1/@10 and MRR@10 for dense, lexical, RRF, score-normalised convex
fusion over a grid of weights, and the trope-vector term (cosine of the query to the mean
direction of the passage's trope), so the engine's defaults come from measurements, not guesses.

    python scripts/tune_fusion.py --index-dir IDX --queries ../shared/eval/dev_queries.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embeddings import load_encoder  # noqa: E402
from indexer.storage import load_version  # noqa: E402
from searchsvc.engine import SearchEngine  # noqa: E402
from searchsvc.query import Query  # noqa: E402


def trope_rank(order_rows, trope_of_row, target_row, k=10):
    seen = []
    for r in order_rows:
        t = trope_of_row[r]
        if t not in seen:
            seen.append(t)
            if t == target_row:
                return len(seen)
            if len(seen) >= k:
                return None
    return None


def summarize(ranks):
    n = len(ranks)
    hits = [r for r in ranks if r is not None]
    return {"R@1": sum(r == 1 for r in hits) / n, "R@10": len(hits) / n, "MRR": sum(1 / r for r in hits) / n}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index-dir", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--depth", type=int, default=300)
    ap.add_argument("--bm25-weights", default="1,2,1.5,2", help="text,title,work,terms column weights")
    args = ap.parse_args()
    enc = load_encoder()
    from searchsvc.engine import EngineSettings

    weights = tuple(float(x) for x in args.bm25_weights.split(","))
    engine = SearchEngine(load_version(Path(args.index_dir)), enc, EngineSettings(bm25_weights=weights))
    qs = [json.loads(l) for l in open(args.queries, encoding="utf-8") if l.strip()]
    qs = [q for q in qs if q["target_trope_id"].lower() in engine.trope_rows_by_id]
    vecs = engine.embed_queries([q["query"] for q in qs])
    legs = []
    for q, v in zip(qs, vecs):
        d_rows, d_scores = engine._dense(v[None, :], None, args.depth)[0]
        l_rows, l_scores = engine._lexical(Query(q["query"]).validated().text, None, args.depth)
        legs.append((engine.trope_rows_by_id[q["target_trope_id"].lower()], d_rows, d_scores, l_rows, l_scores))
    t_of = engine.trope_of_row

    def evaluate(name, fuse):
        ranks = [trope_rank(fuse(d_r, d_s, l_r, l_s), t_of, tgt) for tgt, d_r, d_s, l_r, l_s in legs]
        s = summarize(ranks)
        print(f"{name:40s} R@1 {s['R@1']:.3f}  R@10 {s['R@10']:.3f}  MRR {s['MRR']:.3f}")
        return s

    evaluate("dense", lambda d_r, d_s, l_r, l_s: d_r)
    evaluate("lexical", lambda d_r, d_s, l_r, l_s: l_r)

    def rrf(k, wl=1.0):
        def f(d_r, d_s, l_r, l_s):
            sc = {}
            for i, r in enumerate(d_r.tolist()):
                sc[r] = sc.get(r, 0) + 1 / (k + i + 1)
            for i, r in enumerate(l_r.tolist()):
                sc[r] = sc.get(r, 0) + wl / (k + i + 1)
            return sorted(sc, key=lambda r: -sc[r])
        return f

    for k in (10, 60):
        for wl in (1.0, 0.5, 0.3):
            evaluate(f"rrf k={k} wl={wl}", rrf(k, wl))

    def convex(w, norm):
        def f(d_r, d_s, l_r, l_s):
            sc = {}
            if len(l_s):
                if norm == "max":
                    ln = l_s / l_s.max()
                else:  # z-score of the lexical leg, squashed
                    ln = (l_s - l_s.mean()) / (l_s.std() + 1e-6)
                    ln = 1 / (1 + np.exp(-ln))
            floor = d_s.min() if len(d_s) else 0.0
            for r, s in zip(d_r.tolist(), d_s.tolist()):
                sc[r] = s
            for r, s in zip(l_r.tolist(), (ln if len(l_s) else []).tolist() if len(l_s) else []):
                sc[r] = sc.get(r, floor) + w * s
            return sorted(sc, key=lambda r: -sc[r])
        return f

    for norm in ("max", "z"):
        for w in (0.05, 0.1, 0.15, 0.2):
            evaluate(f"convex norm={norm} w={w}", convex(w, norm))

    vectors = np.asarray(engine.version.vectors)

    def exact(w, agg=0.0):
        """Every candidate scored by its exact cosine + w * BM25/max; trope score = best + agg * second best."""
        def f(d_r, d_s, l_r, l_s, qv):
            cand = np.unique(np.concatenate([d_r, l_r]))
            sc = vectors[cand] @ qv
            if len(l_r):
                sc[np.searchsorted(cand, l_r)] += w * l_s / l_s.max()
            order = np.argsort(-sc)
            if not agg:
                return cand[order]
            best, second = {}, {}
            for r, v in zip(cand[order].tolist(), sc[order].tolist()):
                t = t_of[r]
                if t not in best:
                    best[t] = (v, r)
                elif t not in second:
                    second[t] = v
            ranked = sorted(best, key=lambda t: -(best[t][0] + agg * second.get(t, 0.0)))
            return [best[t][1] for t in ranked]
        return f

    def evaluate_q(name, fuse):
        ranks = [trope_rank(fuse(d_r, d_s, l_r, l_s, qv), t_of, tgt) for (tgt, d_r, d_s, l_r, l_s), qv in zip(legs, vecs)]
        s = summarize(ranks)
        print(f"{name:40s} R@1 {s['R@1']:.3f}  R@10 {s['R@10']:.3f}  MRR {s['MRR']:.3f}")

    for w in (0.1, 0.15, 0.2, 0.25):
        for agg in (0.0, 0.1):
            evaluate_q(f"exact w={w} agg={agg}", exact(w, agg))

    def trope_lex(w, w2, how="sum"):
        """Passage: cosine + w * its BM25/max + w2 * its trope's aggregated BM25 (normalised)."""
        def f(d_r, d_s, l_r, l_s, qv):
            cand = np.unique(np.concatenate([d_r, l_r]))
            sc = vectors[cand] @ qv
            if len(l_r):
                sc[np.searchsorted(cand, l_r)] += w * l_s / l_s.max()
                agg = {}
                for r, v in zip(l_r.tolist(), l_s.tolist()):
                    t = t_of[r]
                    agg[t] = agg.get(t, 0.0) + v if how == "sum" else max(agg.get(t, 0.0), v)
                top = max(agg.values())
                sc += w2 * np.array([agg.get(t, 0.0) / top for t in t_of[cand].tolist()])
            return cand[np.argsort(-sc)]
        return f

    for w in (0.1, 0.15):
        for w2 in (0.05, 0.1, 0.15):
            evaluate_q(f"tropelex w={w} w2={w2}", trope_lex(w, w2))

    from searchsvc.engine import trope_vectors

    n_tropes = len(engine.trope_vectors)
    by_all = trope_vectors(vectors, t_of, np.ones(len(t_of), bool), n_tropes)

    def trope_vector(w, tw, tv):
        """Exact cosine + w * BM25/max + tw * cosine of the query to the passage's trope vector."""
        def f(d_r, d_s, l_r, l_s, qv):
            cand = np.unique(np.concatenate([d_r, l_r]))
            sc = vectors[cand] @ qv + tw * (tv @ qv)[t_of[cand]]
            if len(l_r):
                sc[np.searchsorted(cand, l_r)] += w * l_s / l_s.max()
            return cand[np.argsort(-sc, kind="stable")]
        return f

    for name, tv in (("descriptions", engine.trope_vectors), ("all passages", by_all)):
        for tw in (0.1, 0.2, 0.3, 0.4, 0.5, 0.7):
            evaluate_q(f"trope vector ({name}) w=0.15 tw={tw}", trope_vector(0.15, tw, tv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
