#!/usr/bin/env python3
"""How the relevance floor was chosen: cosine of the best passage for real queries vs nonsense ones.

Real queries: the dev queries' cosine to the best passage of their target trope. Nonsense: random
letter strings and random word salads. The floor sits below (nearly) every real answer and above
most of what nonsense reaches.

    python scripts/relevance_floor.py --index-dir IDX --queries ../shared/eval/dev_queries.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embeddings import load_encoder  # noqa: E402
from indexer.storage import load_version  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index-dir", required=True)
    ap.add_argument("--queries", required=True)
    args = ap.parse_args()
    version = load_version(Path(args.index_dir))
    vectors = np.asarray(version.vectors)
    with version.connect() as conn:
        trope_of = {r[0].lower(): r[1] for r in conn.execute("SELECT trope_id, row FROM tropes")}
        rows_trope = np.array([r[0] for r in conn.execute("SELECT trope_row FROM passages ORDER BY row")])
    enc = load_encoder()
    qs = [json.loads(line) for line in open(args.queries, encoding="utf-8") if line.strip()]
    qs = [q for q in qs if q["target_trope_id"].lower() in trope_of]
    qv = enc.encode([q["query"] for q in qs])
    target_best = np.array([float((vectors[rows_trope == trope_of[q["target_trope_id"].lower()]] @ v).max())
                            for q, v in zip(qs, qv)])
    rng = random.Random(0)
    words = [w for q in qs for w in q["query"].split()]
    nonsense = ["".join(rng.choice(string.ascii_lowercase + " ") for _ in range(rng.randint(5, 40))) for _ in range(100)]
    nonsense += [" ".join(rng.choice(words) for _ in range(rng.randint(2, 8))) for _ in range(100)]
    nv = enc.encode(nonsense)
    sims = nv @ vectors.T
    top1 = sims.max(axis=1)
    print(f"real queries, cosine of the target's best passage: p1 {np.percentile(target_best, 1):.3f} "
          f"p5 {np.percentile(target_best, 5):.3f} median {np.median(target_best):.3f}")
    print(f"random letters, best cosine: median {np.median(top1[:100]):.3f} p95 {np.percentile(top1[:100], 95):.3f}")
    print(f"word salad, best cosine: median {np.median(top1[100:]):.3f} p95 {np.percentile(top1[100:], 95):.3f}")
    for floor in (0.15, 0.2, 0.25, 0.3):
        kept_real = float((target_best >= floor).mean())
        letters = float((sims[:100] >= floor).sum(axis=1).mean())
        print(f"floor {floor:.2f}: keeps the target for {kept_real:.1%} of real queries; random letters keep "
              f"{letters:.1f} passages on average")
    return 0


if __name__ == "__main__":
    sys.exit(main())
