#!/usr/bin/env python3
"""Encoder throughput and latency of the torch, onnx and onnx-int8 backends on sample passages.

Passages are sentences of data/sample/tropes.jsonl descriptions packed to about 60 words
(packing restarts at successive sentence offsets until there are --passages of them). Prints
passages/s for a full encode (--batch-size; best of --repeat runs, as a busy machine only
slows runs down) with the CPU time per passage, the median single-query latency, and each
backend's cosine to the first backend listed (torch).

    .venv/bin/python scripts/encoder_speed.py [--passages 300] [--threads N] [--onnx-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from embeddings import load_encoder  # noqa: E402

QUERIES = [
    "aliens seduce humans",
    "a child rules the kingdom",
    "the villain is the hero's uncle",
    "robot arm replaces a lost limb",
    "the hero's mentor dies",
]


def sample_passages(count: int, words: int = 60) -> list[str]:
    sentences: list[str] = []
    for line in (REPO / "data" / "sample" / "tropes.jsonl").read_text(encoding="utf-8").splitlines():
        description = json.loads(line).get("description") or ""
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", description) if s.strip()]
    passages: list[str] = []
    offset = 0
    while len(passages) < count and offset < len(sentences):
        current: list[str] = []
        for sentence in sentences[offset:]:
            current.append(sentence)
            if sum(len(s.split()) for s in current) >= words:
                passages.append(" ".join(current))
                current = []
                if len(passages) >= count:
                    break
        offset += 1
    return passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="full encodes per backend; the best counts")
    parser.add_argument("--onnx-dir", default=None, help="ONNX cache (default: $TROPESEARCH_ONNX_DIR or ~/.cache/tropesearch/onnx)")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    args = parser.parse_args()

    passages = sample_passages(args.passages)
    mean_words = statistics.mean(len(p.split()) for p in passages)
    print(f"{len(passages)} passages, {mean_words:.0f} words on average, batch size {args.batch_size}")
    reference = None
    for backend in args.backends.split(","):
        started = time.perf_counter()
        encoder = load_encoder(backend=backend, threads=args.threads, onnx_dir=args.onnx_dir)
        load_s = time.perf_counter() - started
        encoder.encode(passages[:16])  # warm-up
        walls, cpus = [], []
        for _ in range(args.repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            vectors = encoder.encode(passages, batch_size=args.batch_size)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu_started)
        throughput = len(passages) / min(walls)
        cpu_ms = min(cpus) * 1000 / len(passages)
        latencies = []
        for _ in range(4 * args.repeat):
            for query in QUERIES:
                started = time.perf_counter()
                encoder.encode([query])
                latencies.append(time.perf_counter() - started)
        if reference is None:
            reference = vectors
        cos = (vectors * reference).sum(axis=1)
        print(
            f"{backend:10s} {throughput:7.1f} passages/s ({cpu_ms:5.1f} CPU ms each)"
            f"   query {statistics.median(latencies) * 1000:6.2f} ms   load {load_s:5.2f} s"
            f"   cosine to {args.backends.split(',')[0]}: mean {cos.mean():.4f} min {cos.min():.4f}"
        )


if __name__ == "__main__":
    main()
