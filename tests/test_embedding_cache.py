"""Tests of the SQLite embedding cache and encode_with_cache."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from embeddings import EmbeddingCache, Encoder, encode_with_cache, text_hash
from embeddings.cache import MAX_PARAMS


class CountingEncoder:
    """A deterministic stand-in encoder that records what it was asked to encode."""

    def __init__(self, dim: int = 8, fingerprint: str = "f" * 16, backend: str = "fake") -> None:
        self.dim = dim
        self.fingerprint = fingerprint
        self.backend = backend
        self.seen: list[str] = []

    def encode(self, texts, batch_size=64, progress=None):  # type: ignore[no-untyped-def]
        texts = list(texts)
        self.seen.extend(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            row = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(row / np.linalg.norm(row))
        for start in range(0, len(texts), batch_size):
            if progress is not None:
                progress(len(texts[start : start + batch_size]))
        return np.array(rows, dtype=np.float32).reshape(len(texts), self.dim)


@pytest.fixture
def cache(tmp_path: Path):
    with EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite") as opened:
        yield opened


def test_text_hash_is_sha256_of_utf8() -> None:
    assert text_hash("héllo") == hashlib.sha256("héllo".encode("utf-8")).hexdigest()


def test_put_and_get_round_trip(cache: EmbeddingCache) -> None:
    vectors = {text_hash(str(i)): np.full(4, i, dtype=np.float32) for i in range(3)}
    cache.put_many("fp", "torch", vectors)
    got = cache.get_many("fp", "torch", [*vectors, text_hash("absent")])
    assert set(got) == set(vectors)
    for key, vector in vectors.items():
        assert got[key].dtype == np.float32
        np.testing.assert_array_equal(got[key], vector)
    # Keyed by fingerprint and backend too.
    assert cache.get_many("fp", "onnx", vectors) == {}
    assert cache.get_many("other", "torch", vectors) == {}
    assert cache.count() == 3 and cache.count("fp", "torch") == 3 and cache.count("fp", "onnx") == 0


def test_vectors_are_stored_as_raw_float32_bytes(cache: EmbeddingCache) -> None:
    vector = np.linspace(-1, 1, 5, dtype=np.float32)
    cache.put_many("fp", "torch", {"k": vector})
    with sqlite3.connect(cache.path) as conn:
        dim, blob = conn.execute("SELECT dim, vector FROM embeddings").fetchone()
    assert dim == 5
    assert blob == vector.astype("<f4").tobytes()


def test_get_many_queries_in_chunks(cache: EmbeddingCache) -> None:
    n = 2 * MAX_PARAMS + 17
    items = {text_hash(str(i)): np.array([i, -i], dtype=np.float32) for i in range(n)}
    cache.put_many("fp", "torch", items)
    got = cache.get_many("fp", "torch", list(items))
    assert len(got) == n
    np.testing.assert_array_equal(got[text_hash("1010")], [1010, -1010])


def test_second_run_computes_nothing(cache: EmbeddingCache) -> None:
    encoder = CountingEncoder()
    texts = ["alpha", "beta", "gamma", "beta"]
    first, computed, reused = encode_with_cache(encoder, texts, cache)
    assert (computed, reused) == (3, 1)  # the duplicate "beta" is encoded once
    assert sorted(encoder.seen) == ["alpha", "beta", "gamma"]
    np.testing.assert_array_equal(first[1], first[3])

    encoder.seen.clear()
    second, computed, reused = encode_with_cache(encoder, texts, cache)
    assert (computed, reused) == (0, 4)
    assert encoder.seen == []
    np.testing.assert_array_equal(first, second)


def test_changed_text_is_the_only_one_recomputed(cache: EmbeddingCache) -> None:
    encoder = CountingEncoder()
    encode_with_cache(encoder, ["one", "two", "three"], cache)
    encoder.seen.clear()
    vectors, computed, reused = encode_with_cache(encoder, ["one", "TWO", "three"], cache)
    assert (computed, reused) == (1, 2)
    assert encoder.seen == ["TWO"]
    np.testing.assert_array_equal(vectors[1], encoder.encode(["TWO"])[0])


def test_progress_counts_sum_to_input_length(cache: EmbeddingCache) -> None:
    encoder = CountingEncoder()
    encode_with_cache(encoder, ["a", "b"], cache)
    calls: list[int] = []
    encode_with_cache(encoder, ["a", "b", "c", "d", "e", "c"], cache, batch_size=2, progress=calls.append)
    assert calls == [3, 2, 1]  # 2 cached + 1 duplicate reported first, then the batches
    assert sum(calls) == 6


def test_without_cache_and_empty_input() -> None:
    encoder = CountingEncoder()
    vectors, computed, reused = encode_with_cache(encoder, ["x", "y", "x"], None)
    assert vectors.shape == (3, 8) and (computed, reused) == (2, 1)
    empty, computed, reused = encode_with_cache(encoder, [], None)
    assert empty.shape == (0, 8) and empty.dtype == np.float32 and (computed, reused) == (0, 0)


def test_cached_vector_of_another_dimension_is_recomputed(cache: EmbeddingCache) -> None:
    encoder = CountingEncoder(dim=8)
    cache.put_many(encoder.fingerprint, encoder.backend, {text_hash("x"): np.ones(4, dtype=np.float32)})
    vectors, computed, _ = encode_with_cache(encoder, ["x"], cache)
    assert computed == 1 and vectors.shape == (1, 8)


def test_garbage_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "embeddings.sqlite"
    garbage = b"this is not a database " * 200
    path.write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="embeddings.cache"):
        cache = EmbeddingCache(path)
    try:
        assert "corrupt" in caplog.text
        aside = list(tmp_path.glob("embeddings.sqlite.corrupt-*"))
        assert len(aside) == 1 and aside[0].read_bytes() == garbage
        encoder = CountingEncoder()
        _, computed, _ = encode_with_cache(encoder, ["a", "b"], cache)
        assert computed == 2
        assert cache.count() == 2
    finally:
        cache.close()


def test_corruption_found_while_reading_starts_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "embeddings.sqlite"
    encoder = CountingEncoder(dim=64)
    texts = [f"passage {i}" for i in range(400)]
    with EmbeddingCache(path) as cache:
        encode_with_cache(encoder, texts, cache)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    data[page_size : len(data)] = b"\xff" * (len(data) - page_size)  # every page after the schema
    path.write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING, logger="embeddings.cache"), EmbeddingCache(path) as cache:
        encoder.seen.clear()
        vectors, computed, reused = encode_with_cache(encoder, texts[:3], cache)
        assert (computed, reused) == (3, 0)
        assert vectors.shape == (3, 64)
        assert cache.count() == 3
    assert "corrupt" in caplog.text
    assert list(tmp_path.glob("embeddings.sqlite.corrupt-*"))


def test_closed_cache_refuses_use(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.close()
    cache.close()
    with pytest.raises(ValueError, match="closed"):
        cache.get_many("fp", "torch", ["k"])


def test_real_encoder_reuses_identical_vectors(encoder: Encoder, tmp_path: Path) -> None:
    texts = [
        "Youthful rulers are common in literature and history.",
        "They may have to resort to King Incognito to get anything done.",
        "Youthful rulers are common in literature and history.",
    ]
    with EmbeddingCache(tmp_path / "real.sqlite") as cache:
        first, computed, reused = encode_with_cache(encoder, texts, cache, batch_size=2)
        assert (computed, reused) == (2, 1)
        again, computed, reused = encode_with_cache(encoder, texts, cache)
        assert (computed, reused) == (0, 3)
        assert cache.count(encoder.fingerprint, encoder.backend) == 2
    np.testing.assert_array_equal(first, again)
    assert again.dtype == np.float32 and again.shape == (3, encoder.dim)
    np.testing.assert_allclose(first, encoder.encode(texts), atol=1e-6)


def test_a_build_that_dies_midway_keeps_its_finished_checkpoints(cache: EmbeddingCache) -> None:
    class DiesOnSecondCall(CountingEncoder):
        def encode(self, texts, batch_size=64, progress=None):
            if self.seen:
                raise KeyboardInterrupt("killed")
            return super().encode(texts, batch_size, progress)

    texts = [f"passage number {i} " * (1 + i % 5) for i in range(10)]
    dying = DiesOnSecondCall()
    with pytest.raises(KeyboardInterrupt):
        encode_with_cache(dying, texts, cache, batch_size=2, checkpoint=4)
    assert cache.count() == 4  # the first checkpoint was stored before the crash
    survivor = CountingEncoder()
    _, computed, reused = encode_with_cache(survivor, texts, cache, batch_size=2, checkpoint=4)
    assert (computed, reused) == (6, 4)
