"""Small child-process jobs of the harness: `python -m bench_lib.workers {plain,prepare,embed-queries} ...`.

Each prints one JSON object as its last stdout line.
  plain INDEX_DIR          plain sentence-transformers fp32 `encode` of the index's passages (embed_text)
  prepare BACKEND...       load each encoder once, so a one-time ONNX export is never timed as a build
  embed-queries FILE OUT N the first N queries of a JSONL file, encoded (torch) into OUT (.npy)
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path


def index_texts(index_dir: Path) -> list[str]:
    from indexer.storage import DB_FILE, current_version_id, versions_dir

    db = versions_dir(index_dir) / current_version_id(index_dir) / DB_FILE
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT embed_text FROM passages ORDER BY row")]
    finally:
        conn.close()


def plain(index_dir: str, batch_size: str = "64") -> dict:
    import embeddings  # noqa: F401 - sets HF offline before transformers loads
    from embeddings import resolve_model_path

    texts = index_texts(Path(index_dir))
    t0 = time.perf_counter()
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model_path(None)), device="cpu", local_files_only=True)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectors = model.encode(texts, batch_size=int(batch_size), show_progress_bar=False, convert_to_numpy=True)
    encode_s = time.perf_counter() - t0
    return {"passages": len(texts), "load_seconds": round(load_s, 3), "encode_seconds": round(encode_s, 3),
            "passages_per_s": round(len(texts) / encode_s, 2), "dim": int(vectors.shape[1]),
            "dtype": str(vectors.dtype), "torch_threads": torch.get_num_threads(), "batch_size": int(batch_size)}


def prepare(*backends: str) -> dict:
    from embeddings import load_encoder

    out = {}
    for backend in backends:
        t0 = time.perf_counter()
        load_encoder(None, backend=backend)
        out[backend] = round(time.perf_counter() - t0, 2)
    return {"load_seconds": out}


def embed_queries(path: str, out: str, n: str) -> dict:
    import numpy as np

    from embeddings import load_encoder

    texts = [json.loads(line)["query"] for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = texts[: int(n)]
    vectors = load_encoder(None, backend="torch").encode(texts)
    np.save(out, vectors.astype(np.float32))
    return {"queries": len(texts), "out": out}


def main(argv: list[str]) -> int:
    jobs = {"plain": plain, "prepare": prepare, "embed-queries": embed_queries}
    if not argv or argv[0] not in jobs:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(jobs[argv[0]](*argv[1:])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
