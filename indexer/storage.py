"""The index on disk: versioned directories, an atomic `CURRENT` pointer, and loading with checks.

Layout of an index directory::

    DIR/CURRENT                  name of the published version (switched with os.replace)
    DIR/versions/<id>/manifest.json
    DIR/versions/<id>/passages.sqlite   passages, tropes, FTS5 table
    DIR/versions/<id>/vectors.npy       float32 (n, dim), row i = passage row i (memory-mapped)
    DIR/versions/<id>/index.faiss       FAISS index, int64 ids = passage row ids
    DIR/cache/embeddings.sqlite         embedding cache shared by builds
    DIR/.build.lock                     one build at a time

A version directory is written under a temporary name, fsynced, renamed, and only then does
`CURRENT` switch to it, so a build killed at any moment leaves the published version untouched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.compat import (
    DEFAULT_BACKEND,
    backend_of_space,
    backends_compatible,
    compatible_backends,
    embedding_space,
    query_backend_for,
)

from .errors import CorruptIndexError, IndexError_, IndexMismatchError, NoIndexError
from .vector_index import FaissIndex

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT_NAME = "CURRENT"
VERSIONS_DIR = "versions"
MANIFEST_FILE = "manifest.json"
DB_FILE = "passages.sqlite"
VECTORS_FILE = "vectors.npy"
FAISS_FILE = "index.faiss"
KEEP_VERSIONS = 3
_REQUIRED_FILES = (MANIFEST_FILE, DB_FILE, VECTORS_FILE, FAISS_FILE)


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (so a rename inside it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_version_id() -> str:
    """A new version's id, sortable by creation time to the microsecond (pruning keeps the newest
    by sort order: two builds within one second must not sort at random)."""
    now = time.time()
    return (time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1_000_000):06d}-"
            + uuid.uuid4().hex[:6])


def versions_dir(index_dir: Path) -> Path:
    return Path(index_dir) / VERSIONS_DIR


def current_version_id(index_dir: Path) -> str | None:
    """The published version's id, or None when nothing was published yet."""
    path = Path(index_dir) / CURRENT_NAME
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptIndexError(f"cannot read {path} ({exc}); rebuild the index to publish a new version") from None
    if value and (len(value) > 100 or not all(c.isalnum() or c in "-_T" for c in value)):
        raise CorruptIndexError(f"{path} does not name a version ({value[:40]!r}); rebuild the index")
    return value or None


def publish_version(index_dir: Path, version_id: str) -> None:
    """Atomically point CURRENT at a fully written version directory."""
    index_dir = Path(index_dir)
    target = versions_dir(index_dir) / version_id
    for name in _REQUIRED_FILES:
        if not (target / name).is_file():
            raise CorruptIndexError(f"refusing to publish {target}: {name} is missing")
    tmp = index_dir / f".{CURRENT_NAME}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(version_id + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT_NAME)
    fsync_path(index_dir)


