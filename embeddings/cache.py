"""A persistent embedding cache, so rebuilding an index re-encodes only the passages that changed.

:class:`EmbeddingCache` is one SQLite file (WAL mode) keyed by
``(model fingerprint, embedding space, sha256 of the text)`` (the space is the backend, for int8
with its quantization settings: see ``compat.embedding_space``); each value is the float32 vector as raw
little-endian bytes (``ndarray.tobytes``, never pickle) plus its dimension. A file that SQLite
reports as corrupt is moved aside (``<name>.corrupt-<timestamp>``) with a warning and replaced
by an empty cache, so a damaged cache costs time, never a failed build.

:func:`encode_with_cache` is the one call the indexer needs: look every text up, encode only
the missing ones (identical texts once), store them, return the vectors in input order.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .compat import embedding_space

if TYPE_CHECKING:
    from .encoder import Encoder

log = logging.getLogger(__name__)

MAX_PARAMS = 500
"""Most text hashes bound into one SELECT."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    fingerprint TEXT NOT NULL,
    backend     TEXT NOT NULL,
    text_hash   TEXT NOT NULL,
    dim         INTEGER NOT NULL,
    vector      BLOB NOT NULL,
    PRIMARY KEY (fingerprint, backend, text_hash)
) WITHOUT ROWID
"""
_CORRUPTION_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_VECTOR_DTYPE = np.dtype("<f4")


def text_hash(text: str) -> str:
    """sha256 hex digest of ``text`` encoded as UTF-8 (the cache key of a text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPTION_CODES
    # Without an error code (old Python/SQLite), a bare DatabaseError means a damaged file;
    # OperationalError (locked, read-only, disk full) does not.
    return not isinstance(exc, sqlite3.OperationalError)


class EmbeddingCache:
    """Embedding vectors on disk, keyed by (model fingerprint, backend, text hash).

    Safe to share between threads (one connection behind a lock). Use as a context manager or
    call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            try:
                self._open()
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                self._recover(exc)

    # -- connection management -------------------------------------------------------------

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            conn.commit()
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """Move the damaged file (and its WAL/SHM companions) aside and start empty."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        counter = 1
        while aside.exists():
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{counter}")
            counter += 1
        log.warning(
            "embedding cache %s is corrupt (%s); moved it to %s and starting an empty cache",
            self.path, exc, aside.name,
        )
        if self.path.exists():
            os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + suffix)
            if companion.exists():
                os.replace(companion, aside.with_name(aside.name + suffix))
        self._open()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError(f"embedding cache {self.path} is closed")
        return self._conn

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reads and writes ------------------------------------------------------------------

    def get_many(self, fingerprint: str, backend: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached vectors for ``hashes`` (missing ones are simply absent from the result)."""
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return {}
        with self._lock:
            try:
                return self._select(fingerprint, backend, wanted)
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                self._recover(exc)
                return {}

    def _select(self, fingerprint: str, backend: str, wanted: list[str]) -> dict[str, np.ndarray]:
        conn = self._connection()
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), MAX_PARAMS):
            chunk = wanted[start : start + MAX_PARAMS]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT text_hash, dim, vector FROM embeddings "
                f"WHERE fingerprint = ? AND backend = ? AND text_hash IN ({marks})",
                (fingerprint, backend, *chunk),
            )
            for key, dim, blob in rows:
                if len(blob) != dim * _VECTOR_DTYPE.itemsize:
                    log.debug("ignoring a cached vector of the wrong size for %s", key)
                    continue
                found[key] = np.frombuffer(blob, dtype=_VECTOR_DTYPE).astype(np.float32)
        return found

    def put_many(self, fingerprint: str, backend: str, items: dict[str, np.ndarray]) -> None:
        """Store (or replace) vectors for their text hashes, in one transaction."""
        if not items:
            return
        rows = []
        for key, vector in items.items():
            array = np.ascontiguousarray(np.asarray(vector).reshape(-1), dtype=_VECTOR_DTYPE)
            rows.append((fingerprint, backend, key, int(array.shape[0]), array.tobytes()))
        with self._lock:
            for attempt in (1, 2):
                try:
                    conn = self._connection()
                    with conn:  # one transaction: commit, or roll back on error
                        conn.executemany(
                            "INSERT OR REPLACE INTO embeddings "
                            "(fingerprint, backend, text_hash, dim, vector) VALUES (?, ?, ?, ?, ?)",
                            rows,
                        )
                    return
                except sqlite3.DatabaseError as exc:
                    if attempt == 2 or not _is_corruption(exc):
                        raise
                    self._recover(exc)

    def count(self, fingerprint: str | None = None, backend: str | None = None) -> int:
        """Number of cached vectors (optionally of one model fingerprint and backend)."""
        sql, params = "SELECT COUNT(*) FROM embeddings", []
        clauses = []
        if fingerprint is not None:
            clauses.append("fingerprint = ?")
            params.append(fingerprint)
        if backend is not None:
            clauses.append("backend = ?")
            params.append(backend)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        with self._lock:
            return int(self._connection().execute(sql, params).fetchone()[0])


def encode_with_cache(
    encoder: Encoder,
    texts: Sequence[str],
    cache: EmbeddingCache | None,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
    checkpoint: int = 2048,
) -> tuple[np.ndarray, int, int]:
    """Embed ``texts`` with ``encoder``, reusing and filling ``cache``.

    Only texts that are not cached for ``(encoder.fingerprint, embedding_space(encoder.backend))``
    are encoded,
    and identical texts only once. ``progress`` receives counts that sum to ``len(texts)``: the
    reused ones in one call first, then each encoded batch.

    Returns:
        ``(vectors, computed, reused)``: float32 ``(len(texts), encoder.dim)`` rows in input
        order; ``computed`` = distinct texts encoded now; ``reused`` = ``len(texts) - computed``
        (served from the cache or a duplicate in this call).
    """
    texts = list(texts)
    hashes = [text_hash(t) for t in texts]
    first_text: dict[str, str] = {}
    for key, text in zip(hashes, texts):
        first_text.setdefault(key, text)
    known: dict[str, np.ndarray] = {}
    space = embedding_space(encoder.backend)
    if cache is not None and first_text:
        known = {
            key: vector
            for key, vector in cache.get_many(encoder.fingerprint, space, list(first_text)).items()
            if vector.shape == (encoder.dim,)
        }
    missing = [key for key in first_text if key not in known]
    computed = len(missing)
    reused = len(texts) - computed
    if progress is not None and reused:
        progress(reused)
    # Longest first, in checkpoints: each checkpoint's vectors are stored before the next one is
    # encoded, so a build that dies midway keeps what it computed and the next one resumes.
    missing.sort(key=lambda k: len(first_text[k]), reverse=True)
    step = max(checkpoint, batch_size)
    for start in range(0, len(missing), step):
        keys = missing[start:start + step]
        fresh = encoder.encode([first_text[k] for k in keys], batch_size=batch_size, progress=progress)
        new_items = dict(zip(keys, fresh))
        if cache is not None:
            cache.put_many(encoder.fingerprint, space, new_items)
        known.update(new_items)
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    for row, key in enumerate(hashes):
        out[row] = known[key]
    log.debug("encoded %d texts: %d computed, %d reused", len(texts), computed, reused)
    return out, computed, reused
