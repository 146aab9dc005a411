"""Index builds: versions, atomic publish, embedding reuse, removals, loading checks, search vs brute force."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.build import BuildOptions, NothingToIndexError, build_index
from indexer.errors import CorruptIndexError, IndexMismatchError, NoIndexError
from indexer.storage import (CURRENT_NAME, FAISS_FILE, MANIFEST_FILE, current_version_id, list_versions,
                             load_version)
from indexer.vector_index import NumpyIndex, build_vector_index, recall_at_k

REPO = Path(__file__).resolve().parents[1]


def test_tiny_index_manifest_describes_itself(tiny_version, encoder):
    m = tiny_version.manifest
    assert m["format_version"] == 1
    assert m["model"]["fingerprint"] == encoder.fingerprint and m["model"]["dim"] == 384
    assert m["metric"] == "inner_product"
    assert m["index"]["type"] == "flat"
    assert m["counts"]["passages"] == tiny_version.vectors.shape[0] == tiny_version.faiss_index.ntotal
    assert m["counts"]["by_kind"]["example"] > 50 and m["counts"]["by_kind"]["description"] > 10
    assert m["chunking"]["max_tokens"] == 256
    assert len(m["sources"]) == 4 and all(len(v) == 64 for v in m["sources"].values())


def test_stored_vectors_are_normalised(tiny_version):
    norms = np.linalg.norm(np.asarray(tiny_version.vectors), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)


def test_flat_index_matches_numpy_brute_force(tiny_version, encoder):
    queries = encoder.encode(["aliens seduce humans", "a cat refuses to take a bath", "child ruler of a kingdom"])
    oracle = NumpyIndex(384)
    oracle.add(np.asarray(tiny_version.vectors))
    s1, i1 = tiny_version.faiss_index.search(queries, 10)
    s2, i2 = oracle.search(queries, 10)
    assert (i1 == i2).all()
    assert np.allclose(s1, s2, atol=1e-5)


def test_ann_indexes_reach_recall_floor_against_flat(tiny_version):
    """HNSW and IVF recall@10 vs exact on noisy copies of real passage vectors (floor documented in README)."""
    vectors = np.asarray(tiny_version.vectors)
    rng = np.random.default_rng(1)
    queries = vectors[rng.choice(len(vectors), 100, replace=False)] + rng.normal(scale=0.03, size=(100, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = build_vector_index(vectors, "flat")
    assert recall_at_k(build_vector_index(vectors, "hnsw"), exact, queries) >= 0.95
    assert recall_at_k(build_vector_index(vectors, "ivf"), exact, queries) >= 0.90
    assert recall_at_k(build_vector_index(vectors, "ivf-sq8"), exact, queries) >= 0.90


def test_filtered_vector_search_never_starves(tiny_version, encoder):
    q = encoder.encode(["aliens seduce humans"])
    allowed = np.arange(0, tiny_version.count, 7)
    scores, rows = tiny_version.search_vectors(q, 10, allowed)
    assert (rows >= 0).all() and set(rows[0]) <= set(allowed)
    assert list(scores[0]) == sorted(scores[0], reverse=True)


def _build(sources, index_dir, **kw):
    kw.setdefault("backend", "torch")  # the tiny index's backend: its embedding cache is reused
    return build_index(BuildOptions(sources=sources, index_dir=index_dir, **kw))


def test_rebuild_reuses_embeddings_and_removal_drops_passages(tmp_path, tiny_sources):
    src = tmp_path / "src"
    shutil.copytree(tiny_sources[0], src / "seeds")
    first = _build([src], tmp_path / "idx")
    assert first.computed == first.passages and first.reused == 0
    second = _build([src], tmp_path / "idx")
    assert second.computed == 0 and second.reused == second.passages == first.passages
    assert second.version_id != first.version_id and current_version_id(tmp_path / "idx") == second.version_id
    (src / "seeds" / "002_757896695408fafc.txt").unlink()
    third = _build([src], tmp_path / "idx")
    version = load_version(tmp_path / "idx")
    with version.connect() as conn:
        tropes = {r[0] for r in conn.execute("SELECT DISTINCT trope_id FROM passages")}
    assert tropes == {"InterspeciesRomance"} and third.computed == 0
    assert third.passages < first.passages
    # versions are pruned to the last 3
    _build([src], tmp_path / "idx")
    assert len(list_versions(tmp_path / "idx")) == 3


def test_nothing_to_index_is_a_clear_error(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(NothingToIndexError, match="empty.txt"):
        _build([tmp_path], tmp_path / "idx")
    with pytest.raises(NoIndexError, match="tropesearch build"):
        load_version(tmp_path / "idx")


def _copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cache", ".build.lock"))
    return dst


def test_loading_refuses_damaged_or_mismatched_versions(tmp_path, tiny_index_dir):
    idx = _copy_index(tiny_index_dir, tmp_path / "idx")
    version = current_version_id(idx)
    vdir = idx / "versions" / version
    with pytest.raises(IndexMismatchError, match="rebuild"):
        load_version(idx, expected_fingerprint="0" * 16)
    manifest = json.loads((vdir / MANIFEST_FILE).read_text())
    manifest["format_version"] = 999
    (vdir / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="format version"):
        load_version(idx)
    manifest["format_version"] = 1
    (vdir / MANIFEST_FILE).write_text(json.dumps(manifest))
    data = (vdir / FAISS_FILE).read_bytes()
    (vdir / FAISS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptIndexError, match="truncated"):
        load_version(idx)
    (vdir / MANIFEST_FILE).unlink()
    with pytest.raises(CorruptIndexError, match="manifest"):
        load_version(idx)


@pytest.mark.slow
def test_sigkill_mid_build_leaves_the_published_version_usable(tmp_path, tiny_index_dir, encoder):
    """Kill a build (SIGKILL) while it embeds; CURRENT and its version still load and answer."""
    idx = _copy_index(tiny_index_dir, tmp_path / "idx")
    before = current_version_id(idx)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tropesearch_cli.main", "-v", "build", str(REPO / "data" / "sample"),
         "--index-dir", str(idx), "--backend", "torch", "-q"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    try:
        deadline = time.time() + 120
        for line in proc.stderr:
            if "build stage: embedding" in line or time.time() > deadline:
                break
        time.sleep(1.0)  # well inside the embedding of ~1,000 passages
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert current_version_id(idx) == before
    version = load_version(idx)
    q = encoder.encode(["aliens seduce humans"])
    _, rows = version.search_vectors(q, 3)
    assert (rows >= 0).all()
    # and the next build succeeds and publishes
    summary = _build([REPO / "data" / "sample" / "seeds"], idx)
    assert current_version_id(idx) == summary.version_id != before


def test_query_backend_must_agree_with_the_index_backend(tiny_index_dir):
    """torch and fp32 ONNX vectors agree (cosine >= 0.99), int8 ones do not: such an index is refused."""
    assert load_version(tiny_index_dir, query_backend="onnx").count > 0
    with pytest.raises(IndexMismatchError, match="--backend"):
        load_version(tiny_index_dir, query_backend="onnx-int8")