def list_versions(index_dir: Path) -> list[str]:
    root = versions_dir(index_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def prune_versions(index_dir: Path, keep: int = KEEP_VERSIONS) -> list[str]:
    """Delete old versions beyond the newest `keep` (never the current one) and stale temp dirs."""
    current = current_version_id(index_dir)
    root = versions_dir(index_dir)
    removed = []
    for name in list_versions(index_dir)[:-keep] if keep else list_versions(index_dir):
        if name != current:
            shutil.rmtree(root / name, ignore_errors=True)
            removed.append(name)
    if root.is_dir():
        for p in root.iterdir():
            # temp dirs of builds that died (older than an hour, so a running build is left alone)
            if p.name.startswith(".tmp-") and time.time() - p.stat().st_mtime > 3600:
                shutil.rmtree(p, ignore_errors=True)
    return removed


# ---------------------------------------------------------------------------------------------
# SQLite schema
SCHEMA = """
CREATE TABLE tropes (
    row INTEGER PRIMARY KEY,
    trope_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    url TEXT,
    description TEXT NOT NULL,      -- JSON list of paragraphs
    quote TEXT,
    related TEXT NOT NULL,          -- JSON list of {text, target}
    sources TEXT NOT NULL           -- JSON list of source files
);
CREATE TABLE passages (
    row INTEGER PRIMARY KEY,        -- = FAISS id = row of vectors.npy
    id TEXT NOT NULL UNIQUE,        -- stable passage id
    trope_row INTEGER NOT NULL REFERENCES tropes(row),
    trope_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    media TEXT,
    work TEXT,
    parent_id TEXT,
    text TEXT NOT NULL,
    embed_text TEXT NOT NULL,
    source TEXT NOT NULL,
    position INTEGER NOT NULL,
    part INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    text_key TEXT NOT NULL          -- normalised text, for near-duplicate collapse
);
CREATE INDEX passages_trope ON passages(trope_row);
CREATE INDEX passages_media ON passages(media);
CREATE INDEX passages_kind ON passages(kind);
CREATE INDEX passages_text_key ON passages(text_key);
CREATE INDEX tropes_title ON tropes(title COLLATE NOCASE);
CREATE VIRTUAL TABLE passages_fts USING fts5(
    text, title, work, terms,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- BM25 postings of the frequent stems, computed by FTS5 at build time (indexer/lexical.py)
CREATE TABLE term_postings (
    stem TEXT PRIMARY KEY,
    rows BLOB NOT NULL,             -- int32 passage rows, ascending
    scores BLOB NOT NULL            -- float32 BM25 of the stem in each row
);
CREATE TABLE lexical_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class IndexVersion:
    """A loaded, read-only index version: manifest, SQLite connection factory, vectors, FAISS index."""

    index_dir: Path
    version_id: str
    path: Path
    manifest: dict
    vectors: np.ndarray
    faiss_index: FaissIndex

    def connect(self) -> sqlite3.Connection:
        """A new read-only connection (one per thread; sqlite3 connections are not shared)."""
        uri = f"file:{self.path / DB_FILE}?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return conn

    @property
    def count(self) -> int:
        return int(self.manifest["counts"]["passages"])

    def search_vectors(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
        """Top-k rows by cosine (inner product of normalised vectors), optionally within `allowed` rows.

        Unfiltered queries go to the FAISS index (exact for a flat one). A filter is answered
        exactly over the stored vectors of the allowed rows, so it never starves the result list.
        """
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if allowed is None:
            # on one thread (the service's setting) FAISS's flat scan beats a NumPy matrix-vector
            # product over the same vectors: 1.4 ms vs 2.5 ms for the top 1,000 of 23,501
            return self.faiss_index.search(q, k)
        rows = np.asarray(allowed, dtype=np.int64)
        return top_k(q @ np.asarray(self.vectors[rows]).T, k, rows)  # cosine

    def cosines(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine of one normalised query vector to the stored vectors of `rows` (inner product)."""
        return np.asarray(self.vectors[rows], dtype=np.float32) @ np.asarray(query, dtype=np.float32)


def top_k(scores: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k best columns of each row of `scores` (best first, ties by column), as (scores, ids);
    ids are `rows[column]` when `rows` is given. Missing places are (-inf, -1)."""
    out_s = np.full((len(scores), k), -np.inf, np.float32)
    out_i = np.full((len(scores), k), -1, np.int64)
    k_eff = min(k, scores.shape[1])
    if k_eff == 0:
        return out_s, out_i
    top = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    order = np.lexsort((top, -np.take_along_axis(scores, top, axis=1)), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    out_s[:, :k_eff] = np.take_along_axis(scores, top, axis=1)
    out_i[:, :k_eff] = top if rows is None else rows[top]
    return out_s, out_i


def check_manifest(manifest: dict, path: Path, expected_fingerprint: str | None = None,
                   query_backend: str | None = None) -> None:
    fmt = manifest.get("format_version")
    if fmt != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {path} has format version {fmt}, this tropesearch reads {FORMAT_VERSION}; "
            f"rebuild it with `tropesearch build SOURCES --index-dir {path.parent.parent}`"
        )
    model = manifest.get("model")
    if not isinstance(model, dict) or not model.get("fingerprint") or not model.get("dim"):
        raise CorruptIndexError(f"index version {path}: {MANIFEST_FILE} does not describe its model; rebuild the index")
    if expected_fingerprint and model.get("fingerprint") != expected_fingerprint:
        raise IndexMismatchError(
            f"index at {path} was built with model {model.get('name')} (fingerprint {model.get('fingerprint')}), "
            f"but the service loads fingerprint {expected_fingerprint}; rebuild the index with the same "
            f"--model (`tropesearch build SOURCES --index-dir {path.parent.parent} --model PATH`) or serve with "
            f"the model the index was built with"
        )
    index_space = index_embedding_space(manifest)
    if query_backend and not backends_compatible(index_space, query_backend):
        index_backend = backend_of_space(index_space)
        if index_backend == backend_of_space(embedding_space(query_backend)):
            raise IndexMismatchError(
                f"index at {path} was embedded by {index_space}, but {query_backend} queries here come from "
                f"{embedding_space(query_backend)} (other int8 quantization settings), whose vectors do not agree "
                f"closely enough; rebuild it with `tropesearch build SOURCES --index-dir {path.parent.parent}`"
            )
        raise IndexMismatchError(
            f"index at {path} was embedded with the {index_backend} backend, whose vectors do not agree closely "
            f"enough with {query_backend} queries; serve with --backend "
            f"{' or '.join(compatible_backends(index_backend))}, or rebuild with --backend {query_backend}"
        )


def index_embedding_space(manifest: dict) -> str:
    """The embedding space of an index's vectors (see `embeddings.compat.embedding_space`). An int8
    index from before spaces were recorded has unknown quantization settings: it matches none."""
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    space = model.get("space")
    if isinstance(space, str) and space:
        return space
    backend = str(model.get("backend", "torch"))
    return f"{backend}:unknown" if backend == "onnx-int8" else backend


def resolve_query_backend(requested: str, index_dir: Path) -> str:
    """`requested`, or for "auto" the fastest query backend that agrees with the version published
    under `index_dir` (with the default build backend when none is published yet, or its manifest
    cannot be read: loading it will say why)."""
    if requested != "auto":
        return requested
    try:
        _, manifest = read_manifest(Path(index_dir))
    except IndexError_:
        return query_backend_for(DEFAULT_BACKEND)
    return query_backend_for(index_embedding_space(manifest))


def load_version(index_dir: Path, version_id: str | None = None, *, expected_fingerprint: str | None = None,
                 query_backend: str | None = None, mmap: bool = True) -> IndexVersion:
    """Open the published version (or `version_id`), verifying its manifest and files."""
    index_dir = Path(index_dir)
    path, manifest = read_manifest(index_dir, version_id)
    try:
        check_manifest(manifest, path, expected_fingerprint, query_backend)
        return _open_files(index_dir, path.name, path, manifest, mmap)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise CorruptIndexError(
            f"index version {path}: {MANIFEST_FILE} is incomplete or malformed ({type(exc).__name__}: {exc}); "
            "rebuild the index"
        ) from None


def read_manifest(index_dir: Path, version_id: str | None = None) -> tuple[Path, dict]:
    """The published version's (or `version_id`'s) directory and manifest, read as a JSON object;
    NoIndexError when nothing is published, CorruptIndexError when it cannot be read."""
    version_id = version_id or current_version_id(index_dir)
    if version_id is None:
        raise NoIndexError(
            f"no index published under {index_dir}; run `tropesearch build SOURCES --index-dir {index_dir}`"
        )
    path = versions_dir(index_dir) / version_id
    if not path.is_dir():
        raise CorruptIndexError(f"{index_dir}/CURRENT points to {version_id}, which does not exist; rebuild the index")
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorruptIndexError(f"index version {path} has no {MANIFEST_FILE}; rebuild the index") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptIndexError(f"index version {path}: {MANIFEST_FILE} is not valid JSON ({exc}); rebuild") from None
    if not isinstance(manifest, dict):
        raise CorruptIndexError(f"index version {path}: {MANIFEST_FILE} is not a JSON object; rebuild the index")
    return path, manifest


def _open_files(index_dir: Path, version_id: str, path: Path, manifest: dict, mmap: bool = True) -> IndexVersion:
    counts = manifest["counts"]
    files = manifest.get("files", {})
    for name in (DB_FILE, VECTORS_FILE, FAISS_FILE):
        file = path / name
        if not file.is_file():
            raise CorruptIndexError(f"index version {path}: {name} is missing; rebuild the index")
        if name in files and file.stat().st_size != files[name]["bytes"]:
            raise CorruptIndexError(
                f"index version {path}: {name} is {file.stat().st_size} bytes, the manifest says "
                f"{files[name]['bytes']} (truncated or replaced); rebuild the index"
            )
    try:
        vectors = np.load(path / VECTORS_FILE, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CorruptIndexError(f"index version {path}: {VECTORS_FILE} is unreadable ({exc}); rebuild") from None
    # a plain ndarray view of the memory map: same pages, without np.memmap's per-access overhead
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != counts.get("passages") or vectors.shape[1] != manifest["model"]["dim"]:
        raise CorruptIndexError(f"index version {path}: {VECTORS_FILE} has shape {vectors.shape}, manifest disagrees")
    try:
        faiss_index = FaissIndex.load(path / FAISS_FILE, manifest["index"]["type"], mmap=mmap)
    except RuntimeError as exc:
        raise CorruptIndexError(f"index version {path}: {FAISS_FILE} is unreadable ({str(exc).splitlines()[0]})") from None
    if faiss_index.ntotal != counts.get("passages"):
        raise CorruptIndexError(f"index version {path}: FAISS holds {faiss_index.ntotal} vectors, manifest says {counts.get('passages')}")
    version = IndexVersion(index_dir, version_id, path, manifest, vectors, faiss_index)
    try:
        with closing(version.connect()) as conn:
            n = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise CorruptIndexError(f"index version {path}: {DB_FILE} is not a valid database ({exc}); rebuild") from None
    if n != counts.get("passages"):
        raise CorruptIndexError(f"index version {path}: {DB_FILE} holds {n} passages, manifest says {counts.get('passages')}")
    return version
